// The Mermaid gantt of the waves, for a few hosts (a bar per host). Large fleets: report.test.ts.
import { ganttChart } from '../../src/rollout/report-waves.js';
import { T, report } from './report-builders.js';

test('ganttChart: a section per wave, a bar per host from switch to its last step, the bake', () => {
  const r = report();
  r.hosts[2].outcome = 'failed';
  expect(ganttChart(r).split('\n')).toEqual([
    '```mermaid',
    'gantt',
    '  title Release v2',
    '  dateFormat x',
    '  axisFormat %M:%S',
    '  section Wave 1',
    `  web1_22 : ${T + 300}, ${T + 600}`,
    `  bake  : active, ${T + 600}, ${T + 1600}`,
    '  section Wave 2',
    `  web2_22 : ${T + 1600}, ${T + 13_620}`,
    `  web3_22 : crit, ${T + 1600}, ${T + 2400}`,
    '```',
  ]);
});
