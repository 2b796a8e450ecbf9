/**
 * npm run bench (second part): a push of 2,000 updates touching 200 artifacts, end to end on the
 * real parts (Temporal dev server, Postgres, the sandbox's Koji, Bodhi and PDC, ostree, rsync),
 * with the real releng worker process. Prints how long it took and the longest history of any
 * of its runs against Temporal's 10,000-event guidance.
 *   BENCH_PUSH_UPDATES (default 2000), BENCH_PUSH_ARTIFACTS (default 200), BENCH_PUSH_TREES (default 20)
 * No image is booted (push.testPolicy requires nothing here) and nothing is signed (no key):
 * those steps are measured by the tests, not by this benchmark.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualTrigger, pushSettings, startPush } from '../client/start.js';
import { loadConfig } from '../common/config.js';
import { freePort } from '../common/ports.js';
import { seedLargePush } from '../sandbox/large-push.js';
import { sandboxLoginEnv } from '../sandbox/auth.js';
import { startSandbox } from '../sandbox/server.js';
import { runBench, startBenchStack } from './stack.js';

const UPDATES = Number(process.env['BENCH_PUSH_UPDATES'] ?? 2000);
const ARTIFACTS = Number(process.env['BENCH_PUSH_ARTIFACTS'] ?? 200);
const TREES = Number(process.env['BENCH_PUSH_TREES'] ?? 20);
const HISTORY_GUIDANCE = 10_000;
const RELENG_WORKER = fileURLToPath(new URL('../workers/releng.js', import.meta.url));
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const stack = await startBenchStack('push', 2);
  const { client, dataDir } = stack;
  const sandbox = await startSandbox({ port: 0, composeDir: join(dataDir, 'sandbox/composes'), busEndpoint: null, kojiTaskDelayMs: 50 });
  const seeded = seedLargePush(sandbox, { updates: UPDATES, artifacts: ARTIFACTS, trees: TREES });

  const env = {
    ...process.env, DATABASE_URL: stack.databaseUrl, TEMPORAL_ADDRESS: stack.temporalAddress, RELENGOTRON_DATA_DIR: join(dataDir, 'releng'),
    KOJI_HUB_URL: sandbox.urls.kojiHub, KOJI_TOP_URL: sandbox.urls.kojiFiles, BODHI_URL: sandbox.urls.bodhi, PDC_URL: sandbox.urls.pdc,
    ...sandboxLoginEnv(sandbox.credentials, sandbox.urls),
    FEDMSG_PUBLISH_ENDPOINT: `tcp://127.0.0.1:${await freePort()}`, RELENGOTRON_PUSH_TEST_POLICY: JSON.stringify({ required: [] }), LOG_LEVEL: 'warn',
  };
  const worker = spawn(process.execPath, [RELENG_WORKER], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  say(`releng-o-tron push benchmark: ${seeded.updates} updates (${seeded.builds} builds), ${seeded.imageArtifacts} image artifacts and ${seeded.trees} OSTree trees; Postgres: ${stack.database}`);

  const pushId = '20261123T180000Z';
  const config = loadConfig(env);
  const started = performance.now();
  const { handle } = await startPush(client, { release: 'F29', request: 'stable', pushId, ...pushSettings(config) }, manualTrigger('bench'));
  const result = await handle.result();
  const seconds = (performance.now() - started) / 1000;

  const runs: { workflowId: string; events: number }[] = [];
  const prefix = handle.workflowId;
  for await (const info of client.workflow.list({ query: `WorkflowId STARTS_WITH '${prefix}'` })) {
    runs.push({ workflowId: info.workflowId, events: info.historyLength });
  }
  for await (const info of client.workflow.list({ query: `WorkflowType = 'composeTest'` })) runs.push({ workflowId: info.workflowId, events: info.historyLength });
  runs.sort((a, b) => b.events - a.events);
  const parent = runs.find((r) => r.workflowId === prefix)!;
  const composed = result.artifacts.filter((a) => a.state === 'composed').length;

  say('');
  say(`push ${prefix}: ${result.updates.length} updates, ${composed} artifacts composed, compose ${result.compose?.compose_id ?? 'none'}`);
  say(`wall time:                             ${seconds.toFixed(1)} s (${(result.updates.length / seconds).toFixed(1)} updates/s)`);
  say(`runs:                                  ${runs.length} (the push and its children)`);
  say(`push run history:                      ${parent.events} events`);
  say(`longest history of any run:            ${runs[0]!.events} events (${runs[0]!.workflowId})`);
  say(`longest / ${HISTORY_GUIDANCE} guidance:             ${(runs[0]!.events / HISTORY_GUIDANCE).toFixed(3)}`);

  worker.kill('SIGTERM');
  await new Promise((resolve) => worker.once('exit', resolve));
  await sandbox.stop();
  await stack.stop();
}

runBench(main);
