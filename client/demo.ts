/**
 * `npm run demo`: the whole service on embedded defaults, fed real-format bus traffic through the
 * sandbox, with every run followed until it is done.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { pushPaths, type Config } from '../common/config.js';
import type { PushCompleteMessage } from '../common/schemas/outgoing.js';
import { createPool } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import { workflowIds } from '../common/workflow-ids.js';
import { startStack } from '../devstack/stack.js';
import { ensureTestImageArtifacts, testImageFileFor } from '../devstack/test-image.js';
import { startDashboard } from '../dashboard/server.js';
import { makeSigningKey, stopGpgAgent } from '../devstack/signing-key.js';
import { stopOnSignal } from '../devstack/shutdown.js';
import { DEMO_PROGRAMS, requirePrograms } from '../devstack/preflight.js';
import type { BodhiPushResult, ComposeTestResult, ComposeTestStatus } from '../workflows/index.js';
import { composeIdFor, materializeCompose } from '../sandbox/compose-factory.js';
import { buildDemoStream } from '../sandbox/demo-stream.js';
import type { Envelope } from '../sandbox/bus-gateway.js';
import { FIXTURE_COMPOSES_DIR } from '../sandbox/seed.js';
import { formatTable, listRuns } from './runs.js';
import { OidcTokenSource } from '../activities/oidc.js';
import { amqpSettings, connectAmqp, redactedUrl } from '../bus/amqp-connection.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

/** The sandbox's kernel update: its builds are in the Cloud images and the IoT tree, so its push rebuilds and tests them. */
const DEMO_UPDATE = 'FEDORA-2019-492d24f0ef';

function today(): string {
  return new Date().toISOString().slice(0, 10).replace(/-/g, '');
}

function qemuNote(): string {
  return existsSync('/dev/kvm') ? 'KVM if it answers, TCG otherwise' : 'no /dev/kvm here: TCG, about 10 s to boot';
}

/** Pungi's rule: the respin is the next one whose directory does not exist yet. */
function nextRawhideCompose(root: string): { composeId: string; respin: number } {
  for (let respin = 0; ; respin++) {
    const composeId = composeIdFor({ release: { short: 'Fedora', version: 'Rawhide' }, date: today(), type: 'nightly', respin });
    if (!existsSync(join(root, composeId))) return { composeId, respin };
  }
}

/**
 * Where a RabbitMQ answers at bus.amqp.url (and RELENGOTRON_BUS_TRANSPORT does not say otherwise),
 * the demo hears fedora-messaging too: the sandbox bridges every bus message there, as Fedora's
 * fedmsg→AMQP bridge did, so each message arrives twice and starts one run.
 */
async function withBrokerIfAnswering(config: Config): Promise<Config> {
  if (process.env['RELENGOTRON_BUS_TRANSPORT'] !== undefined) return config;
  const broker = redactedUrl(config.bus.amqp.url);
  try {
    const probe = await connectAmqp(amqpSettings(config), 'demo probe');
    await probe.close();
  } catch (err) {
    say(`(no RabbitMQ answers at ${broker}: ${(err as Error).message}; the demo hears fedmsg only)`);
    return config;
  }
  process.env['RELENGOTRON_BUS_TRANSPORT'] = 'both';
  say(`RabbitMQ answers at ${broker}: the sandbox bridges every bus message to fedora-messaging (exchange ${config.bus.amqp.exchange}), and the listener hears both transports`);
  return { ...config, bus: { ...config.bus, transport: 'both' } };
}

