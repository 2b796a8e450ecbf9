/**
 * An OpenID Connect provider's token endpoint, as Fedora's (id.fedoraproject.org) serves machine
 * clients: the client-credentials grant (RFC 6749 §4.4), client authentication by HTTP Basic or
 * form fields, opaque bearer tokens that expire. Bodhi asks it who holds a token.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { HttpError, sendJson, type Request } from './http.js';

export interface OidcClient {
  readonly secret: string;
  /** FAS groups the client's account is in (Bodhi's releng group may create releases and report composes). */
  readonly groups: readonly string[];
}

export interface TokenHolder {
  readonly clientId: string;
  readonly groups: readonly string[];
}

export class OidcProvider {
  private readonly clients = new Map<string, OidcClient>();
  private readonly tokens = new Map<string, TokenHolder & { readonly expiresAt: number }>();
  private issued = 0;

  constructor(private tokenLifetimeMs = 3_600_000) {}

  register(clientId: string, client: OidcClient): void {
    this.clients.set(clientId, client);
  }

  /** Makes every token expire now (the provider's key rollover, or a short lifetime passing). */
  expireTokens(): void {
    for (const [token, holder] of this.tokens) this.tokens.set(token, { ...holder, expiresAt: 0 });
  }

  set lifetimeMs(ms: number) {
    this.tokenLifetimeMs = ms;
  }

  /** Tokens issued so far. */
  get issuedCount(): number {
    return this.issued;
  }

  /** The holder of a live token; null for an unknown or expired one. */
  introspect(token: string): TokenHolder | null {
    const holder = this.tokens.get(token);
    if (!holder || holder.expiresAt <= Date.now()) return null;
    return { clientId: holder.clientId, groups: holder.groups };
  }

  private authenticate(req: Request, form: URLSearchParams): string {
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic\s+(\S+)$/i.exec(String(req.headers['authorization'] ?? ''));
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      try {
        id = decodeURIComponent(decoded.slice(0, colon));
        secret = decodeURIComponent(decoded.slice(colon + 1));
      } catch {
        throw new OidcError(400, 'invalid_request', 'the Basic credentials are not URL-encoded text');
      }
    }
    const client = id ? this.clients.get(id) : undefined;
    const given = Buffer.from(secret ?? '');
    const expected = Buffer.from(client?.secret ?? '');
    if (!client || given.length !== expected.length || !timingSafeEqual(given, expected)) throw new OidcError(401, 'invalid_client', 'client authentication failed');
    return id!;
  }

  readonly service = async (req: Request, res: ServerResponse): Promise<void> => {
    try {
      if (req.method !== 'POST' || req.path !== '/token') throw new HttpError(404, `no endpoint ${req.method} ${req.path}`);
      const form = new URLSearchParams(await req.body());
      const clientId = this.authenticate(req, form);
      if (form.get('grant_type') !== 'client_credentials') throw new OidcError(400, 'unsupported_grant_type', 'only client_credentials is offered to machine clients');
      const token = randomBytes(32).toString('base64url');
      this.tokens.set(token, { clientId, groups: this.clients.get(clientId)!.groups, expiresAt: Date.now() + this.tokenLifetimeMs });
      this.issued++;
      sendJson(res, 200, { access_token: token, token_type: 'Bearer', expires_in: Math.floor(this.tokenLifetimeMs / 1000), scope: 'openid' });
    } catch (err) {
      if (!(err instanceof OidcError)) throw err;
      sendJson(res, err.status, { error: err.code, error_description: err.message });
    }
  };
}

class OidcError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
