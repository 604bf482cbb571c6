import { mdBlock, mdCode, mdHtml, mdText } from '../../src/common/markdown.js';
import { oneLine } from '../../src/common/text.js';
import { renderGitHub, textOf } from '../github/render.js';

/** What a test name, a commit message, a file name or a host's stderr may hold. */
export const HOSTILE = [
  '@octocat please look',
  'cc @acme/security-team',
  '[click me](https://evil.example/x)',
  '![pixel](https://evil.example/p.png)',
  '<img src=x onerror=alert(1)>',
  '<script>alert(1)</script>',
  '<a href="https://evil.example">x</a>',
  '<https://evil.example/auto>',
  'see https://evil.example/a?b=c',
  'or www.evil.example',
  'mail a@evil.example',
  'fixes #1 and acme/shop#2 and GH-3',
  'back`tick and ``double`` and ```',
  '`',
  '| a | b |',
  '**bold** _em_ ~~strike~~ *x*',
  '$x^2$ and $$y$$',
  '# heading',
  '> quote',
  '1. item',
  '- item',
  'line1\nline2\r::error::x\r\n::add-mask::y',
  '\x1b[31mred\x1b]8;;https://evil.example\x07link\x1b]8;;\x07',
  '<!-- hidden --> after',
  '&lt;b&gt; &amp; entity',
  'back\\slash\\',
  '[ref]: https://evil.example',
  '<details><summary>x</summary>',
  '</code></summary></details>',
  'trailing space ',
  '  ',
  '',
];

/** The text as a reader should see it: one line, as `oneLine` prints it. */
const seen = (s: string): string => oneLine(s);

describe('untrusted text in Markdown reads as itself and does nothing else', () => {
  test.each(HOSTILE.map((s) => [JSON.stringify(s), s]))('mdText %s: in a sentence', (_name, s) => {
    const r = renderGitHub(`before ${mdText(s)} after`);
    expect(r.tags).toEqual(['p', 'p']);
    expect(r.live).toEqual([]);
    expect(r.text).toBe(`before ${seen(s)} after`);
  });

  test.each(HOSTILE.map((s) => [JSON.stringify(s), s]))('mdText %s: in a list item and a table cell', (_name, s) => {
    const item = renderGitHub(`- ${mdText(s)}\n- next`);
    expect(item.tags).toEqual(['ul', 'li', 'li', 'li', 'li', 'ul']);
    expect(item.live).toEqual([]);
    const table = renderGitHub(`| a | b |\n| --- | --- |\n| ${mdText(s)} | x |\n`);
    expect(table.live).toEqual([]);
    const cells = [...table.html.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => m[1]);
    expect(cells).toHaveLength(2);
    expect(cells[1]).toBe('x');
    expect(textOf(cells[0])).toBe(seen(s).trim());
  });

  test.each(HOSTILE.map((s) => [JSON.stringify(s), s]))(
    'mdCode %s: one code span, in text and in a cell',
    (_name, s) => {
      const r = renderGitHub(`x ${mdCode(s)} y`);
      expect(r.tags).toEqual(['p', 'code', 'code', 'p']);
      expect(r.live).toEqual([]);
      expect(r.text).toBe(`x ${seen(s) || ' '} y`);
      const table = renderGitHub(`| a | b |\n| --- | --- |\n| ${mdCode(s, { cell: true })} | x |\n`);
      const cells = [...table.html.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => m[1]);
      expect(cells).toHaveLength(2);
      expect(cells[1]).toBe('x');
      expect(table.tags.filter((t) => t === 'code')).toHaveLength(2);
    },
  );

  test('mdCode in a cell: a backslash before a pipe stays in its cell (plain text, since code cannot hold it)', () => {
    const s = 'C:\\dir\\|grep `x` @ann';
    const table = renderGitHub(`| a | b |\n| --- | --- |\n| ${mdCode(s, { cell: true })} | x |\n`);
    const cells = [...table.html.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => m[1]);
    expect(cells).toHaveLength(2);
    expect(cells[1]).toBe('x');
    expect(textOf(cells[0])).toBe(seen(s));
    expect(table.live).toEqual([]);
  });

  test('mdBlock: the lines kept, in one code block no line can close', () => {
    const text = HOSTILE.join('\n');
    const r = renderGitHub(`${mdBlock(text, { max: 100_000 })}\n\nafter`);
    expect(r.tags).toEqual(['pre', 'code', 'code', 'pre', 'p', 'p']);
    expect(r.live).toEqual([]);
    expect(r.text).toBe(
      `${text
        .split(/\r\n|\r|\n/)
        .map((l) => oneLine(l.replace(/\t/g, '    '), Infinity))
        .join('\n')}\n\nafter`,
    );
  });

  test.each(HOSTILE.map((s) => [JSON.stringify(s), s]))('mdHtml %s: inside <summary>', (_name, s) => {
    const r = renderGitHub(`<details><summary><code>${mdHtml(s)}</code>: ${mdHtml(s)}</summary>\n\nbody\n\n</details>`);
    expect(r.tags).toEqual(['details', 'summary', 'code', 'code', 'summary', 'p', 'p', 'details']);
    expect(r.live).toEqual([]);
    expect(r.text).toContain(`${seen(s)}: ${seen(s)}`);
  });

  test('exact forms', () => {
    expect(mdText('@ann fixes #12, see https://x.example')).toBe(
      '@\u200bann fixes #\u200b12, see https:\u200b//x.example',
    );
    expect(mdText('[a](b) <i> `c` | d')).toBe('\\[a\\](b) \\<i\\> \\`c\\` \\| d');
    expect(mdText('# h')).toBe('\\# h');
    expect(mdText('127.0.0.1:22 #x')).toBe('127.0.0.1:22 #x');
    expect(mdText('12. x')).toBe('12\\. x');
    expect(mdCode('a`b')).toBe('``a`b``');
    expect(mdCode('`a')).toBe('`` `a ``');
    expect(mdCode('a|b', { cell: true })).toBe('`a\\|b`');
    expect(mdBlock('x\n```\ny')).toBe('````\nx\n```\ny\n````');
    expect(mdHtml('<b>@ann</b>')).toBe('&lt;b&gt;@\u200bann&lt;/b&gt;');
  });

  test('the renderer used here sees what the escapes stop (it is not blind)', () => {
    expect(renderGitHub('hi @octocat').live).toEqual(['@octocat']);
    expect(renderGitHub('fixes #1').live).toEqual(['#1']);
    expect(renderGitHub('see https://evil.example').live).toHaveLength(1);
    expect(renderGitHub('[x](https://evil.example)').live).toHaveLength(1);
    expect(renderGitHub('<img src=x>').tags).toContain('img');
    expect(renderGitHub('| `a|b` | x |\n| - | - | - |\n').html.match(/<th>/g)).toHaveLength(3);
  });
});
