#!/usr/bin/env node
// The bus listener: fedmsg in, durable inbox, runs out.
import { Client, Connection } from '@temporalio/client';
import { BusListener } from '../bus/listener.js';
import { openSubscriber } from '../bus/subscriber.js';
import { createPool, migrate } from '../common/db.js';
import { requireDatabaseUrl, runMain, startProcess } from './process.js';

const { config, log } = startProcess('bus-listener');

runMain(log, async () => {
  const pool = createPool(requireDatabaseUrl(config, 'bus-listener'));
  await migrate(pool, log);
  // Connection.lazy: the listener stores messages even while Temporal is unreachable.
  const connection = Connection.lazy({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const listener = new BusListener({ pool, client, log, maxMessageBytes: config.bus.maxMessageBytes });
  const socket = openSubscriber({ endpoints: config.bus.endpoints });

  const shutdown = () => {
    log.info('stopping: closing the bus socket');
    socket.close();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  const report = setInterval(() => log.info({ counters: listener.counters }, 'bus listener counters'), 60_000);

  listener.startDispatching();
  log.info({ endpoints: config.bus.endpoints }, 'listening to the bus');
  try {
    for await (const frames of socket) {
      await listener.receive(frames);
    }
  } finally {
    clearInterval(report);
    await listener.stop();
    await connection.close();
    await pool.end();
    log.info({ counters: listener.counters }, 'bus listener stopped');
  }
});
