import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { INSECURE_HOST_KEY_WARNING, readSshSettings } from '../../src/release/ssh-settings.js';

const dir = mkdtempSync(join(tmpdir(), 'fivestep-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function key(passphrase: string): string {
  const file = join(dir, `k${Math.random().toString(36).slice(2)}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', file]);
  return readFileSync(file, 'utf8');
}
const plainKey = key('');
const known = '[10.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n';
const base = {
  hosts: 'web1\n# comment\n\nops@10.0.0.1:2222, web3.example.com',
  'private-key': plainKey,
  'known-hosts': known,
  'deploy-path': '/srv/app/',
};

describe('readSshSettings', () => {
  test('defaults, host lines, masking, credentials', () => {
    const masked: string[] = [];
    const s = readSshSettings(objectInputs(base), { mask: (x) => masked.push(x) });
    expect(s.hosts).toEqual([
      { user: 'deploy', host: 'web1', port: 22 },
      { user: 'ops', host: '10.0.0.1', port: 2222 },
      { user: 'deploy', host: 'web3.example.com', port: 22 },
    ]);
    expect(s).toMatchObject({
      deployPath: '/srv/app',
      maxParallel: 20,
      healthTimeoutMs: 60_000,
      reloadCommand: '',
      healthCommand: '',
      healthUrl: '',
      healthExpect: '',
      warnings: [],
    });
    expect(s.credentials.hostKeys).toEqual({ kind: 'known-hosts', knownHosts: known.trim() });
    expect(s.credentials.passphrase).toBeUndefined();
    expect(masked[0]).toBe(plainKey.trim());
    // Every key body line is masked too (the runner masks line by line).
    for (const line of plainKey.split('\n').filter((l) => l && !l.startsWith('-----'))) expect(masked).toContain(line);
  });

  test('user/port defaults, jump host, commands, durations', () => {
    const s = readSshSettings(
      objectInputs({
        ...base,
        user: 'app',
        port: '2200',
        'jump-host': 'bastion.example.com',
        'max-parallel': '5',
        'reload-command': 'kill -HUP 1',
        'health-url': 'http://{host}:8080/health',
        'health-timeout': '2m',
      }),
      { mask: () => {} },
    );
    expect(s.hosts[0]).toEqual({ user: 'app', host: 'web1', port: 2200 });
    expect(s.credentials.jumpHost).toEqual({ user: 'app', host: 'bastion.example.com', port: 2200 });
    expect(s).toMatchObject({
      maxParallel: 5,
      reloadCommand: 'kill -HUP 1',
      healthUrl: 'http://{host}:8080/health',
      healthTimeoutMs: 120_000,
    });
  });

  test('health-expect is read with health-url, {release} kept for the check', () => {
    const s = readSshSettings(
      objectInputs({ ...base, 'health-url': 'http://{host}:8080/version', 'health-expect': '"version":"{release}"' }),
      { mask: () => {} },
    );
    expect(s).toMatchObject({ healthUrl: 'http://{host}:8080/version', healthExpect: '"version":"{release}"' });
    expect(
      readSshSettings(objectInputs({ ...base, 'health-url': 'http://{host}/', 'health-expect': 'x'.repeat(1000) }), {
        mask: () => {},
      }).healthExpect,
    ).toHaveLength(1000);
  });

  test('known-hosts is required unless insecure-skip-host-key-check, with the ssh-keyscan hint', () => {
    expect(() => readSshSettings(objectInputs({ ...base, 'known-hosts': '' }), { mask: () => {} })).toThrow(
      /input 'known-hosts': is required unless insecure-skip-host-key-check is true: get the lines with `ssh-keyscan -p 22 web1`/,
    );
    expect(() => readSshSettings(objectInputs({ ...base, 'known-hosts': 'garbage' }), { mask: () => {} })).toThrow(
      /input 'known-hosts'.*ssh-keyscan/,
    );
    const s = readSshSettings(objectInputs({ ...base, 'known-hosts': '', 'insecure-skip-host-key-check': 'true' }), {
      mask: () => {},
    });
    expect(s.credentials.hostKeys).toEqual({ kind: 'insecure' });
    expect(s.warnings).toEqual([INSECURE_HOST_KEY_WARNING]);
  });

  test('an encrypted key needs its passphrase; both are masked; errors never echo the key', () => {
    const enc = key('s3cret');
    expect(() => readSshSettings(objectInputs({ ...base, 'private-key': enc }), { mask: () => {} })).toThrow(
      /input 'passphrase'/,
    );
    const masked: string[] = [];
    const s = readSshSettings(objectInputs({ ...base, 'private-key': enc, passphrase: 's3cret' }), {
      mask: (x) => masked.push(x),
    });
    expect(s.credentials.passphrase).toBe('s3cret');
    expect(masked).toContain('s3cret');
    let message = '';
    try {
      readSshSettings(objectInputs({ ...base, 'private-key': 'not-a-key-but-secret-text' }), { mask: () => {} });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^input 'private-key'/);
    expect(message).not.toContain('secret-text');
  });

  test.each([
    [{ hosts: '' }, /input 'hosts': is required/],
    [{ hosts: 'web1\nweb1:22' }, /input 'hosts': 'web1:22' is listed twice/],
    [{ hosts: 'bad host!' }, /input 'hosts'/],
    [{ 'private-key': '' }, /input 'private-key': is required/],
    [{ 'deploy-path': 'relative' }, /input 'deploy-path'/],
    [{ 'deploy-path': '' }, /input 'deploy-path': is required/],
    [{ 'max-parallel': '0' }, /input 'max-parallel'/],
    [{ port: '70000' }, /input 'port'/],
    [{ 'health-timeout': 'soon' }, /input 'health-timeout'/],
    [{ 'health-url': 'ftp://{host}/' }, /input 'health-url'/],
    [{ 'jump-host': 'a b' }, /input 'jump-host'/],
    [{ 'health-expect': '{release}' }, /input 'health-expect': needs health-url/],
    [
      { 'health-url': 'http://{host}/v', 'health-expect': 'x'.repeat(1001) },
      /input 'health-expect': is 1001 characters long/,
    ],
    [{ 'health-url': 'http://{host}/v', 'health-expect': 'a\nb' }, /input 'health-expect': must be one line/],
    [{ 'health-url': 'http://{host}/v', 'health-expect': 'a\tb' }, /input 'health-expect': must be one line/],
    [{ 'insecure-skip-host-key-check': 'maybe' }, /input 'insecure-skip-host-key-check'/],
  ])('%j is rejected naming the input', (over, error) => {
    expect(() => readSshSettings(objectInputs({ ...base, ...over }), { mask: () => {} })).toThrow(error);
  });
});
