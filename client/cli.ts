#!/usr/bin/env node
/**
 * relengotron: run the service, the sandbox and the demo; start and follow runs.
 * Every command reads the same configuration (common/config.ts): TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE and DATABASE_URL among others.
 */
import { temporalConnectionOptions } from '../common/temporal-connection.js';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { ConfigError, loadConfig, pushPaths, type Config } from '../common/config.js';
import { createPool, migrate, type Pool } from '../common/db.js';
import { createLogger, type Logger } from '../common/logger.js';
import { PROCESSES, startStack, type ProcessName } from '../devstack/stack.js';
import { startEmbeddedPostgres } from '../devstack/embedded-postgres.js';
import { sandboxCredentialsDir } from '../common/sandbox-credentials.js';
import { compactTimestamp } from '../common/workflow-ids.js';
import { defaultComposeDir, startSandbox } from '../sandbox/server.js';
import { startDashboard } from '../dashboard/server.js';
import { busTrouble, describeTrouble, parseSince, replayBus, retryMessage, tailBus } from './bus.js';
import { runDemo } from './demo.js';
import { decideRun, formatDecisionReply, formatTable, listRuns, summarize, waitingFor } from './runs.js';
import { formatReleases, listReleases, planBranchNow, planEolNow } from './release.js';
import { failureText } from '../common/failure-text.js';
import { describeEolPlan } from '../common/release-eol.js';
import { durationToMs } from '../common/duration.js';
import { describeBranchPlan } from '../common/release-branch.js';
import { manualTrigger, pushSettings, startComposeDiscovery, startComposeTest, startOstreeAlias, startOstreeArchive, startOstreePromote, startOstreePrune, startPush, startReleaseBranch, startReleaseEol } from './start.js';
import { describeOstreeResult, resultOf, showPruneSchedule, type OstreeResult } from './ostree.js';
import { approveTwoWeek, blockTwoWeekStream, markTwoWeekCompose, pauseTwoWeekSchedule, triggerTwoWeek, twoWeekStatus } from './two-week.js';
import type { OperatorDecision } from '../workflows/api/index.js';
import { join } from 'node:path';

