// Wave planning: Ansible `serial` semantics (the last size repeats; a percent is of all hosts, rounded up, at least 1).
import { InputError } from '../../src/common/inputs.js';
import { planWaves } from '../../src/engine/plan.js';
import { parseWaves } from '../../src/rollout/waves.js';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${i}`);
const sizes = (n: number, waves: string) => planWaves(hosts(n), parseWaves('waves', waves)).map((w) => w.length);

describe('parseWaves', () => {
  test('counts and percents, commas or lines', () => {
    expect(parseWaves('waves', '1, 25%, 100%')).toEqual([
      { kind: 'count', value: 1 },
      { kind: 'percent', value: 25 },
      { kind: 'percent', value: 100 },
    ]);
    expect(parseWaves('waves', '2\n50%\n')).toEqual([
      { kind: 'count', value: 2 },
      { kind: 'percent', value: 50 },
    ]);
  });

  test.each(['', '0', '1, 0', '0%', '150%', '1.5', 'x', '-1', '1;2'])('%j is an InputError naming waves', (text) => {
    expect(() => parseWaves('waves', text)).toThrow(InputError);
    expect(() => parseWaves('waves', text)).toThrow(/^input 'waves': /);
  });
});

describe('planWaves', () => {
  test('1, 25%, 100% on 5 hosts: 1, 2, 2 in the order given', () => {
    expect(planWaves(hosts(5), parseWaves('waves', '1, 25%, 100%'))).toEqual([['h0'], ['h1', 'h2'], ['h3', 'h4']]);
  });

  test.each([
    [20, '1, 25%, 100%', [1, 5, 14]],
    [1, '1, 25%, 100%', [1]],
    [2, '1, 25%, 100%', [1, 1]],
    [7, '1, 2', [1, 2, 2, 2]],
    [5, '2', [2, 2, 1]],
    [3, '10%', [1, 1, 1]],
    [10, '30%', [3, 3, 3, 1]],
    [4, '100%', [4]],
    [4, '10', [4]],
    [6, '1, 1, 50%', [1, 1, 3, 1]],
  ])('%i hosts, waves %j → sizes %j', (n, waves, expected) => {
    expect(sizes(n, waves)).toEqual(expected);
  });

  test('no hosts, no waves; every host exactly once', () => {
    expect(planWaves([], parseWaves('waves', '1, 100%'))).toEqual([]);
    expect(planWaves(hosts(13), parseWaves('waves', '1, 25%, 100%')).flat()).toEqual(hosts(13));
  });
});
