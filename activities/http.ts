/**
 * HTTP for activities: undici with a timeout, and failures sorted into what a retry can fix
 * (network errors, 5xx, 429) and what it cannot (4xx, bad JSON), so Temporal's retry policy
 * does the right thing without each activity deciding.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { request } from 'undici';
import { readCapped, ResponseTooLargeError, type HttpLimits } from '../common/http-body.js';

export const HTTP_NOT_FOUND = 'HttpNotFound';
export const HTTP_CLIENT_ERROR = 'HttpClientError';
export const INVALID_JSON = 'InvalidJson';
export const HTTP_RESPONSE_TOO_LARGE = 'HttpResponseTooLarge';

export interface GetJsonOptions extends HttpLimits {
  readonly signal?: AbortSignal;
  /** Extra request headers (an Authorization bearer token). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A 401: the credentials were refused or have expired; a client with a token source fetches a new one. */
export const HTTP_UNAUTHORIZED = 'HttpUnauthorized';

/** A reply too large to read is the server's answer, not a passing fault: retrying reads it again. */
export function responseTooLarge(err: ResponseTooLargeError): ApplicationFailure {
  return ApplicationFailure.nonRetryable(err.message, HTTP_RESPONSE_TOO_LARGE);
}

/** GET a JSON document. */
export function getJson(url: string, options: GetJsonOptions): Promise<unknown> {
  return jsonRequest('GET', url, undefined, options);
}

/** POST a JSON body; the answer's JSON. */
export function patchJson(url: string, body: unknown, options: GetJsonOptions): Promise<unknown> {
  return jsonRequest('PATCH', url, body, options);
}

export function postJson(url: string, body: unknown, options: GetJsonOptions): Promise<unknown> {
  return jsonRequest('POST', url, body, options);
}

async function jsonRequest(method: 'GET' | 'POST' | 'PATCH', url: string, body: unknown, options: GetJsonOptions): Promise<unknown> {
  let response;
  try {
    response = await request(url, {
      method,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: options.signal,
    });
  } catch (err) {
    // Connection refused, DNS, timeouts: the service may come back, so let Temporal retry.
    throw ApplicationFailure.retryable(`${method} ${url} failed: ${(err as Error).message}`, 'HttpUnreachable');
  }
  let text: string;
  try {
    text = (await readCapped(response, options.maxBytes, `${method} ${url}`)).toString('utf8');
  } catch (err) {
    if (err instanceof ResponseTooLargeError) throw responseTooLarge(err);
    throw ApplicationFailure.retryable(`${method} ${url}: the response broke off: ${(err as Error).message}`, 'HttpUnreachable');
  }
  const status = response.statusCode;
  if (status === 404) {
    throw ApplicationFailure.nonRetryable(`${method} ${url}: 404 Not Found`, HTTP_NOT_FOUND);
  }
  if (status === 429 || status >= 500) {
    throw ApplicationFailure.retryable(`${method} ${url}: HTTP ${status}`, 'HttpServerError');
  }
  if (status === 401) throw ApplicationFailure.nonRetryable(`${method} ${url}: HTTP 401: ${text.slice(0, 300)}`, HTTP_UNAUTHORIZED);
  if (status >= 400) {
    throw ApplicationFailure.nonRetryable(`${method} ${url}: HTTP ${status}: ${text.slice(0, 300)}`, HTTP_CLIENT_ERROR);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw ApplicationFailure.nonRetryable(`${method} ${url}: the response is not JSON (${text.slice(0, 80)}...)`, INVALID_JSON);
  }
}

/** A TLS refusal (a certificate that does not verify, a key that does not fit) in a request failure, as `code: message`; null for anything else. No retry changes one. */
export function tlsRefusal(err: unknown): string | null {
  for (let node: unknown = err; node instanceof Error; node = node.cause) {
    const code = (node as NodeJS.ErrnoException).code ?? '';
    if (/^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH)/.test(code)) return `${code}: ${node.message}`;
  }
  return null;
}

/** The running activity's cancellation signal; undefined when called outside an activity (CLI, tests). */
export function activityCancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}
