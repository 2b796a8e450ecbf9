/**
 * The gpg-agent of the signing homedir, bound to the worker that signs. gpg starts its agent
 * detached (it outlives every process that used it, `--no-detach` notwithstanding), so the
 * worker launches it at start and keeps a small reaper process tied to itself: when the worker
 * ends, however it ends (SIGKILL included), the reaper is signalled by the kernel and stops the
 * agent. Nothing of a demo, a test or a deployment's signing is left running.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../common/logger.js';
import { spawnTied } from '../common/tied-process.js';

const run = promisify(execFile);

export interface BoundAgent {
  stop(): Promise<void>;
}

/** Single quotes for sh: the homedir comes from configuration, never from a message. */
const shQuote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;

export async function bindGpgAgent(homedir: string, log: Logger): Promise<BoundAgent> {
  await run('gpgconf', ['--homedir', homedir, '--launch', 'gpg-agent']).catch((err: Error) =>
    log.warn({ homedir, err: err.message }, 'could not launch the signing gpg-agent; gpg starts it when it signs'),
  );
  const kill = `gpgconf --homedir ${shQuote(homedir)} --kill gpg-agent`;
  const reaper: ChildProcess = spawnTied('sh', ['-c', `trap '${kill.replace(/'/g, `'\\''`)}; kill $s 2>/dev/null; exit 0' TERM INT HUP; sleep 2147483647 & s=$!; wait $s`], { stdio: 'ignore' });
  const reaped = new Promise<void>((resolve) => reaper.once('exit', () => resolve()));
  return {
    async stop() {
      reaper.kill('SIGTERM');
      await reaped;
    },
  };
}
