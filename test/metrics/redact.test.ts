// Secrets out of what servers say: every form a secret comes back in, and which inputs hold secrets.
import { describe, expect, test } from '@jest/globals';
import { alertSecrets, redact, sourceSecrets } from '../../src/metrics/redact.js';

describe('redact', () => {
  test('as sent, inside a JSON string, with \\/ and percent-encoded', () => {
    const key = 'k3y/with"quote';
    expect(
      redact(`raw ${key}; json "k3y/with\\"quote"; php "k3y\\/with\\"quote"; url k3y%2Fwith%22quote.`, [key]),
    ).toBe('raw ***; json "***"; php "***"; url ***.');
  });

  test('the longer secret first, empty secrets ignored, text without secrets unchanged', () => {
    expect(redact('token abcdef and abc', ['abc', 'abcdef', '', '  '])).toBe('token *** and ***');
    expect(redact('nothing here', [])).toBe('nothing here');
  });
});

describe('which texts are secret', () => {
  test('the routing key, the webhook URL and its token, the SMTP password also as AUTH sends it', () => {
    const secrets = alertSecrets({
      pagerdutyRoutingKey: 'R0UT1NG',
      webhookUrl: 'https://hooks.example.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX?sig=abc123',
      smtpUrl: 'smtps://alerts%40shop.example:p%40ss@mail.example.com:465',
    });
    expect(secrets).toEqual(
      expect.arrayContaining([
        'R0UT1NG',
        'https://hooks.example.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX?sig=abc123',
        '/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX?sig=abc123',
        'XXXXXXXXXXXXXXXXXXXXXXXX',
        'abc123',
        'p@ss',
        Buffer.from('\u0000alerts@shop.example\u0000p@ss').toString('base64'),
      ]),
    );
    expect(secrets).not.toContain('services');
    expect(alertSecrets({ pagerdutyRoutingKey: '', webhookUrl: '', smtpUrl: '' })).toEqual([]);
  });

  test("a metric source's header values (and a bearer token alone) and its URL's password", () => {
    expect(
      sourceSecrets({
        url: 'https://user:pw%21@prom.example',
        headers: { Authorization: 'Bearer t0ken-0123456789', 'X-Scope-OrgID': 'shop' },
      }),
    ).toEqual(['Bearer t0ken-0123456789', 't0ken-0123456789', 'shop', 'pw%21', 'pw!']);
  });
});
