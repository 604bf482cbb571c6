// Reaching a host through a jump host: a direct-tcpip channel to carry the target's SSH connection,
// and a loopback port that tunnels there for tools that dial a port themselves (ssh-keyscan).
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Client as SshClient, ClientChannel } from 'ssh2';
import { hostId, type HostSpec } from '../common/inputs.js';

/** A direct-tcpip channel from the bastion to the target. */
export function forwardChannel(bastion: SshClient, target: HostSpec): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    bastion.forwardOut('127.0.0.1', 0, target.host, target.port, (err, channel) => {
      if (!err) return resolve(channel);
      err.message = `${hostId(target)}: the jump host cannot reach it: ${err.message}`;
      reject(err);
    });
  });
}

/** Runs fn with a loopback port that tunnels to target through the bastion (so ssh-keyscan can reach it). */
export async function withLocalForward<T>(
  bastion: SshClient,
  target: HostSpec,
  fn: (port: number) => Promise<T>,
): Promise<T> {
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    forwardChannel(bastion, target).then(
      (ch) => {
        sock.pipe(ch).pipe(sock);
        sock.on('error', () => ch.close());
        ch.on('error', () => sock.destroy());
      },
      () => sock.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn((server.address() as AddressInfo).port);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}
