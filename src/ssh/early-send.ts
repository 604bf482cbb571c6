// Round trips ssh2 would wait for and the protocol does not need (RFC 4252 §7, RFC 4254 §5.1):
//   - public-key authentication: ssh2 first asks whether the server would accept the key and signs
//     only after USERAUTH_PK_OK; the signed request can go at once (OpenSSH's own client does so when it
//     holds the private key). A refused key still fails as before: USERAUTH_FAILURE, then the next method.
//   - a command's channel: ssh2 opens a session channel for each exec and sends the exec only after the
//     open is confirmed. A session keeps one channel opened in advance, so a command costs one round trip
//     (exec → output and exit status), not two.
// What ssh2 does not allow without changing it: sending KEXINIT with a guessed first key-exchange packet,
// and sending the userauth request before SERVICE_ACCEPT. Both would save one more round trip per
// connection. Everything here reaches into ssh2 1.x's internals (pinned in package-lock.json); when one is
// missing, ssh2's own path is used (test/ssh/early-send.test.ts checks both against real OpenSSH).
import type { Client as SshClient, ClientChannel, ParsedKey } from 'ssh2';

/** ssh2's internal protocol object, as far as it is used here. */
interface Protocol {
  authPK(user: string, key: ParsedKey, keyAlgo?: string, sign?: (data: Buffer, cb: (s: Buffer) => void) => void): void;
  session(localChan: number, initWindow: number, maxPacket: number): void;
  exec(chan: number, command: string, wantReply: boolean): void;
}

interface Internals {
  _protocol?: Protocol;
  _chanMgr?: { add(cb: (err: Error | undefined, chan: ClientChannel) => void): number };
}

/** A channel's internals: its ids and the callbacks for its requests' replies. */
interface ChannelInternals {
  outgoing: { id: number; state: string };
  _callbacks: ((hadErr: boolean | Error) => void)[];
  subtype?: string;
  allowHalfOpen?: boolean;
}

/** ssh2 1.x's window and packet size for the channels it opens (lib/Channel.js MAX_WINDOW, PACKET_SIZE). */
export const SSH2_MAX_WINDOW = 2 * 1024 * 1024;
export const SSH2_PACKET_SIZE = 32 * 1024;

/** The hash ssh2 signs with for a public-key algorithm (its getKeyAlgos), undefined for the key's own. */
const HASH_OF: Record<string, string> = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512', 'ssh-rsa': 'sha1' };

/**
 * Makes `client` (after connect() was called) send the signed public-key request at once instead of asking
 * first. Returns false when ssh2's internals are not what this expects (nothing changed).
 */
export function signWithoutAsking(client: SshClient, key: ParsedKey): boolean {
  const proto = (client as unknown as Internals)._protocol;
  if (typeof proto?.authPK !== 'function') return false;
  const authPK = proto.authPK.bind(proto);
  proto.authPK = (user, pub, keyAlgo, sign) => {
    const hash = keyAlgo ? HASH_OF[keyAlgo] : undefined;
    // A key that cannot sign (or sign with this hash) goes ssh2's way, which reports why.
    if (sign || pub !== key || key.sign(Buffer.from('probe'), hash) instanceof Error)
      return authPK(user, pub, keyAlgo, sign);
    authPK(user, pub, keyAlgo, (data, done) => done(key.sign(data, hash) as Buffer));
  };
  return true;
}

/** Whether `client` can open a session channel ahead of its command (ssh2's internals as expected). */
export function canOpenAhead(client: SshClient): boolean {
  const c = client as unknown as Internals;
  return typeof c._chanMgr?.add === 'function' && typeof c._protocol?.session === 'function';
}

/** Opens a session channel, with nothing started on it yet (ssh2's openChannel for 'session'). */
export function openSessionChannel(client: SshClient): Promise<ClientChannel> {
  const c = client as unknown as Required<Internals>;
  return new Promise((resolve, reject) => {
    const opened = (err: Error | undefined, chan: ClientChannel) => (err ? reject(err) : resolve(chan));
    // ssh2 dispatches a confirmation by the callback's type.
    (opened as unknown as { type: string }).type = 'session';
    const local = c._chanMgr.add(opened);
    if (local === -1) return reject(new Error('No free channels available'));
    c._protocol.session(local, SSH2_MAX_WINDOW, SSH2_PACKET_SIZE);
  });
}

/**
 * Starts `command` on an open session channel (ssh2's reqExec). `started` is called in the reply's own handler,
 * before ssh2 reads the next packet: the command's output and exit status may be in the same read.
 */
export function execOn(
  client: SshClient,
  channel: ClientChannel,
  command: string,
  started: (err: Error | undefined, channel: ClientChannel) => void,
): void {
  const chan = channel as unknown as ChannelInternals;
  const proto = (client as unknown as Required<Internals>)._protocol;
  if (chan.outgoing.state !== 'open') return started(new Error('Channel is not open'), channel);
  chan._callbacks.push((hadErr) => {
    if (hadErr) {
      channel.close();
      return started(hadErr instanceof Error ? hadErr : new Error('Unable to exec'), channel);
    }
    chan.subtype = 'exec';
    chan.allowHalfOpen = true;
    started(undefined, channel);
  });
  proto.exec(chan.outgoing.id, command, true);
}
