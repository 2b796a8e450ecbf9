/**
 * The bus listener's core, apart from its socket: the trust boundary. A message is checked
 * (frames, size, envelope, accepted prefix, signature, body, handler), then written to the
 * Postgres inbox (only then is it handled); whatever is refused is dead-lettered with the reason
 * and its exact bytes. A dispatcher turns due inbox rows into runs, many at once but one at a time
 * per run, parking a row whose run can never start and backing off a row that may start later,
 * so no message holds up the ones behind it. Receiving never waits for Temporal.
 */
import type { Client } from '@temporalio/client';
import type { Pool } from '../common/db.js';
import { verifyEnvelope, type VerifyOptions } from '../common/fedmsg-crypto.js';
import type { Logger } from '../common/logger.js';
import { FedmsgEnvelopeSchema, type FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { issueLines } from '../common/schemas/issues.js';
import { classifyStartFailure, describeFailure, isPostgresDataError } from './faults.js';
import { decodeAmqpMessage, type AmqpMessage } from './fedora-messaging.js';
import { addDeadLetter, addToInbox, dueInbox, nextRetryInMs, pendingCount, recordOutcomes, type InboxRow, type RawMessage, type RowOutcome } from './inbox.js';
import { InvalidBodyError, type Decision, type Router } from './router.js';

export type ReceiveOutcome = 'stored' | 'duplicate' | 'dead-letter' | 'not-routed';

export interface ListenerCounters {
  received: number;
  /** Refused: malformed, oversized, outside the accepted prefixes, a body or handler refusal, unstorable. */
  invalid: number;
  forged: number;
  duplicate: number;
  notRouted: number;
  started: number;
  recorded: number;
  /** Start attempts that failed and will be tried again. */
  startFailures: number;
  /** Inbox rows parked: their run can never start as they are. */
  parked: number;
}

export interface DispatchOptions {
  /** Runs started at once (rows of the same run still go one at a time, in order). */
  readonly concurrency: number;
  /** After this many failed starts of one row (for reasons that might pass), it is parked. */
  readonly maxAttempts: number;
  /** Per-row backoff, doubling from first to longest. */
  readonly retryFirstMs: number;
  readonly retryLongestMs: number;
}

export interface BusListenerOptions {
  readonly pool: Pool;
  readonly client: Client;
  readonly log: Logger;
  /** The routing table from config (bus.routes, gating lanes, accepted prefixes). */
  readonly router: Router;
  readonly maxMessageBytes: number;
  /** Signature checking for topics that start work; null: off. */
  readonly verify?: VerifyOptions | null;
  /** Messages sent longer ago than this are refused (bus.maxMessageAge): their IDs may be forgotten. */
  readonly maxAgeMs?: number;
  /** First delay after the inbox or Temporal could not be reached; doubles up to maxRetryDelayMs. */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  readonly dispatch?: Partial<DispatchOptions>;
}

type Decoded =
  | { readonly ok: true; readonly envelope: FedmsgEnvelope; readonly json: string }
  | { readonly ok: false; readonly error: string; readonly topic: string | null; readonly msgId: string | null };

/** fedmsg bodies are a few levels deep; deeper input only exists to exhaust a recursive reader's stack. */
export const MAX_JSON_DEPTH = 32;

/** True when the JSON text nests objects or arrays deeper than `max` (a scan, no recursion). */
function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** JSON from outside, read without letting its nesting exhaust the stack. */
function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) return { ok: false, error: `nests deeper than ${MAX_JSON_DEPTH} levels` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: `is not JSON: ${(err as Error).message}` };
  }
}

function decodeFrames(frames: readonly Buffer[], maxBytes: number): Decoded {
  const topicFrame = frames[0]?.subarray(0, 1024).toString('utf8') ?? null;
  const size = frames.reduce((n, f) => n + f.length, 0);
  if (frames.length !== 2) return { ok: false, error: `expected 2 frames (topic, envelope), got ${frames.length}`, topic: topicFrame, msgId: null };
  if (size > maxBytes) return { ok: false, error: `message of ${size} bytes exceeds the ${maxBytes}-byte cap`, topic: topicFrame, msgId: null };
  let json: string;
  try {
    json = strictUtf8.decode(frames[1]);
  } catch {
    return { ok: false, error: 'envelope is not valid UTF-8', topic: topicFrame, msgId: null };
  }
  const read = parseJson(json);
  if (!read.ok) return { ok: false, error: `envelope ${read.error}`, topic: topicFrame, msgId: null };
  const parsed = read.value;
  const envelope = FedmsgEnvelopeSchema.safeParse(parsed);
  const rawMsgId = (parsed as { msg_id?: unknown } | null)?.msg_id;
  const msgId = typeof rawMsgId === 'string' ? rawMsgId.slice(0, 200) : null;
  if (!envelope.success) {
    const why = issueLines(envelope.error, '(envelope)').join('; ');
    return { ok: false, error: `invalid envelope: ${why}`, topic: topicFrame, msgId };
  }
  if (envelope.data.topic !== topicFrame) {
    return { ok: false, error: `topic frame ${JSON.stringify(topicFrame)} does not match envelope topic ${JSON.stringify(envelope.data.topic)}`, topic: topicFrame, msgId };
  }
  return { ok: true, envelope: envelope.data, json };
}

