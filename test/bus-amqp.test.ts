/**
 * fedora-messaging (AMQP) against the RabbitMQ running on this machine, with an outside client
 * (python3-pika) on the other end: its messages start the same runs as their fedmsg twins and
 * dedupe across transports; malformed ones become dead letters and are acked; kill -9 of the
 * listener mid-burst and a broker restart end with one run per message and an empty queue; what
 * releng-o-tron publishes arrives with fedora-messaging's headers, only counts as sent once
 * confirmed, and survives a broker restart; amqps with a client certificate.
 *
 * Each run uses its own exchange and queues (deleted at the end), so nothing here touches amq.topic.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { connect as amqpConnect, type ChannelModel } from 'amqplib';
import { AmqpPublisher } from '../bus/amqp-publisher.js';
import type { AmqpSettings } from '../bus/amqp-connection.js';
import { createBusActivities } from '../activities/bus.js';
import { EnvelopeBuilder } from '../bus/publisher.js';
import { replayBus, retryMessage } from '../client/bus.js';
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import type { Pool } from '../common/db.js';
import { prepareNamespace } from '../devstack/temporal-namespace.js';
import { resolveTemporalCli, startTemporalDevServer, type TemporalDevServer } from '../devstack/temporal-dev-server.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { freePort, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';
import { deliveryTestEnv, metricSample, stopProcess, testBusService } from './helpers/bus.js';
import { waitUntil } from './helpers/until.js';
import { makeTlsPki } from './helpers/pki.js';
import type { BusService } from '../bus/service.js';

const FM_CLIENT = fileURLToPath(new URL('../../test/fixtures/fedora_messaging_client.py', import.meta.url));
const LISTENER = fileURLToPath(new URL('../workers/bus-listener.js', import.meta.url));
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const BROKER = process.env['TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672/%2F';
const TOPIC = 'org.fedoraproject.prod.pungi.compose.status.change';
const RUN = randomUUID().slice(0, 8);
const EXCHANGE = `releng-o-tron-test-${RUN}`;
const log = createLogger('test', 'silent');
const step = (what: string) => { if (process.env['TEST_STEPS']) console.error(`# step ${what} ${new Date().toISOString()}`); };

let sandbox: TestSandbox;
let db: TestDatabase;
let temporal: TemporalDevServer;
let connection: Connection;
let client: Client;
let admin: ChannelModel;
const queues: string[] = [];
const exchanges: string[] = [EXCHANGE];

function settings(queue: string, overrides: Partial<AmqpSettings> = {}): AmqpSettings {
  return {
    url: BROKER,
    exchange: EXCHANGE,
    queue,
    prefetch: 25,
    deadLetterExchange: null,
    heartbeatSeconds: 5,
    reconnectFirstMs: 200,
    reconnectLongestMs: 2000,
    confirmTimeoutMs: 10_000,
    tls: null,
    ...overrides,
  };
}

function newQueue(name: string): string {
  const queue = `releng-o-tron-test-${RUN}-${name}`;
  queues.push(queue);
  return queue;
}

/** Runs the pika client; resolves with its output lines. */
function pika(args: string[], input = ''): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', [FM_CLIENT, ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 }, (err, stdout) => {
      if (err) reject(new Error(`fedora_messaging_client.py ${args[0]}: ${err.message}`));
      else resolve(stdout.split('\n').filter(Boolean));
    });
    child.stdin!.end(input);
  });
}

type PikaLine = { topic: string; body?: unknown; id?: string; sent_at?: string; schema?: string; extra_headers?: Record<string, unknown>; raw?: { body_b64: string; properties: Record<string, unknown> } };
const publishWithPika = (lines: readonly PikaLine[], delayMs = 0, exchange = EXCHANGE) => pika(['publish', BROKER, exchange, String(delayMs)], lines.map((l) => JSON.stringify(l)).join('\n'));

interface Drained {
  routing_key: string;
  redelivered: boolean;
  properties: { message_id: string; content_type: string; content_encoding: string; delivery_mode: number; priority: number; headers: Record<string, unknown> };
  body: string;
}
const drainWithPika = async (queue: string, waitSeconds = 1.5): Promise<Drained[]> => (await pika(['drain', BROKER, queue, String(waitSeconds)])).map((l) => JSON.parse(l) as Drained);

const finished = (composeId: string, at: TestSandbox = sandbox) => ({ compose_id: composeId, location: `${at.urls.composes}/${composeId}/compose`, status: 'FINISHED' });

