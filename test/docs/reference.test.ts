// The README's reference is generated from action.yml: a changed input without `npm run docs` fails here.
import { readFileSync } from 'node:fs';
import {
  permissionsStart,
  PERMISSIONS_END,
  referenceFor,
  regenerateReadme,
  REFERENCE_END,
  REFERENCE_START,
  updatePermissionLines,
  updateReadme,
} from '../../src/docs/reference.js';

test('the README holds the reference generated from every action.yml, and every Permissions line', () => {
  const readme = readFileSync('README.md', 'utf8');
  expect(regenerateReadme(readme, '.')).toBe(readme);
});

test('a Permissions line is rewritten between its markers; a missing marker is an error', () => {
  const readme = `# x\n${permissionsStart('a')}\nold line\n${PERMISSIONS_END}\ntail`;
  expect(updatePermissionLines(readme, ['a'], (n) => `new ${n}`)).toBe(
    `# x\n${permissionsStart('a')}\nnew a\n${PERMISSIONS_END}\ntail`,
  );
  expect(() => updatePermissionLines(readme, ['a', 'b'], () => '')).toThrow(/permissions markers of b/);
});

test('one action renders inputs with defaults, required ones and escaped descriptions', () => {
  const md = referenceFor('demo', {
    name: 'x',
    description: 'Does\na thing.',
    inputs: {
      hosts: { description: 'one | a line', required: true },
      port: { description: 'SSH port', default: '22' },
    },
    outputs: { result: { description: 'success or not' } },
  });
  expect(md).toBe(
    [
      '### demo',
      '',
      'Does a thing.',
      '',
      '`uses: OWNER/REPO/actions/demo@v1`',
      '',
      '| input | default | description |',
      '| --- | --- | --- |',
      '| `hosts` | **required** | one \\| a line |',
      '| `port` | `22` | SSH port |',
      '',
      '| output | description |',
      '| --- | --- |',
      '| `result` | success or not |',
    ].join('\n'),
  );
});

test('a README without the markers is an error, not a silent append', () => {
  expect(() => updateReadme('# readme', 'x')).toThrow(/markers/);
  expect(updateReadme(`a\n${REFERENCE_START}\nold\n${REFERENCE_END}\nb`, 'NEW')).toBe('a\nNEW\nb');
});
