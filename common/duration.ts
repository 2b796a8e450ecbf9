/** Durations as operators write them (`30s`, `5m`, `14d`); safe to import from workflows. */
export const DURATION_PATTERN = /^(\d+)(ms|s|m|h|d)$/;

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function durationToMs(text: string): number {
  const match = DURATION_PATTERN.exec(text);
  if (!match) throw new TypeError(`not a duration: ${JSON.stringify(text)} (expected e.g. 30s, 5m, 14d)`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
