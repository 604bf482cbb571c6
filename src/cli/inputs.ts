// The command line's inputs, layered as the runner would pass them: each action.yml's defaults, then the config
// files, then --set, then INPUT_* variables (later ones win). The result is the same InputSource the actions read,
// so every value meets the same validation and messages.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { errorMessage } from '../common/errors.js';
import { InputError, type InputSource } from '../common/inputs.js';

/** The actions whose inputs the command line takes. */
export type ActionName = 'ssh-rollout' | 'auto-revert' | 'metric-watch';

/** One action's inputs and their defaults, as its action.yml declares them. */
export type ActionInputs = ReadonlyMap<string, string>;

/** Where the actions' definitions are: two levels up from this module, in src/cli/ and in dist/cli/ alike. */
function actionsDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'actions');
}

/** Reads an action.yml's inputs. A default that is a workflow expression (`${{ github.token }}`) is '' here. */
export function readActionInputs(action: ActionName, dir = actionsDir()): ActionInputs {
  const doc = parseYaml(readFileSync(join(dir, action, 'action.yml'), 'utf8')) as {
    inputs?: Record<string, { default?: unknown }>;
  };
  const inputs = new Map<string, string>();
  for (const [name, def] of Object.entries(doc.inputs ?? {})) {
    const value = def?.default === undefined || def.default === null ? '' : String(def.default);
    inputs.set(name, value.includes('${{') ? '' : value);
  }
  return inputs;
}

/** Where one input's value came from: the person on call reads this when a value surprises them. */
export type InputOrigin = 'default' | 'command' | `config ${string}` | '--set' | `INPUT_${string}`;

export interface CliInputs {
  source: InputSource;
  /** Inputs given by the user (not defaults), with where each came from. */
  given: Map<string, InputOrigin>;
  /** Keys given that belong to another fivestep action, not this one: left unused. */
  unused: string[];
  /** What the person should know: an INPUT_ variable overriding a value given on the command line or in a file. */
  warnings: string[];
  /** Inputs whose value was read from a file (`NAME-file: PATH`), and that file's absolute path. */
  files: Map<string, string>;
}

export interface InputLayers {
  /** The action the command runs (its inputs are the known names). */
  inputs: ActionInputs;
  /** Every fivestep action's input names: a key none of them knows is a typo. */
  allNames: ReadonlySet<string>;
  /** The command's own defaults, over action.yml's (e.g. revert marks nothing bad). */
  commandDefaults?: Record<string, string>;
  /** Config files: their text and path (for NAME-file paths relative to them, and for messages). */
  configs: { path: string; text: string }[];
  sets: [string, string][];
  /** The command's own options, as inputs (e.g. --to → to-release). */
  options?: Record<string, string>;
  env: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
  /**
   * Inputs whose `NAME-file` is only referred to, never read (`fivestep rules` writes the path into a config for
   * another machine, where the file is): the value each stands for while the settings are read.
   */
  fileReferences?: Readonly<Record<string, string>>;
}

