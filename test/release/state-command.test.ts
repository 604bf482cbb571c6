// The host state read: readStateCommand run on a real tree in a local sh (the same POSIX sh the hosts use),
// and the pure parser of what it prints.
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyState, parseState, readStateCommand } from '../../src/release/state-command.js';

describe('commands run in a local sh', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fivestep-commands-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (command: string) => spawnSync('sh', ['-c', command], { encoding: 'utf8' });

  test('readStateCommand → parseState on a real tree; absent deploy path', () => {
    const app = join(dir, 'app');
    expect(parseState(sh(readStateCommand(app, 'v2')).stdout)).toEqual({ ...emptyState(), exists: false });
    for (const [id, t] of [
      ['v1', '200001010000'],
      ['v2', '200001020000'],
      ['v10', '200001030000'],
    ]) {
      mkdirSync(join(app, 'releases', id), { recursive: true });
      execFileSync('touch', ['-t', t, join(app, 'releases', id)]);
    }
    mkdirSync(join(app, '.fivestep', 'bad'), { recursive: true });
    mkdirSync(join(app, '.fivestep', 'checksums'), { recursive: true });
    writeFileSync(join(app, '.fivestep', 'bad', 'v1'), 'broken\n');
    writeFileSync(join(app, '.fivestep', 'checksums', 'v2'), 'ab12\n');
    execFileSync('ln', ['-s', 'releases/v2', join(app, 'current')]);
    const entry = { time: 't', action: 'rollout', release: 'v2', previous: 'v1', run: "it's", result: 'healthy' };
    writeFileSync(join(app, '.fivestep', 'deploy.log'), `${JSON.stringify(entry)}\n{"torn\n`);
    const state = parseState(sh(readStateCommand(app, 'v2')).stdout);
    expect(state).toMatchObject({ exists: true, current: 'v2', bad: ['v1'], checksum: 'ab12', log: [entry] });
    // Oldest first by directory time, not by name (v10 is the newest).
    expect(state.releases.map((r) => r.id)).toEqual(['v1', 'v2', 'v10']);
    expect(lstatSync(join(app, 'current')).isSymbolicLink()).toBe(true);
  });
});

describe('parseState', () => {
  test('keys, unknown lines ignored, releases sorted by mtime then id', () => {
    const state = parseState(
      [
        'current=v3',
        'release=v3 300',
        'release=b 100',
        'release=a 100',
        'bad=b',
        'checksum=ff00',
        'noise',
        'other=1',
        '',
      ].join('\n'),
    );
    expect(state).toEqual({
      ...emptyState(),
      current: 'v3',
      releases: [
        { id: 'a', mtime: 100 },
        { id: 'b', mtime: 100 },
        { id: 'v3', mtime: 300 },
      ],
      bad: ['b'],
      checksum: 'ff00',
      log: [],
    });
    expect(parseState('absent=1\n').exists).toBe(false);
    expect(parseState('current=\n').current).toBe('');
  });
});