/** A row's run: rows with the same key are dispatched one after another, in the order received. */
interface Planned {
  readonly row: InboxRow;
  readonly decision: Decision | null;
  /** Set when the routing table changed since the message was stored and it no longer fits. */
  readonly refusal: string | null;
}

function runKey(planned: Planned): string {
  return planned.decision?.kind === 'start' ? planned.decision.workflowId : `message:${planned.row.msgId}`;
}

/** Runs `work` over items, at most `limit` at a time. */
async function eachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

export class BusListener {
  readonly counters: ListenerCounters = { received: 0, invalid: 0, forged: 0, duplicate: 0, notRouted: 0, started: 0, recorded: 0, startFailures: 0, parked: 0 };
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly dispatchOptions: DispatchOptions;
  private wake: (() => void) | null = null;
  /** Set when a message was stored, so the dispatcher looks again before sleeping. */
  private newWork = false;
  private stopping = false;
  private dispatching: Promise<void> | null = null;
  /** Why the last refused message was refused (`bus retry` says it). */
  lastRefusal: string | null = null;

  get router(): Router {
    return this.options.router;
  }

  constructor(private readonly options: BusListenerOptions) {
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.dispatchOptions = { concurrency: 16, maxAttempts: 10, retryFirstMs: 1000, retryLongestMs: 300_000, ...options.dispatch };
  }

  /** Keeps a refused message with the reason; counts it. */
  private async refuse(raw: RawMessage, reason: string, topic: string | null, msgId: string | null, kind: 'invalid' | 'forged' = 'invalid'): Promise<ReceiveOutcome> {
    this.counters[kind]++;
    this.lastRefusal = reason;
    this.options.log.warn({ topic, msgId, reason }, kind === 'forged' ? 'message refused: signature check failed' : 'message dead-lettered');
    try {
      await addDeadLetter(this.options.pool, { topic, msgId, reason, raw });
    } catch (err) {
      if (!isPostgresDataError(err)) throw err;
      // The texts are made storable and the bytes are bytea, so this should not happen; if it does,
      // the bytes are still kept (an AMQP message's without its properties), under a reason that says so.
      const bare: RawMessage = raw.transport === 'amqp' ? { ...raw, properties: {} } : raw;
      await addDeadLetter(this.options.pool, { topic: null, msgId: null, reason: `refused; its details could not be stored (${describeFailure(err)})`, raw: bare });
    }
    return 'dead-letter';
  }

  /** A message that could not even be read (too large for datagrepper's page cap): kept as a dead letter without its bytes. */
  async refuseUnread(topic: string, reason: string): Promise<void> {
    this.counters.received++;
    await this.refuse({ transport: 'fedmsg', frames: [Buffer.from(topic), Buffer.alloc(0)] }, reason, topic, null);
  }

  /** Either transport's message, as a dead letter keeps it (`bus retry`). */
  receiveRaw(raw: RawMessage): Promise<ReceiveOutcome> {
    return raw.transport === 'fedmsg' ? this.receive(raw.frames) : this.receiveAmqp(raw);
  }

  /**
   * Checks and stores one fedora-messaging delivery, exactly as a fedmsg message: the same size
   * cap, prefixes, body schemas, handlers and inbox (keyed by message ID, so a twin that came over
   * ZeroMQ is a duplicate). There is no signature: on AMQP the broker authenticates senders (TLS
   * client certificates and its topic permissions), so this path trusts whoever the broker let publish.
   */
  async receiveAmqp(message: AmqpMessage): Promise<ReceiveOutcome> {
    this.counters.received++;
    const raw: RawMessage = { transport: 'amqp', ...message };
    const topic = message.routingKey.slice(0, 1024);
    if (message.body.length > this.options.maxMessageBytes) {
      return this.refuse(raw, `message of ${message.body.length} bytes exceeds the ${this.options.maxMessageBytes}-byte cap`, topic, message.properties.messageId ?? null);
    }
    let decoded;
    try {
      decoded = decodeAmqpMessage(message, parseJson);
    } catch (err) {
      // Reading the message is pure: whatever throws there is about the message (a header table nested past the stack, say).
      return this.refuse(raw, `cannot read it: ${describeFailure(err)}`, topic, null);
    }
    if (!decoded.ok) return this.refuse(raw, decoded.error, topic, decoded.msgId);
    const envelope = FedmsgEnvelopeSchema.safeParse(decoded.envelope);
    if (!envelope.success) return this.refuse(raw, `invalid message: ${issueLines(envelope.error, '(message)').join('; ')}`, topic, decoded.envelope.msg_id);
    return this.accept(envelope.data, decoded.json, raw, false);
  }

