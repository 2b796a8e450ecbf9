/**
 * The listener as a trust boundary, tested as a stranger would attack it: the real listener
 * process, real ZeroMQ from a Python publisher sending arbitrary bytes, the real Temporal server
 * (with a short workflow-ID limit, so a start it refuses can be provoked) and Postgres. No message
 * may stop the ones after it; every refused one is a dead letter with a reason; nothing from
 * outside the accepted prefixes, or forged, starts work.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { deadLetterBytes } from '../bus/inbox.js';
import { signEnvelope } from '../common/fedmsg-crypto.js';
import { prepareNamespace } from '../devstack/temporal-namespace.js';
import { resolveTemporalCli, startTemporalDevServer, type TemporalDevServer } from '../devstack/temporal-dev-server.js';
import { deliveryTestEnv, metricSample } from './helpers/bus.js';
import { waitUntil } from './helpers/until.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { envelopeOf, framesOf, mutate, publisherLine, referenceEnvelopes, seededRandom, type Envelope } from './helpers/fuzz.js';
import { makePki, type TestPki } from './helpers/pki.js';
import { freePort, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';

const run = promisify(execFile);
const LISTENER = fileURLToPath(new URL('../workers/bus-listener.js', import.meta.url));
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const PUBLISHER = fileURLToPath(new URL('../../test/fixtures/fedmsg_publisher.py', import.meta.url));
const TOPIC = 'org.fedoraproject.prod.pungi.compose.status.change';
const ACCEPTED = ['org.fedoraproject.prod.', 'org.centos.prod.'];
/** The Temporal server here refuses longer workflow IDs, as a stricter production limit would. */
const MAX_ID_LENGTH = 120;
const FUZZ_MESSAGES = Number(process.env['TEST_FUZZ_MESSAGES'] ?? 3000);
const FUZZ_SEED = Number(process.env['TEST_FUZZ_SEED'] ?? 20261202);

let sandbox: TestSandbox;
let temporal: TemporalDevServer;
let connection: Connection;
let client: Client;
let db: TestDatabase;
let pki: TestPki;
let listener: ChildProcess;
let publisherEndpoint = '';
let metricsPort = 0;
let environment: NodeJS.ProcessEnv;
let serial = 0;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Sends each message's frames from an outside Python program; resolves with how many it sent. */
async function publish(messages: readonly Buffer[][]): Promise<number> {
  const file = join(mkdtempSync(join(tmpdir(), 'relengotron-frames-')), 'messages.txt');
  writeFileSync(file, `${messages.map(publisherLine).join('\n')}\n`);
  const { stdout } = await run('/usr/bin/python3', [PUBLISHER, '--frames', publisherEndpoint, file], { timeout: 300_000, maxBuffer: 1024 * 1024 });
  return Number(stdout.trim());
}

/** A finished compose under the sandbox: a message that must start exactly one run. */
function valid(tag: string): { readonly composeId: string; readonly frames: Buffer[]; readonly envelope: Envelope } {
  const composeId = `Fedora-${tag}-20261202.n.${serial++}`;
  const envelope = envelopeOf(TOPIC, { compose_id: composeId, location: `${sandbox.urls.composes}/${composeId}/compose`, status: 'FINISHED' });
  return { composeId, frames: framesOf(envelope), envelope };
}

async function metric(line: string): Promise<number> {
  return metricSample(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(), line);
}

const until = waitUntil;

const runsOf = async (workflowId: string) => (await client.workflow.count(`WorkflowId = '${workflowId}'`)).count;

async function expectOneRunEach(composeIds: readonly string[], timeoutMs = 30_000): Promise<number> {
  const waited = await until(`${composeIds.length} runs`, async () => {
    const { count } = await client.workflow.count(`WorkflowType = 'discoverCompose' AND WorkflowId IN (${composeIds.map((id) => `'compose-discovery/${id}'`).join(',')})`);
    return count === composeIds.length;
  }, timeoutMs);
  for (const id of composeIds) assert.equal(await runsOf(`compose-discovery/${id}`), 1, id);
  return waited;
}

