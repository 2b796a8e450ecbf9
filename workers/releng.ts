#!/usr/bin/env node
// The orchestration worker: every workflow, and the activities that call APIs, the database and the bus.
import { temporalConnectionOptions } from '../common/temporal-connection.js';
import { Client, Connection } from '@temporalio/client';
import { bindGpgAgent } from '../activities/gpg-agent.js';
import { createRelengActivities } from '../activities/index.js';
import { openBusOutlets } from '../bus/outlets.js';
import { createPool, migrate } from '../common/db.js';
import { durationToMs } from '../common/duration.js';
import { TASK_QUEUES } from '../common/task-queues.js';
import { pushPaths } from '../common/config.js';
import { installTemporalRuntime, requireDatabaseUrl, runMain, startProcess } from './process.js';
import { runWorker } from './run-worker.js';

const context = startProcess('worker-releng');
const { config, log } = context;

runMain(log, async () => {
  installTemporalRuntime(log);
  const pool = createPool(requireDatabaseUrl(config, 'worker-releng'));
  const bus = await openBusOutlets(config, log);
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const paths = pushPaths(config);
  // The signing homedir's agent lives and dies with this worker.
  const agent = paths.signingKey ? await bindGpgAgent(paths.signingKey.homedir, log) : null;
  try {
    await migrate(pool, log);
    await runWorker(context, {
      taskQueue: TASK_QUEUES.releng,
      withWorkflows: true,
      activities: createRelengActivities({
        pool,
        bus,
        http: { timeoutMs: durationToMs(config.services.requestTimeout), maxBytes: config.services.maxResponseBytes },
        kojiHubUrl: config.services.kojiHub,
        kojiLogin: config.services.kojiAuth ?? null,
        bodhiLogin: config.services.bodhiAuth ?? null,
        kojiTopUrl: config.services.kojiFiles,
        kojiPollIntervalMs: durationToMs(config.gating.kojiPollInterval),
        composeTesting: config.composeTesting,
        dashboardUrl: config.dashboard.url,
        temporal: new Client({ connection, namespace: config.temporal.namespace }),
        bodhiUrl: config.services.bodhi,
        pdcUrl: config.services.pdc,
        push: paths,
        gatingLanes: config.gating.lanes,
      }),
      maxConcurrentActivities: config.workers.releng.maxConcurrentActivities,
    });
  } finally {
    await agent?.stop();
    await connection.close();
    await bus.close();
    await pool.end();
  }
});
