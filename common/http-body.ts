/**
 * Reading an HTTP response body with a cap: a server (or a stranger in front of one) cannot make
 * a process hold more than `maxBytes` of a reply in memory. The declared Content-Length is
 * checked first; a body without one is cut off as soon as it passes the cap.
 */
import type { Dispatcher } from 'undici';

export class ResponseTooLargeError extends Error {
  override name = 'ResponseTooLargeError';
}

/** Timeout and size limits for one request. */
export interface HttpLimits {
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

export async function readCapped(response: Dispatcher.ResponseData, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.body.destroy();
    throw new ResponseTooLargeError(`${what}: the response declares ${declared} bytes, over the ${maxBytes}-byte cap`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      response.body.destroy();
      throw new ResponseTooLargeError(`${what}: the response passed the ${maxBytes}-byte cap`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
