// The one rule for what of a URL logs, reports and error messages show: artifact-url and metric sources alike.
import { redactUrl } from '../../src/common/url.js';

describe('redactUrl', () => {
  test('keeps scheme, host, port and path; the query becomes ?…; credentials ***@; no fragment', () => {
    expect(redactUrl('https://objects.example/releases/app.tgz')).toBe('https://objects.example/releases/app.tgz');
    const presigned = 'https://bucket.s3.amazonaws.com/app.tgz?X-Amz-Credential=AKIA&X-Amz-Signature=abc';
    expect(redactUrl(presigned)).toBe('https://bucket.s3.amazonaws.com/app.tgz?…');
    const everything = 'https://ci:s3cret@objects.example:8443/app.tgz?token=t#frag';
    expect(redactUrl(everything)).toBe('https://***@objects.example:8443/app.tgz?…');
    expect(redactUrl('https://token@objects.example/app.tgz')).toBe('https://***@objects.example/app.tgz');
    expect(redactUrl('https://objects.example/app.tgz#sha')).toBe('https://objects.example/app.tgz');
    expect(redactUrl('http://127.0.0.1:8080/app.tgz?')).toBe('http://127.0.0.1:8080/app.tgz');
  });

  test('a metric source: its {host} template kept, its password and API key not shown', () => {
    expect(redactUrl('http://{host}:9100/metrics')).toBe('http://{host}:9100/metrics');
    expect(redactUrl('https://watch:pa55@prom.example/')).toBe('https://***@prom.example/');
    const keyed = 'https://api.example/v1/series?api_key=k3y&name=orders';
    expect(redactUrl(keyed)).toBe('https://api.example/v1/series?…');
  });

  test('a string that is no URL is not echoed', () => {
    expect(redactUrl('token=t0ken not a url')).toBe('(not a valid URL)');
  });
});
