// A small rollout report (3 hosts in 2 waves, all updated, a bake after wave 1) and the builders of its parts, for
// the tests of what a person reads after a rollout (outputs, job summary, gantt).
import type { HostRecord, RolloutReport, StepRecord } from '../../src/rollout/record.js';

export const T = 1_700_000_000_000;
export const step = (name: StepRecord['name'], start: number, end: number, ok = true, detail?: string): StepRecord => ({
  name,
  start: T + start,
  end: T + end,
  ok,
  ...(detail ? { detail } : {}),
});

export function host(
  id: string,
  wave: number,
  outcome: HostRecord['outcome'],
  steps: StepRecord[],
  extra: Partial<HostRecord> = {},
): HostRecord {
  return { host: id, wave, previous: 'v1', outcome, uploaded: steps.some((s) => s.name === 'upload'), steps, ...extra };
}

export function report(overrides: Partial<RolloutReport> = {}): RolloutReport {
  const staged = [step('connect', 0, 40), step('lock', 40, 50), step('upload', 50, 150), step('unpack', 150, 200)];
  return {
    tool: 'fivestep/ssh-rollout',
    version: 1,
    release: 'v2',
    deployPath: '/srv/app',
    dryRun: false,
    result: 'success',
    startedAt: new Date(T).toISOString(),
    finishedAt: new Date(T + 2500).toISOString(),
    durationMs: 2500,
    artifact: { file: '/tmp/a.tar.gz', sha256: 'ab'.repeat(32), bytes: 2048 },
    plan: {
      waves: [['web1:22'], ['web2:22', 'web3:22']],
      maxFailures: 0,
      maxParallel: 20,
      steps: {
        stage: { 'web1:22': ['upload', 'unpack'] },
        switch: ['switch', 'reload', 'health'],
        finish: ['record'],
        revert: ['revert'],
      },
    },
    waves: [
      { index: 1, hosts: ['web1:22'], start: T + 300, end: T + 600, bake: { start: T + 600, end: T + 1600 } },
      { index: 2, hosts: ['web2:22', 'web3:22'], start: T + 1600, end: T + 2400 },
    ],
    hosts: [
      host('web1:22', 1, 'updated', [
        ...staged,
        step('switch', 300, 320),
        step('reload', 320, 400),
        step('health', 400, 600),
      ]),
      host('web2:22', 2, 'updated', [
        step('connect', 0, 40),
        step('unpack', 150, 200),
        step('switch', 1600, 1620),
        step('health', 1620, 13_620),
      ]),
      host('web3:22', 2, 'updated', [...staged, step('switch', 1600, 1630), step('health', 1630, 2400)], {
        previous: '',
      }),
    ],
    unhealthyAtStart: [],
    stopReason: '',
    errors: [],
    ...overrides,
  };
}