const until = waitUntil;

const scalar = async (pool: Pool, sql: string, params: unknown[] = []): Promise<number> => (await pool.query<{ n: number }>(sql, params)).rows[0]!.n;

/** Messages ready in a queue (not delivered, or delivered and given back). */
async function ready(queue: string): Promise<number> {
  const channel = await admin.createChannel();
  try {
    return (await channel.checkQueue(queue)).messageCount;
  } finally {
    await channel.close().catch(() => undefined);
  }
}

async function runsWithPrefix(prefix: string): Promise<number> {
  return (await client.workflow.count(`WorkflowType = 'discoverCompose' AND RelengComposeId STARTS_WITH '${prefix}'`)).count;
}

async function expectOneRunEach(composeIds: readonly string[], prefix: string, timeoutMs = 90_000): Promise<void> {
  const explain = async () => {
    const states = await db.pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM bus_inbox GROUP BY state');
    return `${await runsWithPrefix(prefix)} of ${composeIds.length} runs; inbox ${JSON.stringify(states.rows)}`;
  };
  await until('one run per message', async () => (await runsWithPrefix(prefix)) === composeIds.length, timeoutMs, explain);
  await until('an empty inbox', async () => (await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_inbox WHERE state = 'pending'`)) === 0);
  for (const id of composeIds) assert.equal((await client.workflow.count(`WorkflowId = 'compose-discovery/${id}'`)).count, 1, id);
}

/** A run's start input, with the compose ID and message ID taken out: what the run was asked to do. */
async function startInput(workflowId: string, composeId: string, msgId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
  const input = Buffer.from(started.input!.payloads![0]!.data!).toString('utf8');
  return `${started.workflowType!.name} ${input.replaceAll(composeId, '<compose>').replaceAll(msgId, '<msg>')}`;
}

function restartBroker(): void {
  execFileSync('rabbitmqctl', ['stop_app'], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['start_app'], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['await_startup'], { stdio: 'ignore' });
}

async function reconnectAdmin(): Promise<void> {
  // The old connection died with the broker; closing it may never be answered.
  void admin.close().catch(() => undefined);
  await until('the broker answering again', async () => {
    admin = await amqpConnect(BROKER);
    admin.on('error', () => undefined);
    return true;
  }, 60_000);
}

describe('fedora-messaging (AMQP) on the machine\'s RabbitMQ', () => {
  before(async () => {
    [sandbox, db] = await Promise.all([startTestSandbox(), createTestDatabase()]);
    temporal = await startTemporalDevServer({
      cliPath: resolveTemporalCli(process.env['TEMPORAL_CLI']),
      dataDir: mkdtempSync(join(tmpdir(), 'relengotron-amqp-')),
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
    });
    connection = await Connection.connect({ address: temporal.address });
    await prepareNamespace(connection, { namespace: 'default', retentionMs: 86_400_000 });
    client = new Client({ connection });
    admin = await amqpConnect(BROKER);
    admin.on('error', () => undefined);
    const channel = await admin.createChannel();
    // A topic exchange of this run's own, as amq.topic is Fedora's: routing keys are full topics.
    await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
    await channel.close();
  });
  after(async () => {
    const channel = await admin.createChannel().catch(() => null);
    for (const queue of queues) await channel?.deleteQueue(queue).catch(() => undefined);
    for (const exchange of exchanges) await channel?.deleteExchange(exchange).catch(() => undefined);
    await admin.close().catch(() => undefined);
    await connection.close();
    await temporal.stop();
    await Promise.all([db.drop(), sandbox.stop()]);
  });

  describe('one listener hearing both transports', () => {
    let service: BusService;
    const queue = newQueue('both');
    before(async () => {
      service = testBusService({ pool: db.pool, client, sandbox }, { amqp: settings(queue), maxAgeMs: 30 * 86_400_000 });
      service.start();
      await until('the AMQP consumer', () => service.amqp!.connected);
      assert.ok(await sandbox.bus!.waitForSubscribers(1, 30_000));
      await new Promise((r) => setTimeout(r, 300));
    });
    after(() => service.stop());

    it('starts the same runs from fedora-messaging messages as from their fedmsg twins, once per event across transports', async () => {
      // One compose announced only over fedmsg, one only as fedora-messaging publishes (a bare UUID4 ID).
      const overFedmsg = 'Fedora-Rawhide-20261201.n.0';
      const overAmqp = 'Fedora-Rawhide-20261201.n.1';
      const fedmsgEnvelope = await sandbox.bus!.publish({ topic: TOPIC, msg: finished(overFedmsg) });
      const [amqpId] = await publishWithPika([{ topic: TOPIC, body: finished(overAmqp), schema: 'pungi.compose.status.change.v1' }]);
      assert.match(amqpId!, /^[0-9a-f-]{36}$/, 'fedora-messaging IDs are bare UUIDs');
      await expectOneRunEach([overFedmsg, overAmqp], 'Fedora-Rawhide-20261201.n.');
      const year = new Date().getUTCFullYear();
      assert.equal(
        await startInput(`compose-discovery/${overAmqp}`, overAmqp, `${year}-${amqpId}`),
        await startInput(`compose-discovery/${overFedmsg}`, overFedmsg, fedmsgEnvelope.msg_id),
        'the same workflow, asked the same thing',
      );
      const rows = await db.pool.query<{ msg_id: string; transport: string }>('SELECT msg_id, transport FROM bus_inbox ORDER BY received_at');
      assert.deepEqual(rows.rows.map((r) => r.transport), ['fedmsg', 'amqp']);
      assert.equal(rows.rows[1]!.msg_id, `${year}-${amqpId}`, 'a bare UUID is keyed as the AMQP→ZMQ bridge names it');

      // The same events on both transports, each order: fedmsg first (bridged to AMQP with its
      // <year>-<uuid> ID), and AMQP first (bridged to fedmsg with the year prefixed).
      const twinA = 'Fedora-Rawhide-20261202.n.0';
      const twinB = 'Fedora-Rawhide-20261202.n.1';
      const duplicatesBefore = service.listener.counters.duplicate;
      const a = await sandbox.bus!.publish({ topic: TOPIC, msg: finished(twinA) });
      await until('twin A stored', async () => (await scalar(db.pool, 'SELECT count(*)::int AS n FROM bus_inbox WHERE msg_id = $1', [a.msg_id])) === 1);
      await publishWithPika([{ topic: TOPIC, body: finished(twinA), id: a.msg_id }]);
      const bUuid = randomUUID();
      await publishWithPika([{ topic: TOPIC, body: finished(twinB), id: bUuid }]);
      await until('twin B stored', async () => (await scalar(db.pool, 'SELECT count(*)::int AS n FROM bus_inbox WHERE msg_id = $1', [`${year}-${bUuid}`])) === 1);
      await sandbox.bus!.publish({ topic: TOPIC, msg: finished(twinB), msg_id: `${year}-${bUuid}`, username: 'amqp-bridge' });
      await until('both second copies seen', () => service.listener.counters.duplicate - duplicatesBefore === 2);
      await expectOneRunEach([twinA, twinB], 'Fedora-Rawhide-20261202.n.');
      const twins = await db.pool.query<{ transport: string }>('SELECT transport FROM bus_inbox WHERE msg_id IN ($1, $2) ORDER BY msg_id = $1 DESC', [a.msg_id, `${year}-${bUuid}`]);
      assert.deepEqual(twins.rows.map((r) => r.transport), ['fedmsg', 'amqp'], 'each kept as the transport that brought it first');
      assert.equal(await ready(queue), 0);
    });

    it('dead-letters malformed bodies and wrong headers, acks them, and goes on to the next message', async () => {
      const good = { content_type: 'application/json', content_encoding: 'utf-8', delivery_mode: 2 };
      const headers = () => ({ fedora_messaging_schema: 'base.message', fedora_messaging_severity: 20, 'sent-at': new Date().toISOString().replace(/\.\d+Z$/, '+00:00') });
      const json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
      const body = (tag: string) => json(finished(`Fedora-Bad-20261202.n.${tag}`));
      const raw = (properties: Record<string, unknown>, bodyB64: string): PikaLine => ({ topic: TOPIC, raw: { body_b64: bodyB64, properties } });
      const id = () => randomUUID();
      const poisons: { name: string; line: PikaLine; reason: RegExp }[] = [
        { name: 'no message ID', line: raw({ ...good, headers: headers() }, body('1')), reason: /^no message_id property/ },
        { name: 'text/plain', line: raw({ ...good, content_type: 'text/plain', message_id: id(), headers: headers() }, body('2')), reason: /^content_type "text\/plain" is not application\/json$/ },
        { name: 'latin-1', line: raw({ ...good, content_encoding: 'latin-1', message_id: id(), headers: headers() }, body('3')), reason: /^content_encoding "latin-1" is not utf-8$/ },
        { name: 'no schema header', line: raw({ ...good, message_id: id(), headers: { ...headers(), fedora_messaging_schema: undefined } }, body('4')), reason: /^header fedora_messaging_schema is missing/ },
        { name: 'severity 99', line: raw({ ...good, message_id: id(), headers: { ...headers(), fedora_messaging_severity: 99 } }, body('5')), reason: /^header fedora_messaging_severity 99 is not 10, 20, 30 or 40$/ },
        { name: 'sent-at without an offset', line: raw({ ...good, message_id: id(), headers: { ...headers(), 'sent-at': '2026-12-02T10:00:00' } }, body('6')), reason: /^header sent-at "2026-12-02T10:00:00" is not an ISO 8601 time with a UTC offset$/ },
        { name: 'a message ID that is a path', line: raw({ ...good, message_id: '../../etc/passwd', headers: headers() }, body('7')), reason: /^message_id "\.\.\/\.\.\/etc\/passwd" is neither a UUID nor <year>-<uuid>$/ },
        { name: 'not JSON', line: raw({ ...good, message_id: id(), headers: headers() }, Buffer.from('{"compose_id": ').toString('base64')), reason: /^body is not JSON: / },
        { name: 'invalid UTF-8', line: raw({ ...good, message_id: id(), headers: headers() }, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64')), reason: /^body is not valid UTF-8$/ },
        { name: 'a JSON array', line: raw({ ...good, message_id: id(), headers: headers() }, json([1, 2])), reason: /^body is not a JSON object$/ },
        { name: '20,000 levels of nesting', line: raw({ ...good, message_id: id(), headers: headers() }, Buffer.from('['.repeat(20_000) + ']'.repeat(20_000)).toString('base64')), reason: /^body nests deeper than 32 levels$/ },
        { name: '1.5 MB body', line: raw({ ...good, message_id: id(), headers: headers() }, json({ ...finished('Fedora-Bad-20261202.n.12'), compose_label: 'x'.repeat(1_500_000) })), reason: /^message of \d+ bytes exceeds the 1048576-byte cap$/ },
        { name: 'a body its topic\'s schema refuses', line: raw({ ...good, message_id: id(), headers: headers() }, json({ status: 'FINISHED' })), reason: /^pungi\.compose\.status\.change body: compose_id/ },
        { name: 'a severity that is a nested table', line: raw({ ...good, message_id: id(), headers: { ...headers(), fedora_messaging_severity: { a: { b: { c: [1, 2, { d: 'x' }] } } } } }, body('15')), reason: /^header fedora_messaging_severity \(a object\) is not 10, 20, 30 or 40$/ },
        { name: 'sent in 2019 (older than bus.maxMessageAge)', line: raw({ ...good, message_id: id(), headers: { ...headers(), 'sent-at': '2019-07-30T19:12:22+00:00' } }, body('14')), reason: /^sent 2019-07-30T19:12:22.000Z, more than 30 days ago/ },
      ];
      const deadBefore = await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_dead_letters WHERE transport = 'amqp'`);
      // After them, two good messages: one plain, one whose long header ends in an emoji that a cut at 4,096 characters would split.
      const next = ['Fedora-Rawhide-20261203.n.0', 'Fedora-Rawhide-20261203.n.1'];
      await publishWithPika([...poisons.map((p) => p.line), { topic: TOPIC, body: finished(next[0]!) }, { topic: TOPIC, body: finished(next[1]!), extra_headers: { note: `${'a'.repeat(4095)}\u{1F600}` } }]);
      await expectOneRunEach(next, 'Fedora-Rawhide-20261203.n.');
      await until('every poison kept', async () => (await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_dead_letters WHERE transport = 'amqp'`)) - deadBefore === poisons.length);
      const letters = await db.pool.query<{ reason: string; msg_id: string | null; topic: string | null; amqp_properties: unknown }>(
        `SELECT reason, msg_id, topic, amqp_properties FROM bus_dead_letters WHERE transport = 'amqp' ORDER BY id OFFSET $1`,
        [deadBefore],
      );
      for (const [index, poison] of poisons.entries()) {
        assert.match(letters.rows[index]!.reason, poison.reason, poison.name);
        assert.equal(letters.rows[index]!.topic, TOPIC, poison.name);
      }
      assert.equal(await ready(queue), 0, 'every delivery acked: none waits in the queue');
      assert.equal(service.amqp!.counters.redelivered, 0, 'none came round again');

      // `bus retry` reads a dead letter's kept properties and body back: the 2019 message passes once old messages are allowed.
      const old = letters.rows[poisons.length - 1]!;
      const config = loadConfig({ ...deliveryTestEnv(sandbox), DATABASE_URL: db.url, RELENGOTRON_MAX_MESSAGE_AGE: 'off', LOG_LEVEL: 'silent' });
      assert.equal(await retryMessage(config, log, old.msg_id!), `dead letter ${(await db.pool.query<{ id: string }>('SELECT id FROM bus_dead_letters WHERE msg_id = $1', [old.msg_id])).rows[0]!.id}: stored in the inbox; the bus listener starts its run`);
      await expectOneRunEach(['Fedora-Bad-20261202.n.14'], 'Fedora-Bad-20261202.n.14');
      const severity = letters.rows[4]!;
      assert.match(await retryMessage(config, log, severity.msg_id!), /refused again: header fedora_messaging_severity 99/);
    });
  });

  it('rejects refused messages to the configured dead-letter exchange, and keeps them too', async () => {
    const dlx = `${EXCHANGE}-dlx`;
    exchanges.push(dlx);
    const parked = newQueue('dlx-parked');
    const queue = newQueue('with-dlx');
    const channel = await admin.createChannel();
    await channel.assertExchange(dlx, 'fanout', { durable: true });
    await channel.assertQueue(parked, { durable: true });
    await channel.bindQueue(parked, dlx, '');
    await channel.close();
    const service = testBusService({ pool: db.pool, client, sandbox }, { fedmsg: false, amqp: settings(queue, { deadLetterExchange: dlx }) });
    service.start();
    try {
      await until('the AMQP consumer', () => service.amqp!.connected);
      const [poisonId] = await publishWithPika([{ topic: TOPIC, body: { status: 'FINISHED' } }]);
      await until('the poison rejected', () => service.amqp!.counters.rejected === 1);
      const drained = await drainWithPika(parked);
      assert.equal(drained.length, 1);
      assert.equal(drained[0]!.properties.message_id, poisonId);
      assert.equal(drained[0]!.body, '{"status": "FINISHED"}');
      assert.equal(await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_dead_letters WHERE msg_id LIKE $1`, [`%${poisonId}`]), 1);
      assert.equal(await ready(queue), 0);
    } finally {
      await service.stop();
    }
  });

  it('loses nothing and starts nothing twice across kill -9 of the listener mid-burst and a broker restart', async () => {
    const queue = newQueue('process');
    const metricsPort = await freePort();
    let listener: ChildProcess | null = null;
    const start = () => {
      listener = spawn(process.execPath, [LISTENER], {
        env: {
          ...process.env,
          ...deliveryTestEnv(sandbox),
          TEMPORAL_ADDRESS: temporal.address,
          DATABASE_URL: db.url,
          RELENGOTRON_BUS_TRANSPORT: 'amqp',
          AMQP_URL: BROKER,
          AMQP_EXCHANGE: EXCHANGE,
          AMQP_QUEUE: queue,
          RELENGOTRON_BUS_METRICS: `127.0.0.1:${metricsPort}`,
          LOG_LEVEL: process.env['TEST_LISTENER_LOG_LEVEL'] ?? 'error',
          LOG_FORMAT: 'json',
        },
        stdio: ['ignore', process.env['TEST_LISTENER_LOG_LEVEL'] ? 'inherit' : 'ignore', 'inherit'],
      });
    };
    const metric = async (name: string): Promise<number> => metricSample(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(), name);
    const stop = async (signal: NodeJS.Signals) => {
      const child = listener;
      listener = null;
      await stopProcess(child, signal);
    };
    const composes = (batch: string, count: number) => Array.from({ length: count }, (_, i) => `Fedora-Amqp-2026120${batch}.n.${i}`);
    const lines = (ids: readonly string[]) => ids.map((id) => ({ topic: TOPIC, body: finished(id) }));
    try {
      step('0');
      start();
      await until('the listener consuming', async () => (await metric('relengotron_bus_amqp_connected')) === 1);
      // 300 messages, the listener killed with SIGKILL once 60 are in the inbox; the rest wait in the queue.
      const burst = composes('4', 300);
      const publishing = publishWithPika(lines(burst), 5);
      await until('60 messages in', async () => (await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_inbox WHERE envelope->'msg'->>'compose_id' LIKE 'Fedora-Amqp-20261204.%'`)) >= 60);
      const inAtKill = await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_inbox WHERE envelope->'msg'->>'compose_id' LIKE 'Fedora-Amqp-20261204.%'`);
      step('1');
      await stop('SIGKILL');
      const published = await publishing;
      assert.equal(published.length, 300);
      assert.ok(inAtKill < 300, `killed mid-burst (${inAtKill} of 300 stored)`);
      const waiting = await ready(queue);
      assert.ok(waiting > 0, `messages waited in the queue while the listener was dead (${waiting})`);
      step('2');
      start();
      await expectOneRunEach(burst, 'Fedora-Amqp-20261204.');
      const redelivered = await metric('relengotron_bus_amqp_deliveries_total{outcome="redelivered"}');

      // A broker restart with 200 messages waiting: the listener is frozen (SIGSTOP) so they pile
      // up in the queue, the broker restarts (persistent messages in a durable queue survive it,
      // the ones delivered to the frozen listener and not acked come back), and the listener,
      // thawed, finds its connection gone and reconnects by itself.
      const second = composes('5', 200);
      listener!.kill('SIGSTOP');
      await publishWithPika(lines(second));
      step('3');
      const queuedAtRestart = await ready(queue);
      restartBroker();
      listener!.kill('SIGCONT');
      step('4');
      await reconnectAdmin();
      await until('the listener reconnected', async () => (await metric('relengotron_bus_amqp_connections_total')) >= 2 && (await metric('relengotron_bus_amqp_connected')) === 1, 60_000);
      step('5');
      const third = composes('6', 50);
      await publishWithPika(lines(third));
      step('6');
      await expectOneRunEach(second, 'Fedora-Amqp-20261205.');
      await expectOneRunEach(third, 'Fedora-Amqp-20261206.');
      step('7');
      await until('an empty queue', async () => (await ready(queue)) === 0);
      await stop('SIGTERM');
      assert.equal(await ready(queue), 0, 'nothing left unacked: the queue is empty with no consumer');
      const duplicates = await scalar(db.pool, `SELECT count(*)::int AS n FROM bus_inbox WHERE envelope->'msg'->>'compose_id' LIKE 'Fedora-Amqp-%'`);
      assert.equal(duplicates, 550, 'one inbox row per message');
      // Figures for the closing note.
      console.log(`# AMQP kill -9: ${inAtKill} of 300 stored at the kill, ${waiting} waiting in the queue, ${redelivered} redelivered after the restart; ${queuedAtRestart} of 200 waiting in the queue at the broker restart`);
    } finally {
      await stop('SIGKILL');
    }
  });

  it('publishes with fedora-messaging\'s headers, marks a message sent only once the broker confirmed it, and survives a broker restart', async () => {
    const queue = newQueue('ours');
    const channel = await admin.createChannel();
    await channel.assertQueue(queue, { durable: true });
    await channel.bindQueue(queue, EXCHANGE, 'org.fedoraproject.dev.releng-o-tron.#');
    await channel.close();
    const publisher = new AmqpPublisher(settings(queue), log);
    const envelopes = new EnvelopeBuilder({ topicPrefix: 'org.fedoraproject', environment: 'dev', signer: null });
    const bus = createBusActivities({ pool: db.pool, bus: { envelopes, fedmsg: null, amqp: publisher } });
    const year = new Date().getUTCFullYear();
    const id = `${year}-${randomUUID()}`;
    const body = { release: 'F29', workflow_id: 'release-eol/F29', koji: { deleted_targets: ['f29'], locked_tags: ['f29'] }, bodhi: 'archived', pdc: null, archived_trees: [], ostree_refs: ['fedora/29/x86_64/iot'], skipped: [] };
    try {
      const first = await bus.publishMessage({ msgId: id, topic: 'releng-o-tron.release.eol', body });
      assert.equal(first.sentNow, true);
      const again = await bus.publishMessage({ msgId: id, topic: 'releng-o-tron.release.eol', body });
      assert.equal(again.sentNow, false, 'a message confirmed once is not sent again');
      const outbox = await db.pool.query<{ amqp_sent_at: Date | null; amqp_sends: number; envelope: string }>('SELECT amqp_sent_at, amqp_sends, envelope FROM bus_outbox WHERE msg_id = $1', [id]);
      assert.ok(outbox.rows[0]!.amqp_sent_at);
      assert.equal(outbox.rows[0]!.amqp_sends, 1);

      // The worker crashed after the broker confirmed but before the mark: the retry sends the same message again, same ID.
      await db.pool.query('UPDATE bus_outbox SET amqp_sent_at = NULL WHERE msg_id = $1', [id]);
      assert.equal((await bus.publishMessage({ msgId: id, topic: 'releng-o-tron.release.eol', body })).sentNow, true);

      restartBroker();
      await reconnectAdmin();
      const drained = await drainWithPika(queue);
      assert.equal(drained.length, 2, 'both sends survived the broker restart');
      const sentAt = new Date((JSON.parse(outbox.rows[0]!.envelope) as { timestamp: number }).timestamp * 1000).toISOString().replace(/\.000Z$/, '+00:00');
      for (const message of drained) {
        assert.equal(message.routing_key, 'org.fedoraproject.dev.releng-o-tron.release.eol');
        assert.deepEqual(message.properties, {
          message_id: id,
          content_type: 'application/json',
          content_encoding: 'utf-8',
          delivery_mode: 2,
          priority: 0,
          headers: { fedora_messaging_schema: 'base.message', fedora_messaging_severity: 20, 'sent-at': sentAt, priority: 0 },
        });
        assert.deepEqual(JSON.parse(message.body), body, 'the body is the message itself, no fedmsg envelope');
      }
      assert.equal(drained[0]!.body, drained[1]!.body, 'the retry sent identical bytes');

      // No confirm, no mark: an exchange that does not exist makes the broker close the channel.
      const lost = new AmqpPublisher(settings(queue, { exchange: `${EXCHANGE}-missing` }), log);
      const unconfirmed = createBusActivities({ pool: db.pool, bus: { envelopes, fedmsg: null, amqp: lost } });
      const lostId = `${year}-${randomUUID()}`;
      await assert.rejects(unconfirmed.publishMessage({ msgId: lostId, topic: 'releng-o-tron.release.eol', body }), /NOT_FOUND|404|closed|confirm/i);
      const lostRow = await db.pool.query<{ amqp_sent_at: Date | null }>('SELECT amqp_sent_at FROM bus_outbox WHERE msg_id = $1', [lostId]);
      assert.equal(lostRow.rows[0]!.amqp_sent_at, null, 'kept as unsent, for the activity\'s retry');
      await lost.close();
    } finally {
      await publisher.close();
    }
  });

  it('consumes over amqps with the CA, client certificate and key from config, and gets nowhere without them', async () => {
    const pki = makeTlsPki('rabbitmq.releng.test');
    // RabbitMQ here listens in plain AMQP; a TLS terminator that requires client certificates
    // plays its TLS listener (ssl_options.verify = verify_peer, fail_if_no_peer_cert = true).
    let refused = 0;
    const terminator: TlsServer = createTlsServer(
      { cert: readFileSync(pki.server.cert), key: readFileSync(pki.server.key), ca: readFileSync(pki.ca), requestCert: true, rejectUnauthorized: true },
      (socket) => {
        const upstream = netConnect(5672, '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        for (const s of [socket, upstream]) s.on('error', () => undefined);
        socket.on('close', () => upstream.destroy());
        upstream.on('close', () => socket.destroy());
      },
    );
    terminator.on('tlsClientError', () => refused++);
    await new Promise<void>((resolve) => terminator.listen(0, '127.0.0.1', resolve));
    const port = (terminator.address() as { port: number }).port;
    // The certificate names 127.0.0.1 too, so the broker's identity is checked against the address.
    const url = `amqps://guest:guest@127.0.0.1:${port}/%2F`;
    const queue = newQueue('tls');
    const tls = (client: { cert: string; key: string } | null) => ({ ca: readFileSync(pki.ca), ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}) });
    const withCert = testBusService({ pool: db.pool, client, sandbox }, { fedmsg: false, amqp: settings(queue, { url, tls: tls(pki.client) }) });
    const withoutCert = testBusService({ pool: db.pool, client, sandbox }, { fedmsg: false, amqp: settings(newQueue('tls-nocert'), { url, tls: tls(null) }) });
    const stranger = testBusService({ pool: db.pool, client, sandbox }, { fedmsg: false, amqp: settings(newQueue('tls-stranger'), { url, tls: tls(pki.stranger) }) });
    try {
      withCert.start();
      withoutCert.start();
      stranger.start();
      await until('the consumer with a certificate', () => withCert.amqp!.connected);
      const composeId = 'Fedora-Tls-20261202.n.0';
      await publishWithPika([{ topic: TOPIC, body: finished(composeId) }]);
      await expectOneRunEach([composeId], 'Fedora-Tls-');
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(withoutCert.amqp!.counters.connections, 0, 'no client certificate: never connected');
      assert.equal(stranger.amqp!.counters.connections, 0, 'a certificate from another CA: never connected');
      assert.ok(refused >= 2, `the terminator refused the handshakes (${refused})`);
    } finally {
      await Promise.all([withCert.stop(), withoutCert.stop(), stranger.stop()]);
      await new Promise((resolve) => terminator.close(resolve));
    }
  });

  it('`bus tail` and `bus replay` work with either transport', async () => {
    // A sandbox whose bus bridges every fedmsg message to this run's exchange, as Fedora's bridge did.
    const bridged = await startTestSandbox({ amqp: settings('unused') });
    const tail = spawn(process.execPath, [CLI, 'bus', 'tail', '--transport', 'both', '--count', '2'], {
      env: { ...process.env, FEDMSG_ENDPOINTS: bridged.busEndpoint, AMQP_URL: BROKER, AMQP_EXCHANGE: EXCHANGE, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    tail.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => tail.once('exit', resolve));
    try {
      assert.ok(await bridged.bus!.waitForSubscribers(1, 30_000));
      // The tail's AMQP queue is declared and bound once it has connected: a message published before that would be missed.
      await new Promise((r) => setTimeout(r, 1500));
      const shown = await bridged.bus!.publish({ topic: TOPIC, msg: finished('Fedora-Tail-20261202.n.0', bridged) });
      assert.equal(await exited, 0);
      const lines = output.trim().split('\n');
      assert.equal(lines.length, 2, output);
      assert.deepEqual(lines.map((l) => /\((fedmsg|amqp)\)$/.exec(l)?.[1]).sort(), ['amqp', 'fedmsg'], output);
      for (const line of lines) assert.ok(line.includes(`${TOPIC}  ${shown.msg_id}  `), line);

      // datagrepper keeps what was sent either way; a replay keys a fedora-messaging message as the live consumer does.
      const native = await bridged.bus!.publishFedoraMessaging({ topic: TOPIC, body: finished('Fedora-Replay-20261202.n.0', bridged) });
      const fedmsgOnly = loadConfig({ ...deliveryTestEnv(bridged), DATABASE_URL: db.url, DATAGREPPER_URL: bridged.urls.datagrepper, LOG_LEVEL: 'silent' });
      // Where only fedmsg is heard, a row from fedora-messaging has no signature to trust it by: refused.
      await replayBus(fedmsgOnly, log, { start: native.sentAt - 5, end: native.sentAt + 5 });
      assert.equal(await scalar(db.pool, 'SELECT count(*)::int AS n FROM bus_inbox WHERE msg_id LIKE $1', [`%${native.id}`]), 0);
      assert.match((await db.pool.query<{ reason: string }>('SELECT reason FROM bus_dead_letters WHERE msg_id = $1', [native.id])).rows[0]!.reason, /msg_id: expected <year>-<uuid4>/);
      const config = loadConfig({ ...deliveryTestEnv(bridged), DATABASE_URL: db.url, DATAGREPPER_URL: bridged.urls.datagrepper, RELENGOTRON_BUS_TRANSPORT: 'both', LOG_LEVEL: 'silent' });
      const result = await replayBus(config, log, { start: native.sentAt - 5, end: native.sentAt + 5 });
      assert.ok(result.stored >= 1, JSON.stringify(result));
      const year = new Date(native.sentAt * 1000).getUTCFullYear();
      const rows = await db.pool.query<{ msg_id: string; transport: string }>('SELECT msg_id, transport FROM bus_inbox WHERE msg_id IN ($1, $2) ORDER BY transport', [shown.msg_id, `${year}-${native.id}`]);
      assert.deepEqual(rows.rows, [{ msg_id: `${year}-${native.id}`, transport: 'amqp' }, { msg_id: shown.msg_id, transport: 'fedmsg' }]);
      assert.equal((await replayBus(config, log, { start: native.sentAt - 5, end: native.sentAt + 5 })).stored, 0, 'safe twice');
    } finally {
      tail.kill('SIGKILL');
      await bridged.stop();
    }
  });
});
