// Markdown rendered the way GitHub renders it, for tests of what untrusted text can do: GFM (micromark, the
// reference implementation's rules: tables, autolink literals, strikethrough), raw HTML passed through as
// GitHub passes its allowed tags, then what GitHub does after rendering, on text outside code and links:
// `@login` becomes a mention (it notifies), `#123` and `GH-123` a reference to an issue.
import { micromark } from 'micromark';
import { gfm, gfmHtml } from 'micromark-extension-gfm';

export interface Rendered {
  html: string;
  /** Element names in the rendered HTML, in order. */
  tags: string[];
  /** The text a reader sees (tags dropped, entities decoded, zero-width spaces dropped). */
  text: string;
  /** Mentions, issue references and links GitHub would make of the text outside code and links, plus `<a>`s. */
  live: string[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" };
const decode = (s: string): string =>
  s.replace(
    /&(#?\w+);/g,
    (m, e: string) =>
      ENTITIES[e] ??
      (e.startsWith('#x')
        ? String.fromCodePoint(parseInt(e.slice(2), 16))
        : e.startsWith('#')
          ? String.fromCodePoint(Number(e.slice(1)))
          : m),
  );

// GitHub's mention and issue-reference filters (html-pipeline's patterns, simplified).
const MENTION = /(?:^|[^\w`])@[a-z0-9][a-z0-9-]*/gi;
const REFERENCE = /(?:^|[^\w/])(?:#|gh-)\d+/gi;

export function renderGitHub(markdown: string): Rendered {
  const html = micromark(markdown, { allowDangerousHtml: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
  const tags = [...html.matchAll(/<\/?([a-zA-Z][\w-]*)/g)].map((m) => m[1].toLowerCase());
  const outsideCode = html
    .replace(/<code[^>]*>[\s\S]*?<\/code>/g, ' ')
    .replace(/<pre[^>]*>[\s\S]*?<\/pre>/g, ' ')
    .replace(/<a\b[^>]*>[\s\S]*?<\/a>/g, ' ');
  const plain = decode(outsideCode.replace(/<[^>]*>/g, ' '));
  const live = [
    ...[...html.matchAll(/<(a|img)\b[^>]*>/g)].map((m) => m[0]),
    ...(plain.match(MENTION) ?? []).map((m) => m.trim()),
    ...(plain.match(REFERENCE) ?? []).map((m) => m.trim()),
  ];
  const text = textOf(html);
  return { html, tags, text, live };
}

/** The text a reader sees of rendered HTML. */
export function textOf(html: string): string {
  return decode(html.replace(/<[^>]*>/g, '')).replace(/\u200b/g, '');
}