  /**
   * Checks and stores one two-frame message. Never throws because of what the message holds:
   * every such failure is a dead letter. It throws only when Postgres cannot be reached (the
   * caller retries, so nothing received is lost).
   */
  async receive(frames: readonly Buffer[]): Promise<ReceiveOutcome> {
    this.counters.received++;
    const raw: RawMessage = { transport: 'fedmsg', frames };
    const decoded = decodeFrames(frames, this.options.maxMessageBytes);
    if (!decoded.ok) return this.refuse(raw, decoded.error, decoded.topic, decoded.msgId);
    return this.accept(decoded.envelope, decoded.json, raw, true);
  }

  /**
   * The checks every transport shares, then the inbox. `signed`: the transport carries fedmsg
   * signatures (ZeroMQ), so they are checked when configured.
   */
  private async accept(envelope: FedmsgEnvelope, json: string, raw: RawMessage, signed: boolean): Promise<ReceiveOutcome> {
    const { pool, log, router } = this.options;
    const refuse = (reason: string, kind: 'invalid' | 'forged' = 'invalid') => this.refuse(raw, reason, envelope.topic, envelope.msg_id, kind);
    const { maxAgeMs } = this.options;
    if (maxAgeMs !== undefined && envelope.timestamp * 1000 < Date.now() - maxAgeMs) {
      // The inbox (and Temporal) forget message IDs after their retention: a replay of an older
      // message could no longer be told from a new one, so it is not taken at all.
      const sent = new Date(envelope.timestamp * 1000).toISOString();
      return refuse(`sent ${sent}, more than ${Math.round(maxAgeMs / 86_400_000)} days ago (bus.maxMessageAge): it may be a replay`);
    }
    const suffix = router.accepted(envelope.topic);
    if (suffix === null) {
      return refuse(`topic ${envelope.topic} is not under an accepted prefix (${router.acceptPrefixes.join(', ')})`);
    }
    if (!router.handles(suffix)) {
      this.counters.notRouted++;
      return 'not-routed';
    }
    if (signed && this.options.verify) {
      let verdict;
      try {
        verdict = verifyEnvelope(json, suffix, this.options.verify);
      } catch (err) {
        // A certificate node:crypto cannot use for this (an Ed25519 key, say) is no valid signature.
        verdict = { valid: false as const, reason: `cannot check the signature: ${describeFailure(err)}` };
      }
      if (!verdict.valid) return refuse(`signature: ${verdict.reason}`, 'forged');
    }
    try {
      if (router.decide(envelope) === null) {
        this.counters.notRouted++;
        return 'not-routed';
      }
    } catch (err) {
      const reason = err instanceof InvalidBodyError ? err.message : `cannot route it: ${describeFailure(err)}`;
      return refuse(reason);
    }
    let stored: boolean;
    try {
      stored = await addToInbox(pool, envelope, raw.transport);
    } catch (err) {
      if (!isPostgresDataError(err)) throw err;
      return refuse(`the inbox cannot store it: ${describeFailure(err)}`);
    }
    if (!stored) {
      this.counters.duplicate++;
      log.debug({ msgId: envelope.msg_id }, 'duplicate delivery ignored');
      return 'duplicate';
    }
    this.newWork = true;
    this.wake?.();
    return 'stored';
  }

  /** What each due row leads to under the current routing table (pure: no I/O). */
  private plan(row: InboxRow): Planned {
    try {
      return { row, decision: this.options.router.decide(row.envelope), refusal: null };
    } catch (err) {
      return { row, decision: null, refusal: err instanceof InvalidBodyError ? err.message : describeFailure(err) };
    }
  }

  private backoff(attempts: number): number {
    const { retryFirstMs, retryLongestMs } = this.dispatchOptions;
    return Math.min(retryLongestMs, retryFirstMs * 2 ** Math.min(attempts, 30));
  }

