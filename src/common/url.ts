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

/**
 * An http(s) URL as a link target nothing can break out of (a Markdown destination, a Slack `<…>` link, an
 * HTML attribute): the URL parser's form, with every character outside a plain set percent-encoded (spaces,
 * quotes, `<>()|\` and backticks among them). undefined for anything that is not an http(s) URL
 * (`javascript:…`, a line of text).
 */
export function httpLink(text: string): string | undefined {
  if (!/^https?:\/\//i.test(text)) return undefined;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  return u.href.replace(/[^A-Za-z0-9\-._~:/?#[\]@!$&'*+,;=%]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}