const USAGE = `relengotron: release engineering on Temporal

Usage:
  relengotron up [--sandbox] [--only releng,image-libvirt,image-vbox,bus-listener]
                                   run the workers and the bus listener (embedded Temporal and
                                   Postgres when none is configured); Ctrl-C / SIGTERM stops
  relengotron demo [--keep]        the end-to-end demo on embedded defaults (npm run demo)
  relengotron dashboard            the compose-test results (composes, jobs, output) on
                                   RELENGOTRON_DASHBOARD_LISTEN; \`up\` runs it too
  relengotron sandbox              run the local Koji, Bodhi, PDC, datagrepper, compose server and bus
  relengotron runs list [--json] [--query <visibility query>]
  relengotron runs show <workflow-id> [--json]
  relengotron runs decide <workflow-id> retry|skip|abort [--reason "..."]
                                   answer a run that waits for an operator
  relengotron compose test <compose URL or ID> [--wait]
                                   test a compose's cloud images (compose-test/<id>); an ID is
                                   looked for under COMPOSE_BASE_URL
  relengotron push start --release F43 --request stable|testing [--id <push id>] [--wait]
                                   push a release's updates (push/<release>-<request>/<id>)
  relengotron release list [--json]
                                   Bodhi's releases with their state and tags
  relengotron release branch --release F45 [--dry-run] [--json] [--wait]
                                   branch the release rawhide builds (release-branch/F45);
                                   --dry-run prints what would be created and changed
  relengotron release eol --release F43 [--dry-run] [--json] [--wait]
                                   end of life (release-eol/F43): targets, tags, Bodhi, PDC,
                                   mirror archive, OSTree refs
  relengotron compose discover <compose URL> [--id <compose id>] [--status FINISHED] [--wait]
  relengotron ostree promote <ref> <commit> [--force] [--dry-run] [--json]
                                   move a ref to a commit (ostree reset), forward only unless
                                   --force; then the summary, signed when a key is configured
  relengotron ostree alias <alias> <ref> [--dry-run] [--json]
                                   make <alias> an alias of <ref> (refs --alias --create)
  relengotron ostree archive <prefix> [--dry-run] [--json]
                                   copy the refs under <prefix> (fedora/29/) with their history into
                                   the archive repository, then fsck and verify commits and signatures
  relengotron ostree prune [--dry-run] [--json]
                                   prune every ref by its policy (ostree.prune.policies) now; refused
                                   when a ref has none; reports commits removed and space freed
  relengotron ostree prune-schedule [--json]
                                   the weekly ostree-prune Schedule: when, paused, next and last runs
  relengotron twoweek status|trigger <stream>
                                   what the stream would release now and why; start its release now
  relengotron twoweek pause|unpause <stream> [--reason "..."]
                                   hold or resume the stream's two-week Schedule (two-week/<stream>)
  relengotron twoweek mark-good|mark-bad <compose id> --reason "..."
                                   release a compose though its tests failed, or never release it
  relengotron twoweek block|unblock <stream> [--reason "..."]
                                   no release of the stream (an out-of-date alert says why) until unblocked
  relengotron twoweek approve <stream> <compose id> [--comment "..."]
                                   approve the compose the stream's running release waits on
  relengotron bus tail [--topic <prefix>] [--json] [--count N] [--transport fedmsg|amqp|both]
                                   print live bus traffic: fedmsg's endpoints, fedora-messaging's
                                   broker, or both (default: bus.transport)
  relengotron bus replay --since <time> [--until <time>]
                                   re-drive a window from datagrepper through the inbox (safe twice;
                                   messages datanommer kept from fedmsg or fedora-messaging alike);
                                   time: epoch seconds, an ISO date, or a duration ago (2h)
  relengotron bus parked [--json]  inbox rows whose run could not start, and dead letters (refused
                                   messages), each with its reason
  relengotron bus retry <msg_id | dead letter id>
                                   re-drive one after a fix: a parked row goes back in line, a dead
                                   letter through the listener's checks again (safe twice)
  relengotron db migrate           apply database migrations to DATABASE_URL
  relengotron db serve             run only the embedded Postgres (PGlite) server

Settings come from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DATABASE_URL, ...) and
an optional JSON file named by RELENGOTRON_CONFIG; see README.md.`;

class UsageError extends Error {}

/**
 * A compose named by URL (`.../<compose id>/compose`) or by ID alone, which is looked for under
 * services.composes (kojipkgs' /compose in production, the sandbox's locally).
 */
function composeTarget(arg: string, id: string | undefined, composesBase: string): { composeId: string; location: string } {
  if (/^https?:\/\//.test(arg)) {
    const location = arg.replace(/\/+$/, '');
    const composeId = id ?? /\/([^/]+)\/compose$/.exec(location)?.[1];
    if (!composeId) throw new UsageError(`cannot tell the compose ID from ${location}; pass --id`);
    return { composeId, location };
  }
  if (!/^[A-Za-z0-9._-]+-\d{8}(\.(n|t|ci))?\.\d+$/.test(arg)) throw new UsageError(`${arg} is neither a compose URL nor a compose ID such as Fedora-Rawhide-20261123.n.0`);
  return { composeId: arg, location: `${composesBase}/${arg}/compose` };
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => resolve(signal);
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}

async function withClient<T>(config: Config, fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect(temporalConnectionOptions(config));
  try {
    return await fn(new Client({ connection, namespace: config.temporal.namespace }));
  } finally {
    await connection.close();
  }
}

