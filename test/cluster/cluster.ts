/**
 * The production layout of deploy/, for real on this machine: temporal-server and
 * temporal-sql-tool v1.29.1 (built from Go modules into the cache), the schemas set up on the
 * machine's Postgres by deploy/temporal/setup-postgres.sh, the server started from
 * deploy/temporal/ exactly as systemd/temporal-server.service starts it (mTLS on the frontend and
 * between services), the namespace created as deploy/README says, and releng-o-tron processes
 * started as relengotron@.service starts them, from an environment shaped like
 * deploy/relengotron.env.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { makeTlsPki, type TlsPki } from '../helpers/pki.js';
import { MACHINE_IP, type Host } from './network.js';
import { stopProcess } from '../helpers/bus.js';
import { waitUntil } from '../helpers/until.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
export const FRONTEND_NAME = 'temporal.releng.example.org';
const INTERNODE_NAME = 'temporal-internode.releng.example.org';
/** The machine's Postgres, as the tests use it (trust on 127.0.0.1). */
const POSTGRES = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** temporal-server's bin dir and the schema directory, from scripts/ensure-temporal-server.mjs (builds them the first time). */
function serverBinaries(): { bin: string; schema: string } {
  const [bin, schema] = execFileSync(process.execPath, [join(ROOT, 'scripts/ensure-temporal-server.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n');
  return { bin: bin!, schema: schema! };
}

/** KEY=value lines of an environment file (systemd's EnvironmentFile shape): comments and blanks skipped. */
export function readEnvironmentFile(file: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const found = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (found) values[found[1]!] = found[2]!;
  }
  return values;
}

export interface Cluster {
  /** host:port of the frontend. */
  readonly address: string;
  readonly namespace: string;
  readonly pki: TlsPki;
  /** TEMPORAL_TLS_* for a releng-o-tron process (the client certificate of the releng CA). */
  readonly clientTls: Record<string, string>;
  connect(): Promise<Connection>;
  /** Stops the server (SIGTERM, or SIGKILL) and starts it again on the same databases. */
  restart(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A fresh Temporal cluster: databases `<prefix>_temporal` and `<prefix>_visibility` (dropped first),
 * made and migrated by setup-postgres.sh, the server from deploy/temporal/, the namespace `releng`.
 */
export async function startCluster(options: { readonly prefix: string; readonly log?: (line: string) => void; readonly host?: Host }): Promise<Cluster> {
  const { host } = options;
  const { bin, schema } = serverBinaries();
  const work = mkdtempSync(join(tmpdir(), 'relengotron-cluster-'));
  // The certificates, under the names temporal-server.yaml reads from TEMPORAL_TLS_DIR.
  const pki = makeTlsPki(FRONTEND_NAME, [INTERNODE_NAME]);
  const tlsDir = join(work, 'tls');
  mkdirSync(tlsDir);
  copyFileSync(pki.ca, join(tlsDir, 'ca.pem'));
  copyFileSync(pki.server.cert, join(tlsDir, 'frontend.pem'));
  copyFileSync(pki.server.key, join(tlsDir, 'frontend.key'));
  copyFileSync(pki.servers[INTERNODE_NAME]!.cert, join(tlsDir, 'internode.pem'));
  copyFileSync(pki.servers[INTERNODE_NAME]!.key, join(tlsDir, 'internode.key'));

  const databases = { main: `${options.prefix}_temporal`, visibility: `${options.prefix}_visibility` };
  const admin = new pg.Client({ connectionString: POSTGRES });
  await admin.connect();
  try {
    // The role deploy/README has the operator create; a cluster of its own per test run.
    await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'temporal') THEN CREATE ROLE temporal LOGIN CREATEDB; END IF; END $$`);
    for (const db of Object.values(databases)) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const serverEnv = {
    ...process.env,
    // /etc/temporal/temporal.env's contents, for this machine.
    // On a host of its own, the server reaches Postgres through the machine's address on the bridge.
    TEMPORAL_DB_HOST: host ? MACHINE_IP : '127.0.0.1',
    ...(host
      ? { TEMPORAL_BIND_IP: host.ip, TEMPORAL_BROADCAST_ADDRESS: host.ip, TEMPORAL_FRONTEND_ADDRESS: `${host.ip}:7233`, TEMPORAL_FRONTEND_HTTP_ADDRESS: `${host.ip}:7243` }
      : {}),
    TEMPORAL_DB_PASSWORD: '',
    TEMPORAL_DB_NAME: databases.main,
    TEMPORAL_VISIBILITY_DB_NAME: databases.visibility,
    TEMPORAL_TLS_DIR: tlsDir,
    TEMPORAL_DYNAMIC_CONFIG: join(DEPLOY, 'temporal', 'dynamicconfig.yaml'),
  };
  execFileSync('bash', [join(DEPLOY, 'temporal', 'setup-postgres.sh')], {
    env: { ...serverEnv, TEMPORAL_DB_HOST: '127.0.0.1', SQL_TOOL: join(bin, 'temporal-sql-tool'), SCHEMA_DIR: schema },
    stdio: ['ignore', 'ignore', 'pipe'],
  });

  let server: ChildProcess | null = null;
  const logFile = join(work, 'temporal-server.log');
  const startServer = () => {
    // ExecStart of deploy/systemd/temporal-server.service, with the repository's deploy/temporal as /etc/temporal.
    const out = openSync(logFile, 'a');
    const args = ['--root', join(DEPLOY, 'temporal'), '--config', '.', '--env', 'temporal-server', 'start'];
    const spawnOptions = { env: serverEnv, stdio: ['ignore', out, out] as ['ignore', number, number] };
    server = host ? host.spawn(join(bin, 'temporal-server'), args, spawnOptions) : spawn(join(bin, 'temporal-server'), args, spawnOptions);
    closeSync(out);
    options.log?.(`temporal-server started (pid ${server.pid}) on ${databases.main} and ${databases.visibility}; its log: ${logFile}`);
  };
  const address = `${host?.ip ?? '127.0.0.1'}:7233`;
  const clientTls = {
    TEMPORAL_TLS_CA_PATH: pki.ca,
    TEMPORAL_TLS_CERT_PATH: pki.client.cert,
    TEMPORAL_TLS_KEY_PATH: pki.client.key,
    TEMPORAL_TLS_SERVER_NAME: FRONTEND_NAME,
  };
  const connect = () =>
    Connection.connect({
      address,
      tls: { serverNameOverride: FRONTEND_NAME, serverRootCACertificate: readFileSync(pki.ca), clientCertPair: { crt: readFileSync(pki.client.cert), key: readFileSync(pki.client.key) } },
    });
  const ready = async () => {
    await waitUntil('the Temporal frontend answering', async () => {
      const connection = await connect();
      try {
        await connection.healthService.check({});
        return true;
      } finally {
        await connection.close();
      }
    }, 120_000);
  };
  startServer();
  try {
    await ready();
    // deploy/README step 1: the namespace, with the Temporal CLI and the releng CA's client certificate.
    const cli = execFileSync(process.execPath, [join(ROOT, 'scripts/ensure-temporal.mjs')], { encoding: 'utf8' }).trim();
    const tlsFlags = ['--address', address, '--tls-ca-path', pki.ca, '--tls-cert-path', pki.client.cert, '--tls-key-path', pki.client.key, '--tls-server-name', FRONTEND_NAME];
    // The frontend takes a moment after it first answers before the namespace API works.
    await waitUntil('the namespace created', () => {
      execFileSync(cli, ['operator', 'namespace', 'create', '-n', 'releng', '--retention', '90d', ...tlsFlags], { stdio: ['ignore', 'ignore', 'pipe'] });
      return true;
    }, 60_000);
  } catch (err) {
    // Nobody gets a handle to stop a cluster that did not come up: stop its server here.
    await stopProcess(server, 'SIGKILL');
    throw err;
  }

  return {
    address,
    namespace: 'releng',
    pki,
    clientTls,
    connect,
    async restart(signal: NodeJS.Signals = 'SIGTERM') {
      await stopProcess(server, signal);
      startServer();
      await ready();
    },
    async stop() {
      await stopProcess(server, 'SIGTERM');
    },
  };
}

/**
 * A releng-o-tron process as its unit runs it, from the environment file's settings
 * (deploy/relengotron.env) with the test's values laid over: relengotron@<name>.service runs
 * `node dist/workers/<name>.js`, relengotron-dashboard.service `node dist/client/cli.js dashboard`.
 * `root` is the deployed tree (/opt/releng-o-tron): the checkout, or a new build (upgrade.ts).
 */
export function startUnit(
  name: string,
  environment: Record<string, string>,
  options: { readonly host?: Host; readonly log?: (line: string) => void; readonly root?: string } = {},
): ChildProcess {
  const root = options.root ?? ROOT;
  const spawnOptions = {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', ...environment },
    stdio: ['ignore', 'ignore', process.env['TEST_CLUSTER_LOGS'] ? 'inherit' : 'ignore'] as ['ignore', 'ignore', 'inherit' | 'ignore'],
  };
  const args = name === 'dashboard' ? [join(root, 'dist', 'client', 'cli.js'), 'dashboard'] : [join(root, 'dist', 'workers', `${name}.js`)];
  const child = options.host ? options.host.spawn(process.execPath, args, spawnOptions) : spawn(process.execPath, args, spawnOptions);
  const unit = name === 'dashboard' ? 'relengotron-dashboard' : `relengotron@${name}`;
  options.log?.(`${unit} started${options.host ? ` on ${options.host.name} (${options.host.ip})` : ''}${root === ROOT ? '' : ` from ${root}`} (pid ${child.pid})`);
  return child;
}
