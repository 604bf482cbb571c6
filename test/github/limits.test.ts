import { GITHUB_LIMITS, clip, fitMarkdown, fits } from '../../src/github/limits.js';
import { renderGitHub } from './render.js';

const bytes = (s: string) => Buffer.byteLength(s);

describe("GitHub's limits, one module", () => {
  test('the figures GitHub documents', () => {
    expect(GITHUB_LIMITS.checkRunSummary).toMatchObject({ chars: 65_535, bytes: 65_535 });
    expect(GITHUB_LIMITS.annotationMessage.bytes).toBe(65_535);
    expect(GITHUB_LIMITS.issueBody.chars).toBe(65_536);
    expect(GITHUB_LIMITS.stepSummary.bytes).toBe(1_048_576);
  });

  test('clip counts what the limit counts: 40,000 é are 40,000 characters but 80,000 bytes', () => {
    const text = 'é'.repeat(40_000);
    expect(clip(text, GITHUB_LIMITS.issueBody)).toBe(text);
    const cut = clip(text, GITHUB_LIMITS.annotationMessage);
    expect(bytes(cut)).toBeLessThanOrEqual(65_535);
    expect(bytes(cut)).toBeGreaterThan(65_500);
    expect(cut.endsWith('é…')).toBe(true);
  });

  test('clip never splits a character: an emoji (a surrogate pair, 4 bytes) at the cut is left out whole', () => {
    for (let n = 0; n < 4; n++) {
      const cut = clip(`${'a'.repeat(60 + n)}${'😀'.repeat(20)}`, { what: 'x', bytes: 64 });
      expect(bytes(cut)).toBeLessThanOrEqual(64);
      expect(cut).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
      expect(cut.endsWith('…')).toBe(true);
    }
  });

  test('fitMarkdown cuts at a line, closes an open code block and <details>, and ends with the line saying where the rest is', () => {
    const md = [
      '# t',
      '<details><summary>x</summary>',
      '',
      '````',
      ...Array.from({ length: 5000 }, (_, i) => `line ${i} ${'é'.repeat(20)}`),
      '````',
      '</details>',
      'after',
    ].join('\n');
    const out = fitMarkdown(md, GITHUB_LIMITS.checkRunSummary, '… cut: the log has the rest.');
    expect(bytes(out)).toBeLessThanOrEqual(65_535);
    expect(out.endsWith('\n… cut: the log has the rest.')).toBe(true);
    const page = renderGitHub(out);
    // The cut line is text after the block, not inside it.
    expect(page.html).toMatch(/<\/code><\/pre>\n<\/details>\n<p>… cut: the log has the rest\.<\/p>$/);
    expect(fits(md, GITHUB_LIMITS.stepSummary)).toBe(true);
    expect(fitMarkdown(md, GITHUB_LIMITS.stepSummary, 'x')).toBe(md);
  });

  test('fitMarkdown is linear: a 20 MB text is cut in well under a second', () => {
    const md = Array.from({ length: 200_000 }, (_, i) => `| host${i} | ${'x'.repeat(90)} |`).join('\n');
    const t0 = performance.now();
    const out = fitMarkdown(md, GITHUB_LIMITS.stepSummary, 'cut');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(bytes(out)).toBeLessThanOrEqual(1_048_576);
  });
});
