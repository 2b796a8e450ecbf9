/** The release_config table (common/release-config.ts): read, written by the lifecycle runs, restored by their undo. */
import type { Pool } from '../common/db.js';
import { loadReleaseConfig, type ReleaseConfigEntry, type ReleaseConfigKind } from '../common/release-config.js';

/** The rows for these keys as they are now (null where none): what an undo restores. */
export async function releaseConfigBefore(pool: Pool, keys: readonly { kind: ReleaseConfigKind; name: string }[]): Promise<(ReleaseConfigEntry | null)[]> {
  const all = await loadReleaseConfig(pool);
  return keys.map((k) => all.find((r) => r.kind === k.kind && r.name === k.name) ?? null);
}

/** Writes the entries (as `setBy`); returns the keys whose row changed. */
export async function writeReleaseConfig(pool: Pool, entries: readonly ReleaseConfigEntry[], setBy: string): Promise<string[]> {
  const changed: string[] = [];
  for (const e of entries) {
    const { rowCount } = await pool.query(
      `INSERT INTO release_config (kind, name, release, value, active, set_by) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (kind, name) DO UPDATE SET release = EXCLUDED.release, value = EXCLUDED.value, active = EXCLUDED.active, set_by = EXCLUDED.set_by, updated_at = now()
       WHERE release_config.active IS DISTINCT FROM EXCLUDED.active OR release_config.value IS DISTINCT FROM EXCLUDED.value`,
      [e.kind, e.name, e.release, e.value === null ? null : JSON.stringify(e.value), e.active, setBy],
    );
    if (rowCount) changed.push(`${e.kind} ${e.name} ${e.active ? 'active' : 'stopped'}`);
  }
  return changed;
}

/** Puts each key back as it was: the earlier row, or no row. */
export async function restoreReleaseConfig(pool: Pool, keys: readonly { kind: ReleaseConfigKind; name: string }[], before: readonly (ReleaseConfigEntry | null)[], setBy: string): Promise<string[]> {
  const restored: string[] = [];
  for (const [i, key] of keys.entries()) {
    const old = before[i] ?? null;
    if (old) restored.push(...(await writeReleaseConfig(pool, [old], setBy)).map((c) => `${c} again`));
    else {
      const { rowCount } = await pool.query('DELETE FROM release_config WHERE kind = $1 AND name = $2', [key.kind, key.name]);
      if (rowCount) restored.push(`${key.kind} ${key.name} back to the config file's`);
    }
  }
  return restored;
}

/** Whether an end of life stopped testing this compose stream. */
export async function composeStreamStopped(pool: Pool, stream: string | null): Promise<string | null> {
  if (!stream) return null;
  const { rows } = await pool.query<{ release: string }>(`SELECT release FROM release_config WHERE kind = 'compose-stream' AND name = $1 AND NOT active`, [stream]);
  return rows[0] ? `${rows[0].release} is at end of life: its composes are not tested` : null;
}
