// What of a URL logs, reports and error messages show. A URL may carry a secret in its credentials
// (`user:token@`), its query (an S3 presigned signature, an `api_key=`) or its fragment; its path is kept
// as the one part a reader needs to tell URLs apart.

/**
 * `scheme://host[:port]/path`, with `***@` for credentials and `?…` for a query; the fragment is dropped.
 * Text that is not an absolute URL may be a mistyped one holding a secret: `(not a valid URL)`.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(not a valid URL)';
  }
  const credentials = u.username !== '' || u.password !== '' ? '***@' : '';
  return `${u.protocol}//${credentials}${u.host}${u.pathname}${u.search ? '?…' : ''}`;
}
