/**
 * `relengotron up`: everything one machine runs. Temporal and Postgres are started embedded when
 * none is configured or reachable; the workers and the bus listener run as child processes (the
 * same entry points a multi-host deployment starts one by one) and are restarted if they die.
 */
import { temporalConnectionOptions } from '../common/temporal-connection.js';
import type { ChildProcess } from 'node:child_process';
import { spawnTied } from '../common/tied-process.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { usesTransport, type Config } from '../common/config.js';
import { createPool, migrate } from '../common/db.js';
import { durationToMs } from '../common/duration.js';
import type { Logger } from '../common/logger.js';
import { sandboxCredentialsDir } from '../common/sandbox-credentials.js';
import { defaultComposeDir, startSandbox, type Sandbox } from '../sandbox/server.js';
import { amqpSettings } from '../bus/amqp-connection.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { prepareNamespace } from './temporal-namespace.js';
import { syncOstreePruneSchedule } from '../client/ostree.js';
import { syncTwoWeekSchedules } from '../client/two-week.js';
import { isPortOpen, resolveTemporalCli, startTemporalDevServer, type TemporalDevServer } from './temporal-dev-server.js';

export const PROCESSES = ['releng', 'image-libvirt', 'image-vbox', 'bus-listener'] as const;
export type ProcessName = (typeof PROCESSES)[number];

const WORKERS_DIR = fileURLToPath(new URL('../workers/', import.meta.url));

export interface StackOptions {
  readonly processes: readonly ProcessName[];
  readonly sandbox: boolean;
  /** For the sandbox's Koji image builds: a real disk image per format (the test image). */
  readonly imageFile?: (format: string) => string | undefined;
}

export interface Stack {
  readonly temporalAddress: string;
  readonly uiUrl: string | null;
  readonly databaseUrl: string;
  readonly sandbox: Sandbox | null;
  stop(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}

class Child {
  private process: ChildProcess | null = null;
  private stopping = false;
  private restarts: number[] = [];

  constructor(
    readonly name: ProcessName,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: Logger,
  ) {}

  start(): void {
    // Tied to this process: if `up` (or the demo) is killed outright, its workers get SIGTERM and drain.
    const child = spawnTied(process.execPath, [join(WORKERS_DIR, `${this.name}.js`)], { env: this.env, stdio: 'inherit' });
    this.process = child;
    child.once('exit', (code, signal) => {
      this.process = null;
      if (this.stopping) return;
      const now = Date.now();
      this.restarts = [...this.restarts.filter((t) => now - t < 60_000), now];
      if (this.restarts.length > 5) {
        this.log.error({ process: this.name, code, signal }, 'process keeps dying; not restarting it again');
        return;
      }
      this.log.warn({ process: this.name, code, signal }, 'process exited; restarting');
      setTimeout(() => this.stopping || this.start(), 1000 * this.restarts.length);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.process;
    if (!child) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await gone;
  }
}

export async function startStack(config: Config, log: Logger, options: StackOptions): Promise<Stack> {
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => log.warn({ err }, 'cleanup failed'));
  };
  try {
    const [host = '127.0.0.1', portText = '7233'] = config.temporal.address.split(':');
    let devServer: TemporalDevServer | null = null;
    if (!(await isPortOpen(host, Number(portText)))) {
      if (!isLoopback(host)) throw new Error(`Temporal at ${config.temporal.address} is not reachable`);
      devServer = await startTemporalDevServer({
        cliPath: resolveTemporalCli(config.temporal.cliPath),
        dataDir: config.dataDir,
        host,
        port: Number(portText),
        uiPort: config.temporal.uiPort,
        namespace: config.temporal.namespace,
        log,
      });
      cleanups.push(() => devServer!.stop());
    } else {
      log.info({ address: config.temporal.address }, 'using the Temporal server already listening');
    }

    let embedded: EmbeddedPostgres | null = null;
    if (!config.database.url) {
      embedded = await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'pglite'), port: config.database.embeddedPort, log });
      cleanups.push(() => embedded!.stop());
    }
    const databaseUrl = config.database.url ?? embedded!.url;
    const pool = createPool(databaseUrl, 2);
    try {
      await migrate(pool, log);
    } finally {
      await pool.end();
    }

    const connection = await Connection.connect(temporalConnectionOptions(config));
    try {
      await prepareNamespace(connection, { namespace: config.temporal.namespace, retentionMs: durationToMs(config.temporal.retention) }, log);
      // Schedules follow the configuration of the releng worker that runs them: made or updated on
      // every start, never twice. An image host's `up --only image-libvirt` has no say in them.
      if (options.processes.includes('releng')) {
        const client = new Client({ connection, namespace: config.temporal.namespace });
        await syncOstreePruneSchedule(client, config, log);
        await syncTwoWeekSchedules(client, config, log);
      }
    } finally {
      await connection.close();
    }

    let sandbox: Sandbox | null = null;
    if (options.sandbox) {
      sandbox = await startSandbox({
        host: config.sandbox.host,
        port: config.sandbox.port,
        tlsPort: config.sandbox.tlsPort,
        credentialsDir: sandboxCredentialsDir(config.dataDir),
        composeDir: defaultComposeDir(config.dataDir),
        busEndpoint: config.sandbox.busEndpoint,
        // Heard on fedora-messaging too: the sandbox's bus bridges every message to the broker.
        amqp: usesTransport(config.bus.transport, 'amqp') ? amqpSettings(config) : null,
        ...(options.imageFile ? { imageFile: options.imageFile } : {}),
        log,
      });
      const started = sandbox;
      cleanups.push(() => started.stop());
    }

    const env = { ...process.env, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: config.temporal.address, TEMPORAL_NAMESPACE: config.temporal.namespace };
    const children = options.processes.map((name) => new Child(name, env, log));
    for (const child of children) child.start();
    cleanups.push(async () => {
      await Promise.all(children.map((c) => c.stop()));
    });

    const uiUrl = devServer ? devServer.uiUrl : null;
    log.info({ processes: options.processes, ui: uiUrl, database: embedded ? 'embedded PGlite' : 'DATABASE_URL' }, 'releng-o-tron is up');
    return { temporalAddress: config.temporal.address, uiUrl, databaseUrl, sandbox, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
