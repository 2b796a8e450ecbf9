/**
 * A TCP forwarder as a process of its own (so a test blocked in a synchronous call does not stall
 * the traffic through it): `node forwarder.js <listen host> <listen port> <target host> <target port>`.
 * Prints `listening` once it accepts connections.
 */
import { connect, createServer } from 'node:net';

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
const server = createServer((client) => {
  const upstream = connect(Number(targetPort), targetHost);
  for (const s of [client, upstream]) s.on('error', () => undefined);
  client.pipe(upstream).pipe(client);
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
