/** The sandbox in-process on free ports, with a compose directory of its own. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AmqpSettings } from '../../bus/amqp-connection.js';
import { materializeCompose, type ComposeSpec } from '../../sandbox/compose-factory.js';
import { FIXTURE_COMPOSES_DIR } from '../../sandbox/seed.js';
import { startSandbox, type Sandbox } from '../../sandbox/server.js';
import { freePort } from '../../common/ports.js';
import type { HttpLimits } from '../../common/http-body.js';
import { KojiClient, type KojiLogin } from '../../activities/koji.js';
import { OidcTokenSource, type OidcLogin } from '../../activities/oidc.js';
import type { SandboxUser } from '../../sandbox/auth.js';

/** The timeout and size cap tests call the sandbox's services with. */
export const TEST_HTTP: HttpLimits = { timeoutMs: 5_000, maxBytes: 64 * 1024 * 1024 };

export { freePort };

export interface TestSandbox extends Sandbox {
  readonly busEndpoint: string;
}

export async function startTestSandbox(
  options: { withBus?: boolean; kojiTaskDelayMs?: number; imageFile?: (format: string) => string | undefined; amqp?: AmqpSettings; host?: string } = {},
): Promise<TestSandbox> {
  const composeDir = mkdtempSync(join(tmpdir(), 'relengotron-composes-'));
  const kojiFilesDir = mkdtempSync(join(tmpdir(), 'relengotron-kojifiles-'));
  const busEndpoint = `tcp://${options.host ?? '127.0.0.1'}:${await freePort()}`;
  const sandbox = await startSandbox({
    ...(options.host ? { host: options.host } : {}),
    port: 0,
    tlsPort: 0,
    // One set of credentials for every test file: openssl runs once per machine, not per file.
    credentialsDir: TEST_CREDENTIALS_DIR,
    composeDir,
    busEndpoint: options.withBus === false ? null : busEndpoint,
    kojiTaskDelayMs: options.kojiTaskDelayMs ?? 0,
    kojiFilesDir,
    ...(options.imageFile ? { imageFile: options.imageFile } : {}),
    ...(options.amqp ? { amqp: options.amqp } : {}),
  });
  return {
    ...sandbox,
    busEndpoint,
    async stop() {
      await sandbox.stop();
      rmSync(composeDir, { recursive: true, force: true });
      rmSync(kojiFilesDir, { recursive: true, force: true });
    },
  };
}

export const TEST_CREDENTIALS_DIR = join(tmpdir(), 'relengotron-test-sandbox-auth');

/** A sandbox account's Koji certificate login. */
export function kojiLogin(sandbox: Sandbox, user: SandboxUser = 'releng-o-tron'): KojiLogin {
  return { ...sandbox.credentials.koji[user], serverCa: sandbox.credentials.ca, loginUrl: sandbox.urls.kojiLogin };
}

/** A sandbox account's OIDC client credentials for Bodhi. */
export function bodhiLogin(sandbox: Sandbox, user: SandboxUser = 'releng-o-tron'): OidcLogin {
  return { tokenUrl: sandbox.urls.oidcToken, clientId: user, clientSecretFile: sandbox.credentials.bodhiSecretFiles[user] };
}

/** Both logins of the sandbox's releng account, as a worker is configured with them. */
export function relengLogins(sandbox: Sandbox): { readonly koji: KojiLogin; readonly bodhi: OidcLogin } {
  return { koji: kojiLogin(sandbox), bodhi: bodhiLogin(sandbox) };
}

/** A Koji client logged in as a sandbox account (the releng account unless said). */
export function kojiAs(sandbox: Sandbox, user: SandboxUser = 'releng-o-tron'): KojiClient {
  return new KojiClient(sandbox.urls.kojiHub, TEST_HTTP, kojiLogin(sandbox, user));
}

const bodhiTokens = new Map<string, OidcTokenSource>();

/** A Bodhi write as a sandbox account, with its bearer token, as a packager's client makes it. */
export async function bodhiPost(sandbox: Sandbox, path: string, body: unknown, user: SandboxUser = 'releng-o-tron'): Promise<{ status: number; body: any }> {
  const login = bodhiLogin(sandbox, user);
  const key = `${login.tokenUrl} ${user}`;
  if (!bodhiTokens.has(key)) bodhiTokens.set(key, new OidcTokenSource(login, TEST_HTTP));
  const response = await fetch(`${sandbox.urls.bodhi}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${await bodhiTokens.get(key)!.token()}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

export interface NewCompose {
  readonly composeId: string;
  readonly dir: string;
  readonly location: string;
  readonly imageCount: number;
}

/** A freshly finished compose in the sandbox, made from one of the real fixture trees. */
export function newCompose(
  sandbox: TestSandbox,
  options: { template: string; respin?: number; date?: string } & Partial<Pick<ComposeSpec, 'release' | 'type' | 'keepImage' | 'contentFor'>>,
): NewCompose {
  const made = materializeCompose({
    templateDir: join(FIXTURE_COMPOSES_DIR, options.template),
    root: sandbox.composeDir,
    release: options.release ?? { short: 'Fedora', version: 'Rawhide' },
    date: options.date ?? '20261123',
    type: options.type ?? 'nightly',
    respin: options.respin ?? 0,
    ...(options.keepImage ? { keepImage: options.keepImage } : {}),
    ...(options.contentFor ? { contentFor: options.contentFor } : {}),
  });
  return { ...made, location: `${sandbox.urls.composes}/${made.composeId}/compose` };
}
