/**
 * The gpg-agent of the signing homedir, as a child of the worker that signs. gpg would otherwise
 * start one itself, detached, and it would outlive every releng-o-tron process (and a test or a
 * demo run). Started in the foreground (`--daemon --no-detach`) and tied to the worker, it goes
 * when the worker goes, however the worker goes. gpg finds it by its socket as usual.
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../common/logger.js';
import { spawnTied } from '../common/tied-process.js';

export interface SupervisedAgent {
  stop(): Promise<void>;
}

export async function superviseGpgAgent(homedir: string, log: Logger): Promise<SupervisedAgent> {
  const child: ChildProcess = spawnTied('gpg-agent', ['--homedir', homedir, '--daemon', '--no-detach'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  // Up when its socket answers; an agent already running for this homedir makes ours exit at once.
  const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 1500))]);
  if (early !== 'running') log.info({ homedir, code: early, said: stderr.trim().split('\n').pop() }, 'gpg-agent not started here (one may already run for this homedir)');
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
