/**
 * OpenID Connect client credentials (RFC 6749 §4.4) for machine clients of Fedora's services:
 * a token fetched from the identity provider, cached until shortly before it expires, fetched
 * again when a service answers 401. The client secret is read from its file at each fetch and
 * never logged.
 */
import { ApplicationFailure } from '@temporalio/common';
import { request } from 'undici';
import { z } from 'zod';
import { readCapped, ResponseTooLargeError, type HttpLimits } from '../common/http-body.js';
import { activityCancellation, tlsRefusal } from './http.js';
import { readSecret } from '../common/secret-file.js';

export interface OidcLogin {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecretFile: string;
}

const TokenResponseSchema = z.object({
  access_token: z.string().min(1).max(8192),
  token_type: z.string().regex(/^bearer$/i, 'expected a Bearer token'),
  expires_in: z.number().int().positive().optional(),
});

/** A token is replaced this long before it expires, so no request carries one that dies on the way. */
const EXPIRY_MARGIN_MS = 30_000;

export class OidcTokenSource {
  private cached: { readonly token: string; readonly refreshAt: number } | null = null;
  private pending: Promise<string> | null = null;
  private fetched = 0;

  constructor(
    private readonly login: OidcLogin,
    private readonly http: HttpLimits,
  ) {}

  /** Tokens fetched so far. */
  get fetchCount(): number {
    return this.fetched;
  }

  /** A live token: the cached one, or a new one (concurrent callers share one fetch). */
  async token(): Promise<string> {
    if (this.cached && Date.now() < this.cached.refreshAt) return this.cached.token;
    this.pending ??= this.fetch().finally(() => (this.pending = null));
    return this.pending;
  }

  /** The service refused the token (401): the next call fetches another. */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = null;
  }

  private async fetch(): Promise<string> {
    let secret: string;
    try {
      secret = readSecret(this.login.clientSecretFile);
    } catch (err) {
      throw ApplicationFailure.nonRetryable(`OIDC login for ${this.login.clientId}: ${(err as Error).message}`, 'OidcCredentialsUnusable');
    }
    const basic = Buffer.from(`${encodeURIComponent(this.login.clientId)}:${encodeURIComponent(secret)}`).toString('base64');
    let status: number;
    let text: string;
    try {
      const response = await request(this.login.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}`, accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
        headersTimeout: this.http.timeoutMs,
        bodyTimeout: this.http.timeoutMs,
        signal: activityCancellation(),
      });
      status = response.statusCode;
      text = (await readCapped(response, 64 * 1024, 'OIDC token response')).toString('utf8');
    } catch (err) {
      if (err instanceof ResponseTooLargeError) throw ApplicationFailure.nonRetryable(`OIDC token endpoint ${this.login.tokenUrl}: ${err.message}`, 'OidcBadResponse');
      const refused = tlsRefusal(err);
      if (refused) throw ApplicationFailure.nonRetryable(`OIDC token endpoint ${this.login.tokenUrl}: TLS refused (${refused.slice(0, 300)})`, 'OidcTlsRefused');
      throw ApplicationFailure.retryable(`OIDC token endpoint ${this.login.tokenUrl} unreachable: ${(err as Error).message.slice(0, 300)}`, 'OidcUnreachable');
    }
    if (status >= 500 || status === 429) throw ApplicationFailure.retryable(`OIDC token endpoint answered HTTP ${status}`, 'OidcUnreachable');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    if (status !== 200) {
      const error = (body as { error?: unknown } | null)?.error;
      throw ApplicationFailure.nonRetryable(`OIDC login for ${this.login.clientId} refused: HTTP ${status}${typeof error === 'string' ? ` ${error.slice(0, 100)}` : ''}`, 'OidcLoginRefused');
    }
    const parsed = TokenResponseSchema.safeParse(body);
    if (!parsed.success) throw ApplicationFailure.nonRetryable(`OIDC token endpoint answered something that is not a bearer token`, 'OidcBadResponse');
    const lifetimeMs = (parsed.data.expires_in ?? 300) * 1000;
    this.cached = { token: parsed.data.access_token, refreshAt: Date.now() + Math.max(lifetimeMs - EXPIRY_MARGIN_MS, lifetimeMs / 2) };
    this.fetched++;
    return parsed.data.access_token;
  }
}
