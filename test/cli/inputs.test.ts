// The command line's inputs, layered as the runner would pass them: action.yml defaults, config files (a pasted
// `with:` block, NAME-file for secrets), --set, then INPUT_*; a key no action knows is an input error.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/common/inputs.js';
import { layerInputs, readActionInputs, type InputLayers } from '../../src/cli/inputs.js';

const rollout = readActionInputs('ssh-rollout');
const allNames = new Set(
  (['ssh-rollout', 'auto-revert', 'metric-watch'] as const).flatMap((a) => [...readActionInputs(a).keys()]),
);
let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'fivestep-cli-inputs-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const layers = (o: Partial<InputLayers>): InputLayers => ({
  inputs: rollout,
  allNames,
  configs: [],
  sets: [],
  env: {},
  ...o,
});

test("action.yml's defaults are the runner's, a workflow expression empty", () => {
  const source = layerInputs(layers({})).source;
  expect(source('max-parallel')).toBe(readActionInputs('ssh-rollout').get('max-parallel'));
  expect(source('waves')).not.toBe('');
  expect(source('github-token')).toBe('');
  expect(readActionInputs('auto-revert').get('commits')).toBe('');
});

test('a pasted with: block (or the whole step), NAME-file relative to the config, then --set, then INPUT_*', () => {
  writeFileSync(join(dir, 'key'), 'KEY TEXT\n');
  const config = {
    path: join(dir, 'deploy.yml'),
    text: [
      'uses: acme/fivestep/actions/ssh-rollout@v1',
      'with:',
      '  hosts: |',
      '    web1.example.com',
      '    web2.example.com',
      '  deploy-path: /srv/app',
      '  max-parallel: 4',
      '  private-key-file: key',
    ].join('\n'),
  };
  const r = layerInputs(
    layers({
      configs: [config],
      sets: [['max-parallel', '6']],
      env: { 'INPUT_DEPLOY-PATH': '/srv/shop', INPUT_KEEP_RELEASES: '9' },
    }),
  );
  expect(r.source('hosts')).toBe('web1.example.com\nweb2.example.com\n');
  expect(r.source('private-key')).toBe('KEY TEXT\n');
  expect(r.source('max-parallel')).toBe('6');
  expect(r.source('deploy-path')).toBe('/srv/shop');
  expect(r.source('keep-releases')).toBe('9');
  expect(r.given.get('private-key')).toBe(`config ${config.path}`);
  expect(r.warnings).toEqual([
    "input 'deploy-path': INPUT_ in the environment overrides the value from config " + config.path,
  ]);
});

test('an input read from a file keeps its path (a generated Alertmanager config refers to the file), until a later layer sets it', () => {
  writeFileSync(join(dir, 'pd-key'), 'R0UT1NG\n');
  writeFileSync(join(dir, 'hook'), 'https://hooks.example/T/B/X\n');
  const config = {
    path: join(dir, 'watch.yml'),
    text: ['pagerduty-routing-key-file: pd-key', 'alert-webhook-file: hook', 'url: http://prom:9090'].join('\n'),
  };
  const watch = readActionInputs('metric-watch');
  const r = layerInputs(layers({ inputs: watch, configs: [config], sets: [['alert-webhook', 'https://inline/x']] }));
  expect(r.source('pagerduty-routing-key')).toBe('R0UT1NG\n');
  expect(r.files).toEqual(new Map([['pagerduty-routing-key', join(dir, 'pd-key')]]));
  const overridden = layerInputs(
    layers({ inputs: watch, configs: [config], env: { 'INPUT_PAGERDUTY-ROUTING-KEY': 'inline' } }),
  );
  expect([...overridden.files.keys()]).toEqual(['alert-webhook']);
});

test.each([
  [{ host: 'web1' }, "input 'host': is not an input of any fivestep action (did you mean 'hosts'?)"],
  [
    { 'private-key': '${{ secrets.DEPLOY_KEY }}' },
    "input 'private-key': '${{ secrets.DEPLOY_KEY }}' is a workflow expression",
  ],
  [{ 'private-key-file': '/nonexistent/key' }, "input 'private-key-file': cannot read /nonexistent/key (ENOENT)"],
  [{ hosts: ['a', 'b'] }, "input 'hosts': in"],
])('%j is refused naming the key', (values, message) => {
  const text = Object.entries(values)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join('\n');
  let error: unknown;
  try {
    layerInputs(layers({ configs: [{ path: join(dir, 'c.yml'), text }] }));
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(InputError);
  expect((error as Error).message).toContain(message);
});

test("another action's input is left unused, not refused (one config for the fleet)", () => {
  const r = layerInputs(
    layers({
      sets: [
        ['rules', 'x'],
        ['to-release', 'v1'],
      ],
    }),
  );
  expect(r.unused).toEqual(['rules', 'to-release']);
  expect(r.source('rules')).toBe('');
});

test('not YAML, or not a mapping: the config file is named', () => {
  expect(() => layerInputs(layers({ configs: [{ path: 'bad.yml', text: 'a: [' }] }))).toThrow(
    "input '--config': bad.yml is not valid YAML",
  );
  expect(() => layerInputs(layers({ configs: [{ path: 'list.yml', text: '- a\n- b' }] }))).toThrow(
    "input '--config': list.yml must be a mapping",
  );
});
