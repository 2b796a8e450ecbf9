/**
 * The bus listener's core, apart from its socket: a message is checked, then written to the
 * Postgres inbox (only then is it handled), and a dispatcher turns pending inbox rows into runs,
 * retrying with backoff while Temporal is away. Receiving never waits for Temporal.
 */
import type { Client } from '@temporalio/client';
import type { Pool } from '../common/db.js';
import { verifyEnvelope, type VerifyOptions } from '../common/fedmsg-crypto.js';
import type { Logger } from '../common/logger.js';
import { FedmsgEnvelopeSchema, topicSuffix, type FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { issueLines } from '../common/schemas/issues.js';
import { addDeadLetter, addToInbox, markAttemptFailed, markIgnored, markStarted, pendingInbox, type InboxRow } from './inbox.js';
import { InvalidBodyError, type Router } from './router.js';

export type ReceiveOutcome = 'stored' | 'duplicate' | 'dead-letter' | 'not-routed';

export interface ListenerCounters {
  received: number;
  invalid: number;
  forged: number;
  duplicate: number;
  notRouted: number;
  started: number;
  recorded: number;
  startFailures: number;
}

export interface BusListenerOptions {
  readonly pool: Pool;
  readonly client: Client;
  readonly log: Logger;
  /** The routing table from config (bus.routes, gating lanes). */
  readonly router: Router;
  readonly maxMessageBytes: number;
  /** Signature checking for topics that start work; null: off. */
  readonly verify?: VerifyOptions | null;
  /** First retry delay for a start that failed; doubles up to maxRetryDelayMs. */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  readonly dispatchBatch?: number;
}

type Decoded =
  | { readonly ok: true; readonly envelope: FedmsgEnvelope }
  | { readonly ok: false; readonly error: string; readonly topic: string | null; readonly msgId: string | null };

/** What a dead letter keeps of a refused message: its frames as text, capped. Built only on refusal. */
function deadLetterText(frames: readonly Buffer[]): string {
  return frames.map((f) => f.toString('utf8')).join('\n').slice(0, 64 * 1024);
}

function decodeFrames(frames: readonly Buffer[], maxBytes: number): Decoded {
  const topicFrame = frames[0]?.toString('utf8') ?? null;
  const size = frames.reduce((n, f) => n + f.length, 0);
  if (frames.length !== 2) return { ok: false, error: `expected 2 frames (topic, envelope), got ${frames.length}`, topic: topicFrame, msgId: null };
  if (size > maxBytes) return { ok: false, error: `message of ${size} bytes exceeds the ${maxBytes}-byte cap`, topic: topicFrame, msgId: null };
  let json: unknown;
  try {
    json = JSON.parse(frames[1]!.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `envelope is not JSON: ${(err as Error).message}`, topic: topicFrame, msgId: null };
  }
  const parsed = FedmsgEnvelopeSchema.safeParse(json);
  const msgId = typeof (json as { msg_id?: unknown })?.msg_id === 'string' ? (json as { msg_id: string }).msg_id : null;
  if (!parsed.success) {
    const why = issueLines(parsed.error, '(envelope)').join('; ');
    return { ok: false, error: `invalid envelope: ${why}`, topic: topicFrame, msgId };
  }
  if (parsed.data.topic !== topicFrame) {
    return { ok: false, error: `topic frame ${JSON.stringify(topicFrame)} does not match envelope topic ${JSON.stringify(parsed.data.topic)}`, topic: topicFrame, msgId };
  }
  return { ok: true, envelope: parsed.data };
}

export class BusListener {
  readonly counters: ListenerCounters = { received: 0, invalid: 0, forged: 0, duplicate: 0, notRouted: 0, started: 0, recorded: 0, startFailures: 0 };
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly dispatchBatch: number;
  private wake: (() => void) | null = null;
  /** Set when a message was stored, so the dispatcher looks again before sleeping. */
  private newWork = false;
  private stopping = false;
  private dispatching: Promise<void> | null = null;

  constructor(private readonly options: BusListenerOptions) {
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.dispatchBatch = options.dispatchBatch ?? 50;
  }

  /** Checks and stores one two-frame message. Never throws on bad input. */
  async receive(frames: readonly Buffer[]): Promise<ReceiveOutcome> {
    const { pool, log } = this.options;
    this.counters.received++;
    const result = decodeFrames(frames, this.options.maxMessageBytes);
    if (!result.ok) {
      const decoded = result;
      this.counters.invalid++;
      log.warn({ topic: decoded.topic, msgId: decoded.msgId, reason: decoded.error }, 'message dead-lettered');
      await addDeadLetter(pool, { topic: decoded.topic, msgId: decoded.msgId, reason: decoded.error, raw: deadLetterText(frames) });
      return 'dead-letter';
    }
    const decoded = result.envelope;
    const { router } = this.options;
    if (!router.handles(decoded.topic)) {
      this.counters.notRouted++;
      return 'not-routed';
    }
    if (this.options.verify) {
      const verdict = verifyEnvelope(frames[1]!.toString('utf8'), topicSuffix(decoded.topic), this.options.verify);
      if (!verdict.valid) {
        this.counters.forged++;
        log.warn({ topic: decoded.topic, msgId: decoded.msg_id, reason: verdict.reason }, 'message refused: signature check failed');
        await addDeadLetter(pool, { topic: decoded.topic, msgId: decoded.msg_id, reason: `signature: ${verdict.reason}`, raw: frames[1]!.toString('utf8') });
        return 'dead-letter';
      }
    }
    try {
      if (router.decide(decoded) === null) {
        this.counters.notRouted++;
        return 'not-routed';
      }
    } catch (err) {
      if (!(err instanceof InvalidBodyError)) throw err;
      this.counters.invalid++;
      log.warn({ topic: decoded.topic, msgId: decoded.msg_id, reason: err.message }, 'message dead-lettered');
      await addDeadLetter(pool, { topic: decoded.topic, msgId: decoded.msg_id, reason: err.message, raw: JSON.stringify(decoded) });
      return 'dead-letter';
    }
    if (!(await addToInbox(pool, decoded))) {
      this.counters.duplicate++;
      log.debug({ msgId: decoded.msg_id }, 'duplicate delivery ignored');
      return 'duplicate';
    }
    this.newWork = true;
    this.wake?.();
    return 'stored';
  }

  /** Handles one inbox row: start its run or record it. Throws when the start must be retried. */
  private async dispatch(row: InboxRow): Promise<void> {
    const { pool, client, log } = this.options;
    let decision;
    try {
      decision = this.options.router.decide(row.envelope);
    } catch (err) {
      // The routing table changed since the message was stored and its schema no longer fits.
      if (!(err instanceof InvalidBodyError)) throw err;
      decision = { kind: 'ignore', reason: err.message } as const;
    }
    if (decision === null) {
      await markIgnored(pool, row.msgId, 'no route matches it any more');
      return;
    }
    if (decision.kind === 'ignore') {
      await markIgnored(pool, row.msgId, decision.reason);
      this.counters.recorded++;
      return;
    }
    if (decision.kind === 'record') {
      await decision.record(pool);
      await markIgnored(pool, row.msgId, decision.reason);
      this.counters.recorded++;
      return;
    }
    const { started } = await decision.start(client, { msgId: row.msgId, topic: row.topic });
    await markStarted(pool, row.msgId, decision.workflowId);
    this.counters.started++;
    log.info({ msgId: row.msgId, workflowId: decision.workflowId, delivered: started }, started ? 'run started or signalled' : 'run already existed or had finished');
  }

  /** Drains pending rows until none is left; a failed start backs off and leaves the row pending. */
  private async dispatchLoop(): Promise<void> {
    let delay = this.retryDelayMs;
    while (!this.stopping) {
      let failed = false;
      this.newWork = false;
      try {
        const rows = await pendingInbox(this.options.pool, this.dispatchBatch);
        for (const row of rows) {
          if (this.stopping) break;
          try {
            await this.dispatch(row);
          } catch (err) {
            failed = true;
            this.counters.startFailures++;
            this.options.log.warn({ msgId: row.msgId, err: (err as Error).message, retryInMs: delay }, 'start failed; will retry');
            await markAttemptFailed(this.options.pool, row.msgId, (err as Error).message).catch(() => undefined);
            break; // keep order: later messages wait for this one
          }
        }
        if (!failed && rows.length === this.dispatchBatch) continue;
      } catch (err) {
        failed = true;
        this.options.log.warn({ err: (err as Error).message, retryInMs: delay }, 'inbox unreadable; will retry');
      }
      if (failed) {
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryDelayMs);
      } else {
        delay = this.retryDelayMs;
        if (!this.newWork) await this.sleep(5_000);
      }
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

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.dispatching;
  }

  /** Resolves once no inbox row is pending (tests and the demo wait on this). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await pendingInbox(this.options.pool, 1)).length === 0) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }
}
