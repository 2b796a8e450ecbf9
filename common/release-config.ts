/**
 * Configuration that follows the release: rows the lifecycle runs write (db/migrations/0007) over
 * the config file's entries. A branch carries rawhide's gating lane over to the new rawhide and
 * stops it for the branched release (Bodhi gates it from then on); an end of life stops the
 * release's lanes and its compose stream.
 */
import { GatingLaneSchema, type GatingLane } from './config.js';
import type { Pool } from './db.js';

export type ReleaseConfigKind = 'gating-lane' | 'compose-stream';

export interface ReleaseConfigEntry {
  readonly kind: ReleaseConfigKind;
  readonly name: string;
  readonly release: string;
  /** The lane, for an active gating-lane entry. */
  readonly value: GatingLane | null;
  readonly active: boolean;
}

/** Every row the lifecycle runs wrote. */
export async function loadReleaseConfig(pool: Pool): Promise<ReleaseConfigEntry[]> {
  const { rows } = await pool.query<{ kind: ReleaseConfigKind; name: string; release: string; value: unknown; active: boolean }>(
    'SELECT kind, name, release, value, active FROM release_config ORDER BY kind, name',
  );
  return rows.map((r) => ({ kind: r.kind, name: r.name, release: r.release, value: (r.value ?? null) as GatingLane | null, active: r.active }));
}

/**
 * The gating lanes a process routes by: the config file's, with the lifecycle's rows laid over them,
 * read again every `refreshMs` (a branch or an end of life reaches the listener within that).
 * A read that fails keeps the last lanes.
 */
export class LiveLanes {
  private current: readonly GatingLane[];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly configLanes: readonly GatingLane[],
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    this.current = configLanes;
  }

  get lanes(): readonly GatingLane[] {
    return this.current;
  }

  async refresh(): Promise<void> {
    try {
      this.current = effectiveLanes(this.configLanes, await loadReleaseConfig(this.pool));
    } catch (err) {
      this.onError(err as Error);
    }
  }

  async start(refreshMs: number): Promise<this> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), refreshMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** The config file's lanes with the rows laid over them: an active row adds or replaces a lane by name, an inactive one removes it. */
export function effectiveLanes(configLanes: readonly GatingLane[], rows: readonly ReleaseConfigEntry[]): GatingLane[] {
  const lanes = new Map(configLanes.map((l) => [l.name, l]));
  for (const row of rows) {
    if (row.kind !== 'gating-lane') continue;
    if (!row.active) {
      lanes.delete(row.name);
      continue;
    }
    // Rows are ours, but a row that no longer fits the schema (an older version's) is skipped, not trusted.
    const lane = GatingLaneSchema.safeParse(row.value);
    if (lane.success) lanes.set(row.name, lane.data);
  }
  return [...lanes.values()];
}

/** Rawhide's lane for release N, moved to N+1: the same policy on the new rawhide's tags. */
export function laneForNextRawhide(lane: GatingLane, version: number): GatingLane {
  const next = version + 1;
  const shift = (tag: string) => tag.replace(new RegExp(`^f${version}(?=$|-)`), `f${next}`);
  return { ...lane, name: shift(lane.name), gateTag: shift(lane.gateTag), releaseTag: shift(lane.releaseTag), quarantineTag: shift(lane.quarantineTag), distTag: `fc${next}` };
}

/** What a branch of release N changes: rawhide's lane (the one releasing into fN) moves on to N+1. */
export function branchConfig(lanes: readonly GatingLane[], release: string, version: number): ReleaseConfigEntry[] {
  const rawhide = lanes.find((l) => l.releaseTag === `f${version}`);
  if (!rawhide) return [];
  const next = laneForNextRawhide(rawhide, version);
  const moved: ReleaseConfigEntry = { kind: 'gating-lane', name: next.name, release: `F${version + 1}`, value: next, active: true };
  // A lane named for the release (f45) stops and f46 starts; one named for rawhide keeps its name, on the new tags.
  return next.name === rawhide.name ? [moved] : [{ kind: 'gating-lane', name: rawhide.name, release, value: null, active: false }, moved];
}

/** What an end of life of release N changes: its lanes and its compose stream stop. */
export function eolConfig(lanes: readonly GatingLane[], release: string, version: number): ReleaseConfigEntry[] {
  return [
    ...lanes.filter((l) => l.distTag === `fc${version}`).map((l): ReleaseConfigEntry => ({ kind: 'gating-lane', name: l.name, release, value: null, active: false })),
    { kind: 'compose-stream', name: `Fedora-${version}`, release, value: null, active: false },
  ];
}
