// A small logging interface passed into logic, so the logic runs without the runner (as codeql-action does).
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  /** Runs fn inside a collapsible log group. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** Collects lines; for tests and for logic whose log is shown later (e.g. per-host groups). */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  debug(message: string): void {
    this.lines.push(`debug: ${message}`);
  }
  info(message: string): void {
    this.lines.push(message);
  }
  warning(message: string): void {
    this.lines.push(`warning: ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error: ${message}`);
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.lines.push(`::group::${name}`);
    try {
      return await fn();
    } finally {
      this.lines.push('::endgroup::');
    }
  }
  text(): string {
    return this.lines.join('\n');
  }
}

/** Logs nothing. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warning() {},
  error() {},
  group: (_name, fn) => fn(),
};
