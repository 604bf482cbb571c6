// The step table: every step the release engine runs on a host, once. Each step has its command
// (built by release/commands.ts), what the dry run says besides it, and how it runs on one host. The
// plan (plan.ts) names steps; the rollout, the dry run and the revert walk the plan through this table.
import { errorMessage } from '../common/errors.js';
import { hostId } from '../common/inputs.js';
import {
  EXIT,
  adoptCommand,
  appendLogCommand,
  linkSharedCommand,
  markBadCommand,
  receiveArtifactCommand,
  removeReleasesCommand,
  switchCommand,
  unpackCommand,
  unsetCurrentCommand,
  userCommand,
  type DeployLogEntry,
  type ReleaseEnv,
} from '../release/commands.js';
import { parseState, readStateCommand } from '../release/state-command.js';
import { acquireLockCommand, releaseLockCommand } from '../release/lock-commands.js';
import { deltaOfferCommand, deltaUnpackCommand, filesToSend, parseOffer } from '../release/delta.js';
import { downloadArtifactCommand, downloadStdin } from '../release/download.js';
import { releasePath } from '../release/layout.js';
import { takeLock } from './lock.js';
import type { StepDef, StepInput, StepOutcome, StepRun } from './step-input.js';
import { ReloadFailedError, StepError, outputTail, type StepName } from './step-record.js';
import { formatDurationInput } from '../common/format.js';

/**
 * Delta staging failures that sending the whole artifact would not mend: a release-id taken, no room, something
 * refused.
 */
const NOT_FOR_A_WHOLE_ARTIFACT: ReadonlySet<number> = new Set([EXIT.exists, EXIT.noSpace, EXIT.refused]);

const env = (i: StepInput, release = i.release, previous = i.previous): ReleaseEnv => ({
  deployPath: i.settings.deployPath,
  releaseId: release,
  previousReleaseId: previous,
});

/** `current` → releases/<release> ('' = no release), with its ledger line in the same command. */
function pointAt(i: StepInput, release: string, entry: DeployLogEntry): string {
  const d = i.settings.deployPath;
  return release ? switchCommand(d, release, entry) : unsetCurrentCommand(d, entry);
}

function unpackPlain(i: StepInput): string {
  const a = i.artifact!;
  const options = {
    identity: a.identity,
    format: a.format,
    staged: i.ledger('staged')[0],
    unpackedBytes: a.unpacked?.bytes,
  };
  return unpackCommand(i.settings.deployPath, i.release, options);
}

function unpackDelta(i: StepInput): string {
  const { needBytes } = i.delta!;
  return deltaUnpackCommand(i.settings.deployPath, i.release, i.artifact!.identity, needBytes, i.ledger('staged')[0]);
}

function recordCommand(i: StepInput): string {
  const d = i.settings.deployPath;
  const prune = i.prune ?? [];
  return [
    appendLogCommand(d, ...i.ledger('record')),
    ...(prune.length ? [removeReleasesCommand(d, [...prune])] : []),
    ...(i.unlock ? [`{ ${releaseLockCommand(d, i.token)}; }`] : []),
  ].join(' && ');
}

/** The health check, with `{port}` the port of the host's balancer server. */
async function checkHealth(r: StepRun, on: ReleaseEnv): Promise<string> {
  const check = r.health!;
  return r.host.timed(
    'health',
    async () => {
      const result = await check(r.host.sessionOrThrow(), r.host.spec, on, r.balancer?.appPort(r.host.id));
      if (!result.ok) throw new StepError('health', -1, result.detail);
      return result.detail;
    },
    (detail) => detail,
  );
}

/** Why the host is not healthy on `on`'s release ('' when it is, or when no health check is configured). */
export function healthProblem(r: StepRun, on: ReleaseEnv): Promise<string> {
  if (!r.health) return Promise.resolve('');
  return checkHealth(r, on).then(
    (detail) => ((r.healthDetail = detail), ''),
    (e: unknown) => errorMessage(e),
  );
}

/**
 * Offers the manifest; the host answers what its current release lacks. `fallback` when the whole artifact is
 * better.
 */
