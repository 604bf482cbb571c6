// The host side of `artifact-url`: each host fetches the artifact itself (curl, else wget) and checks
// its sha256 before anything unpacks it. The URL may carry a secret (an S3 presigned query, a token):
// it reaches the shell only quoted, never curl's or wget's argv, never an output; logs get redactUrl() (common/url.ts).
import { InputError } from '../common/inputs.js';
import { quote } from '../common/shell.js';
import { redactUrl } from '../common/url.js';
import { EXIT } from './commands.js';
import { layout } from './layout.js';

// eslint-disable-next-line no-control-regex -- rejecting whitespace and control characters is the point
const UNSAFE_CHARACTERS = /[\s\0-\x1f\x7f]/;

/** 127.0.0.0/8, localhost and [::1], as the WHATWG URL parser normalises them (127.1 becomes 127.0.0.1). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/**
 * An https:// URL, or http:// to a loopback host (a local mirror, the tests), normalised and
 * without its fragment (never sent to a server anyway). Errors show the redacted URL only.
 */
export function validateArtifactUrl(input: string, url: string): string {
  // The URL parser would silently drop tabs and newlines; a URL holding them is a pasting mistake.
  if (UNSAFE_CHARACTERS.test(url)) throw new InputError(input, 'must not contain whitespace or control characters');
  const u = parse(url);
  if (!u) throw new InputError(input, 'is not a valid absolute URL (expected https://host/path)');
  const loopback = isLoopbackHost(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    const why =
      u.protocol === 'http:'
        ? 'http:// is allowed only on loopback (127.0.0.0/8, localhost, [::1])'
        : 'must be an https:// URL';
    throw new InputError(input, `'${redactUrl(url)}': ${why}`);
  }
  u.hash = '';
  return u.href;
}

/** A sha256 digest: 64 hexadecimal characters, returned lowercased. */
export function validateSha256(input: string, text: string): string {
  const digest = text.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(digest)) {
    throw new InputError(input, `'${text.trim()}' is not a sha256 digest (64 hexadecimal characters)`);
  }
  return digest;
}

export interface DownloadOptions {
  /** Longest the whole download may take, in seconds (curl --max-time; `timeout` around wget). */
  maxTimeSec?: number;
  /**
   * Read the URL from the command's stdin (pass downloadStdin(url) as the exec's stdin) instead of
   * embedding it in the command. sshd runs a command as `sh -c <command>`, so an embedded URL is in
   * that shell's argv, which `ps` shows to every user of the host for as long as the download runs.
   */
  urlOnStdin?: boolean;
}

export const DOWNLOAD_CONNECT_TIMEOUT_SEC = 10;
export const DOWNLOAD_MAX_TIME_SEC = 600;

/** The stdin downloadArtifactCommand reads the URL from with `urlOnStdin`. */
export function downloadStdin(url: string): Buffer {
  return Buffer.from(`${url}\n`);
}

/**
 * The download's own files in incoming/: the partial download and wget's response headers (which
 * hold any redirect's signed URL). The command removes them on every exit it sees; a command killed
 * by SIGKILL (an exec timeout) cannot, so whoever discards a release should remove them too.
 */
export function downloadTempPaths(deployPath: string, releaseId: string): { download: string; log: string } {
  const { incoming } = layout(deployPath);
  return { download: `${incoming}/${releaseId}.artifact.download`, log: `${incoming}/${releaseId}.artifact.log` };
}

/** curl's exit codes a download can end with, in words (the rest say "curl failed"). */
const CURL_FAILURES: [number, string][] = [
  [1, 'a redirect to a protocol that is not allowed (only https) was refused'],
  [3, 'the URL is malformed'],
  [5, 'could not resolve the proxy'],
  [6, 'could not resolve the host'],
  [7, 'could not connect'],
  [18, 'the connection closed before the whole file arrived'],
  [23, 'could not write the file (is the disk full?)'],
  [28, 'timed out'],
  [35, 'the TLS handshake failed'],
  [47, 'too many redirects'],
  [52, 'the server sent an empty reply'],
  [55, 'the connection failed while sending'],
  [56, 'the connection failed while receiving'],
  [60, "the server's TLS certificate is not trusted"],
  [77, 'could not read the CA certificates'],
];

/** GNU wget's exit codes (wget(1) EXIT STATUS), plus 124 from `timeout`. */
const WGET_FAILURES: [number, string][] = [
  [2, 'wget rejected its options (GNU wget is needed)'],
  [3, 'could not write the file (is the disk full?)'],
  [4, 'network failure: could not connect, or the connection closed before the whole file arrived'],
  [5, 'TLS verification failed'],
  [6, 'the server refused the credentials'],
  [7, 'protocol error'],
  [124, 'timed out'],
];

/** Lines of a `case` that sets $why from the tool's exit code $rc. */
function explainExit(failures: [number, string][], fallback: string): string[] {
  return [
    '  case $rc in',
    ...failures.map(([code, why]) => `    ${code}) why=${quote(why)};;`),
    `    *) why=${quote(fallback)};;`,
    '  esac',
  ];
}

