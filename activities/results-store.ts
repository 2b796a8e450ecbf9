/**
 * The results store in Postgres: what releng-o-tron learned about composes.
 * Plain functions over a pool (the bus listener uses them too) and the activities that wrap them.
 */
import type { Pool } from '../common/db.js';
import type { ComposeMetadata } from './compose-server.js';

export interface RecordComposeInput {
  readonly metadata: ComposeMetadata;
  readonly location: string;
  readonly pungiStatus: string;
}

export interface ComposeStatusEvent {
  readonly composeId: string;
  readonly status: string;
  readonly location: string;
  readonly msgId: string;
}

/** Idempotent: a retried activity or a re-run rewrites the same rows. */
export async function recordCompose(pool: Pool, input: RecordComposeInput): Promise<void> {
  const { metadata: m } = input;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO composes (compose_id, release_short, release_version, compose_type, compose_date, respin, label,
                             location, pungi_status, metadata_version, image_count)
       VALUES ($1, $2, $3, $4, to_date($5, 'YYYYMMDD'), $6, $7, $8, $9, $10, $11)
       ON CONFLICT (compose_id) DO UPDATE SET
         location = EXCLUDED.location, pungi_status = EXCLUDED.pungi_status,
         metadata_version = EXCLUDED.metadata_version, image_count = EXCLUDED.image_count, updated_at = now()`,
      [m.composeId, m.release.short, m.release.version, m.type, m.date, m.respin, m.label, input.location,
        input.pungiStatus, m.metadataVersion, m.images.length],
    );
    await client.query('DELETE FROM compose_images WHERE compose_id = $1', [m.composeId]);
    if (m.images.length > 0) {
      await client.query(
        `INSERT INTO compose_images (compose_id, variant, arch, subvariant, image_type, format, path, size_bytes, sha256)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[])`,
        [m.composeId, m.images.map((i) => i.variant), m.images.map((i) => i.arch), m.images.map((i) => i.subvariant),
          m.images.map((i) => i.type), m.images.map((i) => i.format), m.images.map((i) => i.path),
          m.images.map((i) => i.sizeBytes), m.images.map((i) => i.sha256)],
      );
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function recordComposeStatusEvent(pool: Pool, event: ComposeStatusEvent): Promise<void> {
  await pool.query(
    `INSERT INTO compose_status_events (compose_id, status, location, msg_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (compose_id, status) DO NOTHING`,
    [event.composeId, event.status, event.location, event.msgId],
  );
}

export interface ResultsStoreActivities {
  recordCompose(input: RecordComposeInput): Promise<void>;
  recordComposeStatusEvent(event: ComposeStatusEvent): Promise<void>;
}

export function createResultsStoreActivities(deps: { readonly pool: Pool }): ResultsStoreActivities {
  return {
    async recordCompose(input: RecordComposeInput): Promise<void> {
      await recordCompose(deps.pool, input);
    },
    async recordComposeStatusEvent(event: ComposeStatusEvent): Promise<void> {
      await recordComposeStatusEvent(deps.pool, event);
    },
  };
}