async function main(argv: string[], config: Config, log: Logger): Promise<number> {
  const [command, sub, ...rest] = argv;
  switch (command) {
    case 'up': {
      const { values } = parseArgs({ args: argv.slice(1), options: { sandbox: { type: 'boolean' }, only: { type: 'string' } } });
      const wanted = values.only ? values.only.split(',').map((s) => s.trim()) : [...PROCESSES];
      const unknown = wanted.filter((w) => !(PROCESSES as readonly string[]).includes(w));
      if (unknown.length) throw new UsageError(`unknown process ${unknown.join(', ')}; choose from ${PROCESSES.join(', ')}`);
      // Listening before anything starts: a SIGTERM during start-up stops what has started, cleanly.
      const signalled = waitForSignal();
      const stack = await startStack(config, log, { processes: wanted as ProcessName[], sandbox: values.sandbox ?? false });
      if (stack.uiUrl) process.stdout.write(`\nTemporal Web UI: ${stack.uiUrl}/namespaces/${config.temporal.namespace}/workflows\n`);
      const pool = createPool(stack.databaseUrl, 4);
      const dashboard = await startDashboard({ pool, listen: config.dashboard.listen, temporalUi: stack.uiUrl ? `${stack.uiUrl}/namespaces/${config.temporal.namespace}` : undefined, pushComposeRoot: pushPaths(config).composeRoot, log }).catch((err: Error) => {
        log.warn({ err: err.message, listen: config.dashboard.listen }, 'the dashboard could not start; everything else runs');
        return null;
      });
      if (dashboard) process.stdout.write(`Compose tests: ${dashboard.url}/composes\n`);
      process.stdout.write('\n');
      const signal = await signalled;
      log.info({ signal }, 'stopping');
      await dashboard?.stop();
      await pool.end();
      await stack.stop();
      return 0;
    }
    case 'dashboard': {
      if (!config.database.url) throw new UsageError('DATABASE_URL is not set (or run `relengotron up`, which starts the dashboard too)');
      const pool = createPool(config.database.url, 4);
      const dashboard = await startDashboard({ pool, listen: config.dashboard.listen, pushComposeRoot: pushPaths(config).composeRoot, log });
      process.stdout.write(`${dashboard.url}/composes\n`);
      await waitForSignal();
      await dashboard.stop();
      await pool.end();
      return 0;
    }
    case 'demo': {
      const { values } = parseArgs({ args: argv.slice(1), options: { keep: { type: 'boolean' } } });
      return runDemo(config, log, { keep: values.keep ?? process.stdin.isTTY === true });
    }
    case 'sandbox': {
      const sandbox = await startSandbox({
        host: config.sandbox.host,
        port: config.sandbox.port,
        tlsPort: config.sandbox.tlsPort,
        credentialsDir: sandboxCredentialsDir(config.dataDir),
        composeDir: defaultComposeDir(config.dataDir),
        busEndpoint: config.sandbox.busEndpoint,
        log,
      });
      process.stdout.write(`${JSON.stringify({ ...sandbox.urls, bus: config.sandbox.busEndpoint }, null, 2)}\n`);
      await waitForSignal();
      await sandbox.stop();
      return 0;
    }
    case 'runs': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: 'boolean' }, query: { type: 'string' }, reason: { type: 'string' }, step: { type: 'string' } },
      });
      if (sub === 'list') {
        const runs = await withClient(config, (client) => listRuns(client, values.query));
        process.stdout.write(values.json ? `${JSON.stringify(runs, null, 2)}\n` : `${formatTable(runs)}\n`);
        return 0;
      }
      if (sub === 'show' && positionals[0]) {
        const workflowId = positionals[0];
        const shown = await withClient(config, async (client) => {
          const handle = client.workflow.getHandle(workflowId);
          const description = await handle.describe();
          // The run's own status (RUNNING, COMPLETED, ...) stays `status`; what it says of itself is apart.
          const shownState =
            description.status.name === 'RUNNING'
              ? {
                  progress: await handle.query<unknown>('status').catch((err: Error) => `status query failed: ${err.message}`),
                  waitingFor: await waitingFor(client, workflowId),
                }
              : description.status.name === 'COMPLETED'
                ? { result: (await handle.result()) as unknown }
                : {};
          return { ...summarize(description), summary: (await description.staticSummary()) ?? null, details: (await description.staticDetails()) ?? null, ...shownState };
        });
        process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
        return 0;
      }
      if (sub === 'decide' && positionals[0] && ['retry', 'skip', 'abort'].includes(positionals[1] ?? '')) {
        const action = positionals[1] as 'retry' | 'skip' | 'abort';
        if (action !== 'retry' && !values.reason) throw new UsageError(`runs decide ... ${action} needs --reason "..."`);
        const step = values.step ? { step: values.step } : {};
        const decision: OperatorDecision = action === 'retry' ? { action, ...step } : { action, reason: values.reason!, ...step };
        const reply = await withClient(config, (client) => decideRun(client, positionals[0]!, decision));
        if (values.json) process.stdout.write(`${JSON.stringify(reply, null, 2)}\n`);
        else (reply.accepted ? process.stdout : process.stderr).write(`${formatDecisionReply(reply, action)}\n`);
        return reply.accepted ? 0 : 1;
      }
      throw new UsageError('runs list | runs show <workflow-id> | runs decide <workflow-id> retry|skip|abort [--reason "..."] [--step "..."] [--json]');
    }
    case 'compose': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { id: { type: 'string' }, status: { type: 'string', default: 'FINISHED' }, wait: { type: 'boolean' } },
      });
      if ((sub !== 'discover' && sub !== 'test') || !positionals[0]) throw new UsageError('compose discover <compose URL> | compose test <compose URL or ID>');
      const { composeId, location } = composeTarget(positionals[0], values.id, config.services.composes);
      const input = { composeId, location, pungiStatus: values.status };
      return withClient(config, async (client) => {
        const { handle, started } =
          sub === 'test'
            ? await startComposeTest(client, input, manualTrigger('compose.test'))
            : await startComposeDiscovery(client, input, manualTrigger('compose.discover'));
        process.stdout.write(`${started ? 'started' : 'already exists'}: ${handle.workflowId}\n`);
        if (values.wait) process.stdout.write(`${JSON.stringify(await handle.result(), null, 2)}\n`);
        return 0;
      });
    }
    case 'release': {
      const { values } = parseArgs({ args: rest, options: { release: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, wait: { type: 'boolean' } } });
      if (sub === 'list') {
        const rows = await listReleases(config);
        process.stdout.write(values.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatReleases(rows)}\n`);
        return 0;
      }
      if ((sub !== 'branch' && sub !== 'eol') || !values.release) throw new UsageError('release list [--json] | release branch|eol --release F45 [--dry-run] [--json] [--wait]');
      const release = values.release;
      // Checked before anything starts: the name becomes a workflow ID and Koji tag names.
      if (!/^F[1-9]\d{0,3}$/.test(release)) {
        process.stderr.write(`refused: ${release.slice(0, 40)} is not a Fedora release name (F45, F46, ...)\n`);
        return 1;
      }
      if (values['dry-run']) {
        const planned = sub === 'branch' ? await planBranchNow(config, release) : await planEolNow(config, release);
        if ('refused' in planned) {
          process.stderr.write(`refused: ${planned.refused}\n`);
          return 1;
        }
        const words = 'snapshot' in planned.plan ? describeBranchPlan(planned.plan) : describeEolPlan(planned.plan);
        process.stdout.write(values.json ? `${JSON.stringify(planned.plan, null, 2)}\n` : `${words}\n(dry run: nothing was changed)\n`);
        return 0;
      }
      return withClient(config, async (client) => {
        const input = { release, operatorReminderMs: durationToMs(config.push.operatorReminder) };
        const { handle, started } =
          sub === 'branch' ? await startReleaseBranch(client, input, manualTrigger('release.branch')) : await startReleaseEol(client, input, manualTrigger('release.eol'));
        process.stdout.write(`${started ? 'started' : 'already exists'}: ${handle.workflowId}\n`);
        if (!values.wait) return 0;
        try {
          process.stdout.write(`${JSON.stringify(await handle.result(), null, 2)}\n`);
          return 0;
        } catch (err) {
          process.stderr.write(`${handle.workflowId} failed: ${failureText(err)}\n`);
          return 1;
        }
      });
    }
    case 'twoweek': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { reason: { type: 'string' }, comment: { type: 'string' }, by: { type: 'string' } } });
      const usage = 'twoweek status|trigger|pause|unpause|block|unblock <stream> | mark-good|mark-bad <compose id> --reason "..." | approve <stream> <compose id>';
      const [first, second] = positionals;
      if (!sub || !first || positionals.length !== (sub === 'approve' ? 2 : 1)) throw new UsageError(usage);
      const withPool = async (work: (pool: Pool) => Promise<string>) => {
        if (!config.database.url) throw new UsageError(`DATABASE_URL is not set: twoweek ${sub} works on the results store of the running service`);
        const pool = createPool(config.database.url, 1);
        try {
          await migrate(pool);
          return await work(pool);
        } finally {
          await pool.end();
        }
      };
      const said =
        sub === 'status' ? await withPool((pool) => withClient(config, (client) => twoWeekStatus(client, pool, config, first))) :
        sub === 'trigger' ? await withClient(config, (client) => triggerTwoWeek(client, first)) :
        sub === 'pause' || sub === 'unpause' ? await withClient(config, (client) => pauseTwoWeekSchedule(client, first, sub === 'pause', values.reason, values.by)) :
        sub === 'mark-good' || sub === 'mark-bad' ? await withPool((pool) => markTwoWeekCompose(pool, first, sub === 'mark-good' ? 'good' : 'bad', values.reason, values.by)) :
        sub === 'block' || sub === 'unblock' ? await withPool((pool) => blockTwoWeekStream(pool, config, first, sub === 'block', values.reason, values.by)) :
        sub === 'approve' ? await withClient(config, (client) => approveTwoWeek(client, first, second!, values.comment, values.by)) :
        null;
      if (said === null) throw new UsageError(usage);
      process.stdout.write(said);
      return 0;
    }
    case 'ostree': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { 'dry-run': { type: 'boolean' }, force: { type: 'boolean' }, json: { type: 'boolean' } },
      });
      const dryRun = values['dry-run'] ?? false;
      const usage = 'ostree promote <ref> <commit> [--force] | alias <alias> <ref> | archive <prefix> | prune | prune-schedule  [--dry-run] [--json]';
      if (sub === 'prune-schedule') {
        const { text, description } = await withClient(config, showPruneSchedule);
        process.stdout.write(values.json ? `${JSON.stringify(description, null, 2)}\n` : `${text}\n`);
        return 0;
      }
      const wanted = { promote: 2, alias: 2, archive: 1, prune: 0 }[sub ?? ''];
      if (wanted === undefined || positionals.length !== wanted || (values.force && sub !== 'promote')) throw new UsageError(usage);
      const [first, second] = positionals as [string, string];
      return withClient(config, async (client) => {
        const trigger = manualTrigger(`ostree.${sub}`);
        // Each starts its run (a dry run too: it reads the repository where the workers are) and waits for it.
        const follow = async <T>(started: { handle: WorkflowHandle; started: boolean }): Promise<T> => {
          if (!values.json) process.stdout.write(`${started.started ? 'started' : 'already exists'}: ${started.handle.workflowId}\n`);
          return resultOf<T>(started.handle);
        };
        const done: OstreeResult =
          sub === 'promote' ? { operation: 'promote', result: await follow(await startOstreePromote(client, { ref: first, commit: second, force: values.force ?? false, dryRun }, trigger)) } :
          sub === 'alias' ? { operation: 'alias', result: await follow(await startOstreeAlias(client, { alias: first, target: second, dryRun }, trigger)) } :
          sub === 'archive' ? { operation: 'archive', result: await follow(await startOstreeArchive(client, { prefix: first, dryRun }, trigger)) } :
          { operation: 'prune', result: await follow(await startOstreePrune(client, { policies: config.ostree.prune.policies, dryRun }, trigger)) };
        process.stdout.write(values.json ? `${JSON.stringify(done.result, null, 2)}\n` : `${describeOstreeResult(done)}\n`);
        return 0;
      });
    }
    case 'push': {
      const { values } = parseArgs({ args: rest, options: { release: { type: 'string' }, request: { type: 'string' }, id: { type: 'string' }, wait: { type: 'boolean' } } });
      if (sub !== 'start' || !values.release || (values.request !== 'testing' && values.request !== 'stable')) {
        throw new UsageError('push start --release F43 --request stable|testing [--id <push id>] [--wait]');
      }
      const pushId = values.id ?? compactTimestamp(new Date());
      const input = { release: values.release, request: values.request, pushId, ...pushSettings(config) } as const;
      return withClient(config, async (client) => {
        const { handle, started } = await startPush(client, input, manualTrigger('push.start'));
        process.stdout.write(`${started ? 'started' : 'already exists'}: ${handle.workflowId}\n`);
        if (values.wait) process.stdout.write(`${JSON.stringify(await handle.result(), null, 2)}\n`);
        return 0;
      });
    }
    case 'bus': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { topic: { type: 'string' }, json: { type: 'boolean' }, count: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, transport: { type: 'string' } },
        allowPositionals: true,
      });
      if (sub === 'tail') {
        const count = values.count === undefined ? undefined : Number(values.count);
        const transport = values.transport;
        if (transport !== undefined && transport !== 'fedmsg' && transport !== 'amqp' && transport !== 'both') throw new UsageError('bus tail --transport: fedmsg, amqp or both');
        await tailBus(config, { topic: values.topic, json: values.json ?? false, count, transport, write: (line) => process.stdout.write(`${line}\n`) });
        return 0;
      }
      if (sub === 'replay') {
        if (!values.since) throw new UsageError('bus replay needs --since');
        const window = { start: parseSince(values.since), end: values.until ? parseSince(values.until) : Date.now() / 1000 };
        const result = await replayBus(config, log, window);
        process.stdout.write(`${JSON.stringify({ ...result, window }, null, 2)}\n`);
        return 0;
      }
      if (sub === 'parked') {
        const trouble = await busTrouble(config, log);
        if (values.json) process.stdout.write(`${JSON.stringify(trouble, null, 2)}\n`);
        else process.stdout.write(describeTrouble(trouble));
        return 0;
      }
      if (sub === 'retry') {
        const id = positionals[0];
        if (!id) throw new UsageError('bus retry needs a msg_id (or a dead letter id from bus parked)');
        process.stdout.write(`${await retryMessage(config, log, id)}\n`);
        return 0;
      }
      throw new UsageError('bus tail | bus replay --since <time> | bus parked | bus retry <msg_id>');
    }
    case 'db': {
      if (sub === 'migrate') {
        if (!config.database.url) throw new UsageError('DATABASE_URL is not set');
        const pool = createPool(config.database.url, 1);
        try {
          const applied = await migrate(pool, log);
          process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
        } finally {
          await pool.end();
        }
        return 0;
      }
      if (sub === 'serve') {
        const db = await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'pglite'), port: config.database.embeddedPort, log });
        process.stdout.write(`DATABASE_URL=${db.url}\n`);
        await waitForSignal();
        await db.stop();
        return 0;
      }
      throw new UsageError('db migrate | db serve');
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`relengotron: ${err.message}\n`);
  process.exit(2);
}
const log = createLogger('relengotron', config.logLevel);
main(process.argv.slice(2), config, log).then(
  // Exit once stdout has drained: a long `runs show` into a pipe would otherwise be cut short.
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      process.stderr.write(`relengotron: ${(err as Error).message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    // One plain sentence for a person; the details for whoever turns LOG_LEVEL up.
    process.stderr.write(`relengotron: ${(err as Error).message ?? String(err)}\n`);
    log.debug({ err }, 'failed');
    setTimeout(() => process.exit(1), 200);
  },
);
