/** The listener's durable inbox and dead-letter table in Postgres. */
import type { Pool } from '../common/db.js';
import type { FedmsgEnvelope } from '../common/schemas/fedmsg.js';

export interface InboxRow {
  readonly msgId: string;
  readonly topic: string;
  readonly envelope: FedmsgEnvelope;
  readonly attempts: number;
}

/** Stores a message; false when its msg_id was already there (a duplicate delivery). */
export async function addToInbox(pool: Pool, envelope: FedmsgEnvelope): Promise<boolean> {
  const result = await pool.query(
    `INSERT INTO bus_inbox (msg_id, topic, sent_at, envelope) VALUES ($1, $2, to_timestamp($3), $4)
     ON CONFLICT (msg_id) DO NOTHING`,
    [envelope.msg_id, envelope.topic, envelope.timestamp, JSON.stringify(envelope)],
  );
  return result.rowCount === 1;
}

export async function pendingInbox(pool: Pool, limit: number): Promise<InboxRow[]> {
  const { rows } = await pool.query<{ msg_id: string; topic: string; envelope: FedmsgEnvelope; attempts: number }>(
    `SELECT msg_id, topic, envelope, attempts FROM bus_inbox WHERE state = 'pending' ORDER BY received_at, msg_id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ msgId: r.msg_id, topic: r.topic, envelope: r.envelope, attempts: r.attempts }));
}

export async function markStarted(pool: Pool, msgId: string, workflowId: string): Promise<void> {
  await pool.query(
    `UPDATE bus_inbox SET state = 'started', workflow_id = $2, handled_at = now(), attempts = attempts + 1, last_error = NULL
     WHERE msg_id = $1`,
    [msgId, workflowId],
  );
}

export async function markIgnored(pool: Pool, msgId: string, reason: string): Promise<void> {
  await pool.query(
    `UPDATE bus_inbox SET state = 'ignored', last_error = $2, handled_at = now(), attempts = attempts + 1 WHERE msg_id = $1`,
    [msgId, reason],
  );
}

export async function markAttemptFailed(pool: Pool, msgId: string, error: string): Promise<void> {
  await pool.query(`UPDATE bus_inbox SET attempts = attempts + 1, last_error = $2 WHERE msg_id = $1`, [msgId, error]);
}

export interface DeadLetter {
  readonly topic: string | null;
  readonly msgId: string | null;
  readonly reason: string;
  readonly raw: string;
}

/** Keeps a refused message; the same message refused again for the same reason (a backfill) is kept once. */
export async function addDeadLetter(pool: Pool, letter: DeadLetter): Promise<void> {
  await pool.query(
    `INSERT INTO bus_dead_letters (topic, msg_id, reason, raw)
     SELECT $1, $2, $3, $4
     WHERE $2::text IS NULL OR NOT EXISTS (SELECT 1 FROM bus_dead_letters WHERE msg_id = $2 AND reason = $3)`,
    [letter.topic, letter.msgId, letter.reason, letter.raw],
  );
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
