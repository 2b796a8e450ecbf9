/**
 * Serves one PGlite database to many Postgres clients over the wire protocol.
 *
 * PGlite has a single backend session, so clients must take turns. The unit of a turn is a whole
 * protocol exchange: a simple Query, or an extended-protocol batch up to its Sync (Parse, Bind,
 * Describe, Execute... share the session's unnamed statement and portal, so nobody else may run in
 * between). A client that leaves an exchange inside a transaction (ReadyForQuery status T or E)
 * keeps its turn until the transaction ends; one that disconnects mid-transaction is rolled back.
 *
 * (@electric-sql/pglite-socket's multiplexer queues each message on its own and lets another
 * connection's Parse in between someone's Parse and Bind: "unnamed prepared statement does not
 * exist" under concurrent use, which releng-o-tron's processes produce all the time.)
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

const SSL_REQUEST_CODE = 80877103;
const GSSENC_REQUEST_CODE = 80877104;
const CANCEL_REQUEST_CODE = 80877102;
const PROTOCOL_3 = 196608;

/** Message types that end an exchange: the server answers them with ReadyForQuery. */
const QUERY = 0x51; // 'Q'
const SYNC = 0x53; // 'S'
const TERMINATE = 0x58; // 'X'
const READY_FOR_QUERY = 0x5a; // 'Z'
const IDLE = 0x49; // 'I'

/** A fair lock handed from one connection to the next. */
class Turns {
  private owner: object | null = null;
  private readonly waiting: { who: object; grant: () => void }[] = [];

  async acquire(who: object): Promise<void> {
    if (this.owner === who) return;
    if (this.owner === null) {
      this.owner = who;
      return;
    }
    await new Promise<void>((grant) => this.waiting.push({ who, grant }));
  }

  release(who: object): void {
    if (this.owner !== who) return;
    const next = this.waiting.shift();
    this.owner = next?.who ?? null;
    next?.grant();
  }

  forget(who: object): void {
    const index = this.waiting.findIndex((w) => w.who === who);
    if (index >= 0) this.waiting.splice(index, 1);
  }

  holds(who: object): boolean {
    return this.owner === who;
  }
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private started = false;
  private exchange: Buffer[] = [];
  private readonly ready: Buffer[] = [];
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly db: PGlite,
    private readonly turns: Turns,
  ) {
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('close', () => void this.close());
    socket.on('error', () => socket.destroy());
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (!this.started) {
        if (this.buffer.length < 8) return;
        const length = this.buffer.readInt32BE(0);
        if (this.buffer.length < length) return;
        const code = this.buffer.readInt32BE(4);
        const message = this.buffer.subarray(0, length);
        this.buffer = this.buffer.subarray(length);
        if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
          this.socket.write('N'); // no TLS; the client goes on in plain text
          continue;
        }
        if (code === CANCEL_REQUEST_CODE) {
          this.socket.end(); // PGlite has no backend to signal
          return;
        }
        if (code !== PROTOCOL_3) {
          this.socket.destroy();
          return;
        }
        this.started = true;
        this.ready.push(Buffer.from(message));
        continue;
      }
      if (this.buffer.length < 5) break;
      const length = 1 + this.buffer.readInt32BE(1);
      if (this.buffer.length < length) break;
      const type = this.buffer[0]!;
      this.exchange.push(Buffer.from(this.buffer.subarray(0, length)));
      this.buffer = this.buffer.subarray(length);
      if (type === TERMINATE) {
        this.exchange = [];
        this.socket.end();
        return;
      }
      if (type === QUERY || type === SYNC) {
        this.ready.push(Buffer.concat(this.exchange));
        this.exchange = [];
      }
    }
    this.pump();
  }

  private pump(): void {
    if (this.running || this.ready.length === 0) return;
    this.running = (async () => {
      while (this.ready.length > 0 && !this.closed) {
        const request = this.ready.shift()!;
        await this.turns.acquire(this);
        if (this.closed) break;
        const chunks: Buffer[] = [];
        try {
          await this.db.runExclusive(() =>
            // PGlite reuses its output buffer between callbacks: copy each chunk.
            this.db.execProtocolRawStream(new Uint8Array(request), { onRawData: (data) => chunks.push(Buffer.from(data)) }),
          );
        } catch {
          this.socket.destroy();
          break;
        }
        const response = Buffer.concat(chunks);
        if (this.socket.writable) this.socket.write(response);
        if (transactionStatus(response) === IDLE) this.turns.release(this);
      }
      this.running = null;
    })();
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.running;
    this.turns.forget(this);
    if (this.turns.holds(this)) {
      // It left inside a transaction: end it so the next client starts clean.
      await this.db.exec('ROLLBACK').catch(() => undefined);
      this.turns.release(this);
    }
  }
}

/** The status byte of the last ReadyForQuery in a response, if the response ends with one. */
function transactionStatus(response: Buffer): number | null {
  const at = response.length - 6;
  if (at >= 0 && response[at] === READY_FOR_QUERY && response.readInt32BE(at + 1) === 5) return response[at + 5]!;
  return null;
}

export interface WireServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function serveOverWire(db: PGlite, host: string, port: number): Promise<WireServer> {
  const turns = new Turns();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    new Connection(socket, db, turns);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return {
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
