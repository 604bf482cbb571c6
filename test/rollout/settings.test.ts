// ssh-rollout's inputs read once: the secrets inside its `watch` mapping are masked as metric-watch masks its own.
import { objectInputs } from '../../src/common/inputs.js';
import { readRolloutSettings } from '../../src/rollout/settings.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'fivestep-settings-'));
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
const key = readFileSync(join(dir, 'key'), 'utf8');

test("the watch's routing key, webhook, SMTP password and header values reach the runner's mask", () => {
  const masked: string[] = [];
  const watch = [
    'url: http://prometheus.internal:9090',
    'headers: "Authorization: Bearer T0KEN"',
    'pagerduty-routing-key: R0UT1NGKEY',
    'alert-webhook: https://hooks.slack.example/services/T/B/S3CRET',
    'smtp-url: smtps://alerts@mail.example.com:465',
    'smtp-password: PASSW0RD',
    'email-to: oncall@example.com',
    'rules: [{name: revenue, query: revenue, min: 1}]',
  ].join('\n');
  readRolloutSettings(
    objectInputs({
      hosts: 'web1\nweb2',
      'deploy-path': '/srv/app',
      artifact: dir,
      'private-key': key,
      'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      'wave-wait': '30s',
      watch,
    }),
    { now: new Date(), sha: 'abc', mask: (s) => masked.push(s), env: {} },
  );
  for (const secret of [
    'R0UT1NGKEY',
    'https://hooks.slack.example/services/T/B/S3CRET',
    'PASSW0RD',
    'smtps://alerts@mail.example.com:465',
    'Bearer T0KEN',
  ])
    expect(masked).toContain(secret);
});
