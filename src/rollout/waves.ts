// Wave planning with Ansible `serial` semantics: sizes in order, the last size repeats until every host is done.
import { InputError, parseCount, parseList, resolveCount, type Count } from '../common/inputs.js';

export function parseWaves(input: string, text: string): Count[] {
  const items = parseList(text);
  if (items.length === 0) throw new InputError(input, 'needs at least one batch size, e.g. 1, 25%, 100%');
  return items.map((item) => {
    const count = parseCount(input, item);
    if (count.kind === 'count' && count.value < 1) throw new InputError(input, `batch size '${item}' must be at least 1`);
    return count;
  });
}

/** Splits hosts (in the order given) into waves. A percent is of all hosts, rounded up, at least 1. */
export function planWaves<T>(hosts: readonly T[], sizes: readonly Count[]): T[][] {
  const waves: T[][] = [];
  let next = 0;
  let i = 0;
  while (next < hosts.length) {
    const size = resolveCount(sizes[Math.min(i, sizes.length - 1)], hosts.length);
    waves.push(hosts.slice(next, next + size));
    next += size;
    i++;
  }
  return waves;
}
