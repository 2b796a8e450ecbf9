import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { newCompose, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { startTemporal } from './helpers/temporal.js';
import { deliveryTestEnv } from './helpers/bus.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let environment: NodeJS.ProcessEnv;

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the process did not exit in time')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('relengotron CLI', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    environment = {
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      DATABASE_URL: db.url,
      FEDMSG_ENDPOINTS: sandbox.busEndpoint,
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      RELENGOTRON_SHUTDOWN_GRACE: '5s',
      ...deliveryTestEnv(sandbox),
    };
  });
  after(async () => Promise.all([env.teardown(), db.drop(), sandbox.stop()]));

  it('`up` runs the workers and the listener: a bus message becomes a finished run; SIGTERM stops it cleanly', async () => {
    const up = spawn(process.execPath, [CLI, 'up', '--only', 'releng,bus-listener'], { env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    up.stdout.on('data', (d: Buffer) => (output += d.toString()));
    up.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      assert.ok(await sandbox.bus!.waitForSubscribers(1, 60_000), `the listener subscribed\n${output}`);
      await new Promise((r) => setTimeout(r, 300));
      const made = newCompose(sandbox, { template: 'Fedora-Cloud-27-20180317.0', release: { short: 'Fedora-Cloud', version: '43' }, type: 'production' });
      const envelope = await sandbox.bus!.publish({
        topic: 'org.fedoraproject.prod.pungi.compose.status.change',
        msg: { compose_id: made.composeId, location: made.location, status: 'FINISHED' },
      });
      const handle = env.client.workflow.getHandle(`compose-discovery/${made.composeId}`);
      let result: unknown;
      for (let i = 0; i < 300 && result === undefined; i++) {
        result = await handle.result().catch(() => undefined);
        if (result === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(result, { composeId: made.composeId, release: 'Fedora-Cloud-43', metadataVersion: '1.2', variants: ['CloudImages'], imageCount: 4 });

      const { stdout } = await run(process.execPath, [CLI, 'runs', 'list', '--json'], { env: environment });
      const runs = JSON.parse(stdout) as { workflowId: string; type: string; status: string; triggerMsgId: string }[];
      const listed = runs.find((r) => r.workflowId === `compose-discovery/${made.composeId}`);
      assert.deepEqual(
        { type: listed?.type, status: listed?.status, triggerMsgId: listed?.triggerMsgId },
        { type: 'discoverCompose', status: 'COMPLETED', triggerMsgId: envelope.msg_id },
      );
      const shown = JSON.parse((await run(process.execPath, [CLI, 'runs', 'show', `compose-discovery/${made.composeId}`], { env: environment })).stdout);
      assert.equal(shown.summary, `Discover compose ${made.composeId} (FINISHED)`);
    } finally {
      up.kill('SIGTERM');
      const code = await waitForExit(up, 30_000);
      assert.equal(code, 0, `up exited cleanly on SIGTERM\n${output}`);
    }
  });

  it('`bus replay` re-drives a datagrepper window into the inbox, and a second time adds nothing', async () => {
    const topic = 'org.fedoraproject.prod.pungi.compose.status.change';
    for (let n = 0; n < 3; n++) {
      sandbox.datagrepper.add({
        topic, msg_id: `2026-${crypto.randomUUID()}`, timestamp: Math.floor(Date.now() / 1000) - 60, i: n, username: 'root',
        msg: { compose_id: `Fedora-Replay-20261123.n.${n}`, location: `${sandbox.urls.composes}/Fedora-Replay-20261123.n.${n}/compose`, status: 'FINISHED' },
      });
    }
    const replay = async (): Promise<{ stored: number; fetched: number }> => JSON.parse((await run(process.execPath, [CLI, 'bus', 'replay', '--since', '10m'], { env: { ...environment, DATAGREPPER_URL: sandbox.urls.datagrepper } })).stdout) as { stored: number; fetched: number };
    const first = await replay();
    assert.equal(first.stored, 3);
    const second = await replay();
    assert.equal(second.stored, 0);
    assert.equal(second.fetched, first.fetched);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM bus_inbox WHERE envelope->'msg'->>'compose_id' LIKE 'Fedora-Replay-%'`);
    assert.equal(rows[0].n, 3);
  });

  it('`bus tail` prints live traffic', async () => {
    const tail = spawn(process.execPath, [CLI, 'bus', 'tail', '--count', '2'], { env: environment, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    tail.stdout.on('data', (d: Buffer) => (output += d.toString()));
    assert.ok(await sandbox.bus!.waitForSubscribers(1, 30_000));
    await new Promise((r) => setTimeout(r, 300));
    const a = await sandbox.bus!.publish({ topic: 'org.fedoraproject.prod.buildsys.tag', msg: { tag: 'f43' } });
    const b = await sandbox.bus!.publish({ topic: 'org.fedoraproject.prod.bodhi.compose.start', msg: { agent: 'bodhi' } });
    assert.equal(await waitForExit(tail, 15_000), 0);
    const lines = output.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, new RegExp(`org\\.fedoraproject\\.prod\\.buildsys\\.tag  ${a.msg_id}`));
    assert.match(lines[1]!, new RegExp(`bodhi\\.compose\\.start  ${b.msg_id}`));
  });

  it('names the bad setting and exits 2 on a configuration error', async () => {
    const failed = await run(process.execPath, [CLI, 'runs', 'list'], { env: { ...environment, TEMPORAL_ADDRESS: 'not an address' } }).catch((err: { code: number; stderr: string }) => err);
    assert.equal((failed as { code: number }).code, 2);
    assert.match((failed as { stderr: string }).stderr, /temporal\.address \(from TEMPORAL_ADDRESS\): expected host:port/);
  });

  it('a worker started alone without DATABASE_URL says what to do', async () => {
    const worker = fileURLToPath(new URL('../workers/releng.js', import.meta.url));
    const { DATABASE_URL: _ignored, ...withoutDb } = environment;
    const failed = await run(process.execPath, [worker], { env: withoutDb }).catch((err: { code: number; stderr: string }) => err);
    assert.equal((failed as { code: number }).code, 2);
    assert.match((failed as { stderr: string }).stderr, /DATABASE_URL is not set/);
  });

  it('prints usage for an unknown command', async () => {
    const failed = await run(process.execPath, [CLI, 'frobnicate'], { env: environment }).catch((err: { code: number; stderr: string }) => err);
    assert.equal((failed as { code: number }).code, 2);
    assert.match((failed as { stderr: string }).stderr, /unknown command frobnicate/);
  });
});