/**
 * Downloads the artifact into incoming/<id>.artifact, where receiveArtifactCommand leaves an upload,
 * so unpackCommand follows unchanged. The file appears there (by rename) only once its sha256 matched;
 * on any failure nothing is left behind and stderr holds one line naming the redacted URL, the HTTP
 * status and the bytes received, or the expected and found checksums (exit EXIT.checksum). Prints
 * `downloaded=<bytes>` on success.
 *
 * The URL goes to curl as a config line on a pipe (`-K -`) and to wget as an input list (`-i -`),
 * never in their argv; their own stderr is never shown (a Location header holds the signed URL).
 * Redirects are followed, but with an https URL never to another scheme: curl refuses it before
 * sending the request; wget cannot, so its download is refused afterwards (the request was made).
 */
export function downloadArtifactCommand(
  deployPath: string,
  releaseId: string,
  url: string,
  sha256: string,
  redacted: string,
  options: DownloadOptions = {},
): string {
  // Validated upstream; checked again because a space or newline would break the config line.
  if (UNSAFE_CHARACTERS.test(url))
    throw new Error('the artifact URL must not contain whitespace or control characters');
  const maxTime = options.maxTimeSec ?? DOWNLOAD_MAX_TIME_SEC;
  if (!Number.isInteger(maxTime) || maxTime <= 0)
    throw new Error(`maxTimeSec must be a positive whole number, got ${maxTime}`);
  const u = parse(url);
  const protocols = u?.protocol === 'http:' && isLoopbackHost(u.hostname) ? '=http,https' : '=https';
  const l = layout(deployPath);
  const temp = downloadTempPaths(deployPath, releaseId);
  const final = quote(`${l.incoming}/${releaseId}.artifact`);
  const curl = [
    `curl -fsL --retry 2 --retry-max-time ${maxTime}`,
    `--connect-timeout ${DOWNLOAD_CONNECT_TIMEOUT_SEC} --max-time ${maxTime}`,
    `--proto ${protocols} --proto-redir ${protocols}`,
    `-K - -o "$tmp" -w '%{http_code}'`,
  ].join(' ');
  const timeouts = `--connect-timeout=${DOWNLOAD_CONNECT_TIMEOUT_SEC} --read-timeout=60`;
  const wget = `wget -q -S --tries=3 ${timeouts} -i - -O "$tmp"`;
  return [
    'set -e',
    `mkdir -p ${quote(l.incoming)}`,
    // After the mkdir (the deploy path keeps the usual modes): the log may hold a signed URL.
    'umask 077',
    `tmp=${quote(temp.download)}`,
    `log=${quote(temp.log)}`,
    // A stale file from an earlier attempt must not be unpacked should this download fail.
    `rm -f ${final}`,
    `trap 'rm -f "$tmp" "$log"' EXIT`,
    options.urlOnStdin
      ? `url=; IFS= read -r url || true; [ -n "$url" ] || { echo 'no artifact URL on stdin' >&2; exit 1; }`
      : `url=${quote(url)}`,
    'rc=0; code=000',
    'if command -v curl >/dev/null 2>&1; then',
    `  tool=curl; code=$(printf 'url = %s\\n' "$url" | ${curl} 2>/dev/null) || rc=$?`,
    ...explainExit(CURL_FAILURES, 'curl failed'),
    'elif command -v wget >/dev/null 2>&1; then',
    `  tool=wget; to=; command -v timeout >/dev/null 2>&1 && to='timeout ${maxTime}'`,
    `  printf '%s\\n' "$url" | $to ${wget} 2>"$log" || rc=$?`,
    // The last status line is the final response's, after any redirects.
    `  code=$(sed -n 's/^ *HTTP\\/[0-9.]* \\([0-9][0-9][0-9]\\).*/\\1/p' "$log" | tail -n 1); [ -n "$code" ` +
      `] || code=000`,
    ...explainExit(WGET_FAILURES, 'wget failed'),
    ...(protocols === '=https'
      ? [
          `  if grep -qi '^ *location: *http:' "$log"; then printf '%s\\n' ` +
            `${quote(`download of ${redacted} refused: it was redirected to a non-https URL`)} >&2; exit 1; fi`,
        ]
      : []),
    'else',
    `  echo 'neither curl nor wget is installed on the host' >&2; exit 1`,
    'fi',
    `bytes=0; [ -f "$tmp" ] && bytes=$(wc -c < "$tmp" | tr -d ' ')`,
    'if [ "$rc" != 0 ]; then',
    `  if [ "$code" -ge 400 ] 2>/dev/null; then why="HTTP $code"; else why="$why ($tool exit $rc)"; [ ` +
      `"$code" = 000 ] || why="$why, HTTP $code"; fi`,
    `  printf '%s\\n' ${quote(`download of ${redacted} failed: `)}"$why after $bytes bytes" >&2; exit 1`,
    'fi',
    `found=$(sha256sum "$tmp" | cut -d' ' -f1)`,
    `if [ "$found" != ${quote(sha256)} ]; then`,
    `  printf '%s\\n' ${quote(`checksum mismatch: expected ${sha256} but the download of ${redacted} (`)}"$bytes ` +
      `bytes) has $found" >&2; exit ${EXIT.checksum}`,
    'fi',
    `mv -f "$tmp" ${final}`,
    'echo "downloaded=$bytes"',
  ].join('\n');
}