/** Starts the listener process (again), as its systemd unit would after a configuration change. */
async function startListener(env: NodeJS.ProcessEnv): Promise<void> {
  if (listener && listener.exitCode === null && listener.signalCode === null) {
    const gone = new Promise((resolve) => listener.once('exit', resolve));
    listener.kill('SIGTERM');
    await gone;
  }
  listener = spawn(process.execPath, [LISTENER], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  await until('the listener to serve metrics', async () => Number.isFinite(await metric('relengotron_bus_inbox_pending')), 30_000);
}

function cli(args: string[], env: NodeJS.ProcessEnv = environment): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env, timeout: 120_000 });
}

describe('bus trust boundary: no message stops ingestion, no stranger starts work', () => {
  before(async () => {
    pki = makePki();
    [sandbox, db] = await Promise.all([startTestSandbox(), createTestDatabase()]);
    temporal = await startTemporalDevServer({
      cliPath: resolveTemporalCli(process.env['TEMPORAL_CLI']),
      dataDir: mkdtempSync(join(tmpdir(), 'relengotron-trust-')),
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
      dynamicConfig: { 'limit.maxIDLength': MAX_ID_LENGTH },
    });
    connection = await Connection.connect({ address: temporal.address });
    await prepareNamespace(connection, { namespace: 'default', retentionMs: 86_400_000 });
    client = new Client({ connection });
    publisherEndpoint = `tcp://127.0.0.1:${await freePort()}`;
    metricsPort = await freePort();
    environment = {
      ...process.env,
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: db.url,
      FEDMSG_ENDPOINTS: publisherEndpoint,
      DATAGREPPER_URL: sandbox.urls.datagrepper,
      RELENGOTRON_BUS_METRICS: `127.0.0.1:${metricsPort}`,
      LOG_LEVEL: 'error',
      LOG_FORMAT: 'json',
      ...deliveryTestEnv(sandbox),
    };
    await startListener(environment);
  });

  after(async () => {
    listener.kill('SIGKILL');
    await connection.close();
    await temporal.stop();
    await Promise.all([db.drop(), sandbox.stop()]);
  });

  it('refuses each poison message with the reason and its exact bytes, and starts every valid message after it', async () => {
    const pungi = (msg: Record<string, unknown>, extra: Record<string, unknown> = {}) => envelopeOf(TOPIC, { location: `${sandbox.urls.composes}/x/compose`, status: 'FINISHED', ...msg }, extra);
    const text = (e: Envelope) => JSON.stringify(e);
    const withRawNul = Buffer.from(text(pungi({ compose_id: 'Fedora-Nul-20261202.n.0' })).replace('Nul', 'N\u0000ul'), 'utf8');
    const longButValidId = `Fedora-${'Long'.repeat(35)}-20261202.n.0`;
    const parkedEnvelope = pungi({ compose_id: longButValidId });
    const foreign = pungi({ compose_id: 'Fedora-Foreign-20261202.n.0', location: 'http://composes.example.org/compose/Fedora-Foreign-20261202.n.0/compose' });
    const deep = `${text(pungi({ compose_id: 'Fedora-Deep-20261202.n.0' })).slice(0, -1)},"deep":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const poisons: { readonly name: string; readonly frames: Buffer[]; readonly reason: RegExp | 'parked' | 'filtered' | 'not-routed' }[] = [
      { name: 'raw NUL inside the envelope', frames: [Buffer.from(TOPIC), withRawNul], reason: /^envelope is not JSON: .*control character/i },
      { name: 'NUL in the topic frame', frames: [Buffer.from(`${TOPIC}\u0000`), Buffer.from(text(pungi({ compose_id: 'Fedora-TopicNul-20261202.n.0' })))], reason: /^topic frame ".*\\u0000" does not match envelope topic/ },
      { name: 'timestamp 1e13', frames: framesOf(pungi({ compose_id: 'Fedora-Time-20261202.n.0' }, { timestamp: 1e13 })), reason: /^invalid envelope: timestamp: expected epoch seconds before 2100-01-01/ },
      { name: '1,500-character compose ID', frames: framesOf(pungi({ compose_id: `Fedora-${'x'.repeat(1500)}-20261202.n.0` })), reason: /^pungi\.compose\.status\.change body: compose_id: / },
      { name: 'a compose ID Temporal refuses as a workflow ID', frames: framesOf(parkedEnvelope), reason: 'parked' },
      { name: '\\u0000 escape in a kept field', frames: framesOf(pungi({ compose_id: 'Fedora-Escape-20261202.n.0', compose_label: 'RC\u00001' })), reason: /^the inbox cannot store it: .*\(SQLSTATE 22P05\)$/ },
      { name: 'invalid UTF-8', frames: [Buffer.from(TOPIC), Buffer.concat([Buffer.from(text(pungi({ compose_id: 'Fedora-Utf-20261202.n.0' })).slice(0, 30)), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])], reason: /^envelope is not valid UTF-8$/ },
      { name: '20,000 levels of nesting', frames: [Buffer.from(TOPIC), Buffer.from(deep)], reason: /^envelope nests deeper than 32 levels$/ },
      { name: '1.5 MB envelope', frames: framesOf(pungi({ compose_id: 'Fedora-Big-20261202.n.0', compose_label: 'x'.repeat(1_500_000) })), reason: /^message of \d+ bytes exceeds the 1048576-byte cap$/ },
      { name: 'three frames', frames: [...framesOf(pungi({ compose_id: 'Fedora-Three-20261202.n.0' })), Buffer.from('more')], reason: /^expected 2 frames \(topic, envelope\), got 3$/ },
      { name: 'a compose on a stranger\'s server', frames: framesOf(foreign), reason: /is not under a trusted compose base/ },
      { name: 'another environment', frames: framesOf(envelopeOf('org.fedoraproject.stg.pungi.compose.status.change', { compose_id: 'Fedora-Stg-20261202.n.0', location: `${sandbox.urls.composes}/Fedora-Stg-20261202.n.0/compose`, status: 'FINISHED' })), reason: 'filtered' },
      { name: 'a made-up prefix', frames: framesOf(envelopeOf('evil.dev.bodhi.composer.start', { api_version: 2, agent: 'mallory', resume: false, composes: [{ release_id: 1, request: 'stable', content_type: 'rpm', security: false }] })), reason: 'filtered' },
      { name: 'a prefix inside the topic', frames: framesOf(envelopeOf('org.fedoraproject.prod.evil.dev.bodhi.composer.start', { api_version: 2, agent: 'mallory', resume: false, composes: [{ release_id: 1, request: 'stable', content_type: 'rpm', security: false }] })), reason: 'not-routed' },
    ];
    const valids = poisons.map(() => valid('Trust'));
    const received0 = await metric('relengotron_bus_messages_total{outcome="received"}');
    const started = Date.now();
    const sent = await publish(poisons.flatMap((p, i) => [p.frames, valids[i]!.frames]));
    assert.equal(sent, poisons.length * 2);
    const waited = await expectOneRunEach(valids.map((v) => v.composeId));
    process.stdout.write(`# ${valids.length} valid messages after ${poisons.length} poisons: all runs started ${Date.now() - started} ms after publishing began (${waited} ms after the publisher finished)\n`);
    const filtered = poisons.filter((p) => p.reason === 'filtered').length;
    await until('every message received', async () => (await metric('relengotron_bus_messages_total{outcome="received"}')) - received0 === sent - filtered);

    const dead = await db.pool.query<{ reason: string; raw: Buffer; msg_id: string | null }>('SELECT reason, raw, msg_id FROM bus_dead_letters');
    for (const poison of poisons) {
      const letter = dead.rows.find((d) => sha(d.raw) === sha(deadLetterBytes(poison.frames).raw));
      if (poison.reason instanceof RegExp) {
        assert.ok(letter, `${poison.name}: a dead letter with its exact bytes`);
        assert.match(letter.reason, poison.reason, poison.name);
      } else assert.equal(letter, undefined, `${poison.name}: no dead letter (${poison.reason})`);
    }
    const parked = await db.pool.query<{ state: string; last_error: string }>('SELECT state, last_error FROM bus_inbox WHERE msg_id = $1', [parkedEnvelope['msg_id']]);
    assert.equal(parked.rows[0]?.state, 'parked');
    assert.match(parked.rows[0].last_error, /length|too long|exceeds/i);
    assert.match(parked.rows[0].last_error, /gRPC INVALID_ARGUMENT/);
    assert.equal(await client.workflow.count(`WorkflowType = 'bodhiPush'`).then((c) => c.count), 0, 'no spoofed push started');
    assert.equal(await metric('relengotron_bus_inbox_pending'), 0);
    assert.equal(await metric('relengotron_bus_inbox_parked'), 1);

    // An operator looks, fixes the configuration, and re-drives.
    const listed = JSON.parse((await cli(['bus', 'parked', '--json'])).stdout) as { parked: { msgId: string; reason: string }[]; deadLetters: { msgId: string | null; reason: string; raw: string }[] };
    assert.deepEqual(listed.parked.map((p) => p.msgId), [parkedEnvelope['msg_id']]);
    assert.ok(listed.deadLetters.length >= 10);
    const nul = listed.deadLetters.find((d) => d.reason.startsWith('envelope is not JSON') && d.raw.includes('N\\u0000ul'));
    assert.ok(nul, 'the NUL is shown escaped');
    const human = (await cli(['bus', 'parked'])).stdout;
    assert.match(human, /^parked inbox rows: 1$/m);
    // The fix is configuration: the listener is restarted with it, and the CLI re-drives under it.
    const trusted = { ...environment, RELENGOTRON_COMPOSE_LOCATIONS: 'http://composes.example.org/compose' };
    await startListener(trusted);
    assert.match((await cli(['bus', 'retry', String(foreign['msg_id'])], trusted)).stdout, /stored in the inbox; the bus listener starts its run/);
    await until('the re-driven run', async () => (await runsOf('compose-discovery/Fedora-Foreign-20261202.n.0')) === 1);
    assert.match((await cli(['bus', 'retry', String(foreign['msg_id'])], trusted)).stdout, /already in the inbox, started \(compose-discovery\/Fedora-Foreign-20261202\.n\.0\)/);
    assert.match((await cli(['bus', 'retry', String(parkedEnvelope['msg_id'])])).stdout, /back in the inbox/);
    await until('parked again', async () => (await db.pool.query('SELECT 1 FROM bus_inbox WHERE msg_id = $1 AND state = $2', [parkedEnvelope['msg_id'], 'parked'])).rowCount === 1);
    assert.equal(listener.exitCode, null, 'the listener is still running');
    await startListener(environment);
  });

  it(`survives ${FUZZ_MESSAGES} mutated real envelopes (seed ${FUZZ_SEED}); every valid message among them starts exactly one run`, async () => {
    const random = seededRandom(FUZZ_SEED);
    const corpus = referenceEnvelopes();
    const stream: { frames: Buffer[]; valid?: string; mutations?: readonly string[] }[] = [];
    const histogram = new Map<string, number>();
    for (let n = 0; n < FUZZ_MESSAGES; n++) {
      if (n % 15 === 0) {
        const v = valid('Fuzz');
        stream.push({ frames: v.frames, valid: v.composeId });
        continue;
      }
      const mutant = mutate(corpus[Math.floor(random() * corpus.length)]!, random);
      for (const m of mutant.mutations) histogram.set(m, (histogram.get(m) ?? 0) + 1);
      stream.push(mutant);
    }
    const subscribed = (frames: readonly Buffer[]) => ACCEPTED.some((p) => frames[0]!.subarray(0, p.length).equals(Buffer.from(p)));
    const expectedReceived = stream.filter((s) => subscribed(s.frames)).length;
    const before = {
      received: await metric('relengotron_bus_messages_total{outcome="received"}'),
      invalid: await metric('relengotron_bus_messages_total{outcome="invalid"}'),
      duplicate: await metric('relengotron_bus_messages_total{outcome="duplicate"}'),
      notRouted: await metric('relengotron_bus_messages_total{outcome="not_routed"}'),
      dead: Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM bus_dead_letters')).rows[0]!.n),
      inbox: Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM bus_inbox')).rows[0]!.n),
    };
    const started = Date.now();
    assert.equal(await publish(stream.map((s) => s.frames)), stream.length);
    await until('every subscribed message received', async () => (await metric('relengotron_bus_messages_total{outcome="received"}')) - before.received === expectedReceived, 120_000);
    const validIds = stream.flatMap((s) => (s.valid ? [s.valid] : []));
    await expectOneRunEach(validIds, 120_000);
    const elapsed = Date.now() - started;
    assert.equal(listener.exitCode, null, 'the listener is still running');

    const invalid = (await metric('relengotron_bus_messages_total{outcome="invalid"}')) - before.invalid;
    const duplicate = (await metric('relengotron_bus_messages_total{outcome="duplicate"}')) - before.duplicate;
    const notRouted = (await metric('relengotron_bus_messages_total{outcome="not_routed"}')) - before.notRouted;
    const dead = await db.pool.query<{ reason: string; raw: Buffer }>('SELECT reason, raw FROM bus_dead_letters ORDER BY id OFFSET $1', [before.dead]);
    const stored = Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM bus_inbox')).rows[0]!.n) - before.inbox;
    // Every received message is accounted for exactly once, and every refusal is a dead letter with a
    // reason. Identical refused bytes (two mutants that came out the same) are kept once.
    assert.equal(invalid + duplicate + notRouted + stored, expectedReceived);
    assert.ok(dead.rows.length <= invalid && dead.rows.length >= invalid * 0.95, `${dead.rows.length} dead letters for ${invalid} refusals`);
    for (const letter of dead.rows) assert.ok(letter.reason.length > 5, `a reason: ${letter.reason}`);
    const deadBytes = new Set(dead.rows.map((d) => sha(d.raw)));
    let unaccounted = 0;
    for (const s of stream) {
      if (s.valid || !subscribed(s.frames)) continue;
      let msgId: unknown;
      try {
        msgId = (JSON.parse(s.frames[1]?.toString('utf8') ?? '') as { msg_id?: unknown }).msg_id;
      } catch {
        msgId = undefined;
      }
      const kept = deadBytes.has(sha(deadLetterBytes(s.frames).raw)) || (typeof msgId === 'string' && (await db.pool.query('SELECT 1 FROM bus_inbox WHERE msg_id = $1', [msgId])).rowCount === 1);
      if (!kept) unaccounted++;
    }
    // What is neither a dead letter nor in the inbox was valid, and routed nowhere or a duplicate.
    assert.ok(unaccounted <= notRouted + duplicate, `${unaccounted} messages neither kept nor counted as not routed (${notRouted}) or duplicate (${duplicate})`);
    assert.equal(await metric('relengotron_bus_inbox_pending'), 0);
    const reasons = new Map<string, number>();
    for (const d of dead.rows) {
      const kind = d.reason.replace(/[:("].*$/, '').replace(/\d+/g, 'N').trim().slice(0, 60);
      reasons.set(kind, (reasons.get(kind) ?? 0) + 1);
    }
    process.stdout.write(
      `# fuzz seed ${FUZZ_SEED}: ${stream.length} sent (${validIds.length} valid), ${stream.length - expectedReceived} not subscribed (foreign prefix), ` +
        `${expectedReceived} received: ${invalid} dead letters, ${stored} stored, ${notRouted} not routed, ${duplicate} duplicates; ${elapsed} ms\n` +
        `# mutations: ${[...histogram].map(([k, v]) => `${k} ${v}`).join(', ')}\n# refusals: ${[...reasons].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}× ${k}`).join('; ')}\n`,
    );

    // And it still works, within seconds.
    const after = Array.from({ length: 20 }, () => valid('After'));
    await publish(after.map((v) => v.frames));
    const waited = await expectOneRunEach(after.map((v) => v.composeId));
    assert.ok(waited < 15_000, `${waited} ms`);
  });

  it('refuses a forged message replayed from datagrepper, exactly as the live path would, and starts the signed one', async () => {
    const [forged, signed] = [valid('Forged'), valid('Signed')];
    const forgedEnvelope = signEnvelope(forged.envelope, pki.stranger);
    const signedEnvelope = signEnvelope(signed.envelope, pki.signer);
    sandbox.datagrepper.add(forgedEnvelope as unknown as Parameters<typeof sandbox.datagrepper.add>[0]);
    sandbox.datagrepper.add(signedEnvelope as unknown as Parameters<typeof sandbox.datagrepper.add>[0]);
    const caFile = join(mkdtempSync(join(tmpdir(), 'relengotron-ca-')), 'ca.pem');
    writeFileSync(caFile, pki.ca);
    // Production-like: the listener checks signatures too, so its own datagrepper catch-up (after a
    // publisher left) refuses the forged message exactly as the replay does, whichever comes first.
    const verifying = { ...environment, FEDMSG_VERIFY_SIGNATURES: 'true', FEDMSG_CA_CERTS: caFile };
    await startListener(verifying);
    const { stdout } = await cli(['bus', 'replay', '--since', '10m'], verifying);
    assert.ok((JSON.parse(stdout) as { fetched: number }).fetched >= 2, stdout);
    const letter = await db.pool.query<{ reason: string }>('SELECT reason FROM bus_dead_letters WHERE msg_id = $1', [forged.envelope['msg_id']]);
    assert.match(letter.rows[0]?.reason ?? '', /^signature: certificate of releng-rawhide-composer\.example\.org-rogue is not issued by a trusted CA$/);
    await expectOneRunEach([signed.composeId]);
    assert.equal(await runsOf(`compose-discovery/${forged.composeId}`), 0);
  });

  it('a production profile refuses to start without a trust boundary, naming each missing setting', async () => {
    const child = spawn(process.execPath, [LISTENER], { env: { ...environment, RELENGOTRON_PROFILE: 'production', FEDMSG_ENDPOINTS: '', DATAGREPPER_URL: '', COMPOSE_BASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2);
    for (const expected of [
      /bus\.verifySignatures must be true \(FEDMSG_VERIFY_SIGNATURES\)/,
      /bus\.caCertificates must name the fedmsg CA's PEM file \(FEDMSG_CA_CERTS\)/,
      /bus\.routingPolicy names no signer for pungi\.compose\.status\.change, which starts work/,
      /bus\.routingPolicy names no signer for bodhi\.composer\.start/,
      /bus\.endpoints must be set explicitly \(FEDMSG_ENDPOINTS\)/,
      /services\.kojiHub must be set explicitly \(KOJI_HUB_URL\)/,
      /services\.datagrepper must be set explicitly \(DATAGREPPER_URL\)/,
      /services\.composes must be set explicitly \(COMPOSE_BASE_URL\)/,
    ]) assert.match(stderr, expected);
    assert.match(stderr, /^bus-listener: RELENGOTRON_PROFILE=production refuses to start:/);
  });
});
