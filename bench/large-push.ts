/**
 * A push of 2,000 updates touching 200 artifacts, end to end on the real parts (a Temporal server,
 * Postgres, the sandbox's Koji, Bodhi and PDC, ostree, rsync), with the real releng worker process.
 *   BENCH_PUSH_UPDATES (default 2000), BENCH_PUSH_ARTIFACTS (default 200), BENCH_PUSH_TREES (default 20)
 * No image is booted (push.testPolicy requires nothing here) and nothing is signed (no key):
 * those steps are measured by the tests, not by the benchmarks.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { manualTrigger, pushSettings, startPush } from '../client/start.js';
import { loadConfig } from '../common/config.js';
import { freePort } from '../common/ports.js';
import { seedLargePush } from '../sandbox/large-push.js';
import { sandboxLoginEnv } from '../sandbox/auth.js';
import { startSandbox } from '../sandbox/server.js';

const UPDATES = Number(process.env['BENCH_PUSH_UPDATES'] ?? 2000);
const ARTIFACTS = Number(process.env['BENCH_PUSH_ARTIFACTS'] ?? 200);
const TREES = Number(process.env['BENCH_PUSH_TREES'] ?? 20);
const RELENG_WORKER = fileURLToPath(new URL('../workers/releng.js', import.meta.url));

/** Where the push runs: a Temporal server (with the environment that reaches it) and a releng-o-tron database. */
export interface PushBenchTarget {
  readonly client: Client;
  /** TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and, for a cluster, TEMPORAL_TLS_*: what the worker process is given. */
  readonly temporalEnv: Record<string, string>;
  readonly databaseUrl: string;
  readonly dataDir: string;
  readonly pushId: string;
}

export interface LargePushFigures {
  /** What was seeded: updates, builds, image artifacts, trees. */
  readonly seeded: string;
  readonly workflowId: string;
  readonly updates: number;
  readonly composed: number;
  readonly composeId: string | null;
  readonly seconds: number;
  /** Every run of the push (the push and its children), longest history first. */
  readonly runs: readonly { readonly workflowId: string; readonly events: number }[];
}

export async function measureLargePush(target: PushBenchTarget): Promise<LargePushFigures> {
  const { client, dataDir } = target;
  const sandbox = await startSandbox({ port: 0, composeDir: join(dataDir, 'sandbox/composes'), busEndpoint: null, kojiTaskDelayMs: 50 });
  const seeded = seedLargePush(sandbox, { updates: UPDATES, artifacts: ARTIFACTS, trees: TREES });
  // What the seeded trees are made of, beside the sandbox's own: a push refuses to compose a tree it has no definition of.
  mkdirSync(dataDir, { recursive: true });
  const configFile = join(dataDir, 'relengotron.json');
  writeFileSync(configFile, JSON.stringify({ push: { ostreeTrees: { ...loadConfig({}).push.ostreeTrees, ...seeded.ostreeTrees } } }));
  const env = {
    ...process.env, ...target.temporalEnv, RELENGOTRON_CONFIG: configFile, DATABASE_URL: target.databaseUrl, RELENGOTRON_DATA_DIR: join(dataDir, 'releng'),
    KOJI_HUB_URL: sandbox.urls.kojiHub, KOJI_TOP_URL: sandbox.urls.kojiFiles, BODHI_URL: sandbox.urls.bodhi, PDC_URL: sandbox.urls.pdc,
    ...sandboxLoginEnv(sandbox.credentials, sandbox.urls),
    FEDMSG_PUBLISH_ENDPOINT: `tcp://127.0.0.1:${await freePort()}`, RELENGOTRON_PUSH_TEST_POLICY: JSON.stringify({ required: [] }), LOG_LEVEL: 'warn',
  };
  const worker = spawn(process.execPath, [RELENG_WORKER], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    const config = loadConfig(env);
    const started = performance.now();
    const { handle } = await startPush(client, { release: 'F29', request: 'stable', pushId: target.pushId, ...pushSettings(config) }, manualTrigger('bench'));
    const result = await handle.result();
    const seconds = (performance.now() - started) / 1000;
    const runs: { workflowId: string; events: number }[] = [];
    for await (const info of client.workflow.list({ query: `WorkflowId STARTS_WITH '${handle.workflowId}'` })) runs.push({ workflowId: info.workflowId, events: info.historyLength });
    for await (const info of client.workflow.list({ query: `WorkflowType = 'composeTest'` })) runs.push({ workflowId: info.workflowId, events: info.historyLength });
    runs.sort((a, b) => b.events - a.events);
    return {
      seeded: `${seeded.updates} updates (${seeded.builds} builds), ${seeded.imageArtifacts} image artifacts and ${seeded.trees} OSTree trees`,
      workflowId: handle.workflowId,
      updates: result.updates.length,
      composed: result.artifacts.filter((a) => a.state === 'composed').length,
      composeId: result.compose?.compose_id ?? null,
      seconds,
      runs,
    };
  } finally {
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
    await sandbox.stop();
  }
}
