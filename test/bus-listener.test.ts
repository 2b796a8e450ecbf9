import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Subscriber } from 'zeromq';
import { BusListener } from '../bus/listener.js';
import { openSubscriber } from '../bus/subscriber.js';
import { signEnvelope } from '../common/fedmsg-crypto.js';
import { createLogger } from '../common/logger.js';
import { buildDemoStream } from '../sandbox/demo-stream.js';
import type { Envelope } from '../sandbox/bus-gateway.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { makePki, type TestPki } from './helpers/pki.js';
import { freePort, newCompose, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { FIXTURES_DIR } from '../sandbox/seed.js';

const execFileAsync = promisify(execFile);
const PYTHON_PUBLISHER = fileURLToPath(new URL('../../test/fixtures/fedmsg_publisher.py', import.meta.url));
import { startRelengWorker, startTemporal, type RunningWorker } from './helpers/temporal.js';
import { testRouter } from './helpers/bus.js';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let sandbox: TestSandbox;
let worker: RunningWorker;
let listener: BusListener;
let socket: Subscriber;
let receiving: Promise<void>;

describe('bus listener: ZeroMQ in, inbox, runs out', () => {
  before(async () => {
    [env, db, sandbox] = await Promise.all([startTemporal(), createTestDatabase(), startTestSandbox()]);
    worker = await startRelengWorker(env, db.pool);
    listener = new BusListener({ pool: db.pool, client: env.client, log: createLogger('test', 'silent'), router: testRouter(sandbox), maxMessageBytes: 64 * 1024, retryDelayMs: 100 });
    socket = openSubscriber({ endpoints: [sandbox.busEndpoint] });
    receiving = (async () => {
      for await (const frames of socket) await listener.receive(frames);
    })();
    listener.startDispatching();
    assert.ok(await sandbox.bus!.waitForSubscribers(1, 10_000));
    await new Promise((r) => setTimeout(r, 200));
  });
  after(async () => {
    socket.close();
    await receiving.catch(() => undefined);
    await listener.stop();
    await worker.stop();
    await Promise.all([env.teardown(), db.drop(), sandbox.stop()]);
  });

  it('turns the demo stream into exactly one run per finished compose, and files the rest', async () => {
    const made = newCompose(sandbox, { template: 'Fedora-Cloud-27-20180317.0' });
    const stream = buildDemoStream(sandbox.urls.composes, made.composeId);
    const sent: Envelope[] = [];
    for (const [index, item] of stream.entries()) {
      if (item.frames) await sandbox.bus!.sendRaw(item.frames);
      else if (item.repeatOf !== undefined) {
        sent[index] = sent[item.repeatOf]!;
        await sandbox.bus!.sendRaw([sent[index].topic, JSON.stringify(sent[index])]);
      } else sent[index] = await sandbox.bus!.publish(item.envelope!);
    }
    // A third delivery of the same message, as a reconnecting publisher might send it.
    await sandbox.bus!.sendRaw([sent[1]!.topic, JSON.stringify(sent[1])]);

    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && listener.counters.received < stream.length + 1) await new Promise((r) => setTimeout(r, 50));
    assert.equal(listener.counters.received, stream.length + 1, 'every message arrived');
    assert.ok(await listener.drained(30_000), 'no inbox row left pending');

    const expected = [made.composeId, 'Fedora-Cloud-27-20180317.0', 'Fedora-24-20151130.n.2', 'Fedora-28-20180425.0'];
    for (const composeId of expected) {
      const handle = env.client.workflow.getHandle(`compose-discovery/${composeId}`);
      const result = (await handle.result()) as { composeId: string };
      assert.equal(result.composeId, composeId);
    }
    const runs = await env.client.workflow.count(`WorkflowType = 'discoverCompose'`);
    assert.equal(runs.count, expected.length, 'one run per distinct finished compose, none for duplicates');

    const inbox = await db.pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM bus_inbox GROUP BY state ORDER BY state');
    // ignored: the status change that starts nothing, a build tagged outside any gate;
    // started: the four finished composes and the Bodhi push
    assert.deepEqual(inbox.rows, [{ state: 'ignored', n: 2 }, { state: 'started', n: 5 }]);
    const statuses = await db.pool.query<{ compose_id: string; status: string }>('SELECT compose_id, status FROM compose_status_events ORDER BY status');
    assert.deepEqual(statuses.rows, [{ compose_id: made.composeId, status: 'STARTED' }]);
    const dead = await db.pool.query<{ reason: string }>('SELECT reason FROM bus_dead_letters ORDER BY id');
    assert.equal(dead.rows.length, 3);
    // The real DOOMED message names a compose on kojipkgs, which this configuration does not trust.
    assert.match(dead.rows[0]!.reason, /^compose location http:\/\/kojipkgs\.fedoraproject\.org\/compose\/\/rawhide\/Fedora-Rawhide-20160404\.n\.0\/compose is not under a trusted compose base/);
    assert.match(dead.rows[1]!.reason, /envelope is not JSON/);
    assert.match(dead.rows[2]!.reason, /status: Invalid option/);
    assert.deepEqual(
      { duplicate: listener.counters.duplicate, invalid: listener.counters.invalid, notRouted: listener.counters.notRouted, started: listener.counters.started },
      { duplicate: 2, invalid: 3, notRouted: 0, started: 5 },
    );
  });

  it('dead-letters envelopes that break the fedmsg rules, without stopping', async () => {
    const before = listener.counters.invalid;
    const topic = 'org.fedoraproject.prod.pungi.compose.status.change';
    const good = { topic, msg_id: '2026-0c7f37f3-d0b5-474f-b600-198d9b3be748', timestamp: 1795425569, i: 1, username: 'root', msg: {} };
    await sandbox.bus!.sendRaw(['org.fedoraproject.prod.other', JSON.stringify(good)]); // frame 0 ≠ envelope topic
    await sandbox.bus!.sendRaw([topic, JSON.stringify({ ...good, msg_id: 'not-an-id' })]);
    await sandbox.bus!.sendRaw([topic, JSON.stringify({ ...good, msg: 'a string' })]);
    await sandbox.bus!.sendRaw([topic]); // one frame
    await sandbox.bus!.sendRaw([topic, 'x'.repeat(70 * 1024)]); // over the size cap
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && listener.counters.invalid < before + 5) await new Promise((r) => setTimeout(r, 50));
    const reasons = (await db.pool.query<{ reason: string }>('SELECT reason FROM bus_dead_letters ORDER BY id DESC LIMIT 5')).rows.map((r) => r.reason).reverse();
    assert.equal(reasons.length, 5);
    assert.match(reasons[0]!, /topic frame "org\.fedoraproject\.prod\.other" does not match envelope topic/);
    assert.match(reasons[1]!, /msg_id: expected <year>-<uuid4>/);
    assert.match(reasons[2]!, /msg: /);
    assert.match(reasons[3]!, /expected 2 frames/);
    assert.match(reasons[4]!, /exceeds the 65536-byte cap/);
  });
});

