// `npm run bench`: the rollout benchmark (fivestep vs Ansible), then the same rollout over a simulated network
// (RTT 0 to 200 ms through latency proxies, beside OpenSSH with ControlMaster and Ansible; bench/network.ts),
// then this checkout's 20-host rollout beside an earlier commit's bundle (bench/before-after.ts), then
// ssh-rollout at scale (20 to 1,000 hosts
// beside plain OpenSSH, delta and artifact-url bytes; a part that cannot be measured fails the run), then
// `fivestep status` over 1,000 hosts beside an ssh shell loop (bench/status.ts), then metric-watch's
// breach→verdict time, then production alerting's breach→page time through Prometheus + Alertmanager (bench/alerting.ts),
// then requests served/failed during a 20-host rollout under load through haproxy (drain vs no drain), then
// what 40 nginx reloads cost keep-alive clients and `Connection: close` clients, then
// the canary judge's false failures and detections over seeded simulated bakes (against pooled Mann-Whitney),
// then test-gate's JUnit reader on 1,000- and 10,000-test reports, then test-gate's flaky matching and
// publish step at 1,000 to 200,000 tests (beside the quadratic matching they replaced).
// Prints plain-text figures for the README and writes them as JSON to .tmp/bench.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchBeforeAfter } from './before-after.js';
import { benchCanaryJudge } from './canary-judge.js';
import { benchGatePublish } from './gate-publish.js';
import { benchJUnitReader } from './junit.js';
import { benchMetricWatch } from './metric-watch.js';
import { benchAlerting } from './alerting.js';
import { benchNetwork } from './network.js';
import { benchNginxReload } from './nginx-reload.js';
import { benchRollout } from './rollout.js';
import { benchScale, scaleSummary } from './scale.js';
import { benchStatus } from './status.js';
import { benchUnderLoad } from './under-load.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = performance.now();

console.log('== ssh-rollout vs Ansible ==');
const rollout = await benchRollout(3);
console.log('\n== ssh-rollout on a real network ==');
const network = await benchNetwork(3);
console.log('\n== ssh-rollout before and after (this checkout beside an earlier bundle) ==');
const beforeAfter = await benchBeforeAfter(15);
console.log('\n== ssh-rollout at scale ==');
const scale = await benchScale({
  ansibleAt20:
    rollout.ansible.medianWallMs !== undefined
      ? { wallMs: rollout.ansible.medianWallMs, version: rollout.ansible.version }
      : undefined,
});
console.log('\n== fivestep status at scale ==');
const status = await benchStatus();
console.log('\n== metric-watch ==');
const metricWatch = await benchMetricWatch(3);
console.log('\n== production alerting (Prometheus + Alertmanager) ==');
const alerting = await benchAlerting();
console.log('\n== rollout under load ==');
const underLoad = await benchUnderLoad();
console.log('\n== what an nginx reload costs clients ==');
const nginxReload = await benchNginxReload(40);
console.log('\n== canary judge ==');
const canaryJudge = await benchCanaryJudge(1000);
console.log('\n== test-gate JUnit reader ==');
const junitReader = await benchJUnitReader();
console.log('\n== test-gate flaky matching and publish step ==');
const gatePublish = await benchGatePublish();

const totalSeconds = (performance.now() - started) / 1000;
console.log(`\nbench finished in ${totalSeconds.toFixed(0)} s`);
console.log('\n---- figures (paste into the README) ----');
for (const line of [
  ...rollout.lines,
  ...network.lines,
  ...beforeAfter.lines,
  ...scale.lines,
  ...status.lines,
  ...metricWatch.lines,
  ...alerting.lines,
  ...underLoad.lines,
  ...nginxReload.lines,
  ...canaryJudge.lines,
  ...junitReader.lines,
  ...gatePublish.lines,
])
  console.log(line);

mkdirSync(join(REPO, '.tmp'), { recursive: true });
const out = join(REPO, '.tmp', 'bench.json');
writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, totalSeconds, rollout, network, beforeAfter, scale: scaleSummary(scale), status: { ...status, lines: undefined }, metricWatch, alerting, underLoad, nginxReload, canaryJudge, junitReader, gatePublish }, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v), 2)}\n`,
);
console.log(`\nJSON: ${out}`);
const failures = [
  ...network.errors.map((e) => `network: ${e}`),
  ...scale.errors,
  ...status.errors.map((e) => `status: ${e}`),
];
if (failures.length) {
  console.error(
    `\nbench FAILED: ${failures.length} network/scale/status figure(s) could not be measured:\n${failures.map((e) => `  ${e}`).join('\n')}`,
  );
  process.exitCode = 1;
}
