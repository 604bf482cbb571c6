// The bounded pre-pass over a JUnit report: before the XML validator and parser read a report, one linear
// pass cuts its long texts and attribute values and refuses what would still cost more than the limits
// allow (entity declarations, deep nesting, millions of elements), so a hostile report costs bounded work.

/**
 * What one report may cost. A report is read whole; fast-xml-parser holds ~200 bytes for each element and
 * attribute and, while it reads one, ~36 bytes for each character of a tag or a text. Within these limits
 * the costliest report we could build (64 MiB of small elements, long tags or long values) took at most
 * ~6 s and ~850 MB, where one 100 MB attribute used to exhaust the heap.
 */
export const REPORT_LIMITS = {
  /**
   * Bytes per report file: past it the file is not read (a warning names it). 200,000 tests (the most a
   * saved result holds) in one jest-junit file are 25–50 MB; reading 64 MiB takes ~800 MB of memory.
   */
  bytes: 64 * 1024 * 1024,
  /**
   * Characters kept of an attribute value or a text, the rest cut with `…`: the gate shows at most 64 KiB
   * of any.
   */
  text: 64 * 1024,
  /**
   * Elements and attributes together: a 200,000-test report has about a million, 64 MiB of one about
   * 3.5 million.
   */
  nodes: 4_000_000,
  /** Element nesting (a JUnit report nests about 5 deep). */
  depth: 100,
  attributes: 64,
  /** Characters of a tag once its attribute values are cut, and of a name. */
  tag: 1024 * 1024,
  name: 1024,
  /** A DOCTYPE (without declarations) or a processing instruction like `<?xml …?>`. */
  declaration: 4096,
};

export const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;

/**
 * The report as the XML validator and parser may read it, in one linear pass: attribute values and texts
 * (CDATA too) longer than {@link REPORT_LIMITS}.text are cut (never inside an entity reference), and a
 * report that would still cost more than the limits allow is refused (throws, naming the line). A report
 * that ends inside markup keeps only a little of it: it is invalid either way, and the validator says so.
 * Markup is found as both the validator and the parser find it (a tag ends at the first `>` outside
 * quotes), so what they read is what was bounded here.
 */
export function boundedXml(xml: string): string {
  return new BoundedCopy(xml).copy();
}

