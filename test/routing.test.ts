/**
 * The routing table: config → which messages start, signal, record or ignore, with real Fedora
 * envelopes as input. No servers needed: decisions are checked before anything is started.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pushSettings } from '../client/start.js';
import { InvalidBodyError, Router, RoutingTableError, routerFromConfig } from '../bus/router.js';
import { trustedComposeLocation } from '../bus/handlers.js';
import { acceptedTopic } from '../common/schemas/fedmsg.js';
import { ConfigError, loadConfig } from '../common/config.js';
import { RouteSchema } from '../common/routing.js';
import { FedmsgEnvelopeSchema, type FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { readFixture } from '../sandbox/seed.js';

/** A fixture message completed into a full envelope (some real samples are trimmed). */
function message(file: string, patch: (msg: Record<string, unknown>) => Record<string, unknown> = (m) => m): FedmsgEnvelope {
  const raw = readFixture<{ topic: string; msg: Record<string, unknown> }>(`messages/${file}`);
  return FedmsgEnvelopeSchema.parse({ msg_id: '2026-6d1a7ad6-1b43-4bd9-9b1e-5c3b0e6bb0aa', timestamp: 1_700_000_000, i: 1, username: 'root', ...raw, msg: patch(raw.msg) });
}

/** As in production: composes are trusted under kojipkgs' /compose, as the real messages name them. */
const router = routerFromConfig(loadConfig({ COMPOSE_BASE_URL: 'https://kojipkgs.fedoraproject.org/compose' }));
const NO_CONTEXT = { lanes: [], push: pushSettings(loadConfig({})), composeBases: [loadConfig({}).services.composes] };

