/** The listener's durable inbox and dead-letter table in Postgres. */
import type { Pool } from '../common/db.js';
import type { FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { storableText } from '../common/storable-text.js';
import { storableProperties, type AmqpMessage, type AmqpProperties } from './fedora-messaging.js';

export type Transport = 'fedmsg' | 'amqp';

/** A message exactly as it came, from either transport: what a dead letter keeps and `bus retry` re-reads. */
export type RawMessage =
  | { readonly transport: 'fedmsg'; readonly frames: readonly Buffer[] }
  | ({ readonly transport: 'amqp' } & AmqpMessage);

export interface InboxRow {
  readonly msgId: string;
  readonly topic: string;
  readonly envelope: FedmsgEnvelope;
  readonly attempts: number;
}

/** Stores a message; false when its msg_id was already there (a duplicate delivery). */
export async function addToInbox(pool: Pool, envelope: FedmsgEnvelope, transport: Transport = 'fedmsg'): Promise<boolean> {
  const result = await pool.query(
    `INSERT INTO bus_inbox (msg_id, topic, sent_at, envelope, transport) VALUES ($1, $2, to_timestamp($3), $4, $5)
     ON CONFLICT (msg_id) DO NOTHING`,
    [envelope.msg_id, envelope.topic, envelope.timestamp, JSON.stringify(envelope), transport],
  );
  return result.rowCount === 1;
}

/** Pending rows whose next try is due, oldest first. */
export async function dueInbox(pool: Pool, limit: number): Promise<InboxRow[]> {
  const { rows } = await pool.query<{ msg_id: string; topic: string; envelope: FedmsgEnvelope; attempts: number }>(
    `SELECT msg_id, topic, envelope, attempts FROM bus_inbox
     WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now())
     ORDER BY received_at, msg_id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ msgId: r.msg_id, topic: r.topic, envelope: r.envelope, attempts: r.attempts }));
}

/** Milliseconds until the earliest pending row that waits for a retry is due; null when none waits. */
export async function nextRetryInMs(pool: Pool): Promise<number | null> {
  const { rows } = await pool.query<{ ms: number | null }>(
    `SELECT (EXTRACT(EPOCH FROM min(next_attempt_at) - now()) * 1000)::float8 AS ms FROM bus_inbox WHERE state = 'pending' AND next_attempt_at IS NOT NULL`,
  );
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? null : Math.max(0, ms);
}

/** How one row's dispatch ended, written back in one statement per pass. */
export type RowOutcome =
  | { readonly msgId: string; readonly state: 'started'; readonly workflowId: string }
  | { readonly msgId: string; readonly state: 'ignored'; readonly reason: string }
  | { readonly msgId: string; readonly state: 'parked'; readonly reason: string }
  | { readonly msgId: string; readonly state: 'retry'; readonly reason: string; readonly delayMs: number; readonly counted: boolean };

/** Writes a pass's outcomes: one UPDATE whatever the number of rows. */
export async function recordOutcomes(pool: Pool, outcomes: readonly RowOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  const column = <T>(pick: (o: RowOutcome) => T) => outcomes.map(pick);
  await pool.query(
    `UPDATE bus_inbox AS b SET
       state = CASE WHEN o.state = 'retry' THEN 'pending' ELSE o.state END,
       workflow_id = COALESCE(o.workflow_id, b.workflow_id),
       last_error = o.reason,
       attempts = b.attempts + CASE WHEN o.counted THEN 1 ELSE 0 END,
       next_attempt_at = CASE WHEN o.state = 'retry' THEN now() + o.delay_ms * interval '1 millisecond' ELSE NULL END,
       parked_at = CASE WHEN o.state = 'parked' THEN now() ELSE NULL END,
       handled_at = CASE WHEN o.state IN ('started', 'ignored') THEN now() ELSE b.handled_at END
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::boolean[])
       AS o(msg_id, state, workflow_id, reason, delay_ms, counted)
     WHERE b.msg_id = o.msg_id`,
    [
      column((o) => o.msgId),
      column((o) => o.state),
      column((o) => (o.state === 'started' ? o.workflowId : null)),
      column((o) => ('reason' in o ? storableText(o.reason) : null)),
      column((o) => (o.state === 'retry' ? o.delayMs : 0)),
      column((o) => o.state !== 'retry' || o.counted),
    ],
  );
}

export interface DeadLetter {
  /** The topic as text (shown and searched); the exact frame goes in `frames`. */
  readonly topic: string | null;
  readonly msgId: string | null;
  readonly reason: string;
  /** The message as received. */
  readonly raw: RawMessage;
}

/** Keeps at most this much of a refused message; the cap on a message is the listener's maxMessageBytes. */
const MAX_DEAD_LETTER_BYTES = 4 * 1024 * 1024;

/**
 * Keeps a refused message, any bytes at all: the frames as bytea, the texts made storable. The
 * same bytes refused again for the same reason (a backfill) are kept once.
 */
export async function addDeadLetter(pool: Pool, letter: DeadLetter): Promise<void> {
  const kept =
    letter.raw.transport === 'fedmsg'
      ? { ...deadLetterBytes(letter.raw.frames), frameCount: letter.raw.frames.length, properties: null }
      : {
          raw: letter.raw.body.subarray(0, MAX_DEAD_LETTER_BYTES),
          topicFrame: Buffer.from(letter.raw.routingKey, 'utf8').subarray(0, 64 * 1024),
          frameCount: null,
          properties: JSON.stringify(storableProperties(letter.raw.properties)),
        };
  const msgId = letter.msgId === null ? null : storableText(letter.msgId, 200);
  await pool.query(
    `INSERT INTO bus_dead_letters (topic, msg_id, reason, raw, topic_frame, frame_count, transport, amqp_properties)
     SELECT $1, $2, $3, $4, $5, $6, $7, $8::jsonb
     WHERE $2::text IS NULL OR NOT EXISTS (SELECT 1 FROM bus_dead_letters WHERE msg_id = $2 AND reason = $3 AND raw = $4 AND retried_at IS NULL)`,
    [letter.topic === null ? null : storableText(letter.topic, 512), msgId, storableText(letter.reason), kept.raw, kept.topicFrame, kept.frameCount, letter.raw.transport, kept.properties],
  );
}

/**
 * What a dead letter keeps of the frames: for fedmsg's two (topic, envelope), the envelope and
 * the topic frame apart (so `bus retry` can send them through again); for any other number, every
 * frame joined by NUL bytes. Capped, since a sender may send anything.
 */
export function deadLetterBytes(frames: readonly Buffer[]): { raw: Buffer; topicFrame: Buffer | null } {
  if (frames.length === 2) return { raw: frames[1]!.subarray(0, MAX_DEAD_LETTER_BYTES), topicFrame: frames[0]!.subarray(0, 64 * 1024) };
  const joined = Buffer.concat(frames.flatMap((f, i) => (i ? [Buffer.from([0]), f] : [f])));
  return { raw: joined.subarray(0, MAX_DEAD_LETTER_BYTES), topicFrame: null };
}

/** Epoch seconds up to which the listener was connected, or null before its first run. */
export async function readCheckpoint(pool: Pool, source: string): Promise<number | null> {
  const { rows } = await pool.query<{ listening_until: number }>('SELECT listening_until FROM bus_checkpoint WHERE source = $1', [source]);
  return rows[0]?.listening_until ?? null;
}

/** Moves the checkpoint forward only; a late or concurrent writer never moves it back. */
export async function writeCheckpoint(pool: Pool, source: string, listeningUntil: number): Promise<void> {
  await pool.query(
    `INSERT INTO bus_checkpoint (source, listening_until) VALUES ($1, $2)
     ON CONFLICT (source) DO UPDATE SET listening_until = GREATEST(bus_checkpoint.listening_until, EXCLUDED.listening_until), updated_at = now()`,
    [source, listeningUntil],
  );
}

export async function pendingCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM bus_inbox WHERE state = 'pending'`);
  return rows[0]?.n ?? 0;
}

