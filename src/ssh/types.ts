// The contract between the SSH engine (src/ssh/) and the logic that drives hosts (rollout, revert).
import type { Readable } from 'node:stream';
import type { HostSpec } from '../common/inputs.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Data piped to the command's stdin (e.g. the artifact); stdin is closed after it. */
  stdin?: Buffer | Readable;
  /** Kills the remote command (closes the channel) after this long; the result then has code 124, as with `timeout`. */
  timeoutMs?: number;
  /** Receives stdout as it arrives (a long-lived command's answers), besides the result's `stdout`. */
  onStdout?: (chunk: string) => void;
}

/** One authenticated connection to one host, reused for every step of a run. */
export interface RemoteSession {
  /** `host:port`, as outputs and reports name hosts. */
  readonly id: string;
  readonly spec: HostSpec;
  /** Runs a command through the login shell (`sh -c` semantics). Never rejects on a non-zero exit. */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

/** How host keys are checked. */
export type HostKeyPolicy = { kind: 'known-hosts'; knownHosts: string } | { kind: 'insecure' };

export interface SshCredentials {
  privateKey: string;
  passphrase?: string;
  hostKeys: HostKeyPolicy;
  jumpHost?: HostSpec;
  /** Handshake timeout per attempt. */
  readyTimeoutMs?: number;
  /** Attempts for timeouts and resets while connecting (auth and host-key failures are never retried). */
  connectAttempts?: number;
}

/** Opens sessions; injected so logic can be tested with a fake and run with ssh2. */
export type Connector = (host: HostSpec, credentials: SshCredentials) => Promise<RemoteSession>;

/** A connection failure that retrying cannot fix (authentication, host key). */
export class PermanentConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentConnectError';
  }
}
