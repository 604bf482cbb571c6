// What GitHub accepts, in one place, and the one way every report builder fits its text into it. Over a
// limit GitHub refuses the request (an issue body), drops the text (a step summary over 1 MiB: "upload
// aborted") or cuts it where it likes; fivestep cuts first, at a line, and says what was left out and
// where the whole is.

export interface Limit {
  /** What the limit is for, as a message names it. */
  what: string;
  /** UTF-16 code units, which is at least the characters GitHub counts. */
  chars?: number;
  /** UTF-8 bytes. */
  bytes?: number;
}

export const GITHUB_LIMITS = {
  /** Check run `output.summary` and `output.text`: 65,535 characters; GitHub also says 64 KB, so kept in bytes too. */
  checkRunSummary: { what: 'a check run summary', chars: 65_535, bytes: 65_535 },
  /** Annotation `message` and `raw_details`: 64 KB. */
  annotationMessage: { what: 'an annotation message', bytes: 65_535 },
  /** Annotation `title`: 255 characters. */
  annotationTitle: { what: 'an annotation title', chars: 255 },
  /** Issue and comment bodies: 65,536 characters. */
  issueBody: { what: 'an issue body', chars: 65_536 },
  commentBody: { what: 'a comment body', chars: 65_536 },
  /** A job's step summary: 1 MiB, in bytes; over it the upload is aborted and nothing shows. */
  stepSummary: { what: 'a step summary', bytes: 1024 * 1024 },
  /** Commit status and deployment status `description`: 140 characters. */
  statusDescription: { what: 'a status description', chars: 140 },
} as const satisfies Record<string, Limit>;

/** Annotations GitHub takes in one check-run request. */
export const ANNOTATIONS_PER_REQUEST = 50;

const encoder = new TextEncoder();

function size(text: string, limit: Limit): { chars: number; bytes: number } {
  return { chars: text.length, bytes: limit.bytes === undefined ? 0 : encoder.encode(text).length };
}

export function fits(text: string, limit: Limit): boolean {
  const s = size(text, limit);
  return (limit.chars === undefined || s.chars <= limit.chars) && (limit.bytes === undefined || s.bytes <= limit.bytes);
}

/** The longest prefix of `text` within `limit`, never splitting a character (a surrogate pair or its UTF-8 bytes). */
export function clip(text: string, limit: Limit, ellipsis = '…'): string {
  if (fits(text, limit)) return text;
  const room = {
    chars: (limit.chars ?? Infinity) - ellipsis.length,
    bytes: (limit.bytes ?? Infinity) - encoder.encode(ellipsis).length,
  };
  let chars = 0;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const b = ch.length === 2 ? 4 : ch.charCodeAt(0) < 0x80 ? 1 : ch.charCodeAt(0) < 0x800 ? 2 : 3;
    if (chars + ch.length > room.chars || bytes + b > room.bytes) break;
    chars += ch.length;
    bytes += b;
    end += ch.length;
  }
  return text.slice(0, end) + ellipsis;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * `markdown` within `limit`: whole lines up to the last that leaves room for `cut` (a line saying what
 * was left out and where the whole is), a code block or `<details>` left open closed first. Linear in the
 * text's length.
 */
export function fitMarkdown(markdown: string, limit: Limit, cut: string): string {
  if (fits(markdown, limit)) return markdown;
  const lines = markdown.split('\n');
  const tail = (fence: string | undefined, details: number) =>
    [...(fence ? [fence] : []), ...Array(details).fill('</details>'), '', cut].join('\n');
  // The largest tail (an open fence, however long, a few open <details>) is reserved up front.
  const reserve = size(`${tail('`'.repeat(64), 4)}\n`, limit);
  const room = { chars: (limit.chars ?? Infinity) - reserve.chars, bytes: (limit.bytes ?? Infinity) - reserve.bytes };
  const kept: string[] = [];
  let chars = 0;
  let bytes = 0;
  let fence: string | undefined;
  let details = 0;
  for (const line of lines) {
    const s = { chars: line.length + 1, bytes: limit.bytes === undefined ? 0 : encoder.encode(line).length + 1 };
    if (chars + s.chars > room.chars || bytes + s.bytes > room.bytes) {
      if (kept.length === 0)
        kept.push(
          clip(line, {
            what: limit.what,
            chars: room.chars,
            bytes: limit.bytes === undefined ? undefined : room.bytes,
          }),
        );
      break;
    }
    kept.push(line);
    chars += s.chars;
    bytes += s.bytes;
    const f = FENCE.exec(line);
    if (f && fence === undefined) fence = f[1];
    else if (f && fence !== undefined && f[1][0] === fence[0] && f[1].length >= fence.length && line.trim() === f[1])
      fence = undefined;
    else if (fence === undefined)
      details += (line.match(/<details\b/g)?.length ?? 0) - (line.match(/<\/details>/g)?.length ?? 0);
  }
  return `${kept.join('\n')}\n${tail(fence, Math.min(4, Math.max(0, details)))}`;
}
