// The terminal: the log on stderr, with secrets masked and host text made inert, and on a TTY one status line
// (a wave's progress) kept under the log and rewritten in place.
import type { Logger } from '../common/logger.js';
import { logText } from '../common/text.js';

/** Where the terminal writes: stderr in the command, a buffer in tests. */
export interface TerminalStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Erases the line the cursor is on (the status line) and returns to its start. */
const CLEAR_LINE = '\r\x1b[2K';

export class Terminal implements Logger {
  private readonly secrets: string[] = [];
  private statusLine = '';
  private indent = '';

  constructor(
    private readonly out: TerminalStream,
    private readonly o: { verbose: boolean },
  ) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** Columns to render for: the terminal's, or 120 when not a terminal. */
  get width(): number {
    return this.tty && this.out.columns ? this.out.columns : 120;
  }

  /** Hides a secret in everything printed from now on (what core.setSecret does on the runner). */
  mask(secret: string): void {
    const s = secret.trim();
    if (s.length >= 4 && !this.secrets.includes(s)) {
      this.secrets.push(s);
      this.secrets.sort((a, b) => b.length - a.length);
    }
  }

  /** `text` with every secret replaced by `***`. */
  masked(text: string): string {
    let t = text;
    for (const s of this.secrets) t = t.split(s).join('***');
    return t;
  }

  debug(message: string): void {
    if (this.o.verbose) this.line(`debug: ${message}`);
  }
  info(message: string): void {
    this.line(message);
  }
  warning(message: string): void {
    this.line(`warning: ${message}`);
  }
  error(message: string): void {
    this.line(`error: ${message}`);
  }

  /** A group is a heading with its lines indented under it (a terminal cannot fold them). */
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.line(`▸ ${name}`);
    const outer = this.indent;
    this.indent = `${outer}  `;
    try {
      return await fn();
    } finally {
      this.indent = outer;
    }
  }

  /** Sets the status line (on a TTY; elsewhere nothing: the log's own lines say the same). */
  status(text: string): void {
    if (!this.tty) return;
    this.statusLine = this.fit(this.safe(text));
    this.out.write(`${CLEAR_LINE}${this.statusLine}`);
  }

  /** Removes the status line. */
  clearStatus(): void {
    if (this.tty && this.statusLine) this.out.write(CLEAR_LINE);
    this.statusLine = '';
  }

  /** Text printed as it is (a rendered summary), masked and made inert, under the status line. */
  print(text: string): void {
    this.write(this.safe(text).replace(/\n?$/, '\n'));
  }

  private line(message: string): void {
    const text = this.safe(message)
      .split('\n')
      .map((l) => `${this.indent}${l}`)
      .join('\n');
    this.write(`${text}\n`);
  }

  /** A log line goes above the status line: erase it, write, draw it again. */
  private write(text: string): void {
    if (this.tty && this.statusLine) this.out.write(`${CLEAR_LINE}${text}${this.statusLine}`);
    else this.out.write(text);
  }

  private safe(text: string): string {
    return logText(this.masked(text));
  }

  private fit(text: string): string {
    const width = this.out.columns ?? 0;
    return width > 1 && text.length >= width ? `${text.slice(0, width - 2)}…` : text;
  }
}
