/** Small HTTP helpers for the sandbox's services (node:http, no framework). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../common/http-server.js';

export { HttpError, intParam, sendJson, sendText } from '../common/http-server.js';

/** The client's TLS state, as mod_ssl hands it to an application (SSL_CLIENT_VERIFY, the subject's CN). */
export interface ClientTls {
  readonly verified: boolean;
  readonly error: string | null;
  readonly commonName: string | null;
}

export interface Request {
  readonly method: string;
  /** Path below the service's mount point, starting with `/`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  /** The service's own base URL, for `next`/`previous` links. */
  readonly baseUrl: string;
  /** On the HTTPS listener: whether the client's certificate verified, and its subject's CN. */
  readonly tls?: ClientTls;
  body(): Promise<string>;
}

export type Service = (req: Request, res: ServerResponse) => Promise<void> | void;



export async function readBody(req: IncomingMessage, limitBytes = 16 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new HttpError(413, `request body over ${limitBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(req: Request): Promise<unknown> {
  const text = await req.body();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'the request body is not JSON');
  }
}

