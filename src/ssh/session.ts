// The RemoteSession over one ssh2 connection: commands run as channels on it (in parallel if asked),
// with stdin streamed in, stdout streamed out, a timeout that kills the remote command, and a lost
// connection failing the commands it was running.
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import type { Client as SshClient, ClientChannel } from 'ssh2';
import { hostId, type HostSpec } from '../common/inputs.js';
import { canOpenAhead, execOn, openSessionChannel } from './early-send.js';
import type { ExecOptions, ExecResult, RemoteSession } from './types.js';

/** Exit code reported when `timeoutMs` stopped a command, as GNU `timeout` does. */
export const TIMEOUT_EXIT_CODE = 124;

/** One authenticated connection; commands run as channels on it, in parallel if asked. */
export class SshSession implements RemoteSession {
  readonly id: string;
  private closed = false;
  private lostReason?: string;
  /** Rejects each running command, when the connection is lost. */
  private readonly pending = new Set<(err: Error) => void>();
  private readonly ended = new Set<SshClient>();
  /** Commands start on a channel opened ahead of them (early-send.ts). */
  private readonly ahead: boolean;
  private spare?: Promise<ClientChannel>;

  constructor(
    readonly spec: HostSpec,
    private readonly client: SshClient,
    private readonly bastion?: SshClient,
  ) {
    this.id = hostId(spec);
    client.once('close', () => this.ended.add(client));
    bastion?.once('close', () => this.ended.add(bastion));
    const lost = (why: string) => {
      if (this.closed) return;
      this.lostReason = why;
      const lostError = () => new Error(`${this.id}: connection lost while running a command (${why})`);
      for (const reject of this.pending) reject(lostError());
      this.pending.clear();
    };
    client.on('close', () => lost('the connection closed'));
    client.on('error', (err: Error) => lost(err.message));
    bastion?.on('close', () => lost('the jump host connection closed'));
    this.ahead = canOpenAhead(client);
    if (this.ahead) this.spare = this.openSpare();
  }

  /** Whether the connection is still usable. */
  get alive(): boolean {
    return !this.closed && this.lostReason === undefined;
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new Error(`${this.id}: session is closed`));
    if (this.lostReason) return Promise.reject(new Error(`${this.id}: connection lost (${this.lostReason})`));
    return new Promise<ExecResult>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let done = false;
      // The command ending, the connection going and the input failing race; the first one settles.
      const settle = (outcome: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(abort);
        outcome();
      };
      const abort = (err: Error) => settle(() => reject(err));
      this.pending.add(abort);
      this.start(command, (err, stream) => {
        if (err) {
          abort(new Error(`${this.id}: cannot start a command: ${err.message}`));
          return;
        }
        const output = collectOutput(stream, options.onStdout);
        if (options.timeoutMs !== undefined) {
          timer = setTimeout(() => {
            output.timedOut = true;
            // Closing the channel alone leaves e.g. `sleep` running on the host; OpenSSH (7.8+) kills
            // the command's process group on a `signal` request.
            killChannel(stream);
            stream.close();
          }, options.timeoutMs);
        }
        stream.on('close', () =>
          settle(() => {
            const result = commandResult(output, options.timeoutMs);
            if (result) return resolve(result);
            const why = this.lostReason ? ` (${this.lostReason})` : '';
            reject(new Error(`${this.id}: connection lost while running a command${why}`));
          }),
        );
        sendStdin(stream, options.stdin, (e) => {
          abort(new Error(`${this.id}: reading the command's input failed: ${e.message}`));
        });
      });
    });
  }

  /**
   * Starts `command` on the channel opened ahead (one round trip), and opens the next one (early-send.ts);
   * ssh2's own exec (open, then exec: two) when its internals are not as expected. `started` is called
   * synchronously with the server's reply, before the command's output can arrive.
   */
  private start(command: string, started: (err: Error | undefined, stream: ClientChannel) => void): void {
    if (!this.ahead) return void this.client.exec(command, started);
    // A spare that could not open (MaxSessions was reached then) is opened again for this command.
    const channel = (this.spare ?? Promise.reject(new Error('none'))).catch(() => openSessionChannel(this.client));
    this.spare = this.openSpare();
    channel.then(
      (c) => execOn(this.client, c, command, started),
      (err: Error) => started(err, undefined as unknown as ClientChannel),
    );
  }

  private openSpare(): Promise<ClientChannel> {
    const spare = openSessionChannel(this.client);
    spare.catch(() => undefined);
    return spare;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ended = (c: SshClient) =>
      new Promise<void>((resolve) => {
        if (this.ended.has(c)) return resolve();
        c.once('close', () => resolve());
        c.end();
        // A dead peer never answers the disconnect; do not wait for it.
        setTimeout(resolve, 1000).unref();
      });
    await ended(this.client);
    if (this.bastion) await ended(this.bastion);
  }
}

