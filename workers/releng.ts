#!/usr/bin/env node
// The orchestration worker: every workflow, and the activities that call APIs and the database.
import { createRelengActivities } from '../activities/index.js';
import { createPool, migrate } from '../common/db.js';
import { durationToMs } from '../common/duration.js';
import { TASK_QUEUES } from '../common/task-queues.js';
import { installTemporalRuntime, requireDatabaseUrl, runMain, startProcess } from './process.js';
import { runWorker } from './run-worker.js';

const context = startProcess('worker-releng');
const { config, log } = context;

runMain(log, async () => {
  installTemporalRuntime(log);
  const pool = createPool(requireDatabaseUrl(config, 'worker-releng'));
  try {
    await migrate(pool, log);
    await runWorker(context, {
      taskQueue: TASK_QUEUES.releng,
      withWorkflows: true,
      activities: createRelengActivities({ pool, requestTimeoutMs: durationToMs(config.services.requestTimeout) }),
      maxConcurrentActivities: config.workers.releng.maxConcurrentActivities,
    });
  } finally {
    await pool.end();
  }
});
