// The README's reference is generated from action.yml: a changed input without `npm run docs` fails here.
import { readFileSync } from 'node:fs';
import { buildReference, referenceFor, REFERENCE_END, REFERENCE_START, updateReadme } from '../../src/docs/reference.js';

test('the README holds the reference generated from every action.yml', () => {
  const readme = readFileSync('README.md', 'utf8');
  expect(updateReadme(readme, buildReference('.'))).toBe(readme);
});

test('one action renders inputs with defaults, required ones and escaped descriptions', () => {
  const md = referenceFor('demo', {
    name: 'x',
    description: 'Does\na thing.',
    inputs: { hosts: { description: 'one | a line', required: true }, port: { description: 'SSH port', default: '22' } },
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
