/**
 * HTTP for activities: undici with a timeout, and failures sorted into what a retry can fix
 * (network errors, 5xx, 429) and what it cannot (4xx, bad JSON), so Temporal's retry policy
 * does the right thing without each activity deciding.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { request } from 'undici';

export const HTTP_NOT_FOUND = 'HttpNotFound';
export const HTTP_CLIENT_ERROR = 'HttpClientError';
export const INVALID_JSON = 'InvalidJson';

export interface GetJsonOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export async function getJson(url: string, options: GetJsonOptions): Promise<unknown> {
  let response;
  try {
    response = await request(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: options.signal,
    });
  } catch (err) {
    // Connection refused, DNS, timeouts: the service may come back, so let Temporal retry.
    throw ApplicationFailure.retryable(`GET ${url} failed: ${(err as Error).message}`, 'HttpUnreachable');
  }
  const text = await response.body.text();
  const status = response.statusCode;
  if (status === 404) {
    throw ApplicationFailure.nonRetryable(`GET ${url}: 404 Not Found`, HTTP_NOT_FOUND);
  }
  if (status === 429 || status >= 500) {
    throw ApplicationFailure.retryable(`GET ${url}: HTTP ${status}`, 'HttpServerError');
  }
  if (status >= 400) {
    throw ApplicationFailure.nonRetryable(`GET ${url}: HTTP ${status}: ${text.slice(0, 300)}`, HTTP_CLIENT_ERROR);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw ApplicationFailure.nonRetryable(`GET ${url}: the response is not JSON (${text.slice(0, 80)}...)`, INVALID_JSON);
  }
}

/** The running activity's cancellation signal; undefined when called outside an activity (CLI, tests). */
export function activityCancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}
