/**
 * Ctrl-C or SIGTERM to `relengotron demo` (the process alone, not its group) stops everything it
 * started, at whatever point it is: the signal runs the cleanup and the process exits. A second
 * signal exits at once; the children still go, being tied to this process (common/tied-process.ts).
 */
export function stopOnSignal(stop: () => Promise<void>, exitCode: (signal: NodeJS.Signals) => number): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(exitCode(signal));
    stopping = true;
    process.stderr.write(`\n${signal}: stopping everything the demo started (again to exit at once)...\n`);
    stop()
      .catch((err: Error) => process.stderr.write(`cleanup: ${err.message}\n`))
      .finally(() => process.exit(exitCode(signal)));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
