#!/usr/bin/env node
// The bus listener: fedmsg and/or fedora-messaging in, durable inbox, runs out; backfills fedmsg from datagrepper after downtime.
import { Client, Connection } from '@temporalio/client';
import { serveMetrics } from '../bus/metrics.js';
import { BusService } from '../bus/service.js';
import { amqpSettings, redactedUrl } from '../bus/amqp-connection.js';
import { listenerSettings } from '../bus/settings.js';
import { usesTransport } from '../common/config.js';
import { createPool, migrate } from '../common/db.js';
import { durationToMs } from '../common/duration.js';
import { temporalConnectionOptions } from '../common/temporal-connection.js';
import { requireDatabaseUrl, runMain, startProcess } from './process.js';
import { LiveLanes } from '../common/release-config.js';

const { config, log } = startProcess('bus-listener');

runMain(log, async () => {
  const pool = createPool(requireDatabaseUrl(config, 'bus-listener'));
  await migrate(pool, log);
  // Connection.lazy: the listener stores messages even while Temporal is unreachable.
  const connection = Connection.lazy(temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.temporal.namespace });
  // Gating lanes follow the release lifecycle (a branch moves rawhide's lane on, an end of life stops one).
  const lanes = await new LiveLanes(pool, config.gating.lanes, (err) => log.warn({ err }, 'could not read the release configuration; keeping the last gating lanes')).start(
    durationToMs(config.gating.laneRefresh),
  );
  const settings = listenerSettings(config, lanes);
  if (settings.verify && settings.verify.caCertificates.length === 0) {
    log.warn('signatures are checked but no CA is configured (FEDMSG_CA_CERTS): any self-signed sender passes the chain check');
  }
  const { transport } = config.bus;
  const hearsFedmsg = usesTransport(transport, 'fedmsg');
  const amqp = usesTransport(transport, 'amqp') ? amqpSettings(config) : null;
  if (hearsFedmsg && !settings.verify) log.warn('fedmsg signatures are not checked (FEDMSG_VERIFY_SIGNATURES): anyone who can publish on the bus can start work');
  if (amqp && !amqp.tls?.cert) {
    log.warn({ broker: redactedUrl(amqp.url) }, 'fedora-messaging carries no signatures: the broker decides who may publish; without a client certificate this listener is only as safe as that broker');
  }
  const service = new BusService({
    pool,
    client,
    log,
    ...settings,
    fedmsg: hearsFedmsg,
    endpoints: config.bus.endpoints,
    amqp,
    datagrepperUrl: config.services.datagrepper,
    backfill: {
      overlapMs: durationToMs(config.bus.backfill.overlap),
      checkpointIntervalMs: durationToMs(config.bus.backfill.checkpointInterval),
    },
    backpressure: { highWater: config.bus.inboxHighWater, lowWater: config.bus.inboxLowWater, receiveQueue: config.bus.receiveQueue },
    retention: {
      inboxMs: durationToMs(config.bus.inboxRetention),
      deadLettersMs: durationToMs(config.bus.deadLetterRetention),
      intervalMs: durationToMs(config.bus.purgeInterval),
    },
  });
  service.start();
  const metrics = config.bus.metricsListen ? await serveMetrics(config.bus.metricsListen, () => service.metrics()) : null;
  log.info(
    { transport, endpoints: hearsFedmsg ? config.bus.endpoints : [], amqp: amqp ? { broker: redactedUrl(amqp.url), queue: amqp.queue } : null, accept: config.bus.acceptPrefixes, metrics: config.bus.metricsListen || null },
    'listening to the bus',
  );
  const counters = () => ({ ...service.listener.counters, ...service.counters, ...(service.amqp ? { amqp: service.amqp.counters } : {}) });
  const report = setInterval(() => log.info({ counters: counters() }, 'bus listener counters'), 60_000);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  log.info('stopping');
  clearInterval(report);
  await metrics?.close();
  lanes.stop();
  await service.stop();
  await connection.close();
  await pool.end();
  log.info({ counters: counters() }, 'bus listener stopped');
});
