import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPool, loadMigrations, migrate } from '../common/db.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../devstack/embedded-postgres.js';
import { addDeadLetter, addToInbox, dueInbox, purgeOld, recordOutcomes, showBytes } from '../bus/inbox.js';
import { recordCompose } from '../activities/results-store.js';
import type { ComposeMetadata } from '../activities/compose-server.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

function metadata(composeId: string, images: number): ComposeMetadata {
  return {
    composeId, date: '20261123', type: 'nightly', respin: 0, label: null,
    release: { name: 'Fedora', short: 'Fedora', version: 'Rawhide' }, metadataVersion: '1.2', variants: ['Cloud'],
    images: Array.from({ length: images }, (_, i) => ({
      variant: 'Cloud', arch: 'x86_64', subvariant: 'Cloud_Base', type: 'qcow2', format: 'qcow2',
      path: `Cloud/x86_64/images/image-${i}.qcow2`, url: `http://x/${i}`, sizeBytes: 1000 + i, sha256: 'ab'.repeat(32),
    })),
  };
}

function envelope(n: number) {
  return {
    topic: 'org.fedoraproject.prod.pungi.compose.status.change',
    msg_id: `2026-${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
    timestamp: 1795425569 + n,
    i: n,
    username: 'root',
    msg: { compose_id: `Fedora-Rawhide-20261123.n.${n}`, location: 'http://x/compose', status: 'FINISHED' },
  };
}

describe('results store migrations (real Postgres)', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db.drop());

  it('are applied once and then report nothing to do', async () => {
    assert.deepEqual(await migrate(db.pool), []);
    const { rows } = await db.pool.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY version');
    assert.deepEqual(rows.map((r) => r.name), loadMigrations().map((m) => m.name));
  });

  it('are safe when many processes start at once', async () => {
    const pools = Array.from({ length: 6 }, () => createPool(db.url, 1));
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool)));
      assert.ok(results.every((applied) => applied.length === 0));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('refuse a migration that was edited after it was applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-migrations-'));
    const [first] = loadMigrations();
    writeFileSync(join(dir, `${first!.name}.sql`), `${first!.sql}\n-- edited`);
    await assert.rejects(migrate(db.pool, undefined, loadMigrations(dir)), /was changed after it was applied/);
  });

  it('keep any bytes in a dead letter, and purge handled rows and dead letters after their retention, never pending or parked ones', async () => {
    const frames = [Buffer.from('org.fedoraproject.prod.x\u0000'), Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a])];
    await addDeadLetter(db.pool, { topic: 'org.fedoraproject.prod.x\u0000', msgId: null, reason: 'a NUL \u0000 and an escape \u001b[2J', raw: { transport: 'fedmsg', frames } });
    const kept = await db.pool.query<{ raw: Buffer; topic_frame: Buffer; reason: string; topic: string }>('SELECT raw, topic_frame, reason, topic FROM bus_dead_letters');
    assert.deepEqual(kept.rows[0]!.raw, frames[1]);
    assert.deepEqual(kept.rows[0]!.topic_frame, frames[0]);
    assert.equal(kept.rows[0]!.reason, 'a NUL \\u0000 and an escape \\u001b[2J');
    assert.equal(showBytes(kept.rows[0]!.raw), '{\\u0000\\ufffd\\ufffd\\u001b[2J');
    const envelope = (n: number) => ({ topic: 't', msg_id: `2026-00000000-0000-0000-0000-00000000000${n}`, timestamp: 1_790_000_000, i: 1, username: 'u', msg: {} });
    for (const n of [1, 2, 3, 4]) await addToInbox(db.pool, envelope(n));
    await recordOutcomes(db.pool, [
      { msgId: envelope(1).msg_id, state: 'started', workflowId: 'w/1' },
      { msgId: envelope(2).msg_id, state: 'ignored', reason: 'nothing to do' },
      { msgId: envelope(3).msg_id, state: 'parked', reason: 'refused' },
    ]);
    await db.pool.query(`UPDATE bus_inbox SET handled_at = now() - interval '100 days', parked_at = now() - interval '100 days', received_at = now() - interval '100 days'`);
    await db.pool.query(`UPDATE bus_dead_letters SET received_at = now() - interval '100 days'`);
    assert.deepEqual(await purgeOld(db.pool, 90 * 86_400_000, 90 * 86_400_000), { inbox: 2, deadLetters: 1 });
    const left = await db.pool.query<{ msg_id: string; state: string }>('SELECT msg_id, state FROM bus_inbox ORDER BY msg_id');
    assert.deepEqual(left.rows.map((r) => r.state), ['parked', 'pending']);
    assert.deepEqual(await purgeOld(db.pool, 90 * 86_400_000, 90 * 86_400_000), { inbox: 0, deadLetters: 0 });
  });

  it('record a compose idempotently', async () => {
    await recordCompose(db.pool, { metadata: metadata('Fedora-Rawhide-20261123.n.0', 3), location: 'http://x/compose', pungiStatus: 'FINISHED' });
    await recordCompose(db.pool, { metadata: metadata('Fedora-Rawhide-20261123.n.0', 3), location: 'http://x/compose', pungiStatus: 'FINISHED' });
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM compose_images WHERE compose_id = $1', ['Fedora-Rawhide-20261123.n.0']);
    assert.equal(rows[0].n, 3);
  });
});

describe('embedded Postgres (PGlite over the wire protocol)', () => {
  let server: EmbeddedPostgres;
  const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-pglite-'));
  before(async () => {
    server = await startEmbeddedPostgres({ dataDir, port: 0 });
  });
  after(async () => server.stop());

  it('holds up under the service\'s own concurrency: racing migrations, transactions and inbox writes', async () => {
    // What `relengotron up` does: several processes, each with a pool, migrating at once, then
    // the listener writing the inbox while workers record composes in transactions.
    const pools = Array.from({ length: 5 }, () => createPool(server.url, 4));
    try {
      const migrated = await Promise.all(pools.map((pool) => migrate(pool)));
      assert.equal(migrated.filter((applied) => applied.length > 0).length, 1, 'exactly one process applies the migrations');

      const inboxWrites = Array.from({ length: 200 }, (_, n) => addToInbox(pools[n % 2]!, envelope(n % 150)));
      const composeWrites = Array.from({ length: 30 }, (_, n) =>
        recordCompose(pools[2 + (n % 3)]!, { metadata: metadata(`Fedora-Rawhide-20261123.n.${n % 10}`, 20), location: 'http://x/compose', pungiStatus: 'FINISHED' }),
      );
      const [inserted] = await Promise.all([Promise.all(inboxWrites), Promise.all(composeWrites)]);
      assert.equal(inserted.filter(Boolean).length, 150, 'each distinct msg_id stored once; the 50 repeats are duplicates');

      const pending = await dueInbox(pools[0]!, 1000);
      assert.equal(pending.length, 150);
      await Promise.all(pending.map((row, i) => recordOutcomes(pools[i % 5]!, [{ msgId: row.msgId, state: 'started', workflowId: `compose-discovery/${row.msgId}` }])));
      assert.equal((await dueInbox(pools[1]!, 1000)).length, 0);

      const { rows } = await pools[0]!.query<{ composes: number; images: number }>(
        'SELECT (SELECT count(*)::int FROM composes) AS composes, (SELECT count(*)::int FROM compose_images) AS images',
      );
      assert.deepEqual(rows[0], { composes: 10, images: 200 });
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('keeps its data across a restart', async () => {
    await server.stop();
    server = await startEmbeddedPostgres({ dataDir, port: 0 });
    const pool = createPool(server.url, 1);
    try {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM composes');
      assert.equal(rows[0]!.n, 10);
      assert.deepEqual(await migrate(pool), []);
    } finally {
      await pool.end();
    }
  });
});
