// artifact-url on the host: input validation, and the download command by exact string
// (test/release/download-fleet.test.ts runs it on real hosts; the redacted URL: test/common/url.test.ts).
import { InputError } from '../../src/common/inputs.js';
import {
  downloadArtifactCommand,
  downloadStdin,
  downloadTempPaths,
  isLoopbackHost,
  validateArtifactUrl,
  validateSha256,
} from '../../src/release/download.js';

const SHA = 'ab'.repeat(32);

/** The InputError fn throws (fails the test when it throws nothing else). */
function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('validateArtifactUrl', () => {
  test('accepts https anywhere and returns the normalised URL without its fragment', () => {
    expect(validateArtifactUrl('artifact-url', 'https://objects.example/app.tgz')).toBe(
      'https://objects.example/app.tgz',
    );
    expect(
      validateArtifactUrl('artifact-url', 'HTTPS://Objects.Example:443/a/../app.tgz?X-Amz-Signature=abc#part'),
    ).toBe('https://objects.example/app.tgz?X-Amz-Signature=abc');
    expect(validateArtifactUrl('artifact-url', 'https://objects.example:8443/app.tgz')).toBe(
      'https://objects.example:8443/app.tgz',
    );
  });

  test('accepts http only on loopback: 127.0.0.0/8, localhost, [::1]', () => {
    expect(validateArtifactUrl('artifact-url', 'http://127.0.0.1:8080/app.tgz')).toBe('http://127.0.0.1:8080/app.tgz');
    expect(validateArtifactUrl('artifact-url', 'http://127.3.4.5/app.tgz')).toBe('http://127.3.4.5/app.tgz');
    expect(validateArtifactUrl('artifact-url', 'http://localhost/app.tgz')).toBe('http://localhost/app.tgz');
    expect(validateArtifactUrl('artifact-url', 'http://[::1]:9000/app.tgz')).toBe('http://[::1]:9000/app.tgz');
    // Shorthand IPv4 is normalised by the URL parser before the check, so it cannot dodge it.
    expect(validateArtifactUrl('artifact-url', 'http://127.1/app.tgz')).toBe('http://127.0.0.1/app.tgz');
    for (const url of [
      'http://objects.example/app.tgz',
      'http://128.0.0.1/app.tgz',
      'http://localhost.evil.example/app.tgz',
      'http://[::2]/app.tgz',
    ]) {
      expect(inputError(() => validateArtifactUrl('artifact-url', url)).message).toContain(
        'http:// is allowed only on loopback (127.0.0.0/8, localhost, [::1])',
      );
    }
  });

  test('refuses other schemes, non-URLs, whitespace and control characters, naming the input', () => {
    const ftp = inputError(() => validateArtifactUrl('artifact-url', 'ftp://files.example/app.tgz'));
    expect(ftp.input).toBe('artifact-url');
    expect(ftp.message).toBe("input 'artifact-url': 'ftp://files.example/app.tgz': must be an https:// URL");
    expect(inputError(() => validateArtifactUrl('artifact-url', 'file:///tmp/app.tgz')).message).toContain(
      'must be an https:// URL',
    );
    expect(inputError(() => validateArtifactUrl('artifact-url', 'objects.example/app.tgz')).message).toBe(
      "input 'artifact-url': is not a valid absolute URL (expected https://host/path)",
    );
    for (const url of [
      'https://objects.example/app .tgz',
      'https://objects.example/app.tgz\n',
      'https://objects.example/\tapp.tgz',
      'https://objects.example/a\x7f',
    ]) {
      expect(inputError(() => validateArtifactUrl('artifact-url', url)).message).toBe(
        "input 'artifact-url': must not contain whitespace or control characters",
      );
    }
  });

  test('credentials are allowed but never echoed, nor is the query', () => {
    expect(validateArtifactUrl('artifact-url', 'https://ci:s3cret@objects.example/app.tgz')).toBe(
      'https://ci:s3cret@objects.example/app.tgz',
    );
    const e = inputError(() =>
      validateArtifactUrl('artifact-url', 'http://ci:s3cret@objects.example/app.tgz?token=t0ken'),
    );
    expect(e.message).toBe(
      "input 'artifact-url': 'http://***@objects.example/app.tgz?…': http:// is allowed only on loopback (127.0.0.0/8, localhost, [::1])",
    );
  });
});

