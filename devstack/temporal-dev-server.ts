/**
 * The embedded Temporal: `temporal server start-dev` on a SQLite file under the data directory,
 * so history survives a restart, with the Web UI beside it. Production points TEMPORAL_ADDRESS
 * at a cluster instead (deploy/).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { spawnTied } from '../common/tied-process.js';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../common/logger.js';

const ENSURE_SCRIPT = fileURLToPath(new URL('../../scripts/ensure-temporal.mjs', import.meta.url));

/** The temporal CLI: TEMPORAL_CLI / config when given, else the cached build (built on first use). */
export function resolveTemporalCli(configured?: string): string {
  const env = configured ? { ...process.env, TEMPORAL_CLI: configured } : process.env;
  return execFileSync(process.execPath, [ENSURE_SCRIPT], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

export function isPortOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface TemporalDevServer {
  readonly address: string;
  readonly uiUrl: string;
  stop(): Promise<void>;
}

export interface TemporalDevServerOptions {
  readonly cliPath: string;
  readonly dataDir: string;
  readonly host?: string;
  readonly port: number;
  readonly uiPort: number;
  readonly namespace: string;
  readonly log?: Logger;
  readonly startTimeoutMs?: number;
  /** Server limits and knobs (`--dynamic-config-value key=value`), e.g. limit.maxIDLength in tests. */
  readonly dynamicConfig?: Readonly<Record<string, string | number | boolean>>;
}

export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const host = options.host ?? '127.0.0.1';
  const dir = join(options.dataDir, 'temporal');
  mkdirSync(dir, { recursive: true });
  const args = [
    'server', 'start-dev',
    '--ip', host,
    '--port', String(options.port),
    '--ui-port', String(options.uiPort),
    '--db-filename', join(dir, 'temporal.sqlite'),
    // WAL keeps readers (the UI, visibility queries) from blocking the single writer.
    '--sqlite-pragma', 'journal_mode=WAL',
    '--sqlite-pragma', 'synchronous=NORMAL',
    '--namespace', options.namespace,
    '--log-format', 'json',
    '--log-level', 'warn',
    ...Object.entries(options.dynamicConfig ?? {}).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
  ];
  // Stops with the process that started it, even one killed outright.
  const child: ChildProcess = spawnTied(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderrTail = '';
  const keepTail = (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!(await isPortOpen(host, options.port))) {
    if (exited !== undefined) {
      throw new Error(`temporal server start-dev exited with ${exited} before listening:\n${stderrTail}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal server start-dev did not listen on ${host}:${options.port} in time:\n${stderrTail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const address = `${host}:${options.port}`;
  const uiUrl = `http://${host}:${options.uiPort}`;
  options.log?.info({ address, uiUrl, database: join(dir, 'temporal.sqlite') }, 'Temporal dev server listening');

  return {
    address,
    uiUrl,
    async stop() {
      if (exited !== undefined) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
