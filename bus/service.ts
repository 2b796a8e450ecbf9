/**
 * The bus listener process, whole: the transports it hears, a receive path that never drops a
 * message (a message that cannot be stored yet is retried until Postgres takes it; ZeroMQ queues
 * the rest meanwhile, AMQP leaves them unacked), and the dispatcher. For fedmsg, a checkpoint of
 * how long the socket has been connected and a datagrepper backfill at start and after every
 * reconnect, from a little before the checkpoint; for fedora-messaging, the broker's durable queue
 * keeps what arrives while the listener is away, so no backfill is needed.
 */
import type { Client } from '@temporalio/client';
import type { Subscriber } from 'zeromq';
import type { Pool } from '../common/db.js';
import type { VerifyOptions } from '../common/fedmsg-crypto.js';
import type { Logger } from '../common/logger.js';
import { backfill, datagrepperPageCap, type BackfillResult, type BackfillWindow } from './backfill.js';
import { pendingCount, purgeOld, readCheckpoint, troubleCounts, writeCheckpoint } from './inbox.js';
import { AmqpConsumer } from './amqp-consumer.js';
import type { AmqpSettings } from './amqp-connection.js';
import type { RawMessage } from './inbox.js';
import type { AmqpMessage } from './fedora-messaging.js';
import type { Metric } from './metrics.js';
import { BusListener, type DispatchOptions, type ReceiveOutcome } from './listener.js';
import type { Router } from './router.js';
import { openSubscriber } from './subscriber.js';

const CHECKPOINT_SOURCE = 'fedmsg';

export interface BusServiceOptions {
  readonly pool: Pool;
  readonly client: Client;
  readonly log: Logger;
  readonly router: Router;
  /** Hear fedmsg: the SUB socket on these endpoints, with the datagrepper backfill. Default true. */
  readonly fedmsg?: boolean;
  readonly endpoints: readonly string[];
  /** Hear fedora-messaging: the durable queue on this broker; null or unset: not at all. */
  readonly amqp?: AmqpSettings | null;
  readonly datagrepperUrl: string;
  readonly maxMessageBytes: number;
  readonly verify?: VerifyOptions | null;
  /** Messages sent longer ago are refused (bus.maxMessageAge). */
  readonly maxAgeMs?: number;
  readonly backfill: { readonly overlapMs: number; readonly checkpointIntervalMs: number };
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  readonly dispatch?: Partial<DispatchOptions>;
  /** Handled inbox rows and dead letters older than these are purged every intervalMs; unset: never. */
  readonly retention?: { readonly inboxMs: number; readonly deadLettersMs: number; readonly intervalMs: number };
  /**
   * Backpressure: at highWater pending inbox rows the listener stops reading (ZeroMQ queues up
   * to receiveQueue, then the publisher drops); at lowWater it reads again and backfills the pause
   * from datagrepper, so holding back never loses a message.
   */
  readonly backpressure?: { readonly highWater: number; readonly lowWater: number; readonly receiveQueue: number };
}

