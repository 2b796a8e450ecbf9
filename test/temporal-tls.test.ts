/**
 * mTLS to the Temporal frontend: every kind of process (a worker, the bus listener, the CLI)
 * connects with the CA, client certificate and key from TEMPORAL_TLS_*, and a frontend that
 * requires client certificates refuses a process without one, or with one from another CA.
 * The dev server speaks plain gRPC, so a TLS terminator in front of it plays the frontend's TLS
 * (deploy/temporal/temporal-server.yaml shows the same settings on the real server).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { freePort, newCompose, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startTemporal } from './helpers/temporal.js';
import { deliveryTestEnv } from './helpers/bus.js';
import { listenLocally, type LocalServer } from './helpers/local-server.js';
import { makeTlsPki, type TlsPki } from './helpers/pki.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const RELENG = fileURLToPath(new URL('../workers/releng.js', import.meta.url));
const LISTENER = fileURLToPath(new URL('../workers/bus-listener.js', import.meta.url));

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let pki: TlsPki;
let frontend: Server;
let frontendAddress = '';
let listening: LocalServer;
let handshakesRefused = 0;
const children: ChildProcess[] = [];

describe('mTLS to the Temporal frontend', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    pki = makeTlsPki();
    const [host, port] = env.address.split(':');
    frontend = createServer(
      { key: readFileSync(pki.server.key), cert: readFileSync(pki.server.cert), ca: readFileSync(pki.ca), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] },
      (socket) => {
        const upstream = connect(Number(port), host);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      },
    );
    frontend.on('tlsClientError', () => handshakesRefused++);
    listening = await listenLocally(frontend);
    frontendAddress = `127.0.0.1:${listening.port}`;
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await listening.close();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  const tlsEnv = (client: { cert: string; key: string } | null): NodeJS.ProcessEnv => ({
    ...process.env,
    TEMPORAL_ADDRESS: frontendAddress,
    TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    TEMPORAL_TLS_CA_PATH: pki.ca,
    TEMPORAL_TLS_SERVER_NAME: 'temporal.releng.test',
    ...(client ? { TEMPORAL_TLS_CERT_PATH: client.cert, TEMPORAL_TLS_KEY_PATH: client.key } : {}),
    DATABASE_URL: db.url,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    ...deliveryTestEnv(sandbox),
  });

  it('a worker, the bus listener and the CLI all work through mTLS: a bus message becomes a finished run', async () => {
    const environment = {
      ...tlsEnv(pki.client),
      FEDMSG_ENDPOINTS: sandbox.busEndpoint,
      FEDMSG_PUBLISH_ENDPOINT: `tcp://127.0.0.1:${await freePort()}`,
      DATAGREPPER_URL: sandbox.urls.datagrepper,
      RELENGOTRON_BUS_METRICS: '',
    };
    children.push(spawn(process.execPath, [RELENG], { env: environment, stdio: ['ignore', 'ignore', 'inherit'] }));
    children.push(spawn(process.execPath, [LISTENER], { env: environment, stdio: ['ignore', 'ignore', 'inherit'] }));
    assert.ok(await sandbox.bus!.waitForSubscribers(1, 30_000));
    await new Promise((r) => setTimeout(r, 1500));
    const made = newCompose(sandbox, { template: 'Fedora-Cloud-27-20180317.0' });
    await sandbox.bus!.publish({ topic: 'org.fedoraproject.prod.pungi.compose.status.change', msg: { compose_id: made.composeId, location: made.location, status: 'FINISHED' } });
    const workflowId = `compose-discovery/${made.composeId}`;
    const deadline = Date.now() + 60_000;
    while ((await env.client.workflow.count(`WorkflowId = '${workflowId}'`)).count === 0) {
      assert.ok(Date.now() < deadline, 'the listener started the run through mTLS');
      await new Promise((r) => setTimeout(r, 200));
    }
    const result = await env.client.workflow.getHandle(workflowId).result();
    assert.equal((result as { composeId: string }).composeId, made.composeId);
    const { stdout } = await run(process.execPath, [CLI, 'runs', 'show', workflowId, '--json'], { env: environment, timeout: 60_000 });
    const shown = JSON.parse(stdout) as { status: string; result: { composeId: string } };
    assert.equal(shown.status, 'COMPLETED');
    assert.equal(shown.result.composeId, made.composeId);
    assert.equal(handshakesRefused, 0);
  });

  it('refuses a process without a client certificate, or with one from another CA, and says why', async () => {
    for (const client of [null, pki.stranger]) {
      const refused = handshakesRefused;
      await assert.rejects(run(process.execPath, [CLI, 'runs', 'list'], { env: tlsEnv(client), timeout: 60_000 }), (err: Error & { stderr?: string; code?: number }) => {
        assert.notEqual(err.code, 0);
        return true;
      });
      assert.ok(handshakesRefused > refused, 'the frontend refused the handshake');
    }
  });

  it('a missing certificate file is named at start', async () => {
    const env2 = { ...tlsEnv(pki.client), TEMPORAL_TLS_CERT_PATH: join(pki.dir, 'nope.pem') };
    await assert.rejects(run(process.execPath, [CLI, 'runs', 'list'], { env: env2, timeout: 30_000 }), (err: Error & { stderr?: string }) => {
      assert.match(err.stderr ?? '', /cannot read the Temporal TLS client certificate \(TEMPORAL_TLS_CERT_PATH\) .*nope\.pem: ENOENT/);
      return true;
    });
  });
});
