/**
 * npm run bench (second part): the 2,000-update push (bench/large-push.ts) on a Temporal dev
 * server. Prints how long it took and the longest history of any of its runs against Temporal's
 * 10,000-event guidance.
 */
import { measureLargePush } from './large-push.js';
import { runBench, startBenchStack } from './stack.js';

const HISTORY_GUIDANCE = 10_000;
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const stack = await startBenchStack('push', 2);
  say(`releng-o-tron push benchmark; Postgres: ${stack.database}`);
  const push = await measureLargePush({ client: stack.client, temporalEnv: { TEMPORAL_ADDRESS: stack.temporalAddress }, databaseUrl: stack.databaseUrl, dataDir: stack.dataDir, pushId: '20261123T180000Z' });
  const parent = push.runs.find((r) => r.workflowId === push.workflowId)!;
  const longest = push.runs[0]!;
  say(`seeded:                                ${push.seeded}`);
  say('');
  say(`push ${push.workflowId}: ${push.updates} updates, ${push.composed} artifacts composed, compose ${push.composeId ?? 'none'}`);
  say(`wall time:                             ${push.seconds.toFixed(1)} s (${(push.updates / push.seconds).toFixed(1)} updates/s)`);
  say(`runs:                                  ${push.runs.length} (the push and its children)`);
  say(`push run history:                      ${parent.events} events`);
  say(`longest history of any run:            ${longest.events} events (${longest.workflowId})`);
  say(`longest / ${HISTORY_GUIDANCE} guidance:             ${(longest.events / HISTORY_GUIDANCE).toFixed(3)}`);
  await stack.stop();
}

runBench(main);
