/** Polls `probe` until it returns something truthy (a probe that throws counts as not yet), or fails after `timeoutMs`. */
export async function until<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Polls `check` until it holds (a check that throws counts as not yet); fails naming `what`, and
 * what `explain` says of the state then. Resolves with the milliseconds it waited.
 */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000, explain?: () => Promise<string>): Promise<number> {
  const started = Date.now();
  while (!(await Promise.resolve().then(check).catch(() => false))) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}${explain ? `: ${await explain().catch((e: Error) => e.message)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - started;
}
