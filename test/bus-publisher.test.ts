/**
 * Outgoing messages: CI message schemas against real samples, and the publish activity on a real
 * ZeroMQ PUB socket and a real Postgres outbox (validation, signing, idempotence per msg_id).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { createBusActivities, OUTGOING_MESSAGE_INVALID, type BusActivities } from '../activities/bus.js';
import { FedmsgPublisher } from '../bus/publisher.js';
import { verifyEnvelope } from '../common/fedmsg-crypto.js';
import { CI_MESSAGE_VERSION, ciFinishedMessage, ciMessageProblems, type CiComplete, type CiMessageBase } from '../common/schemas/ci.js';
import { FedmsgEnvelopeSchema } from '../common/schemas/fedmsg.js';
import { BusSpy } from './helpers/bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { makePki, type TestPki } from './helpers/pki.js';

const SAMPLES = fileURLToPath(new URL('../../test/fixtures/ci-messages/', import.meta.url));
const sample = (name: string): Record<string, unknown> => JSON.parse(readFileSync(`${SAMPLES}${name}`, 'utf8')) as Record<string, unknown>;
const umbBody = (name: string): unknown => (sample(name)['body'] as { msg: unknown }).msg;

/** A compose test result as releng-o-tron reports one (productmd-compose artifact). */
function composeComplete(result: string): Record<string, unknown> {
  return {
    contact: { name: 'releng-o-tron', team: 'Fedora Release Engineering', docs: 'https://docs.fedoraproject.org/en-US/infra/release_guide/', email: 'rel-eng@lists.fedoraproject.org' },
    run: { url: 'http://127.0.0.1:8233/namespaces/default/workflows/compose-test%2FFedora-Rawhide-20261123.n.0', log: 'http://127.0.0.1:8900/jobs/1/output' },
    artifact: { type: 'productmd-compose', id: 'Fedora-Rawhide-20261123.n.0', compose_type: 'nightly' },
    pipeline: { id: 'compose-test/Fedora-Rawhide-20261123.n.0', name: 'releng-o-tron compose testing' },
    test: { category: 'functional', namespace: 'releng-o-tron.compose', type: 'cloud-image-boot', result },
    system: [{ os: 'fedora-rawhide', provider: 'qemu', architecture: 'x86_64', variant: 'Cloud' }],
    generated_at: new Date().toISOString(),
    version: CI_MESSAGE_VERSION,
  };
}

const msgId = () => `2026-${crypto.randomUUID()}`;

describe('CI message schemas', () => {
  it('accept real CI messages of the current shape', () => {
    assert.deepEqual(ciMessageProblems('ci.brew-build.test.complete', umbBody('fedora-ci-message-brew-build.test.complete-2.0.0.json')), []);
    assert.deepEqual(ciMessageProblems('ci.brew-build.test.error', umbBody('brew-build.test.error.v2.json')), []);
    assert.deepEqual(ciMessageProblems('ci.productmd-compose.test.complete', composeComplete('passed')), []);
  });

  it('report a failed test as complete/failed and a broken test host as error', () => {
    const full = composeComplete('passed') as unknown as CiComplete;
    const { result: _result, ...test } = full.test;
    const base: CiMessageBase = { contact: full.contact, run: full.run, artifact: full.artifact, pipeline: full.pipeline, test, system: full.system, generatedAt: full.generated_at };
    const failed = ciFinishedMessage(base, { kind: 'result', result: 'failed' });
    assert.equal(failed.topic, 'ci.productmd-compose.test.complete');
    assert.equal((failed.body as { test: { result: string } }).test.result, 'failed');
    assert.deepEqual(ciMessageProblems(failed.topic, failed.body), []);
    const broken = ciFinishedMessage(base, { kind: 'infrastructure-error', reason: 'qemu could not start: no space left on device' });
    assert.equal(broken.topic, 'ci.productmd-compose.test.error');
    assert.deepEqual(ciMessageProblems(broken.topic, broken.body), []);
    assert.equal('system' in broken.body, false);
  });

  it('name what is missing or wrong', () => {
    // A 0.2.5 message lacks what the 1.x spec requires.
    assert.deepEqual(ciMessageProblems('ci.productmd-compose.test.complete', umbBody('compose_message_v2.json')), [
      'contact.docs: Invalid input: expected string, received undefined',
      'pipeline: Invalid input: expected object, received undefined',
      'system.0.os: Invalid input: expected string, received undefined',
    ]);
    const template = ciMessageProblems('ci.productmd-compose.test.complete', sample('productmd-compose.test.complete-template.json'));
    assert.ok(template.some((p) => p.startsWith('contact.docs: expected a URI')));
    assert.ok(template.some((p) => p.startsWith('test.result')));
    const { system: _system, ...noSystem } = composeComplete('passed');
    assert.deepEqual(ciMessageProblems('ci.productmd-compose.test.complete', noSystem), ['system: Invalid input: expected array, received undefined']);
    assert.ok(ciMessageProblems('ci.productmd-compose.test.complete', composeComplete('maybe'))[0]!.startsWith('test.result'));
    assert.deepEqual(ciMessageProblems('ci.koji-build.test.complete', composeComplete('passed')), ['artifact.type productmd-compose does not match the topic\'s koji-build']);
    const error = { ...composeComplete('passed'), error: {} };
    assert.deepEqual(ciMessageProblems('ci.productmd-compose.test.error', error), ['error.reason: Invalid input: expected string, received undefined']);
  });
});

let db: TestDatabase;
let pki: TestPki;

