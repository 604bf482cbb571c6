// The artifact's member rules, its tar reader and its directory walk, on archives built by the system
// tar and by hand (headers a hostile archive would use).
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkMembers, contentDigest, normaliseMemberPath, type Member } from '../../src/artifact/members.js';
import { TarParser, numberField, readTarMembers } from '../../src/artifact/tar-reader.js';
import { isExcluded, walkDirectory } from '../../src/artifact/walk.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-members-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const file = (path: string, extra: Partial<Member> = {}): Member => ({
  path,
  kind: 'file',
  mode: 0o644,
  size: 3,
  mtime: 1,
  sha256: 'a'.repeat(64),
  ...extra,
});
const dir = (path: string): Member => ({ path, kind: 'dir', mode: 0o755, size: 0, mtime: 1 });
const link = (path: string, to: string): Member => ({
  path,
  kind: 'symlink',
  mode: 0o777,
  size: 0,
  mtime: 1,
  link: to,
});
const refused = (members: Member[]) => {
  try {
    checkMembers('artifact', 'a.tgz', members);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

describe('member rules', () => {
  test('names: ./a//b/ is a/b, . is the root; absolute names and .. leave the release', () => {
    expect(['./a//b/', '.', './', 'a/./b'].map(normaliseMemberPath)).toEqual(['a/b', '', '', 'a/b']);
    expect(['/etc/passwd', '../x', 'a/../../x', 'a/..'].map(normaliseMemberPath)).toEqual([null, null, null, null]);
  });

  test('a member under a symlink member (either order in the archive) is refused, naming both', () => {
    expect(refused([dir(''), link('public', '/srv/victim'), file('public/uploads/x')])).toBe(
      "input 'artifact': 'a.tgz' holds 'public/uploads/x' under the symlink 'public' (→ /srv/victim): a member cannot go through a symlink, it could land outside the release",
    );
    // The same path twice could turn a directory into a symlink between two members.
    expect(refused([dir('public'), file('public/a'), link('public', '/srv/victim')])).toBe(
      "input 'artifact': 'a.tgz' holds 'public' twice",
    );
    expect(refused([dir('d'), dir('d'), file('d/f')])).toBe('');
  });

  test('a hard link must point at a regular file earlier in the archive', () => {
    expect(refused([file('a'), { ...file('b'), kind: 'hardlink', link: 'a', size: 0 }])).toBe('');
    expect(refused([file('a'), { ...file('b'), kind: 'hardlink', link: '/etc/shadow', size: 0 }])).toMatch(
      /the hard link 'b' to '\/etc\/shadow', which is not a regular file earlier in the archive/,
    );
  });

  test('the summary: files (hard links counted, their bytes not), bytes, write bits to strip, the tree', () => {
    const s = checkMembers('artifact', 'x', [
      dir(''),
      file('a', { size: 10, mode: 0o666 }),
      { ...file('b'), kind: 'hardlink', link: 'a', size: 10 },
      dir('d'),
      link('l', 'a'),
    ]);
    expect([s.files, s.bytes, s.writable]).toEqual([2, 10, ['a']]);
    expect([...s.tree]).toEqual([
      ['', 'dir'],
      ['a', 'file'],
      ['b', 'file'],
      ['d', 'dir'],
      ['l', 'symlink'],
    ]);
  });

  test('the content digest leaves out times (a re-run build is the same release) but not modes, content, targets or names', () => {
    const base = [dir(''), file('a'), link('l', 'a')];
    expect(contentDigest(base.map((m) => ({ ...m, mtime: 999 })))).toBe(contentDigest(base));
    // Order in the archive does not matter; the unpacked mode does (write bits for group and others do not).
    expect(contentDigest([...base].reverse())).toBe(contentDigest(base));
    expect(contentDigest([dir(''), file('a', { mode: 0o666 }), link('l', 'a')])).toBe(contentDigest(base));
    for (const other of [
      [dir(''), file('a', { mode: 0o755 }), link('l', 'a')],
      [dir(''), file('a', { sha256: 'b'.repeat(64) }), link('l', 'a')],
      [dir(''), file('a'), link('l', 'b')],
      [dir(''), file('b'), link('l', 'a')],
    ]) {
      expect(contentDigest(other)).not.toBe(contentDigest(base));
    }
  });
});

/** A 512-byte ustar header, with its checksum. */
function header(
  name: string,
  flag: string,
  size = 0,
  extra: { prefix?: string; link?: string; mode?: number } = {},
): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write(`${(extra.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write(`${(1700000000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  b.write(flag, 156, 'latin1');
  if (extra.link) b.write(extra.link, 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 'latin1');
  if (extra.prefix) b.write(extra.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}
const data = (text: string) => {
  const b = Buffer.alloc(Math.ceil(text.length / 512) * 512);
  b.write(text);
  return b;
};
const END = Buffer.alloc(1024);
const parse = (...parts: Buffer[]) => {
  const p = new TarParser();
  // Fed in odd-sized chunks, as a stream delivers them.
  const all = Buffer.concat(parts);
  for (let i = 0; i < all.length; i += 333) p.feed(all.subarray(i, i + 333));
  return p.end();
};

describe('the tar reader', () => {
  test('reads what GNU tar writes: long names, hard links, symlinks, modes, times, and hashes each file', async () => {
    const src = join(tmp, 'gnu');
    const deep = `${'d'.repeat(120)}/${'e'.repeat(60)}`;
    mkdirSync(join(src, deep), { recursive: true });
    writeFileSync(join(src, deep, 'f.txt'), 'hello\n');
    linkSync(join(src, deep, 'f.txt'), join(src, 'hard'));
    symlinkSync('../elsewhere', join(src, 'sym'));
    utimesSync(join(src, deep, 'f.txt'), 1600000000, 1600000000);
    const tgz = join(tmp, 'gnu.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', src, '.']);
    const members = await readTarMembers('artifact', tgz, true);
    const f = members.find((m) => m.path === `${deep}/f.txt`) ?? members.find((m) => m.path === 'hard');
    expect(f).toMatchObject({
      mode: 0o644,
      size: 6,
      mtime: 1600000000,
      sha256: '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03',
    });
    const other = members.find((m) => m.kind === 'hardlink')!;
    // The hard link has its target's content, mode and time.
    expect(other).toMatchObject({ size: 6, mtime: 1600000000, sha256: f!.sha256 });
    expect(members.find((m) => m.path === 'sym')).toMatchObject({ kind: 'symlink', link: '../elsewhere' });
  });

  test('ustar prefixes and pax paths; a name that leaves the release is kept raw and refused by name', () => {
    const paxRecord = (key: string, value: string) => {
      const body = ` ${key}=${value}\n`;
      let len = body.length + 1;
      while (`${len}${body}`.length !== len) len++;
      return `${len}${body}`;
    };
    const rec = paxRecord('path', 'from/pax/name.txt');
    const members = parse(
      header('name.txt', '0', 3, { prefix: 'with/prefix' }),
      data('abc'),
      header('PaxHeader', 'x', rec.length),
      data(rec),
      header('ignored', '0', 2),
      data('xy'),
      header('../../etc/cron.d/x', '0', 1),
      data('z'),
      END,
    );
    expect(members.map((m) => [m.path, m.kind])).toEqual([
      ['with/prefix/name.txt', 'file'],
      ['from/pax/name.txt', 'file'],
      ['../../etc/cron.d/x', 'unknown'],
    ]);
    expect(refused(members)).toMatch(
      /holds a member of an unsupported type \(its name leaves the release: absolute or with \.\.\): '\.\.\/\.\.\/etc\/cron\.d\/x'/,
    );
  });

  test('devices and FIFOs come out as such; a corrupt header or an archive cut inside a member is an error', () => {
    expect(parse(header('dev/null', '3'), header('p', '6'), END).map((m) => m.kind)).toEqual(['char-device', 'fifo']);
    const bad = header('a', '0', 1);
    bad[0] = 0x62; // the checksum no longer matches
    expect(() => parse(bad, data('x'), END)).toThrow(/not a tar archive \(header checksum mismatch\)/);
    expect(() => parse(header('a', '0', 4096), data('only a little'))).toThrow(/ends inside a member/);
    expect(() => parse(Buffer.from('plain text, not tar'))).toThrow(/empty or not a tar archive/);
  });

  test("numbers: octal fields and GNU's base-256 form for large sizes", () => {
    expect(numberField(Buffer.from('00000000644\0'))).toBe(0o644);
    const big = Buffer.alloc(12);
    big[0] = 0x80;
    big.writeUIntBE(10 * 2 ** 30, 6, 6);
    expect(numberField(big)).toBe(10 * 2 ** 30);
  });
});

describe('the directory walk', () => {
  test('symlinks are members, never followed; exclude: a name at any depth, or a path from the root', async () => {
    const root = join(tmp, 'walk');
    mkdirSync(join(root, 'lib', '.git'), { recursive: true });
    mkdirSync(join(root, 'docs', 'drafts'), { recursive: true });
    writeFileSync(join(root, 'lib', '.git', 'x'), '');
    writeFileSync(join(root, 'lib', 'a.log'), '');
    writeFileSync(join(root, 'docs', 'drafts', 'd.md'), '');
    writeFileSync(join(root, 'docs', 'i.md'), '');
    symlinkSync('/etc', join(root, 'etc-link'));
    const members = await walkDirectory(root, ['.git', '*.log', 'docs/drafts']);
    expect(members.map((m) => `${m.kind} ${m.path}`)).toEqual([
      'dir ',
      'dir docs',
      'file docs/i.md',
      'symlink etc-link',
      'dir lib',
    ]);
    expect(isExcluded('a/b/.git', ['.git'])).toBe(true);
    expect(isExcluded('docs/drafts/x', ['docs/drafts/**'])).toBe(true);
    expect(isExcluded('other/docs/drafts', ['docs/drafts'])).toBe(false);
  });
});