/** What an operator needs to look at: parked rows and dead letters not yet retried. */
export async function troubleCounts(pool: Pool): Promise<{ parked: number; deadLetters: number }> {
  const { rows } = await pool.query<{ parked: number; dead: number }>(
    `SELECT (SELECT count(*)::int FROM bus_inbox WHERE state = 'parked') AS parked,
            (SELECT count(*)::int FROM bus_dead_letters WHERE retried_at IS NULL) AS dead`,
  );
  return { parked: rows[0]?.parked ?? 0, deadLetters: rows[0]?.dead ?? 0 };
}

/** Drops handled inbox rows and dead letters older than their retention; pending and parked rows stay. */
export async function purgeOld(pool: Pool, inboxRetentionMs: number, deadLetterRetentionMs: number): Promise<{ inbox: number; deadLetters: number }> {
  const inbox = await pool.query(
    `DELETE FROM bus_inbox WHERE state IN ('started', 'ignored') AND handled_at < now() - $1 * interval '1 millisecond'`,
    [inboxRetentionMs],
  );
  const dead = await pool.query(`DELETE FROM bus_dead_letters WHERE received_at < now() - $1 * interval '1 millisecond'`, [deadLetterRetentionMs]);
  return { inbox: inbox.rowCount ?? 0, deadLetters: dead.rowCount ?? 0 };
}