/** Layers the inputs; throws InputError naming the input (or the config key) at fault. */
export function layerInputs(l: InputLayers): CliInputs {
  const readFile = l.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const values = new Map<string, string>(l.inputs);
  const given = new Map<string, InputOrigin>();
  const unused = new Set<string>();
  const warnings: string[] = [];
  const files = new Map<string, string>();
  const put = (key: string, value: string, origin: InputOrigin, base: string) => {
    const name = fileKey(key, l.allNames) ?? key;
    if (!l.allNames.has(name))
      throw new InputError(key, `is not an input of any fivestep action${suggest(name, l.allNames)}`);
    const path = name === key ? undefined : inputFilePath(value, base);
    const reference = path !== undefined && l.fileReferences ? l.fileReferences[name] : undefined;
    const text = path === undefined ? value : (reference ?? readInputFile(name, path, readFile));
    if (text.includes('${{'))
      throw new InputError(
        name,
        `'${oneLineOf(text)}' is a workflow expression, which only GitHub evaluates: give the value itself` +
          `${name === key ? `, or ${name}-file: PATH` : ''}`,
      );
    if (!l.inputs.has(name)) {
      unused.add(name);
      return;
    }
    values.set(name, text);
    given.set(name, origin);
    if (path === undefined) files.delete(name);
    else files.set(name, path);
  };
  for (const [k, v] of Object.entries(l.commandDefaults ?? {})) values.set(k, v);
  for (const c of l.configs) for (const [k, v] of configEntries(c)) put(k, v, `config ${c.path}`, dirname(c.path));
  for (const [k, v] of l.sets) put(k, v, '--set', process.cwd());
  for (const [k, v] of Object.entries(l.options ?? {})) put(k, v, 'command', process.cwd());
  for (const [name, value] of envInputs(l.env, l.inputs)) {
    const before = given.get(name);
    if (before && values.get(name) !== value)
      warnings.push(`input '${name}': INPUT_ in the environment overrides the value from ${before}`);
    values.set(name, value);
    given.set(name, `INPUT_${name.toUpperCase()}`);
    files.delete(name);
  }
  return { source: (name) => values.get(name) ?? '', given, unused: [...unused].sort(), warnings, files };
}

/** A config file's keys and values; every value is a string, as GitHub passes inputs. */
function configEntries(c: { path: string; text: string }): [string, string][] {
  let doc: unknown;
  try {
    doc = parseYaml(c.text);
  } catch (err) {
    throw new InputError('--config', `${c.path} is not valid YAML: ${oneLineOf(errorMessage(err))}`);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new InputError('--config', `${c.path} must be a mapping of input names to values (a workflow's with: block)`);
  // A whole step pasted (uses: …, with: {…}): its with: block is what counts.
  const record = doc as Record<string, unknown>;
  const withBlock = record.with;
  const entries = withBlock && typeof withBlock === 'object' && !Array.isArray(withBlock) ? withBlock : record;
  return Object.entries(entries as Record<string, unknown>).flatMap(([key, value]) => {
    if (entries === record && (key === 'uses' || key === 'name' || key === 'id' || key === 'if')) return [];
    if (value === null || value === undefined) return [[key, '']];
    if (typeof value === 'object')
      throw new InputError(key, `in ${c.path} must be a string (a YAML block scalar, key: |, for several lines)`);
    return [[key, String(value)]];
  });
}

/** `NAME-file` for an input NAME: the name it reads, or undefined when the key is not one. */
function fileKey(key: string, names: ReadonlySet<string>): string | undefined {
  if (!key.endsWith('-file') || names.has(key)) return undefined;
  const name = key.slice(0, -'-file'.length);
  return names.has(name) ? name : undefined;
}

/** A `NAME-file` path: `~/` is the home directory, a relative path is relative to the config file (or cwd). */
function inputFilePath(path: string, base: string): string {
  const p = path.trim();
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : resolve(base, p);
}

function readInputFile(name: string, full: string, readFile: (p: string) => string): string {
  try {
    return readFile(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${name}-file`, `cannot read ${full}${code ? ` (${code})` : ''}`);
  }
}

/** INPUT_<NAME> as the runner sets it (hyphens kept), or with underscores for a shell's `export`. */
function envInputs(env: NodeJS.ProcessEnv, inputs: ActionInputs): [string, string][] {
  const out: [string, string][] = [];
  for (const name of inputs.keys()) {
    const upper = name.toUpperCase();
    const value = env[`INPUT_${upper}`] ?? env[`INPUT_${upper.replace(/-/g, '_')}`];
    if (value !== undefined) out.push([name, value]);
  }
  return out;
}

/** ` (did you mean 'hosts'?)` for a near miss: one edit away, or the same but for a plural. */
function suggest(name: string, names: ReadonlySet<string>): string {
  const near = [...names].find((n) => editDistance(n, name) <= 2);
  return near ? ` (did you mean '${near}'?)` : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return row[b.length];
}

const oneLineOf = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 200);
