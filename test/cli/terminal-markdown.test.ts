// What a person sees when a job summary is printed on a terminal: the Markdown as plain text (tables aligned,
// markup gone), and nothing the summary quotes (host output, test names) able to act on the terminal.
import { CHART_LEFT_OUT, renderForTerminal } from '../../src/cli/terminal-markdown.js';
import { mdBlock, mdCode, mdHtml, mdText } from '../../src/common/markdown.js';
import { oneLine } from '../../src/common/text.js';
import { ganttChart } from '../../src/rollout/report-waves.js';
import { summaryMarkdown } from '../../src/rollout/report.js';
import { report, step } from '../rollout/report-builders.js';

/** Anything a terminal would act on, or that reorders what it shows: none may be left in the output. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const render = (lines: string[], width?: number) => renderForTerminal(lines.join('\n'), { width });

describe('renderForTerminal', () => {
  test('a heading and a table: underlined, columns aligned, `\\|` a pipe, code spans their text', () => {
    const md = [
      '### Slowest tests',
      '',
      '| test | time |',
      '| --- | ---: |',
      `| ${mdCode('suite a|b', { cell: true })} | 1.20 s |`,
      '| plain \\| pipe | 30 ms |',
      `| ${mdCode('x`y')} and \`\` a\`b \`\` | 4 ms |`,
    ];
    expect(render(md)).toBe(
      [
        'Slowest tests',
        '-------------',
        '',
        'test            time',
        '------------  ------',
        'suite a|b     1.20 s',
        'plain | pipe   30 ms',
        'x`y and a`b     4 ms',
        '',
      ].join('\n'),
    );
    expect(render(['# A', '', 'B', '==='])).toBe('A\n=\n\nB\n=\n');
  });

  test('a table wider than the terminal: the widest column cut with …, every row still in its columns', () => {
    const long = 'health failed: '.padEnd(200, 'x');
    const md = [
      '| host | result | total |',
      '| --- | --- | --- |',
      `| web1:22 | ${long} | 1.2 s |`,
      '| w2 | ok | 3 s |',
    ];
    const lines = render(md, 40).trimEnd().split('\n');
    expect(lines).toEqual([
      'host     result                    total',
      '-------  ------------------------  -----',
      'web1:22  health failed: xxxxxxxx…  1.2 s',
      'w2       ok                        3 s',
    ]);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(40);
  });

  test('hostile text in a cell (escape sequences raw and as entities, a bidi override) is shown escaped', () => {
    const hostile = '\x1b[31mred &#27;[2J &#x1b;]0;title&#7; \u202eevil &#x202E;x &#x9b;1m \r&#13;end&#9;!';
    const md = ['| host | output |', '| --- | --- |', `| web1 | ${hostile} |`, '| web2 | fine |'];
    const text = render(md);
    expect(text).not.toMatch(UNSAFE);
    const row = text.split('\n')[2];
    expect(row).toBe(
      'web1  \\x1b[31mred \\x1b[2J \\x1b]0;title\\x07 \\u{202e}evil \\u{202e}x \\x9b1m \\x0d\\x0dend    !',
    );
    // The escaped forms count for the column width: the next row lines up.
    expect(text.split('\n')[3]).toBe('web2  fine');
    expect(render([`# \x1b[2J&#27;c`, '', '```', 'a\x1b[1mb\x07', '```'])).toBe(
      '\\x1b[2J\\x1bc\n============\n\n    a\\x1b[1mb\\x07\n',
    );
  });

  test('the zero-width spaces that defang mentions and links are gone', () => {
    expect(renderForTerminal('cc @\u200bann')).toBe('cc @ann\n');
    expect(renderForTerminal(mdText('@ann fixes #12, see https://x.example and www.x.example'))).toBe(
      '@ann fixes #12, see https://x.example and www.x.example\n',
    );
  });

  test('a Mermaid chart is one line; other code blocks keep their lines, indented', () => {
    const md = ['Before', '', ganttChart(report()), '', mdBlock('at f (a.ts:1)\n```\n  **not bold**'), '', 'After'];
    expect(render(md)).toBe(
      ['Before', '', CHART_LEFT_OUT, '', '    at f (a.ts:1)', '    ```', '      **not bold**', '', 'After', ''].join(
        '\n',
      ),
    );
    expect(render(['~~~~ Mermaid', 'gantt', '~~~', 'still in', '~~~~~', 'out'])).toBe(`${CHART_LEFT_OUT}\nout\n`);
    // A metric-watch chart's caption names lines that are not shown: it is left out with the chart.
    expect(render(['```mermaid', 'xychart-beta', '```', '<sub>Lines in order: value, upper bound.</sub>', 'x'])).toBe(
      `${CHART_LEFT_OUT}\nx\n`,
    );
  });

  test('details and summary, as the test gate writes them: the summary a line ending with a colon', () => {
    const name = mdHtml('suite › a_b *c* `d` \\e <x> & "y"');
    const md = [
      `<details><summary><code>${name}</code> (<code>${mdHtml('t.ts:3')}</code>): ${mdHtml('expected 1')}</summary>`,
      '',
      mdBlock('Error: expected 1\n    at t.ts:3'),
      '',
      '</details>',
      '',
      'Done',
    ];
    expect(render(md)).toBe(
      [
        'suite › a_b *c* `d` \\e <x> & "y" (t.ts:3): expected 1:',
        '',
        '    Error: expected 1',
        '        at t.ts:3',
        '',
        'Done',
        '',
      ].join('\n'),
    );
  });

  test('links, images, emphasis, escapes, entities, lists, quotes and rules', () => {
    const md = [
      '**RCA issue:** [#12](https://github.com/o/r/issues/12) (commented) ![pixel](https://x.example/p.png)',
      `- ${mdText('[click](https://evil.example) **not bold** _nor em_ max_failures 2 * 3')}`,
      '  1. _Charts left out_: see <https://x.example/a>',
      '> ⚠️ alert &amp; &lt;b&gt; &quot;q&quot; &#39;s&#39; &#x41;&#66;<br>next <sub>small</sub>',
      '',
      '---',
    ];
    expect(render(md, 30)).toBe(
      [
        'RCA issue: #12 (https://github.com/o/r/issues/12) (commented) [image: pixel]',
        '- [click](https://evil.example) **not bold** _nor em_ max_failures 2 * 3',
        '  1. Charts left out: see https://x.example/a',
        '│ ⚠️ alert & <b> "q" \'s\' AB next small',
        '',
        '─'.repeat(30),
        '',
      ].join('\n'),
    );
  });

  test('blank lines collapse, trailing spaces go, the text ends with one newline', () => {
    expect(renderForTerminal('\n\na  \n\n\n\n<details>\n\nb\t\n\n\n')).toBe('a\n\nb\n');
    expect(renderForTerminal('')).toBe('\n');
  });

  test('a 1 MiB summary renders in well under a second, pathological lines too', () => {
    const MiB = 1 << 20;
    const fill = (unit: string) => unit.repeat(Math.ceil(MiB / unit.length)).slice(0, MiB);
    const row = `| web1:22 | 2 | ❌ failed: ${mdText('exit 1 | `a` **b** [c](d) @e <f> &g \x1b[1m')} | ${mdCode('x|y', { cell: true })} |`;
    const summary = `## s\n\n| host | wave | result | code |\n| --- | --- | --- | --- |\n${fill(`${row}\n`)}`;
    const lines = fill(`- ❌ ${mdText('web2:22 · health failed: a | b `x` **y** https://e.x')}\n`);
    const cases = [summary, lines, fill('[a]('), fill('`a``b'), fill('*a _b '), fill('<a '), fill('&#1'), fill('> ')];
    for (const md of cases) {
      const start = performance.now();
      const text = renderForTerminal(md);
      expect(performance.now() - start).toBeLessThan(1000);
      expect(text).not.toMatch(UNSAFE);
    }
  });

  test('a real rollout summary: hosts in aligned columns, no table syntax, the chart left out', () => {
    const r = report({ result: 'reverted', stopReason: '1 host(s) failed, more than max-failures (0)' });
    r.hosts[0] = { ...r.hosts[0], outcome: 'reverted', steps: [...r.hosts[0].steps, step('revert', 700, 750)] };
    r.hosts[1] = { ...r.hosts[1], outcome: 'failed', reason: 'health failed: a | b\n\x1b[31m @ann' };
    const text = renderForTerminal(summaryMarkdown(r));
    const lines = text.split('\n');
    for (const h of ['web1:22', 'web2:22', 'web3:22']) expect(text).toContain(h);
    expect(lines.filter((l) => l.startsWith('|'))).toEqual([]);
    expect(lines.filter((l) => /^\| ?-+/.test(l) || l.includes('| --- |'))).toEqual([]);
    expect(text).not.toMatch(UNSAFE);
    expect(text).not.toContain('**');
    expect(lines[0]).toBe('ssh-rollout v2: ↩️ reverted: a failure was caught and every switched host was put back');
    expect(lines[1]).toMatch(/^=+$/);
    expect(text).toContain('Stopped: 1 host(s) failed, more than max-failures (0)');
    expect(text).toContain('- ❌ web2:22 · wave 2: health failed: a | b | \\x1b[31m @ann (not put back: still on v2)');
    expect(text).toContain(CHART_LEFT_OUT);
    // The host table: each row's cells start where their header does.
    const head = lines.find((l) => l.startsWith('host '))!;
    const web3 = lines.find((l) => l.startsWith('web3:22 '))!;
    expect(web3.indexOf('100 ms')).toBe(head.indexOf('upload'));
    expect(web3.indexOf('✅ updated')).toBe(head.indexOf('result'));
  });
});

/** What a test name, a commit message or a host's stderr may hold (as in test/common/markdown.test.ts). */
const HOSTILE = [
  '@octocat please look',
  '[click me](https://evil.example/x)',
  '![pixel](https://evil.example/p.png)',
  '<img src=x onerror=alert(1)>',
  '<https://evil.example/auto>',
  'fixes #1 and acme/shop#2 and GH-3',
  'back`tick and ``double`` and ```',
  '`',
  '| a | b |',
  '**bold** _em_ ~~strike~~ *x*',
  '# heading',
  '> quote',
  '1. item',
  '- item',
  'line1\nline2\r::error::x\r\n::add-mask::y',
  '\x1b[31mred\x1b]8;;https://evil.example\x07link\x1b]8;;\x07',
  '&lt;b&gt; &amp; &#27; entity',
  'back\\slash\\',
  '<details><summary>x</summary>',
  'tab\there \u202eevil',
  'trailing space ',
];

describe('untrusted text escaped for Markdown reads on a terminal as oneLine shows it', () => {
  test.each(HOSTILE.map((s) => [JSON.stringify(s), s]))('%s', (_name, s) => {
    const seen = oneLine(s);
    expect(renderForTerminal(`before ${mdText(s)} after`)).toBe(`before ${seen} after\n`);
    expect(renderForTerminal(`x ${mdCode(s)} y`)).toBe(`x ${seen || ' '} y\n`);
    const cell = seen.trim();
    const table = renderForTerminal(`| a | b |\n| --- | --- |\n| ${mdText(s)} | x |\n`).split('\n');
    expect(table[2]).toBe(`${cell.padEnd(Math.max(1, cell.length))}  x`);
    const code = renderForTerminal(`| a | b |\n| --- | --- |\n| ${mdCode(s, { cell: true })} | x |\n`).split('\n');
    expect(code[2]).toBe(`${cell.padEnd(Math.max(1, cell.length))}  x`);
    expect(renderForTerminal(`<details><summary><code>${mdHtml(s)}</code>: ${mdHtml(s)}</summary>\n`)).toBe(
      `${seen}: ${seen}:`.trimEnd() + '\n',
    );
  });
});