/** What the listener's metrics endpoint says it acked on AMQP; null when it cannot be read. */
async function amqpDeliveriesAcked(config: Config): Promise<number | null> {
  if (!config.bus.metricsListen) return null;
  try {
    const text = await (await fetch(`http://${config.bus.metricsListen}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const found = /^relengotron_bus_amqp_deliveries_total\{outcome="acked"\} (\d+)$/m.exec(text);
    return found ? Number(found[1]) : null;
  } catch {
    return null;
  }
}

export async function runDemo(given: Config, log: Logger, options: { keep: boolean }): Promise<number> {
  requirePrograms(DEMO_PROGRAMS, 'The demo');
  const config = await withBrokerIfAnswering(given);
  say('releng-o-tron demo: starting Temporal (dev server), Postgres (embedded), the sandbox, the workers and the bus listener...');
  say('building (or reusing) the test VM image from Debian packages...');
  const testImage = await ensureTestImageArtifacts();
  // A throwaway key for the demo's pushes to sign with (production keys are configured, never made).
  const signing = join(config.dataDir, 'demo-signing');
  const key = makeSigningKey({ homedir: join(signing, 'gnupg'), passphraseFile: join(signing, 'passphrase'), passphrase: randomBytes(18).toString('base64'), name: 'releng-o-tron demo signing', expires: '1d' });
  Object.assign(process.env, { RELENGOTRON_SIGNING_HOMEDIR: key.homedir, RELENGOTRON_SIGNING_KEY: key.keyId, RELENGOTRON_SIGNING_PASSPHRASE_FILE: key.passphraseFile });
  say(`signing key for the demo's pushes: ${key.fingerprint} (gpg home ${key.homedir})`);
  // A demo stopped by a person should stop quickly: in-flight VM tests get 5 s, not production's 30.
  process.env['RELENGOTRON_SHUTDOWN_GRACE'] ??= '5s';
  // The demo replays real messages sent in 2016 to 2019 on purpose; production refuses old ones.
  process.env['RELENGOTRON_MAX_MESSAGE_AGE'] ??= 'off';
  // The sandbox's Koji hands out the test image for the image builds a push asks for.
  const stack = await startStack(config, log, { processes: ['releng', 'image-libvirt', 'image-vbox', 'bus-listener'], sandbox: true, imageFile: (format) => testImageFileFor(testImage, format) });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const pool = createPool(stack.databaseUrl, 2);
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | null = null;
  let outcome: boolean | null = null;
  let cleaning: Promise<void> | null = null;
  // Once, whether a signal or the end of the demo asks first.
  const cleanup = () =>
    (cleaning ??= (async () => {
      await dashboard?.stop();
      await pool.end().catch(() => undefined);
      await connection.close().catch(() => undefined);
      await stack.stop();
      stopGpgAgent(key.homedir);
    })());
  // From here on a SIGINT or SIGTERM stops everything, whatever the demo is doing.
  const releaseSignals = stopOnSignal(cleanup, (signal) => (outcome === null ? (signal === 'SIGINT' ? 130 : 143) : outcome ? 0 : 1));
  try {
    const sandbox = stack.sandbox!;
    const bus = sandbox.bus!;
    const { composeId, respin } = nextRawhideCompose(sandbox.composeDir);
    const made = materializeCompose({
      templateDir: join(FIXTURE_COMPOSES_DIR, 'Fedora-28-20180425.0'),
      root: sandbox.composeDir,
      release: { short: 'Fedora', version: 'Rawhide' },
      date: today(),
      type: 'nightly',
      respin,
      keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64',
      // The sandbox serves the test image (built from Debian packages) as each cloud image type.
      contentFor: (_variant, image) => {
        const file = testImageFileFor(testImage, image.type);
        return file ? readFileSync(file) : undefined;
      },
    });
    say(`sandbox compose server: new compose ${made.composeId} with ${made.imageCount} images at ${sandbox.urls.composes}/${made.composeId}/compose`);

    // The push composes are served by the dashboard, where the image hosts fetch them from.
    dashboard = await startDashboard({ pool, listen: config.dashboard.listen, temporalUi: stack.uiUrl ? `${stack.uiUrl}/namespaces/${config.temporal.namespace}` : undefined, pushComposeRoot: pushPaths(config).composeRoot, log }).catch((err: Error) => {
      say(`(the dashboard could not listen on ${config.dashboard.listen}: ${err.message}; push images cannot be tested)`);
      return null;
    });
    // A packager asks for the kernel update to go stable, through Bodhi's API with an OIDC token: the push then has images to rebuild and test.
    const packagerToken = await new OidcTokenSource(
      { tokenUrl: sandbox.urls.oidcToken, clientId: 'packager', clientSecretFile: sandbox.credentials.bodhiSecretFiles.packager },
      { timeoutMs: 10_000, maxBytes: 1024 * 1024 },
    ).token();
    const asked = await fetch(`${sandbox.urls.bodhi}/updates/${DEMO_UPDATE}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${packagerToken}` },
      body: JSON.stringify({ request: 'stable' }),
    });
    say(`Bodhi: ${DEMO_UPDATE} (kernel-5.1.7-200.fc29) requested for stable by the packager (OIDC client credentials): HTTP ${asked.status}`);

    const ranBefore = await client.workflow.getHandle(workflowIds.bodhiPush('20190627T000005Z')).describe().then(() => true, () => false);
    say('waiting for the bus listener to subscribe...');
    if (!(await bus.waitForSubscribers(1, 60_000))) throw new Error('the bus listener did not subscribe within 60 s');
    // ZeroMQ completes the subscription handshake asynchronously; give it a moment to settle.
    await new Promise((r) => setTimeout(r, 500));

    const stream = buildDemoStream(sandbox.urls.composes, composeId);
    const sent: Envelope[] = [];
    say(`\npublishing ${stream.length} messages on ${bus.endpoint}:`);
    for (const [index, item] of stream.entries()) {
      if (item.frames) await bus.sendRaw(item.frames);
      else if (item.repeatOf !== undefined) {
        const earlier = sent[item.repeatOf]!;
        await bus.sendRaw([earlier.topic, JSON.stringify(earlier)]);
        sent[index] = earlier;
      } else sent[index] = await bus.publish(item.envelope!);
      say(`  ${String(index + 1).padStart(2)}. ${item.label}`);
    }

    const expected = [composeId, 'Fedora-Cloud-27-20180317.0', 'Fedora-24-20151130.n.2', 'Fedora-28-20180425.0'].map(workflowIds.composeTest);
    say(`\nfollowing ${expected.length} compose tests (Web UI: ${stack.uiUrl ?? 'your Temporal UI'}${dashboard ? `; results: ${dashboard.url}/composes` : ''}).`);
    say(`${composeId}'s cloud images are the test image: its VMs boot for real (${qemuNote()}). The three real`);
    say('composes have their real metadata but not their images in the sandbox, so their jobs end in `error` (HTTP 404).');
    // The real bodhi.composer.start in the stream names its push by when Bodhi sent it.
    const bodhiPushId = workflowIds.bodhiPush('20190627T000005Z');
    if (ranBefore) say(`${bodhiPushId} ran in an earlier demo on this data directory: the same real message is a duplicate now and starts nothing, so that run is shown (RELENGOTRON_DATA_DIR=<new dir> npm run demo pushes afresh).`);
    outcome = await followRuns(client, [...expected, bodhiPushId]);

    const inbox = await pool.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM bus_inbox GROUP BY state ORDER BY state');
    const dead = await pool.query<{ reason: string; transport: string }>('SELECT reason, transport FROM bus_dead_letters ORDER BY id DESC LIMIT 2');
    const heard = await pool.query<{ transport: string; n: string }>('SELECT transport, count(*) AS n FROM bus_inbox GROUP BY transport ORDER BY transport');
    const composes = await pool.query<{ compose_id: string; image_count: number; metadata_version: string }>(
      'SELECT compose_id, image_count, metadata_version FROM composes ORDER BY compose_id',
    );
    const jobs = await pool.query<{ job_id: string; image_path: string; provider: string; status: string; host: string | null; accelerator: string | null; accelerator_fallback: string | null; vm_backend: string | null; boot_ms: number | null; reason: string | null }>(
      'SELECT job_id, image_path, provider, status, host, accelerator, accelerator_fallback, vm_backend, boot_ms, reason FROM test_jobs WHERE compose_id = $1 ORDER BY job_id',
      [composeId],
    );
    say('\nresults store (Postgres):');
    for (const row of composes.rows) say(`  compose ${row.compose_id}: ${row.image_count} images (productmd ${row.metadata_version})`);
    say(`  ${composeId}'s jobs:`);
    for (const job of jobs.rows) {
      const how = job.status === 'success' ? `on ${job.host} (${job.vm_backend}, ${job.accelerator}, booted in ${((job.boot_ms ?? 0) / 1000).toFixed(1)} s)` : (job.reason ?? '');
      say(`    ${job.job_id} ${job.image_path.split('/').pop()}@${job.provider}: ${job.status} ${how}`);
      if (job.accelerator_fallback) say(`      KVM failed, restarted under TCG: ${job.accelerator_fallback}`);
      if (dashboard) say(`      output: ${dashboard.url}/jobs/${job.job_id}/output`);
    }
    say(`  bus inbox: ${inbox.rows.map((r) => `${r.n} ${r.state}`).join(', ')}`);
    if (config.bus.transport === 'both') {
      const acked = await amqpDeliveriesAcked(config);
      // Each message came on both transports, in whichever order they delivered it; the inbox kept one row per message ID.
      say(`  inbox rows by the transport that brought them first: ${heard.rows.map((r) => `${r.n} ${r.transport}`).join(', ')}; this run's listener acked ${acked ?? 'an unknown number of'} fedora-messaging deliveries`);
    }
    for (const row of dead.rows.reverse()) say(`  dead letter (${row.transport}): ${row.reason}`);

    const pushed = (await client.workflow.getHandle(bodhiPushId).result().catch(() => null)) as BodhiPushResult | null;
    if (pushed) {
      say(`\nBodhi push ${bodhiPushId}:`);
      for (const p of pushed.pushes) say(`  ${p.workflowId}: ${p.outcome}, ${p.detail}`);
      for (const s of pushed.skipped) say(`  not pushed: release ${s.release_id} ${s.request} (${s.content_type}): ${s.reason}`);
      const stable = (await client.workflow.getHandle(workflowIds.push('F29', 'stable', '20190627T000005Z')).result().catch(() => null)) as PushCompleteMessage | null;
      if (stable) {
        say(`  F29 stable: ${stable.updates.length} updates; compose ${stable.compose?.compose_id ?? 'none'} at ${stable.compose?.location ?? '-'}`);
        if (stable.repository) say(`    repository ${stable.repository.tag} (Koji repo ${stable.repository.repo_id}): ${stable.repository.packages} packages, repomd.xml ${stable.repository.signed_by ? 'signed' : 'unsigned'}, mirror ${stable.repository.mirror ?? '-'}`);
        for (const a of stable.artifacts) {
          if (a.state !== 'composed') continue;
          say(`    ${a.artifact}: ${a.koji_build ? `Koji build ${a.koji_build}` : `commit ${a.commit?.slice(0, 12)}`}, ${a.signed_by ? `signed by ${a.signed_by.slice(-16)}` : 'unsigned (no push.signing key)'}, mirror ${a.mirror ?? '-'}`);
        }
        for (const t of stable.tests) say(`    test ${t.artifact} ${t.testcase}: ${t.outcome}${dashboard && t.job ? ` (${dashboard.url}/jobs/${t.job}/output)` : ''}`);
        say(`    test policy: ${stable.policy?.satisfied ? 'satisfied' : 'NOT satisfied'}; Bodhi ${stable.bodhi ?? '-'}`);
      }
    }

    say('\nruns:');
    say(formatTable((await listRuns(client)).filter((r) => expected.includes(r.workflowId) || r.workflowId.startsWith('push/') || r.workflowId === bodhiPushId)));
    const ui = stack.uiUrl ?? '(the UI of the Temporal server at TEMPORAL_ADDRESS)';
    say(`\nTemporal Web UI: ${ui}/namespaces/${config.temporal.namespace}/workflows`);
    say(`  one run: ${ui}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(workflowIds.composeTest(composeId))}`);
    if (dashboard) say(`Compose tests: ${dashboard.url}/composes`);
    if (options.keep) {
      say('\nEverything keeps running so you can look around; Ctrl-C stops it.');
      // The signal handler stops everything and exits with the demo's outcome.
      await new Promise<never>(() => undefined);
    }
    return outcome ? 0 : 1;
  } finally {
    releaseSignals();
    await cleanup();
  }
}

/** Prints each run's stage as it changes; true when all completed. */
async function followRuns(client: Client, workflowIds: readonly string[], timeoutMs = 20 * 60_000): Promise<boolean> {
  const last = new Map<string, string>();
  const done = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  while (done.size < workflowIds.length && Date.now() < deadline) {
    for (const id of workflowIds) {
      if (done.has(id)) continue;
      const handle: WorkflowHandle = client.workflow.getHandle(id);
      let line: string;
      try {
        const description = await handle.describe();
        const status = description.status.name;
        if (status === 'RUNNING') {
          const query = await handle.query<Partial<ComposeTestStatus>>('status').catch(() => null);
          const finished = query?.finished ? Object.values(query.finished).reduce((a, b) => a + b, 0) : 0;
          line = `running: ${query?.stage ?? 'started'}${query?.jobs ? ` (${finished} of ${query.jobs} jobs done)` : ''}`;
        } else if (status === 'COMPLETED') {
          const result = (await handle.result()) as ComposeTestResult | BodhiPushResult;
          line =
            'pushes' in result
              ? `completed: ${result.pushes.map((p) => `${p.release} ${p.request} ${p.outcome}`).join(', ')}; ${result.skipped.length} composes not for us`
              : `completed: ${result.passed} passed, ${result.failed} failed, ${result.errored} errors, ${result.aborted} aborted`;
          done.set(id, status);
        } else {
          line = status.toLowerCase();
          done.set(id, status);
        }
      } catch {
        line = 'waiting for the listener to start it';
      }
      if (last.get(id) !== line) {
        last.set(id, line);
        say(`  ${id}: ${line}`);
      }
    }
    if (done.size < workflowIds.length) await new Promise((r) => setTimeout(r, 300));
  }
  return workflowIds.every((id) => done.get(id) === 'COMPLETED');
}
