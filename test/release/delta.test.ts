// Delta staging's pure parts: the manifest format, the host's answer, the files sent, and the two
// remote commands (their real behaviour is tested against a fleet in test/rollout/delta.test.ts).
import { EXIT } from '../../src/release/commands.js';
import {
  UNSUPPORTED_NAME,
  deltaOfferCommand,
  deltaUnpackCommand,
  filesToSend,
  manifestText,
  parseOffer,
  type ManifestEntry,
} from '../../src/release/delta.js';

const entry = (path: string, sha: string, mode = '644', size = 10, mtime = 1700000000): ManifestEntry => ({
  path,
  mode,
  size,
  mtime,
  sha256: sha.repeat(64 / sha.length),
});

describe('the manifest', () => {
  test('one tab-separated line a file (sha256, mode, size, mtime, path), sorted by path byte order', () => {
    expect(
      manifestText([entry('lib/b.js', 'b'), entry('a b.txt', 'a', '600', 3, 5), entry('Z', 'c', '755', 0, 0)]),
    ).toBe(
      `${'c'.repeat(64)}\t755\t0\t0\tZ\n${'a'.repeat(64)}\t600\t3\t5\ta b.txt\n${'b'.repeat(64)}\t644\t10\t1700000000\tlib/b.js\n`,
    );
  });
  test('names it cannot carry: control characters and backslashes (sha256sum escapes those)', () => {
    expect(['a\tb', 'a\nb', 'a\\b', 'a\x7fb'].map((n) => UNSUPPORTED_NAME.test(n))).toEqual([true, true, true, true]);
    expect(['a b', 'ünïcode', "it's", 'a"b'].map((n) => UNSUPPORTED_NAME.test(n))).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe("the host's answer", () => {
  test('from a release, with the contents it lacks', () => {
    expect(parseOffer(`from v1\nmissing ${'a'.repeat(64)}\nmissing ${'b'.repeat(64)}\n`)).toEqual({
      usable: true,
      from: 'v1',
      missing: new Set(['a'.repeat(64), 'b'.repeat(64)]),
    });
    expect(parseOffer('from v1\n')).toEqual({ usable: true, from: 'v1', missing: new Set() });
  });
  test('nothing to build from, or an answer it does not understand: the whole artifact goes', () => {
    expect(parseOffer('none no current release to build from\n')).toEqual({
      usable: false,
      reason: 'no current release to build from',
    });
    expect(parseOffer('bash: gzip: not found\n')).toEqual({
      usable: false,
      reason: 'unexpected answer: bash: gzip: not found',
    });
  });
  test('every file whose content is missing is sent, at every path that holds it', () => {
    const files = [entry('a', 'a'), entry('b', 'b'), entry('copy-of-b', 'b'), entry('c', 'c')];
    expect(filesToSend(files, new Set(['b'.repeat(64)])).map((f) => f.path)).toEqual(['b', 'copy-of-b']);
  });
});

describe('the commands', () => {
  test('the offer keeps the manifest, indexes the release it is told to build from as found on disk, and answers, changing nothing under releases/', () => {
    const lines = deltaOfferCommand('/srv/app', 'v2', 'v1').split('\n');
    expect(lines.slice(0, 6)).toEqual([
      'set -e',
      'mkdir -p /srv/app/.fivestep/incoming',
      'gzip -dc > /srv/app/.fivestep/incoming/v2.manifest',
      'cd /srv/app',
      `if [ -z v1 ] || [ -L releases/v1 ] || [ ! -d releases/v1 ]; then echo 'none no current release to build from'; exit 0; fi`,
      // find never follows a symlink; a name it cannot carry is pruned.
      `(cd releases/v1 && LC_ALL=C find . \\( -path '*[[:cntrl:]]*' -o -path '*\\\\*' \\) -prune -o -type f -printf '%m\\t%Ts\\t%P\\n') > /srv/app/.fivestep/incoming/v2.index.files`,
    ]);
    expect(lines[6]).toBe(
      `if [ -f /srv/app/.fivestep/manifests/v1 ]; then awk -F'\\t' '{ print $1 "\\t" $NF }' /srv/app/.fivestep/manifests/v1 > /srv/app/.fivestep/incoming/v2.index.sums`,
    );
    expect(lines.filter((l) => /releases\/[^$]/.test(l) && /\b(rm|mv|ln|cp|chmod)\b/.test(l))).toEqual([]);
  });
  test('the build: the tar, the batch link with a copy fallback that never writes through a link, the checks, then the rename', () => {
    const cmd = deltaUnpackCommand('/srv/app', 'v2', 'ab12', 4096);
    const lines = cmd.split('\n');
    expect(lines[2]).toBe('cat > /srv/app/.fivestep/incoming/v2.delta');
    expect(lines).toContain(
      'tar -xzp --no-same-owner -f /srv/app/.fivestep/incoming/v2.delta -C /srv/app/releases/.v2.partial',
    );
    expect(lines).toContain("need=4096; free=$(df -Pk /srv/app/releases 2>/dev/null | awk 'NR==2 { print $4 }')");
    expect(cmd).toContain(
      "xargs -0 cp -l --parents -t /srv/app/releases/.v2.partial -- 2>/dev/null) || (cd \"$from\" && tr '\\n' '\\0' < /srv/app/.fivestep/incoming/v2.same | xargs -0 cp --remove-destination --preserve=mode,timestamps --parents",
    );
    expect(cmd).toContain(`sha256sum --quiet --strict -c -`);
    expect(lines.filter((l) => l.includes(`exit ${EXIT.deltaMismatch}`))).toHaveLength(2);
    // Checked before the rename, and the rename is the last change to releases/.
    const checked = lines.findIndex((l) => l.includes("find . -type f -printf '%m\\t%Ts\\t%P\\n'"));
    const renamed = lines.indexOf('mv /srv/app/releases/.v2.partial /srv/app/releases/v2');
    expect(checked).toBeGreaterThan(0);
    expect(renamed).toBeGreaterThan(checked);
    expect(
      lines
        .slice(0, renamed)
        .some((l) => l.startsWith('mv /srv/app/.fivestep/incoming/v2.manifest /srv/app/.fivestep/manifests/v2')),
    ).toBe(true);
  });
});