describe('validateSha256', () => {
  test('64 hex characters, lowercased and trimmed', () => {
    expect(validateSha256('artifact-sha256', ` ${SHA.toUpperCase()}\n`)).toBe(SHA);
  });

  test('anything else is an InputError naming the input', () => {
    for (const text of ['', 'ab'.repeat(31), 'ab'.repeat(33), `${'ab'.repeat(31)}zz`, `sha256:${SHA}`]) {
      const e = inputError(() => validateSha256('artifact-sha256', text));
      expect(e.input).toBe('artifact-sha256');
      expect(e.message).toBe(`input 'artifact-sha256': '${text}' is not a sha256 digest (64 hexadecimal characters)`);
    }
  });
});

test('isLoopbackHost takes hostnames as the URL parser normalises them', () => {
  expect(['localhost', '127.0.0.1', '127.255.0.9', '[::1]'].map(isLoopbackHost)).toEqual([true, true, true, true]);
  expect(['localhost.', 'example.com', '10.0.0.1', '[::ffff:7f00:1]', '1270.0.0.1'].map(isLoopbackHost)).toEqual([
    false,
    false,
    false,
    false,
    false,
  ]);
});

describe('downloadArtifactCommand by exact string', () => {
  const url = 'https://objects.example/app.tgz?token=t0ken';
  const redacted = 'https://objects.example/app.tgz?…';
  const curlFailures = [
    '  case $rc in',
    "    1) why='a redirect to a protocol that is not allowed (only https) was refused';;",
    "    3) why='the URL is malformed';;",
    "    5) why='could not resolve the proxy';;",
    "    6) why='could not resolve the host';;",
    "    7) why='could not connect';;",
    "    18) why='the connection closed before the whole file arrived';;",
    "    23) why='could not write the file (is the disk full?)';;",
    "    28) why='timed out';;",
    "    35) why='the TLS handshake failed';;",
    "    47) why='too many redirects';;",
    "    52) why='the server sent an empty reply';;",
    "    55) why='the connection failed while sending';;",
    "    56) why='the connection failed while receiving';;",
    "    60) why='the server'\\''s TLS certificate is not trusted';;",
    "    77) why='could not read the CA certificates';;",
    "    *) why='curl failed';;",
    '  esac',
  ];
  const wgetFailures = [
    '  case $rc in',
    "    2) why='wget rejected its options (GNU wget is needed)';;",
    "    3) why='could not write the file (is the disk full?)';;",
    "    4) why='network failure: could not connect, or the connection closed before the whole file arrived';;",
    "    5) why='TLS verification failed';;",
    "    6) why='the server refused the credentials';;",
    "    7) why='protocol error';;",
    "    124) why='timed out';;",
    "    *) why='wget failed';;",
    '  esac',
  ];

  test('https: curl (else wget) into a temp file, checked, then renamed to where an upload lands', () => {
    expect(downloadArtifactCommand('/srv/app', 'v2', url, SHA, redacted).split('\n')).toEqual([
      'set -e',
      'mkdir -p /srv/app/.fivestep/incoming',
      'umask 077',
      'tmp=/srv/app/.fivestep/incoming/v2.artifact.download',
      'log=/srv/app/.fivestep/incoming/v2.artifact.log',
      'rm -f /srv/app/.fivestep/incoming/v2.artifact',
      `trap 'rm -f "$tmp" "$log"' EXIT`,
      "url='https://objects.example/app.tgz?token=t0ken'",
      'rc=0; code=000',
      'if command -v curl >/dev/null 2>&1; then',
      `  tool=curl; code=$(printf 'url = %s\\n' "$url" | curl -fsL --retry 2 --retry-max-time 600 --connect-timeout 10 --max-time 600 --proto =https --proto-redir =https -K - -o "$tmp" -w '%{http_code}' 2>/dev/null) || rc=$?`,
      ...curlFailures,
      'elif command -v wget >/dev/null 2>&1; then',
      "  tool=wget; to=; command -v timeout >/dev/null 2>&1 && to='timeout 600'",
      `  printf '%s\\n' "$url" | $to wget -q -S --tries=3 --connect-timeout=10 --read-timeout=60 -i - -O "$tmp" 2>"$log" || rc=$?`,
      `  code=$(sed -n 's/^ *HTTP\\/[0-9.]* \\([0-9][0-9][0-9]\\).*/\\1/p' "$log" | tail -n 1); [ -n "$code" ] || code=000`,
      ...wgetFailures,
      `  if grep -qi '^ *location: *http:' "$log"; then printf '%s\\n' 'download of https://objects.example/app.tgz?… refused: it was redirected to a non-https URL' >&2; exit 1; fi`,
      'else',
      "  echo 'neither curl nor wget is installed on the host' >&2; exit 1",
      'fi',
      `bytes=0; [ -f "$tmp" ] && bytes=$(wc -c < "$tmp" | tr -d ' ')`,
      'if [ "$rc" != 0 ]; then',
      '  if [ "$code" -ge 400 ] 2>/dev/null; then why="HTTP $code"; else why="$why ($tool exit $rc)"; [ "$code" = 000 ] || why="$why, HTTP $code"; fi',
      `  printf '%s\\n' 'download of https://objects.example/app.tgz?… failed: '"$why after $bytes bytes" >&2; exit 1`,
      'fi',
      `found=$(sha256sum "$tmp" | cut -d' ' -f1)`,
      `if [ "$found" != ${SHA} ]; then`,
      `  printf '%s\\n' 'checksum mismatch: expected ${SHA} but the download of https://objects.example/app.tgz?… ('"$bytes bytes) has $found" >&2; exit 64`,
      'fi',
      'mv -f "$tmp" /srv/app/.fivestep/incoming/v2.artifact',
      'echo "downloaded=$bytes"',
    ]);
  });

  test('the URL appears once, quoted; everything said about it uses the redacted form', () => {
    const cmd = downloadArtifactCommand('/srv/app', 'v2', url, SHA, redacted);
    expect(cmd.split('t0ken')).toHaveLength(2);
    expect(cmd.split('\n').filter((line) => line.includes('t0ken'))).toEqual([
      "url='https://objects.example/app.tgz?token=t0ken'",
    ]);
  });

  test('loopback http allows http redirects too and needs no wget redirect check', () => {
    const lines = downloadArtifactCommand(
      '/srv/app',
      'v2',
      'http://127.0.0.1:8080/app.tgz',
      SHA,
      'http://127.0.0.1:8080/app.tgz',
    ).split('\n');
    expect(lines.find((line) => line.includes('| curl'))).toContain(
      '--proto =http,https --proto-redir =http,https -K -',
    );
    expect(lines.filter((line) => line.includes('location'))).toEqual([]);
  });

  test('urlOnStdin reads the URL from stdin, so the command holds none of it', () => {
    const cmd = downloadArtifactCommand('/srv/app', 'v2', url, SHA, redacted, { urlOnStdin: true });
    expect(cmd).not.toContain('t0ken');
    expect(cmd.split('\n')[7]).toBe(
      `url=; IFS= read -r url || true; [ -n "$url" ] || { echo 'no artifact URL on stdin' >&2; exit 1; }`,
    );
    expect(downloadStdin(url).toString()).toBe(`${url}\n`);
  });

  test('maxTimeSec bounds curl and wget alike', () => {
    const cmd = downloadArtifactCommand('/srv/app', 'v2', url, SHA, redacted, { maxTimeSec: 90 });
    expect(cmd).toContain('--retry-max-time 90 --connect-timeout 10 --max-time 90 ');
    expect(cmd).toContain("to='timeout 90'");
    expect(() => downloadArtifactCommand('/srv/app', 'v2', url, SHA, redacted, { maxTimeSec: 0 })).toThrow(
      'maxTimeSec must be a positive whole number, got 0',
    );
  });

  test('every value is quoted: a deploy path with spaces and quotes, a URL with a quote', () => {
    const lines = downloadArtifactCommand(
      "/srv/my app's",
      'v2',
      "https://objects.example/it's.tgz",
      SHA,
      "https://objects.example/it's.tgz",
    ).split('\n');
    expect(lines[1]).toBe(`mkdir -p '/srv/my app'\\''s/.fivestep/incoming'`);
    expect(lines[3]).toBe(`tmp='/srv/my app'\\''s/.fivestep/incoming/v2.artifact.download'`);
    expect(lines[7]).toBe(`url='https://objects.example/it'\\''s.tgz'`);
    expect(lines.at(-2)).toBe(`mv -f "$tmp" '/srv/my app'\\''s/.fivestep/incoming/v2.artifact'`);
  });

  test('its temporary files, for whoever discards a release after a killed download', () => {
    expect(downloadTempPaths('/srv/app', 'v2')).toEqual({
      download: '/srv/app/.fivestep/incoming/v2.artifact.download',
      log: '/srv/app/.fivestep/incoming/v2.artifact.log',
    });
  });

  test('a URL with whitespace never reaches the config line', () => {
    expect(() =>
      downloadArtifactCommand('/srv/app', 'v2', 'https://objects.example/a\nurl = file:///etc/shadow', SHA, redacted),
    ).toThrow('the artifact URL must not contain whitespace or control characters');
  });
});