const now = (): number => Date.now() / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class BusService {
  readonly listener: BusListener;
  readonly counters = { backfilled: 0, backfills: 0, receiveRetries: 0, pauses: 0, purgedInbox: 0, purgedDeadLetters: 0 };
  private paused = false;
  private resumed: Promise<void> = Promise.resolve();
  private resume: () => void = () => undefined;
  /** Pending rows at the last sample, plus what was stored since: a cheap running estimate. */
  private pendingEstimate = 0;
  private socket: Subscriber | null = null;
  /** The fedora-messaging consumer, when AMQP is heard. */
  amqp: AmqpConsumer | null = null;
  private stopping = false;
  private readonly connected = new Set<string>();
  private tasks: Promise<void>[] = [];
  /** Set while the socket has been disconnected since the last checkpoint: heartbeats pause. */
  private gap = true;
  private catchUp: Promise<void> | null = null;
  private disconnects = 0;
  private scheduleAgain = false;
  private markStopped: () => void = () => undefined;
  private readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));

  constructor(private readonly options: BusServiceOptions) {
    this.listener = new BusListener(options);
  }

  private get hearsFedmsg(): boolean {
    return this.options.fedmsg ?? true;
  }

  start(): void {
    this.listener.startDispatching();
    if (this.hearsFedmsg) this.startFedmsg();
    if (this.options.amqp) {
      this.amqp = new AmqpConsumer({
        settings: this.options.amqp,
        // Exactly the topics some route acts on, under every accepted prefix: the broker keeps nothing else for us.
        bindings: this.options.router.backfillTopics(),
        log: this.options.log,
        receive: (message) => this.receiveDurably({ transport: 'amqp', ...message }),
      });
      this.amqp.start();
    }
    if (this.options.backpressure) this.tasks.push(this.pressureLoop(this.options.backpressure));
    if (this.options.retention) this.tasks.push(this.purgeLoop(this.options.retention));
  }

  private startFedmsg(): void {
    const socket = openSubscriber({
      endpoints: this.options.endpoints,
      topics: this.options.router.subscriptions,
      // A little over the listener's own cap, so a message just too large is dead-lettered with the
      // reason, while an absurd one never reaches memory (ZeroMQ drops its sender instead).
      maxMessageBytes: this.options.maxMessageBytes * 4,
      receiveQueue: this.options.backpressure?.receiveQueue ?? 0,
      observe: (s) => {
        s.events.on('handshake', ({ address }) => {
          this.connected.add(address);
          if (this.connected.size === this.options.endpoints.length && this.gap) this.scheduleCatchUp();
        });
        s.events.on('disconnect', ({ address }) => {
          this.connected.delete(address);
          this.disconnects++;
          this.gap = true;
          this.options.log.warn({ address }, 'lost the bus publisher; will backfill the gap on reconnect');
        });
      },
    });
    this.socket = socket;
    // Whatever happened while this process was not running is caught up at once, publisher or not.
    this.scheduleCatchUp();
    this.tasks.push(this.receiveLoop(socket), this.heartbeatLoop());
  }

  /** Keeps the inbox and the dead letters from growing without end; pending and parked rows stay. */
  private async purgeLoop(retention: NonNullable<BusServiceOptions['retention']>): Promise<void> {
    while (!this.stopping) {
      try {
        const purged = await purgeOld(this.options.pool, retention.inboxMs, retention.deadLettersMs);
        this.counters.purgedInbox += purged.inbox;
        this.counters.purgedDeadLetters += purged.deadLetters;
        if (purged.inbox + purged.deadLetters > 0) this.options.log.info(purged, 'purged old inbox rows and dead letters');
      } catch (err) {
        this.options.log.warn({ err: (err as Error).message }, 'could not purge the inbox');
      }
      await this.pause(retention.intervalMs);
    }
  }

  /** Sleeps, but wakes at stop. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stopped.then(() => {
        clearTimeout(timer);
        resolve();
      }, () => undefined);
    });
  }

  /**
   * Stores a message, retrying until the database takes it: nothing received is dropped. Only an
   * unreachable database makes receive() throw; a message Postgres refuses is a dead letter.
   */
  private async receiveDurably(raw: RawMessage): Promise<ReceiveOutcome | 'stopped'> {
    await this.resumed;
    for (let delay = this.options.retryDelayMs ?? 500; ; delay = Math.min(delay * 2, 10_000)) {
      // Stopping with a message not stored: datagrepper (fedmsg) or the broker (AMQP, left unacked) has it for the next start.
      if (this.stopping) return 'stopped';
      try {
        const outcome = await this.listener.receiveRaw(raw);
        if (outcome === 'stored' && this.options.backpressure && ++this.pendingEstimate >= this.options.backpressure.highWater) this.holdBack();
        return outcome;
      } catch (err) {
        this.counters.receiveRetries++;
        this.options.log.warn({ err: (err as Error).message, retryInMs: delay }, 'cannot store a message yet; retrying');
        await sleep(delay);
      }
    }
  }

  private async receiveLoop(socket: Subscriber): Promise<void> {
    try {
      for await (const frames of socket) await this.receiveDurably({ transport: 'fedmsg', frames });
    } catch (err) {
      if (!this.stopping) throw err;
    }
  }

  /** Stops reading: nothing new enters the inbox until the dispatcher has worked it down. */
  private holdBack(): void {
    if (this.paused) return;
    this.paused = true;
    // What the fedmsg publisher drops while we hold back is recovered from the checkpoint on
    // resuming; AMQP deliveries simply wait unacked (the prefetch window stops the broker).
    this.gap = true;
    this.counters.pauses++;
    this.resumed = new Promise((resolve) => (this.resume = resolve));
    this.options.log.warn({ pending: this.pendingEstimate }, 'inbox at its high-water mark: holding back until it drains');
  }

  private async pressureLoop(limits: { readonly highWater: number; readonly lowWater: number }): Promise<void> {
    while (!this.stopping) {
      try {
        this.pendingEstimate = await pendingCount(this.options.pool);
        if (!this.paused && this.pendingEstimate >= limits.highWater) this.holdBack();
        else if (this.paused && this.pendingEstimate <= limits.lowWater) {
          this.paused = false;
          this.resume();
          this.options.log.info({ pending: this.pendingEstimate }, 'inbox drained: reading again');
          if (this.hearsFedmsg) this.scheduleCatchUp();
        }
      } catch (err) {
        this.options.log.warn({ err: (err as Error).message }, 'cannot read the inbox depth');
      }
      await sleep(250);
    }
  }

  private scheduleCatchUp(): void {
    if (this.catchUp) {
      // The running catch-up's window may end before the newest gap: run once more after it.
      this.scheduleAgain = true;
      return;
    }
    this.catchUp = this.catchUpFromCheckpoint().finally(() => {
      this.catchUp = null;
      if (this.scheduleAgain && !this.stopping) {
        this.scheduleAgain = false;
        if (this.connected.size === this.options.endpoints.length) this.scheduleCatchUp();
      }
    });
  }

  /** Backfills from the checkpoint (minus the overlap) to now, retrying until it succeeds. */
  private async catchUpFromCheckpoint(): Promise<void> {
    const startedAt = now();
    const checkpoint = await this.retrying('reading the checkpoint', async () => {
      const found = await readCheckpoint(this.options.pool, CHECKPOINT_SOURCE);
      // The very first run records at once where listening began, so that even a crash in its
      // first second leaves the next start a window to backfill.
      if (found === null) await writeCheckpoint(this.options.pool, CHECKPOINT_SOURCE, startedAt);
      return found;
    });
    // Let the subscription reach the publisher, so live traffic and the window overlap.
    await sleep(1000);
    const disconnectsAtStart = this.disconnects;
    const end = now();
    await this.retrying('backfill', async () => {
      if (checkpoint !== null) {
        const result = await this.replay({ start: checkpoint - this.options.backfill.overlapMs / 1000, end });
        this.options.log.info({ ...result, since: new Date(checkpoint * 1000).toISOString() }, 'caught up from datagrepper');
      }
      await writeCheckpoint(this.options.pool, CHECKPOINT_SOURCE, end);
    });
    if (this.stopping) return;
    if (this.disconnects !== disconnectsAtStart) {
      // The publisher went away during this catch-up: its window may end before the new gap.
      this.scheduleAgain = true;
      return;
    }
    this.gap = this.paused || this.connected.size < this.options.endpoints.length;
  }

  /** Runs a step until it succeeds (backing off) or the service stops; null when stopped. */
  private async retrying<T>(what: string, step: () => Promise<T>): Promise<T | null> {
    for (let delay = 1000; !this.stopping; delay = Math.min(delay * 2, 60_000)) {
      try {
        return await step();
      } catch (err) {
        this.options.log.warn({ err: (err as Error).message, retryInMs: delay }, `${what} failed; will retry`);
        await sleep(delay);
      }
    }
    return null;
  }

  /** Re-drives a window of datagrepper's history through the normal receive path; safe to repeat. */
  async replay(window: BackfillWindow): Promise<BackfillResult> {
    const result = await backfill({
      datagrepperUrl: this.options.datagrepperUrl,
      topics: this.options.router.backfillTopics(),
      maxResponseBytes: datagrepperPageCap(this.options.maxMessageBytes),
      window,
      receive: (frames) => this.receiveDurably({ transport: 'fedmsg', frames }),
      ...(this.options.amqp ? { receiveAmqp: (message: AmqpMessage) => this.receiveDurably({ transport: 'amqp', ...message }) } : {}),
      unreadable: (topic, reason) => this.listener.refuseUnread(topic, reason),
    });
    this.counters.backfills++;
    this.counters.backfilled += result.stored;
    return result;
  }

  /** What the metrics endpoint shows. */
  async metrics(): Promise<Metric[]> {
    const c = this.listener.counters;
    const outcomes = { received: c.received, invalid: c.invalid, forged: c.forged, duplicate: c.duplicate, not_routed: c.notRouted, backfilled: this.counters.backfilled };
    const trouble = await troubleCounts(this.options.pool);
    return [
      { name: 'relengotron_bus_messages_total', help: 'Bus messages by what became of them.', type: 'counter', samples: Object.entries(outcomes).map(([outcome, value]) => ({ labels: { outcome }, value })) },
      { name: 'relengotron_bus_runs_started_total', help: 'Inbox rows turned into runs.', type: 'counter', samples: [{ value: c.started }] },
      { name: 'relengotron_bus_recorded_total', help: 'Inbox rows recorded without starting a run.', type: 'counter', samples: [{ value: c.recorded }] },
      { name: 'relengotron_bus_start_failures_total', help: 'Failed attempts to start a run (retried).', type: 'counter', samples: [{ value: c.startFailures }] },
      { name: 'relengotron_bus_parked_total', help: 'Inbox rows parked because their run cannot start.', type: 'counter', samples: [{ value: c.parked }] },
      { name: 'relengotron_bus_inbox_parked', help: 'Parked inbox rows waiting for an operator (relengotron bus parked).', type: 'gauge', samples: [{ value: trouble.parked }] },
      { name: 'relengotron_bus_dead_letters', help: 'Dead letters not yet retried.', type: 'gauge', samples: [{ value: trouble.deadLetters }] },
      { name: 'relengotron_bus_purged_total', help: 'Rows purged after their retention.', type: 'counter', samples: [{ labels: { table: 'inbox' }, value: this.counters.purgedInbox }, { labels: { table: 'dead_letters' }, value: this.counters.purgedDeadLetters }] },
      { name: 'relengotron_bus_backfills_total', help: 'Completed datagrepper catch-ups.', type: 'counter', samples: [{ value: this.counters.backfills }] },
      { name: 'relengotron_bus_inbox_pending', help: 'Inbox rows waiting for their run to start.', type: 'gauge', samples: [{ value: await pendingCount(this.options.pool) }] },
      { name: 'relengotron_bus_holding_back', help: '1 while the listener holds back because the inbox is at its high-water mark.', type: 'gauge', samples: [{ value: this.paused ? 1 : 0 }] },
      { name: 'relengotron_bus_hold_backs_total', help: 'Times the listener held back for a full inbox.', type: 'counter', samples: [{ value: this.counters.pauses }] },
      { name: 'relengotron_bus_connected_publishers', help: 'Publishers the SUB socket is connected to.', type: 'gauge', samples: [{ value: this.connected.size }] },
      ...(this.amqp
        ? ([
            { name: 'relengotron_bus_amqp_connected', help: '1 while the AMQP consumer is connected and consuming.', type: 'gauge', samples: [{ value: this.amqp.connected ? 1 : 0 }] },
            { name: 'relengotron_bus_amqp_connections_total', help: 'AMQP connections made (the first and every reconnect).', type: 'counter', samples: [{ value: this.amqp.counters.connections }] },
            { name: 'relengotron_bus_amqp_deliveries_total', help: 'AMQP deliveries by what was done with them.', type: 'counter', samples: Object.entries({ acked: this.amqp.counters.acked, rejected: this.amqp.counters.rejected, redelivered: this.amqp.counters.redelivered }).map(([outcome, value]) => ({ labels: { outcome }, value })) },
          ] satisfies Metric[])
        : []),
    ];
  }

  /** Records "connected until now" while nothing was missed; a gap pauses it until caught up. */
  private async heartbeatLoop(): Promise<void> {
    while (!this.stopping) {
      await sleep(this.options.backfill.checkpointIntervalMs);
      if (this.gap || this.catchUp) continue;
      await writeCheckpoint(this.options.pool, CHECKPOINT_SOURCE, now()).catch((err: Error) =>
        this.options.log.warn({ err: err.message }, 'checkpoint not written'),
      );
    }
  }

  async stop(): Promise<void> {
    const caughtUp = !this.gap && !this.catchUp;
    this.stopping = true;
    this.markStopped();
    this.resume();
    this.socket?.close();
    await Promise.allSettled([...this.tasks, this.catchUp, this.amqp?.stop()]);
    // A clean stop marks exactly where the downtime starts.
    if (caughtUp && this.hearsFedmsg) await writeCheckpoint(this.options.pool, CHECKPOINT_SOURCE, now()).catch(() => undefined);
    await this.listener.stop();
  }
}
