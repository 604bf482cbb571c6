// `npm run docs`: regenerates the README's action reference from actions/*/action.yml.
import { readFileSync, writeFileSync } from 'node:fs';
import { buildReference, updateReadme } from '../src/docs/reference.js';

const readme = readFileSync('README.md', 'utf8');
const next = updateReadme(readme, buildReference('.'));
if (next !== readme) writeFileSync('README.md', next);
console.log(next === readme ? 'README reference already up to date' : 'README reference updated');