  /**
   * Handles the rows of one run in order, adding each row's outcome. True when Temporal or
   * Postgres was unreachable (then the rest of the group waits for the next pass).
   */
  private async dispatchGroup(group: readonly Planned[], outcomes: RowOutcome[]): Promise<boolean> {
    const { pool, client, log } = this.options;
    for (const [index, { row, decision, refusal }] of group.entries()) {
      if (this.stopping) return false;
      if (refusal !== null) {
        outcomes.push({ msgId: row.msgId, state: 'parked', reason: `no longer fits the routing table: ${refusal}` });
        this.counters.parked++;
        continue;
      }
      if (decision === null || decision.kind === 'ignore') {
        outcomes.push({ msgId: row.msgId, state: 'ignored', reason: decision?.reason ?? 'no route matches it any more' });
        this.counters.recorded++;
        continue;
      }
      try {
        if (decision.kind === 'record') {
          await decision.record(pool);
          outcomes.push({ msgId: row.msgId, state: 'ignored', reason: decision.reason });
          this.counters.recorded++;
          continue;
        }
        const { started } = await decision.start(client, { msgId: row.msgId, topic: row.topic });
        outcomes.push({ msgId: row.msgId, state: 'started', workflowId: decision.workflowId });
        this.counters.started++;
        log.debug({ msgId: row.msgId, workflowId: decision.workflowId, delivered: started }, started ? 'run started or signalled' : 'run already existed or had finished');
      } catch (err) {
        const fault = classifyStartFailure(err);
        const reason = describeFailure(err);
        if (fault === 'permanent' || (fault === 'retry-row' && row.attempts + 1 >= this.dispatchOptions.maxAttempts)) {
          const why = fault === 'permanent' ? reason : `${reason}; parked after ${row.attempts + 1} attempts`;
          outcomes.push({ msgId: row.msgId, state: 'parked', reason: why });
          this.counters.parked++;
          log.warn({ msgId: row.msgId, reason: why }, 'inbox row parked: its run cannot be started; `relengotron bus retry` re-drives it after a fix');
          continue;
        }
        this.counters.startFailures++;
        const counted = fault === 'retry-row';
        const delayMs = counted ? this.backoff(row.attempts) : this.retryDelayMs;
        outcomes.push({ msgId: row.msgId, state: 'retry', reason, delayMs, counted });
        // Later messages of this run wait as long as this one, so they cannot overtake it; other runs go on.
        for (const later of group.slice(index + 1)) {
          outcomes.push({ msgId: later.row.msgId, state: 'retry', reason: `waits for ${row.msgId}, an earlier message of the same run`, delayMs, counted: false });
        }
        log.warn({ msgId: row.msgId, err: reason, retryInMs: delayMs }, counted ? 'start failed; this message will be tried again' : 'Temporal or Postgres unreachable; will retry');
        return fault === 'unreachable';
      }
    }
    return false;
  }

  /**
   * One pass over the due rows: planned, grouped by run, started concurrently, recorded in one
   * statement. `full`: the batch was full, so more rows are probably due.
   */
  private async dispatchPass(): Promise<{ full: boolean; unreachable: boolean }> {
    const batch = this.dispatchOptions.concurrency * 32;
    const rows = await dueInbox(this.options.pool, batch);
    const groups = new Map<string, Planned[]>();
    for (const planned of rows.map((row) => this.plan(row))) {
      const key = runKey(planned);
      const group = groups.get(key);
      if (group) group.push(planned);
      else groups.set(key, [planned]);
    }
    const outcomes: RowOutcome[] = [];
    let unreachable = false;
    await eachBounded([...groups.values()], this.dispatchOptions.concurrency, async (group) => {
      if (await this.dispatchGroup(group, outcomes)) unreachable = true;
    });
    await recordOutcomes(this.options.pool, outcomes);
    return { full: rows.length === batch, unreachable };
  }

  /** Works the inbox down, forever: due rows first, sleeping until the next one is due or new work arrives. */
  private async dispatchLoop(): Promise<void> {
    let delay = this.retryDelayMs;
    while (!this.stopping) {
      this.newWork = false;
      let pause: number;
      try {
        const pass = await this.dispatchPass();
        if (pass.unreachable) {
          pause = delay;
          delay = Math.min(delay * 2, this.maxRetryDelayMs);
        } else {
          delay = this.retryDelayMs;
          if (pass.full || this.newWork) continue;
          const due = await nextRetryInMs(this.options.pool);
          pause = Math.min(5_000, due ?? 5_000);
          if (pause <= 0) continue;
        }
      } catch (err) {
        this.options.log.warn({ err: describeFailure(err), retryInMs: delay }, 'inbox unreadable; will retry');
        pause = delay;
        delay = Math.min(delay * 2, this.maxRetryDelayMs);
      }
      await this.sleep(pause);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  /** Starts the dispatcher; it first re-drives whatever was left pending by an earlier run. */
  startDispatching(): void {
    this.dispatching ??= this.dispatchLoop();
  }

  /** Looks at the inbox now instead of at the next wake-up (after `bus retry`, say). */
  poke(): void {
    this.newWork = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.dispatching;
  }

  /** Resolves once no inbox row is pending (tests and the demo wait on this). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await pendingCount(this.options.pool)) === 0) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }
}