describe('routing table', () => {
  it('by default: finished composes start a compose test, other statuses are recorded', () => {
    const finished = router.decide(message('pungi.compose.status.change.FINISHED.json'));
    assert.equal(finished?.kind, 'start');
    assert.equal(finished.kind === 'start' && finished.workflowId, 'compose-test/Fedora-24-20151208.n.7');
    const incomplete = router.decide(message('pungi.compose.status.change.FINISHED_INCOMPLETE.datanommer.json'));
    assert.equal(incomplete?.kind, 'start');
    const doomed = router.decide(message('pungi.compose.status.change.DOOMED.datanommer.json'));
    assert.equal(doomed?.kind, 'record');
  });

  it('acts only on topics under the accepted prefixes, whatever environment a topic names later', () => {
    const accepted = ['org.fedoraproject.prod', 'org.centos.prod'];
    assert.equal(acceptedTopic('org.fedoraproject.prod.bodhi.composer.start', accepted), 'bodhi.composer.start');
    assert.equal(acceptedTopic('org.centos.prod.ci.koji-build.test.complete', accepted), 'ci.koji-build.test.complete');
    assert.equal(acceptedTopic('evil.dev.bodhi.composer.start', accepted), null);
    assert.equal(acceptedTopic('org.fedoraproject.stg.bodhi.composer.start', accepted), null);
    assert.equal(acceptedTopic('org.fedoraproject.prodx.bodhi.composer.start', accepted), null);
    assert.equal(acceptedTopic('org.fedoraproject.prod.', accepted), null);
    // A message claiming another environment inside the topic is routed as what it literally is: nothing.
    assert.equal(router.handles(acceptedTopic('org.fedoraproject.prod.evil.dev.bodhi.composer.start', accepted)!), false);
    assert.equal(router.decide({ ...message('bodhi.composer.start.json'), topic: 'evil.dev.bodhi.composer.start' }), null);
  });

  it('takes a compose location only under a trusted base, as it will be fetched', () => {
    const bases = ['https://kojipkgs.fedoraproject.org/compose'];
    // Pungi's own messages: http and a doubled slash; fetched over https, normalized.
    assert.equal(trustedComposeLocation('http://kojipkgs.fedoraproject.org/compose//rawhide/Fedora-Rawhide-20160404.n.0/compose', bases), 'https://kojipkgs.fedoraproject.org/compose/rawhide/Fedora-Rawhide-20160404.n.0/compose');
    for (const hostile of [
      'https://kojipkgs.fedoraproject.org.evil.org/compose/x/compose',
      'https://evil.org/compose/x/compose',
      'https://kojipkgs.fedoraproject.org/compose/../../etc/x',
      'https://kojipkgs.fedoraproject.org/composex/y',
      'https://kojipkgs.fedoraproject.org:8443/compose/x',
      'https://user:pw@kojipkgs.fedoraproject.org/compose/x',
      'https://kojipkgs.fedoraproject.org/compose/x?redirect=https://evil.org',
      'file:///compose/x',
      'not a url',
    ]) assert.throws(() => trustedComposeLocation(hostile, bases), InvalidBodyError, hostile);
    // An http base does not accept an https location for another port, nor http for an https base's host elsewhere.
    assert.throws(() => trustedComposeLocation('https://127.0.0.1:8900/compose/x', ['http://127.0.0.1:8900/compose']), InvalidBodyError);
    assert.throws(() => router.decide(message('pungi.compose.status.change.FINISHED.json', (m) => ({ ...m, location: 'http://evil.org/compose/Fedora-24-20151208.n.7/compose' }))), /is not under a trusted compose base \(https:\/\/kojipkgs\.fedoraproject\.org\/compose\)/);
  });

  it('bounds what becomes an ID: compose IDs and NVRs by their grammar, timestamps in range', () => {
    assert.throws(() => router.decide(message('pungi.compose.status.change.FINISHED.json', (m) => ({ ...m, compose_id: `Fedora-${'x'.repeat(1500)}-20261202.n.0` }))), /compose_id: /);
    assert.throws(() => router.decide(message('pungi.compose.status.change.FINISHED.json', (m) => ({ ...m, compose_id: 'Fedora-24/../../x-20151208.n.7' }))), /compose_id: expected a compose ID/);
    assert.throws(() => router.decide(message('buildsys.tag.json', (m) => ({ ...m, version: '1-2' }))), /version: expected a version or release without hyphens/);
    assert.equal(FedmsgEnvelopeSchema.safeParse({ ...message('buildsys.tag.json'), timestamp: 1e13 }).success, false);
    assert.equal(FedmsgEnvelopeSchema.safeParse({ ...message('buildsys.tag.json'), timestamp: -1 }).success, false);
  });

  it('a Bodhi push message starts one push run, named by when Bodhi started it', () => {
    const decision = router.decide(message('bodhi.composer.start.json'));
    assert.equal(decision?.kind === 'start' && decision.workflowId, 'bodhi-push/20190627T000005Z');
  });

  it('gates builds tagged into a lane\'s gate tag, by NVR and tag', () => {
    const real = router.decide(message('buildsys.tag.json'));
    assert.deepEqual(real, { kind: 'ignore', reason: 'f18-updates-testing-pending is not a gate tag' });
    const gated = router.decide(message('buildsys.tag.json', (m) => ({ ...m, tag: 'f29-updates-testing-pending', release: '3.fc29' })));
    assert.equal(gated?.kind === 'start' && gated.workflowId, 'gate/f29-updates-testing-pending/stage-4.1.1-3.fc29');
  });

  it('checks bodies against their topic\'s schema', () => {
    assert.throws(() => router.decide(message('buildsys.tag.json', ({ owner: _o, ...m }) => m)), (err: unknown) => {
      assert.ok(err instanceof InvalidBodyError);
      assert.equal(err.message, 'buildsys.tag body: owner: Invalid input: expected string, received undefined');
      return true;
    });
    assert.throws(() => router.decide(message('pungi.compose.status.change.FINISHED.json', (m) => ({ ...m, status: 'DONE' }))), /status: Invalid option/);
  });

  it("keeps Bodhi's other push messages, and decides Greenwave only for builds of a lane with a context", () => {
    assert.equal(router.decide(message('bodhi.compose.complete.json'))?.kind, 'ignore');
    // The real decision is about a compose: the predicate (subject_type koji_build) does not hold.
    assert.equal(router.decide(message('greenwave.decision.update.json')), null);
    const onBuild = message('greenwave.decision.update.json', (m) => ({ ...m, subject_type: 'koji_build', subject_identifier: 'bash-5.3.0-1.fc29', decision_context: 'bodhi_update_push_stable' }));
    assert.equal(router.decide(onBuild)?.kind, 'ignore');
    const withContext = new Router(loadConfig({}).bus.routes, { ...NO_CONTEXT, lanes: [{ ...loadConfig({}).gating.lanes[0]!, greenwaveContext: 'bodhi_update_push_stable' }] });
    const decided = withContext.decide(onBuild);
    assert.equal(decided?.kind === 'start' && decided.workflowId, 'gate/f29-updates-testing-pending/bash-5.3.0-1.fc29');
  });

  it('comes from config: topic + predicate → handler, first match wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-routes-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({
      bus: { routes: [
        { topic: 'pungi.compose.status.change', when: { status: ['FINISHED'], 'compose_id': ['Fedora-24-20151208.n.7'] }, handler: 'discover-compose' },
        { topic: 'pungi.compose.status.change', handler: 'record-compose-status' },
      ] },
    }));
    const custom = routerFromConfig(loadConfig({ RELENGOTRON_CONFIG: file, COMPOSE_BASE_URL: 'https://kojipkgs.fedoraproject.org/compose' }));
    assert.equal(custom.decide(message('pungi.compose.status.change.FINISHED.json'))?.kind, 'start');
    assert.equal(custom.decide(message('pungi.compose.status.change.FINISHED_INCOMPLETE.datanommer.json'))?.kind, 'record');
    assert.equal(custom.handles('buildsys.tag'), false);
    assert.deepEqual(custom.backfillTopics(), ['org.fedoraproject.prod.pungi.compose.status.change', 'org.centos.prod.pungi.compose.status.change']);
  });

  it('refuses a table that cannot work, naming the entry', () => {
    assert.throws(() => new Router([RouteSchema.parse({ topic: 'pungi.compose.phase.start', handler: 'note' })], NO_CONTEXT), (err: unknown) => {
      assert.ok(err instanceof RoutingTableError);
      assert.equal(err.message, 'bus.routes[0]: no body schema is known for topic pungi.compose.phase.start');
      return true;
    });
    assert.throws(() => new Router([RouteSchema.parse({ topic: 'buildsys.tag', handler: 'discover-compose' })], NO_CONTEXT), /bus.routes\[0\]: handler discover-compose does not read buildsys.tag messages/);
    assert.throws(() => loadConfig({ RELENGOTRON_GATING_LANES: '[{"name":"f45"}]' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /gating\.lanes\.0\.gateTag \(from RELENGOTRON_GATING_LANES\)/);
      return true;
    });
    assert.throws(() => loadConfig({ RELENGOTRON_INBOX_LOW_WATER: '9000' }), /bus\.inboxLowWater \(from RELENGOTRON_INBOX_LOW_WATER\): must be below bus\.inboxHighWater/);
  });
});