async function compare(r: StepRun): Promise<StepOutcome> {
  const i = r.input;
  const source = i.artifact!.delta!;
  const n = source.entries.length;
  // Built from the release preflight found current (a link into releases/, never anything else).
  const stdout = await r.host.exec('compare', STEPS.compare.command(i), { stdin: source.manifest }, (out) => {
    const o = parseOffer(out);
    return o.usable
      ? `from ${o.from}: ${filesToSend(source.entries, o.missing).length} of ${n} files to send`
      : `whole artifact: ${o.reason}`;
  });
  const offer = parseOffer(stdout);
  r.sentBytes += source.manifest.length;
  if (!offer.usable) return 'fallback';
  const files = filesToSend(source.entries, offer.missing);
  const tar = await r.packDelta!(files);
  if (tar.length >= i.artifact!.content.length) return 'fallback';
  const needBytes = files.reduce((sum, f) => sum + f.size, 0) + tar.length;
  r.input = { ...i, delta: { needBytes } };
  r.deltaBuild = { tar, detail: `delta from ${offer.from}: ${files.length} of ${n} files, ${tar.length} bytes` };
  return 'done';
}

/**
 * Unpacks a delta tar (after a compare), complete or absent, and records `staged`; the release from an upload or a
 * download (or already there) unpacks as a plain command (`plain` below).
 */
async function unpackDeltaBuild(r: StepRun): Promise<StepOutcome> {
  const delta = r.deltaBuild;
  if (!delta) return runPlain(['unpack'], r);
  r.deltaBuild = undefined;
  // Sent whether or not the build then passes its check.
  r.sentBytes += delta.tar.length;
  try {
    await r.host.exec('unpack', unpackDelta(r.input), { stdin: delta.tar }, () => delta.detail);
    r.staging = 'delta';
    return 'done';
  } catch (err) {
    if (err instanceof StepError && NOT_FOR_A_WHOLE_ARTIFACT.has(err.code)) throw err;
    r.log.warning(`${r.host.id}: delta staging failed, sending the whole artifact: ${errorMessage(err)}`);
    r.input = { ...r.input, delta: null };
    return 'fallback';
  }
}

/**
 * Puts the host back on its target (Kamal's rollback: the same switch and reload as a rollout),
 * reconnecting first when the connection was lost. One `revert` record covers both.
 */
async function switchBack(r: StepRun): Promise<StepOutcome> {
  const i = r.input;
  const target = i.target;
  await r.host.timed(
    'revert',
    async () => {
      let result;
      try {
        if (!r.host.connected) await r.host.reconnect(r.reconnectWithinMs);
        result = await r.host.run(STEPS.revert.command(i));
      } catch {
        // The connection died under us (a restarted sshd): the switch is idempotent, so once more on a new one.
        await r.host.reconnect(r.reconnectWithinMs);
        result = await r.host.run(STEPS.revert.command(i));
      }
      if (result.code !== 0)
        throw new StepError('revert', result.code, outputTail(result.stderr, result.stdout, result.code));
      r.switched = false;
      if (target && i.settings.reloadCommand) {
        result = await r.host.run(
          userCommand(`${i.settings.deployPath}/current`, i.settings.reloadCommand, env(i, target, i.release)),
        );
        const tail = outputTail(result.stderr, result.stdout, result.code);
        if (result.code !== 0)
          throw new ReloadFailedError(result.code, `switched back to ${target}, but its reload failed: ${tail}`);
      }
    },
    () => `back on ${target || '(no release)'}`,
  );
  return 'done';
}

const onStdin = (what: string, detail = '') => `# (${what} on stdin${detail ? `: ${detail}` : ''})`;

