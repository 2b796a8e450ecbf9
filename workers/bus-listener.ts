#!/usr/bin/env node
// The bus listener: fedmsg in, durable inbox, runs out.
import { Client, Connection } from '@temporalio/client';
import { readFileSync } from 'node:fs';
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
  const verify = config.bus.verifySignatures
    ? { caCertificates: config.bus.caCertificates.map((file) => readFileSync(file, 'utf8')), routingPolicy: config.bus.routingPolicy }
    : null;
  if (verify && verify.caCertificates.length === 0) log.warn('signatures are checked but no CA is configured (FEDMSG_CA_CERTS): any self-signed sender passes the chain check');
  const listener = new BusListener({ pool, client, log, maxMessageBytes: config.bus.maxMessageBytes, verify });
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