describe('bus listener with signature checking', () => {
  let env2: TestWorkflowEnvironment;
  let db2: TestDatabase;
  let pki: TestPki;
  before(async () => {
    [env2, db2] = await Promise.all([startTemporal(), createTestDatabase()]);
    pki = makePki();
  });
  after(async () => Promise.all([env2.teardown(), db2.drop()]));

  it('starts runs only for messages signed by a trusted, allowed sender', async () => {
    const checked = new BusListener({
      pool: db2.pool,
      client: env2.client,
      log: createLogger('test', 'silent'),
      router: testRouter(sandbox),
      maxMessageBytes: 64 * 1024,
      verify: { caCertificates: [pki.ca], routingPolicy: { 'pungi.compose.status.change': ['releng-rawhide-composer.example.org'] } },
    });
    const topic = 'org.fedoraproject.prod.pungi.compose.status.change';
    const envelope = (n: number) => ({
      topic,
      msg_id: `2026-0c7f37f3-d0b5-474f-b600-00000000000${n}`,
      timestamp: Math.floor(Date.now() / 1000),
      i: n,
      username: 'root',
      msg: { compose_id: `Fedora-Rawhide-20261123.n.${n}`, location: `${sandbox.urls.composes}/Fedora-Rawhide-20261123.n.${n}/compose`, status: 'FINISHED' },
    });
    const frames = (body: object) => [Buffer.from(topic), Buffer.from(JSON.stringify(body))];
    const tampered = signEnvelope(envelope(3), pki.signer);
    tampered.msg.compose_id = 'Fedora-Rawhide-20261123.n.99';

    assert.equal(await checked.receive(frames(signEnvelope(envelope(1), pki.signer))), 'stored');
    assert.equal(await checked.receive(frames(envelope(2))), 'dead-letter');
    assert.equal(await checked.receive(frames(tampered)), 'dead-letter');
    assert.equal(await checked.receive(frames(signEnvelope(envelope(4), pki.stranger))), 'dead-letter');
    assert.equal(await checked.receive(frames(signEnvelope(envelope(5), pki.other))), 'dead-letter');
    assert.equal(checked.counters.forged, 4);

    const reasons = (await db2.pool.query<{ reason: string }>('SELECT reason FROM bus_dead_letters ORDER BY id')).rows.map((r) => r.reason);
    assert.deepEqual(reasons.map((r) => r.replace(/\(signer .*\)/, '(signer …)')), [
      'signature: unsigned message',
      'signature: signature does not match the envelope (signer …)',
      'signature: certificate of releng-rawhide-composer.example.org-rogue is not issued by a trusted CA',
      'signature: bodhi-backend.example.org may not send pungi.compose.status.change',
    ]);
    const inbox = await db2.pool.query<{ msg_id: string }>('SELECT msg_id FROM bus_inbox');
    assert.deepEqual(inbox.rows.map((r) => r.msg_id), ['2026-0c7f37f3-d0b5-474f-b600-000000000001'], 'only the signed message may start work');

    // A certificate node:crypto cannot verify RSA-SHA1 with (an Ed25519 key) is a refusal, never a wedge.
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-ed25519-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=releng-rawhide-composer.example.org'], { stdio: 'ignore' });
    const ed25519 = { ...envelope(6), crypto: 'x509', signature: Buffer.from('not a signature').toString('base64'), certificate: Buffer.from(readFileSync(join(dir, 'c.pem'))).toString('base64') };
    assert.equal(await checked.receive(frames(ed25519)), 'dead-letter');
    const reason = (await db2.pool.query<{ reason: string }>('SELECT reason FROM bus_dead_letters WHERE msg_id = $1', [ed25519.msg_id])).rows[0]?.reason;
    assert.match(reason ?? '', /^signature: cannot check the signature: /);
    assert.equal(await checked.receive(frames(signEnvelope(envelope(7), pki.signer))), 'stored', 'and the next message goes on');
  });

  it('refuses a message older than the inbox remembers message IDs: its replay could not be detected', async () => {
    const remembering = new BusListener({ pool: db2.pool, client: env2.client, log: createLogger('test', 'silent'), router: testRouter(sandbox), maxMessageBytes: 64 * 1024, maxAgeMs: 90 * 86_400_000 });
    const old = { topic: 'org.fedoraproject.prod.pungi.compose.status.change', msg_id: '2026-0c7f37f3-d0b5-474f-b600-0000000000aa', timestamp: Math.floor(Date.now() / 1000) - 100 * 86_400, i: 1, username: 'root', msg: { compose_id: 'Fedora-Rawhide-20260801.n.0', location: `${sandbox.urls.composes}/Fedora-Rawhide-20260801.n.0/compose`, status: 'FINISHED' } };
    assert.equal(await remembering.receive([Buffer.from(old.topic), Buffer.from(JSON.stringify(old))]), 'dead-letter');
    assert.match(remembering.lastRefusal ?? '', /^sent \S+, more than 90 days ago \(bus\.maxMessageAge\): it may be a replay$/);
  });
});

