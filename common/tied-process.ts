/**
 * Child processes that die with their parent. Linux delivers a chosen signal to a child when the
 * process that started it dies (PR_SET_PDEATHSIG); util-linux's `setpriv --pdeathsig` sets it
 * before exec. So a SIGKILLed `relengotron up` or demo takes its Temporal server, workers, VMs
 * and gpg-agent with it, instead of leaving them running with nobody to stop them.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { findOnPath } from './programs.js';

let setprivPath: string | null | undefined;

/** Looked up once; null (not installed) is remembered too. */
function findSetpriv(): string | null {
  if (setprivPath === undefined) setprivPath = findOnPath('setpriv');
  return setprivPath;
}

/**
 * Spawns `command` so that it gets `signal` when this process dies: TERM for what can shut down
 * gracefully (a worker drains, a server closes), KILL for what must just stop (a VM).
 */
export function spawnTied(command: string, args: readonly string[], options: SpawnOptions, signal: 'TERM' | 'KILL' = 'TERM'): ChildProcess {
  const setpriv = findSetpriv();
  return setpriv ? spawn(setpriv, ['--pdeathsig', signal, '--', command, ...args], options) : spawn(command, [...args], options);
}