/** Where a markup ends when the file ends inside it. */
const UNCLOSED = -1;
const TAG_STOP = /["'>]/g;

/** One pass of {@link boundedXml}: copies the report to `out`, cutting and counting as it goes. */
class BoundedCopy {
  private readonly out: string[] = [];
  /** xml[from, …) is still to be copied to out. */
  private from = 0;
  private nodes = 0;
  private depth = 0;
  /** Characters of text since the last markup (comments do not end a text for the parser). */
  private textRun = 0;
  /** The last tag read's attributes, and its characters once their values are cut. */
  private tagAttributes = 0;
  private tagKept = 0;

  constructor(private readonly xml: string) {}

  copy(): string {
    const { xml } = this;
    const n = xml.length;
    let i = 0;
    while (i < n) {
      const lt = xml.indexOf('<', i);
      const textEnd = lt < 0 ? n : lt;
      if (textEnd > i) this.text(i, textEnd);
      if (lt < 0) break;
      const next = this.markup(lt);
      if (next === UNCLOSED) return this.unclosed(lt);
      i = next;
    }
    if (this.from === 0) return xml;
    this.out.push(xml.slice(this.from));
    return this.out.join('');
  }

  /** Text from `start` to the next markup: past the text limit since the last markup, it is cut. */
  private text(start: number, end: number): void {
    const limit = REPORT_LIMITS.text;
    const length = end - start;
    if (this.textRun >= limit) {
      this.out.push(this.xml.slice(this.from, start));
      this.from = end;
    } else if (this.textRun + length > limit) this.cut(start, end, limit - this.textRun);
    this.textRun += length;
  }

  /** The markup at `i`: the index after it, or UNCLOSED. Throws on markup past the limits. */
  private markup(i: number): number {
    const { xml } = this;
    const L = REPORT_LIMITS;
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      return end < 0 ? UNCLOSED : end + 3;
    }
    this.textRun = 0;
    if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i + 9);
      if (end < 0) return UNCLOSED;
      if (end - (i + 9) > L.text) this.cut(i + 9, end, L.text);
      return end + 3;
    }
    if (xml.startsWith('<!DOCTYPE', i)) {
      // Only a DOCTYPE that names a DTD: the validator and the parser end it at the same `>`, and it
      // declares no entities (entity expansion is how an XML bomb works).
      const end = xml.indexOf('>', i);
      if (end < 0) return UNCLOSED;
      const body = xml.slice(i, end);
      if (end - i > L.declaration || /[[<]/.test(body.slice(1)) || !quotesClosed(body)) {
        this.refuse(i, 'a DOCTYPE with declarations');
      }
      return end + 1;
    }
    if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i + 2);
      if (end < 0) return UNCLOSED;
      // The parser reads a processing instruction's content as attributes, skipping quoted `?>`.
      if (end - i > L.declaration || !quotesClosed(xml.slice(i, end))) {
        this.refuse(i, `a processing instruction over ${L.declaration} characters or with an open quote`);
      }
      return end + 2;
    }
    if (xml.startsWith('<!', i)) this.refuse(i, 'markup that is not a comment, CDATA or DOCTYPE');
    return this.tag(i);
  }

  /** A start or end tag at `i`: the index after it, or UNCLOSED. Counts it against the limits. */
  private tag(i: number): number {
    const { xml } = this;
    const L = REPORT_LIMITS;
    const end = this.tagEnd(i);
    if (end === UNCLOSED) return UNCLOSED;
    const attributes = this.tagAttributes;
    const name = /^<\/?([^\s/>]*)/.exec(xml.slice(i, Math.min(end, i + L.name + 3)))![1];
    if (name.length > L.name) this.refuse(i, `an element name over ${L.name} characters`);
    if (attributes > L.attributes) this.refuse(i, `an element with over ${L.attributes} attributes`);
    if (this.tagKept > L.tag) this.refuse(i, `a tag over ${mib(L.tag)}`);
    const closing = xml.charCodeAt(i + 1) === 47; // '/'
    if (!closing) {
      this.nodes += 1 + attributes;
      if (this.nodes > L.nodes) this.refuse(i, `over ${L.nodes.toLocaleString('en-US')} elements and attributes`);
      const selfClosing = xml.charCodeAt(end - 1) === 47; // '/'
      if (!selfClosing && ++this.depth > L.depth) this.refuse(i, `elements nested over ${L.depth} deep`);
    } else this.depth--;
    return end + 1;
  }

  /**
   * The tag at `i` ends at the first `>` outside quotes: its index, or UNCLOSED. Attribute values past the
   * text limit are cut on the way; tagAttributes and tagKept count them and what is kept.
   */
  private tagEnd(i: number): number {
    const { xml } = this;
    const n = xml.length;
    const limit = REPORT_LIMITS.text;
    this.tagAttributes = 0;
    this.tagKept = 0;
    let j = i + 1;
    while (j < n) {
      TAG_STOP.lastIndex = j;
      const stop = TAG_STOP.exec(xml);
      if (!stop) break;
      this.tagKept += stop.index - j;
      if (stop[0] === '>') return stop.index;
      const close = xml.indexOf(stop[0], stop.index + 1);
      if (close < 0) break;
      this.tagAttributes++;
      const length = close - stop.index - 1;
      if (length > limit) this.cut(stop.index + 1, close, limit);
      this.tagKept += Math.min(length, limit) + 2;
      j = close + 1;
    }
    return UNCLOSED;
  }

  /**
   * Keeps `keep` characters from `start` (fewer, not to split an entity or a surrogate pair), then `…`,
   * and skips to `end`.
   */
  private cut(start: number, end: number, keep: number): void {
    const { xml } = this;
    let stop = start + keep;
    // An entity reference is at most a few dozen characters: look back no further.
    const tail = xml.slice(Math.max(start, stop - 40), stop);
    const amp = tail.lastIndexOf('&');
    if (amp >= 0 && !tail.slice(amp).includes(';')) stop -= tail.length - amp;
    const c = xml.charCodeAt(stop - 1);
    if (stop > start && c >= 0xd800 && c <= 0xdbff) stop--;
    this.out.push(xml.slice(this.from, stop), '…');
    this.from = end;
  }

  /** The file ends inside markup starting at `at`: keep a little of it, so the validator reports it cheaply. */
  private unclosed(at: number): string {
    const stop = Math.max(this.from, Math.min(this.xml.length, at + 1024));
    this.out.push(this.xml.slice(this.from, stop));
    return this.out.join('');
  }

  private refuse(at: number, what: string): never {
    throw new Error(
      `${what} at line ${lineAt(this.xml, at)}: past what a report may hold (the README's test-gate limits), ` +
        'so it is not read; its tests are not counted',
    );
  }
}

/** The quotes in `s` are closed as the parser reads them: one kind opens, the same kind closes. */
function quotesClosed(s: string): boolean {
  let open = '';
  for (const c of s) {
    if (c === '"' || c === "'") open = open === '' ? c : open === c ? '' : open;
  }
  return open === '';
}

function lineAt(s: string, at: number): number {
  let line = 1;
  for (let i = s.indexOf('\n'); i >= 0 && i < at; i = s.indexOf('\n', i + 1)) line++;
  return line;
}