/** What a command's channel has told so far. */
interface CommandOutput {
  stdout: Buffer[];
  stderr: Buffer[];
  code?: number | null;
  signal?: string;
  timedOut: boolean;
}

/** Gathers the channel's output and exit status, passing stdout on to `onStdout` as it arrives. */
function collectOutput(stream: ClientChannel, onStdout?: (chunk: string) => void): CommandOutput {
  const output: CommandOutput = { stdout: [], stderr: [], timedOut: false };
  stream.on('data', (d: Buffer) => {
    output.stdout.push(d);
    onStdout?.(d.toString('utf8'));
  });
  stream.stderr.on('data', (d: Buffer) => output.stderr.push(d));
  stream.on('exit', (c: number | null, sig?: string) => {
    output.code = c;
    output.signal = sig;
  });
  return output;
}

/**
 * The result of a command whose channel closed: its exit code, 124 when the timeout killed it,
 * 128 + n when signal n did; undefined when it reported none of these (the connection went).
 */
function commandResult(output: CommandOutput, timeoutMs: number | undefined): ExecResult | undefined {
  const stdout = Buffer.concat(output.stdout).toString('utf8');
  const stderr = Buffer.concat(output.stderr).toString('utf8');
  if (output.timedOut) {
    const newline = stderr && !stderr.endsWith('\n') ? '\n' : '';
    const note = `fivestep: command timed out after ${timeoutMs} ms and was killed\n`;
    return { code: TIMEOUT_EXIT_CODE, stdout, stderr: `${stderr}${newline}${note}` };
  }
  if (typeof output.code === 'number') return { code: output.code, stdout, stderr };
  if (output.signal) {
    const n = (osConstants.signals as Record<string, number>)[`SIG${output.signal}`] ?? 0;
    return { code: 128 + n, stdout, stderr: `${stderr}fivestep: command killed by signal ${output.signal}\n` };
  }
  return undefined;
}

/** Sends the command's stdin and closes it; a stream that fails calls `onError` and closes the channel. */
function sendStdin(stream: ClientChannel, input: Buffer | Readable | undefined, onError: (e: Error) => void): void {
  if (input === undefined) stream.end();
  else if (Buffer.isBuffer(input)) stream.end(input);
  else {
    input.on('error', (e) => {
      onError(e);
      stream.close();
    });
    input.pipe(stream);
  }
}

/**
 * Sends SIGKILL to a channel's command. ssh2's Channel.signal() silently does nothing once stdin
 * has been closed (it requires a writable stream), which is always the case here, so this sends
 * the same request through the channel's protocol object.
 */
function killChannel(stream: ClientChannel): void {
  const ch = stream as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, sig: string): void } };
  };
  const state = ch.outgoing?.state;
  if (ch.outgoing && (state === 'open' || state === 'eof')) {
    try {
      ch._client?._protocol?.signal(ch.outgoing.id, 'KILL');
    } catch {
      // the connection is going away; closing the channel is all that is left
    }
  }
}