export interface ParkedRow {
  readonly msgId: string;
  readonly topic: string;
  readonly reason: string | null;
  readonly attempts: number;
  readonly parkedAt: string;
}

export interface DeadLetterRow {
  readonly id: number;
  readonly msgId: string | null;
  readonly topic: string | null;
  readonly reason: string;
  readonly receivedAt: string;
  /** The envelope bytes, printable: UTF-8 where valid, control characters and bad bytes escaped. */
  readonly raw: string;
  readonly bytes: number;
}

/** Bytes as text a person can read: valid UTF-8 kept, control characters and invalid bytes escaped. */
export function showBytes(bytes: Buffer, max = 2048): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, max * 4));
  const shown = storableText(text.replace(/\uFFFD/g, '\\ufffd'), max);
  return bytes.length > max * 4 ? `${shown}… (${bytes.length} bytes in all)` : shown;
}

export async function listTrouble(pool: Pool, limit = 100): Promise<{ parked: ParkedRow[]; deadLetters: DeadLetterRow[] }> {
  const parked = await pool.query<{ msg_id: string; topic: string; last_error: string | null; attempts: number; parked_at: Date }>(
    `SELECT msg_id, topic, last_error, attempts, parked_at FROM bus_inbox WHERE state = 'parked' ORDER BY parked_at DESC LIMIT $1`,
    [limit],
  );
  const dead = await pool.query<{ id: string; msg_id: string | null; topic: string | null; reason: string; received_at: Date; raw: Buffer }>(
    `SELECT id, msg_id, topic, reason, received_at, raw FROM bus_dead_letters WHERE retried_at IS NULL ORDER BY id DESC LIMIT $1`,
    [limit],
  );
  return {
    parked: parked.rows.map((r) => ({ msgId: r.msg_id, topic: r.topic, reason: r.last_error, attempts: r.attempts, parkedAt: r.parked_at.toISOString() })),
    deadLetters: dead.rows.map((r) => ({
      id: Number(r.id), msgId: r.msg_id, topic: r.topic, reason: r.reason, receivedAt: r.received_at.toISOString(), raw: showBytes(r.raw), bytes: r.raw.length,
    })),
  };
}

/** Puts a parked row back in line, as new; true when there was one. */
export async function unpark(pool: Pool, msgId: string): Promise<boolean> {
  const result = await pool.query(
    `UPDATE bus_inbox SET state = 'pending', attempts = 0, next_attempt_at = NULL, parked_at = NULL, received_at = now() WHERE msg_id = $1 AND state = 'parked'`,
    [msgId],
  );
  return result.rowCount === 1;
}

export async function inboxState(pool: Pool, msgId: string): Promise<{ state: string; workflowId: string | null; lastError: string | null } | null> {
  const { rows } = await pool.query<{ state: string; workflow_id: string | null; last_error: string | null }>(
    'SELECT state, workflow_id, last_error FROM bus_inbox WHERE msg_id = $1',
    [msgId],
  );
  return rows[0] ? { state: rows[0].state, workflowId: rows[0].workflow_id, lastError: rows[0].last_error } : null;
}

/** Dead letters with this msg_id not yet retried, with their messages as received. */
export async function deadLettersOf(pool: Pool, msgIdOrId: string): Promise<{ id: number; message: RawMessage }[]> {
  const { rows } = await pool.query<{ id: string; topic: string | null; topic_frame: Buffer | null; raw: Buffer; transport: Transport; amqp_properties: AmqpProperties | null }>(
    `SELECT id, topic, topic_frame, raw, transport, amqp_properties FROM bus_dead_letters
     WHERE retried_at IS NULL AND (msg_id = $1 OR id::text = $1) ORDER BY id`,
    [msgIdOrId],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    message:
      r.transport === 'amqp'
        ? { transport: 'amqp', routingKey: (r.topic_frame ?? Buffer.from(r.topic ?? '')).toString('utf8'), properties: r.amqp_properties ?? {}, body: r.raw }
        : // Rows from before migration 0006 kept no topic frame: the stored topic stands in for it.
          { transport: 'fedmsg', frames: [r.topic_frame ?? Buffer.from(r.topic ?? ''), r.raw] },
  }));
}

export async function markDeadLetterRetried(pool: Pool, id: number, outcome: string): Promise<void> {
  await pool.query('UPDATE bus_dead_letters SET retried_at = now(), retry_outcome = $2 WHERE id = $1', [id, storableText(outcome)]);
}