/** Every step, once. */
export const STEPS: Record<StepName, StepDef> = {
  connect: {
    command: () => '',
    note: () => '# from the runner: SSH, the host key verified',
    run: async (r) => (await r.host.connect(), 'done'),
  },
  lock: {
    command: (i) => acquireLockCommand(i.settings.deployPath, i.runUrl, i.token),
    // Waiting on a live lock and taking over a stale one: engine/lock.ts.
    run: async (r) => (await takeLock(r.lock!, r.lockRequest!), 'done'),
  },
  state: commandStep('state', {
    command: (i) => readStateCommand(i.settings.deployPath, i.release, i.settings.checks),
    plain: (r) => ({ done: (out) => (r.state = parseState(out)) }),
  }),
  adopt: commandStep('adopt', {
    command: (i) => adoptCommand(i.settings.deployPath, i.adoptId, i.ledger('adopt')[0]),
    plain: (r) => ({ describe: () => `moved current to releases/${r.input.adoptId}` }),
  }),
  download: commandStep('download', {
    command: (i) => {
      const { href, redacted } = i.artifact!.url!;
      return downloadArtifactCommand(i.settings.deployPath, i.release, href, i.artifact!.sha256, redacted, {
        urlOnStdin: true,
      });
    },
    // The URL is shown redacted (its query string may carry a token); the host reads it from stdin.
    note: (i) => onStdin('the URL', i.artifact!.url!.redacted),
    plain: (r) => {
      const url = r.input.artifact!.url!;
      return {
        stdin: downloadStdin(url.href),
        describe: (out) => {
          const bytes = /downloaded=(\d+)/.exec(out)?.[1];
          return bytes ? `${bytes} bytes from ${url.redacted}` : `from ${url.redacted}`;
        },
        done: () => (r.staging = 'url'),
      };
    },
  }),
  compare: {
    command: (i) => deltaOfferCommand(i.settings.deployPath, i.release, i.previous),
    note: (i) =>
      onStdin('the manifest', `sha256, mode, size, mtime and path of ${i.artifact?.delta?.entries.length ?? 0} files`),
    run: compare,
    fallback: ['upload'],
  },
  upload: commandStep('upload', {
    command: (i) => receiveArtifactCommand(i.settings.deployPath, i.release, i.artifact!.sha256),
    note: () => onStdin('the artifact'),
    plain: (r) => {
      const content = r.input.artifact!.content;
      return { stdin: content, done: () => ((r.sentBytes += content.length), (r.staging = 'full')) };
    },
  }),
  unpack: {
    command: (i) => (i.delta ? unpackDelta(i) : unpackPlain(i)),
    note: (i) =>
      i.artifact?.delta
        ? '# after a compare, instead (the tar of missing files, directories and symlinks on stdin; ' +
          'the space needed is what it holds, here at most the whole release):\n' +
          unpackDelta({ ...i, delta: { needBytes: i.artifact.unpacked?.bytes ?? 0 } })
        : '',
    // A delta build unpacks on its own (its tar on stdin, a fallback on failure); anything else is a plain command.
    plain: (r) => (r.deltaBuild ? undefined : { done: () => (r.staging ??= 'cached') }),
    run: unpackDeltaBuild,
    fallback: ['upload', 'unpack'],
  },
  link: commandStep('link', {
    command: (i) => linkSharedCommand(i.settings.deployPath, i.release, i.settings.sharedPaths),
    plain: () => ({}),
  }),
  setup: commandStep('setup', {
    command: (i) => userCommand(releasePath(i.settings.deployPath, i.release), i.settings.setupCommand, env(i)),
    plain: () => ({}),
  }),
  drain: {
    command: () => '',
    note: (i) => {
      const lb = i.settings.loadBalancer;
      const where = lb ? `${lb.kind} ${hostId(lb.host)} '${lb.backend}'` : '';
      return (
        `# on the balancer ${where}: out of rotation, wait up to ${formatDurationInput(lb?.drainTimeoutMs ?? 0)} ` +
        `for in-flight requests`
      );
    },
    // A run that stopped while this host waited for another server to come back leaves it untouched.
    run: async (r) => ((await r.balancer!.drain(r.host, r.stopped)) === 'stopped' ? 'stopped' : 'done'),
  },
  switch: commandStep('switch', {
    command: (i) => switchCommand(i.settings.deployPath, i.release, i.ledger('switched')[0]),
    plain: (r) => ({ done: () => (r.switched = true) }),
  }),
  reload: commandStep('reload', {
    command: (i) => userCommand(`${i.settings.deployPath}/current`, i.settings.reloadCommand, env(i)),
    plain: () => ({}),
  }),
  health: {
    command: (i) =>
      i.settings.healthCommand ? userCommand(`${i.settings.deployPath}/current`, i.settings.healthCommand, env(i)) : '',
    note: (i) => {
      const s = i.settings;
      if (!s.healthUrl) return '';
      const expect = s.healthExpect ? `, the body must contain "${s.healthExpect}"` : '';
      return `# from the runner: GET ${s.healthUrl}${expect}, until 2xx or ${formatDurationInput(s.healthTimeoutMs)}`;
    },
    run: async (r) => {
      r.healthDetail = await checkHealth(r, env(r.input));
      return 'done';
    },
  },
  rotation: {
    command: () => '',
    note: () => '# on the balancer: back in rotation with its weight',
    // Drained only while another server stayed in rotation (Balancer.drain); in rotation only once healthy.
    run: async (r) => {
      if (r.balancer?.isOut(r.host)) await r.balancer.enable(r.host);
      return 'done';
    },
  },
  record: commandStep('record', {
    command: recordCommand,
    note: (i) =>
      i.prune === null
        ? `# and, in the same command: rm -rf -- <releases beyond keep-releases ${i.settings.keepReleases}, ` +
          'never the current, previous or newest healthy one>'
        : '',
    plain: (r) => {
      const prune = r.input.prune ?? [];
      return { describe: () => (prune.length ? `pruned ${prune.join(', ')}` : undefined) };
    },
  }),
  'mark-bad': commandStep('mark-bad', {
    command: (i) =>
      `${markBadCommand(i.settings.deployPath, i.release, i.badMarker)} && ` +
      `${appendLogCommand(i.settings.deployPath, ...i.ledger('bad'))}`,
    plain: () => ({}),
  }),
  revert: {
    command: (i) => pointAt(i, i.target, i.ledger('back')[0]),
    note: (i) => {
      const s = i.settings;
      if (!s.reloadCommand) return '';
      const reload = userCommand(`${s.deployPath}/current`, s.reloadCommand, env(i, i.target, i.release));
      return `# then, on a release to go back to, the reload:\n${reload}`;
    },
    run: switchBack,
  },
};