describe('publishing: fedmsg framing, signing, one message per msg_id', () => {
  let publisher: FedmsgPublisher;
  let signed: FedmsgPublisher;
  let spy: BusSpy;
  let signedSpy: BusSpy;
  let plain: BusActivities;
  let signing: BusActivities;

  before(async () => {
    db = await createTestDatabase();
    pki = makePki();
    publisher = await FedmsgPublisher.bind({ endpoint: 'tcp://127.0.0.1:*', topicPrefix: 'org.fedoraproject', environment: 'stg' });
    signed = await FedmsgPublisher.bind({ endpoint: 'tcp://127.0.0.1:*', topicPrefix: 'org.fedoraproject', environment: 'stg', signer: pki.signer });
    spy = new BusSpy(publisher.endpoint);
    signedSpy = new BusSpy(signed.endpoint);
    plain = createBusActivities({ pool: db.pool, bus: { envelopes: publisher, fedmsg: publisher, amqp: null } });
    signing = createBusActivities({ pool: db.pool, bus: { envelopes: signed, fedmsg: signed, amqp: null } });
    // PUB drops what it sends before a subscriber has joined: let the spies connect.
    await new Promise((r) => setTimeout(r, 500));
  });
  after(async () => {
    await Promise.all([spy.close(), signedSpy.close()]);
    publisher.close();
    signed.close();
    await db.drop();
  });

  it('sends two frames, topic in the project namespace, an envelope a fedmsg listener accepts', async () => {
    const id = msgId();
    const sent = await plain.publishMessage({ msgId: id, topic: 'ci.productmd-compose.test.complete', body: composeComplete('failed') });
    assert.deepEqual(sent, { msgId: id, topic: 'org.fedoraproject.stg.ci.productmd-compose.test.complete', sentNow: true });
    const got = await spy.waitFor('ci.productmd-compose.test.complete');
    assert.equal(got.topic, got.envelope.topic);
    const envelope = FedmsgEnvelopeSchema.parse(JSON.parse(got.json));
    assert.equal(envelope.msg_id, id);
    assert.ok(Number.isInteger(envelope.timestamp));
    assert.equal(envelope.crypto, undefined);
    assert.deepEqual(ciMessageProblems('ci.productmd-compose.test.complete', envelope.msg), []);
  });

  it('signs with fedmsg\'s X.509 scheme when a certificate is configured', async () => {
    const id = msgId();
    await signing.publishMessage({ msgId: id, topic: 'ci.productmd-compose.test.complete', body: composeComplete('passed') });
    const got = await signedSpy.waitFor('ci.productmd-compose.test.complete');
    const verdict = verifyEnvelope(got.json, 'ci.productmd-compose.test.complete', { caCertificates: [pki.ca] });
    assert.deepEqual(verdict, { valid: true, signer: 'releng-rawhide-composer.example.org' });
    const tampered = got.json.replace('"passed"', '"failed"');
    assert.equal(verifyEnvelope(tampered, 'ci.productmd-compose.test.complete', { caCertificates: [pki.ca] }).valid, false);
  });

  it('sends a msg_id once, and after a crash between send and record resends the very same bytes', async () => {
    const id = msgId();
    const input = { msgId: id, topic: 'releng-o-tron.gating.passed', body: { nvr: 'bash-5.3.0-1.fc29', owner: 'kdudka', lane: 'f29', from_tag: 'f29-updates-testing-pending', to_tag: 'f29', verdict: 'passed', reason: 'all 1 required test passed', results: [], workflow_id: 'gate/f29-updates-testing-pending/bash-5.3.0-1.fc29' } };
    assert.equal((await plain.publishMessage(input)).sentNow, true);
    assert.equal((await plain.publishMessage(input)).sentNow, false);
    // The activity died after sending, before recording it: the retry sends again, identically.
    await db.pool.query('UPDATE bus_outbox SET sent_at = NULL WHERE msg_id = $1', [id]);
    assert.equal((await plain.publishMessage({ ...input, body: { ...input.body, reason: 'a retry never rewrites' } })).sentNow, true);
    await new Promise((r) => setTimeout(r, 300));
    const copies = spy.received.filter((m) => m.envelope.msg_id === id);
    assert.equal(copies.length, 2);
    assert.equal(copies[0]!.json, copies[1]!.json);
    const { rows } = await db.pool.query<{ sends: number }>('SELECT sends FROM bus_outbox WHERE msg_id = $1', [id]);
    assert.equal(rows[0]!.sends, 2);
  });

  it('refuses, for good, a body that does not fit, a topic we do not own, or a bad msg_id', async () => {
    const refused = async (input: Parameters<BusActivities['publishMessage']>[0], pattern: RegExp) => {
      await assert.rejects(plain.publishMessage(input), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, OUTGOING_MESSAGE_INVALID);
        assert.equal(err.nonRetryable, true);
        assert.match(err.message, pattern);
        return true;
      });
    };
    const { system: _system, ...noSystem } = composeComplete('passed');
    await refused({ msgId: msgId(), topic: 'ci.productmd-compose.test.complete', body: noSystem }, /system: Invalid input/);
    await refused({ msgId: msgId(), topic: 'pungi.compose.status.change', body: { status: 'FINISHED' } }, /does not publish pungi\.compose\.status\.change/);
    await refused({ msgId: 'not-an-id', topic: 'ci.productmd-compose.test.complete', body: composeComplete('passed') }, /not <year>-<uuid4>/);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM bus_outbox WHERE topic LIKE '%pungi%'`);
    assert.equal(rows[0]!.n, 0);
  });
});
