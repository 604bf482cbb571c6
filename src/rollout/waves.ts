// The `waves` input: batch sizes in order (Ansible `serial`); engine/plan.ts splits the hosts by them.
import { InputError, parseCount, parseList, type Count } from '../common/inputs.js';

export function parseWaves(input: string, text: string): Count[] {
  const items = parseList(text);
  if (items.length === 0) throw new InputError(input, 'needs at least one batch size, e.g. 1, 25%, 100%');
  return items.map((item) => {
    const count = parseCount(input, item);
    if (count.kind === 'count' && count.value < 1)
      throw new InputError(input, `batch size '${item}' must be at least 1`);
    return count;
  });
}