/** A step that is one remote command: it runs alone through `run`, or in one command with its neighbours (runSteps). */
function commandStep(name: StepName, def: Omit<StepDef, 'run'> & Required<Pick<StepDef, 'plain'>>): StepDef {
  return { ...def, run: (r) => runPlain([name], r) };
}

/** Runs the plain command steps `names` (of the table) in one remote command; each keeps its own record. */
async function runPlain(names: readonly StepName[], r: StepRun): Promise<'done'> {
  const parts = names.map((name) => ({ name, command: STEPS[name].command(r.input), ...STEPS[name].plain!(r)! }));
  const stdin = parts[0].stdin;
  await r.host.execJoined(parts, stdin ? { stdin } : undefined);
  return 'done';
}

/**
 * Runs `steps` in order through the table; a step answering `fallback` has its fallback steps run in its place.
 * Plain command steps in a row run as one remote command (one round trip instead of one each); only the first may
 * read stdin, since it is the command's.
 */
export async function runSteps(steps: readonly StepName[], r: StepRun): Promise<'done' | 'stopped'> {
  const queue = [...steps];
  for (let name = queue.shift(); name; name = queue.shift()) {
    if (STEPS[name].plain?.(r)) {
      const joined = [name];
      while (queue.length > 0 && isPlainWithoutStdin(queue[0], r)) joined.push(queue.shift()!);
      await runPlain(joined, r);
      continue;
    }
    const outcome = await STEPS[name].run(r);
    if (outcome === 'stopped') return 'stopped';
    if (outcome === 'fallback') queue.unshift(...(STEPS[name].fallback ?? []));
  }
  return 'done';
}

function isPlainWithoutStdin(name: StepName, r: StepRun): boolean {
  const plain = STEPS[name].plain?.(r);
  return plain !== undefined && plain.stdin === undefined;
}
