/**
 * The sandbox: local, stateful stand-ins for the Fedora services releng-o-tron calls, on one
 * HTTP port, each under the path its production URL would have, plus the bus gateway.
 * Workflows cannot tell it from production except by URL.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { BodhiServer } from './bodhi.js';
import { BusGateway } from './bus-gateway.js';
import { ComposeServer } from './compose-server.js';
import { Datagrepper } from './datagrepper.js';
import { HttpError, readBody, readJson, sendJson, type Request, type Service } from './http.js';
import { KojiHub } from './koji.js';
import { PdcServer } from './pdc.js';
import { buildSeed, FIXTURE_COMPOSES_DIR } from './seed.js';

export interface SandboxOptions {
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Where generated compose trees live (served before the bundled real ones). */
  readonly composeDir: string;
  /** A ZeroMQ endpoint for the bus gateway; null runs without a bus. */
  readonly busEndpoint: string | null;
  readonly kojiTaskDelayMs?: number;
  readonly log?: Logger;
}

export interface SandboxUrls {
  readonly kojiHub: string;
  readonly bodhi: string;
  readonly pdc: string;
  readonly datagrepper: string;
  readonly composes: string;
}

export interface Sandbox {
  readonly url: string;
  readonly urls: SandboxUrls;
  readonly koji: KojiHub;
  readonly bodhi: BodhiServer;
  readonly pdc: PdcServer;
  readonly datagrepper: Datagrepper;
  readonly bus: BusGateway | null;
  readonly composeDir: string;
  stop(): Promise<void>;
}

type ErrorFormat = (status: number, message: string) => unknown;

interface Mount {
  readonly prefix: string;
  readonly service: Service;
  /** Each service answers errors in its own shape. */
  readonly error: ErrorFormat;
}

const bodhiError: ErrorFormat = (status, message) => ({ status: 'error', errors: [{ location: 'url', name: 'id', description: message }] });
const djangoError: ErrorFormat = (_status, message) => ({ detail: message });
const plainError: ErrorFormat = (_status, message) => ({ error: message });

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const seed = buildSeed();
  const koji = new KojiHub(options.kojiTaskDelayMs ?? 200);
  koji.seed(seed.koji);
  const bodhi = new BodhiServer();
  bodhi.seed(seed.bodhi.releases, seed.bodhi.updates);
  const pdc = new PdcServer();
  pdc.seed(seed.pdc);
  const datagrepper = new Datagrepper();
  for (const message of seed.datagrepper) datagrepper.add(message);
  const composes = new ComposeServer([options.composeDir, FIXTURE_COMPOSES_DIR]);
  const bus = options.busEndpoint ? await BusGateway.open(options.busEndpoint, datagrepper) : null;
  // Koji announces tag changes on the bus, as its fedmsg plugin does.
  koji.onEvent((event) => {
    void bus?.publish({ topic: `org.fedoraproject.prod.${event.topic}`, msg: event.body, username: 'apache' });
  });

  const control: Service = async (req, res) => {
    if (req.method === 'POST' && req.path === '/bus/publish') {
      if (!bus) throw new HttpError(409, 'the sandbox runs without a bus');
      const body = (await readJson(req)) as { topic?: unknown; msg?: unknown };
      if (typeof body.topic !== 'string' || typeof body.msg !== 'object' || body.msg === null) {
        throw new HttpError(400, 'expected {"topic": "...", "msg": {...}} (other envelope fields optional)');
      }
      return sendJson(res, 200, await bus.publish(body as { topic: string; msg: unknown }));
    }
    if (req.method === 'GET' && req.path === '/state') {
      return sendJson(res, 200, {
        koji: { taggedInF29UpdatesTesting: (koji.call('listTagged', ['f29-updates-testing']) as unknown[]).length },
        bodhi: { releases: bodhi.releases.size, updates: bodhi.updates.size },
        datagrepper: { messages: datagrepper.size },
        bus: bus ? { endpoint: bus.endpoint, subscribers: bus.subscriberCount } : null,
      });
    }
    throw new HttpError(404, `no sandbox control endpoint ${req.method} ${req.path}`);
  };

  const mounts: Mount[] = [
    { prefix: '/kojihub', service: koji.service, error: plainError },
    { prefix: '/bodhi', service: bodhi.service, error: bodhiError },
    { prefix: '/pdc/rest_api/v1', service: pdc.service, error: djangoError },
    { prefix: '/datagrepper', service: datagrepper.service, error: plainError },
    { prefix: '/compose', service: composes.service, error: plainError },
    { prefix: '/_sandbox', service: control, error: plainError },
  ];

  let origin = '';
  const handle = async (incoming: IncomingMessage, res: ServerResponse) => {
    const url = new URL(incoming.url ?? '/', 'http://sandbox');
    const mount = mounts.find((m) => url.pathname === m.prefix || url.pathname.startsWith(`${m.prefix}/`));
    if (!mount) {
      sendJson(res, 404, { error: `nothing at ${url.pathname}`, services: mounts.map((m) => `${origin}${m.prefix}`) });
      return;
    }
    const req: Request = {
      method: incoming.method ?? 'GET',
      path: url.pathname.slice(mount.prefix.length) || '/',
      query: url.searchParams,
      headers: incoming.headers,
      baseUrl: `${origin}${mount.prefix}`,
      body: () => readBody(incoming),
    };
    try {
      await mount.service(req, res);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) options.log?.error({ err, path: url.pathname }, 'sandbox handler failed');
      if (!res.headersSent) sendJson(res, status, mount.error(status, (err as Error).message));
      else res.destroy();
    }
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  origin = `http://${options.host ?? '127.0.0.1'}:${address.port}`;
  const urls: SandboxUrls = {
    kojiHub: `${origin}/kojihub`,
    bodhi: `${origin}/bodhi`,
    pdc: `${origin}/pdc/rest_api/v1`,
    datagrepper: `${origin}/datagrepper`,
    composes: `${origin}/compose`,
  };
  options.log?.info({ ...urls, bus: bus?.endpoint ?? null }, 'sandbox listening');
  return {
    url: origin,
    urls,
    koji,
    bodhi,
    pdc,
    datagrepper,
    bus,
    composeDir: options.composeDir,
    async stop() {
      await bus?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const defaultComposeDir = (dataDir: string): string => join(dataDir, 'sandbox', 'composes');