describe('wire compatibility with an outside fedmsg publisher (pyzmq)', () => {
  it('receives every reference message a Python publisher sends', async (t) => {
    const python = '/usr/bin/python3';
    try {
      execFileSync(python, ['-c', 'import zmq']);
    } catch {
      t.skip('python3-zmq is not installed (apt-get install python3-zmq)');
      return;
    }
    const db3 = await createTestDatabase();
    const endpoint = `tcp://127.0.0.1:${await freePort()}`;
    // Only receiving is under test: this listener never dispatches, so its client never connects.
    const idle = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    // As in production: the real messages' composes lie under kojipkgs.
    const production = testRouter({ urls: { composes: 'https://kojipkgs.fedoraproject.org/compose' } });
    const counting = new BusListener({ pool: db3.pool, client: idle, log: createLogger('test', 'silent'), router: production, maxMessageBytes: 1024 * 1024 });
    const sub = openSubscriber({ endpoints: [endpoint] });
    const files = readdirSync(`${FIXTURES_DIR}messages`).filter((f) => f.endsWith('.json')).map((f) => `${FIXTURES_DIR}messages/${f}`);
    files.push(`${FIXTURES_DIR}datagrepper/raw-response.2017-09-05.json`);
    const publisher = execFileAsync(python, [PYTHON_PUBLISHER, endpoint, ...files]);
    const outcomes: string[] = [];
    const collecting = (async () => {
      for await (const frames of sub) outcomes.push(await counting.receive(frames));
    })();
    const { stdout } = await publisher;
    const sent = Number(stdout.trim());
    const deadline = Date.now() + 10_000;
    while (outcomes.length < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    sub.close();
    await collecting.catch(() => undefined);
    try {
      assert.ok(sent >= 35, `sent ${sent}`);
      assert.equal(outcomes.length, sent, 'every message arrived');
      assert.equal(counting.counters.invalid, 0, 'every real envelope passes validation');
      assert.ok(outcomes.includes('stored'), 'the pungi messages were routed');
    } finally {
      await db3.drop();
    }
  });
});
