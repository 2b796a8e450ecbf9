/**
 * Commands in a test VM over SSH with OpenSSH's client, as Tunir ran them: one session per
 * command, a terminal allocated, stderr merged into the output, a timeout per command.
 */
import { spawn } from 'node:child_process';

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly keyFile: string;
}

export interface SshResult {
  /** The remote exit code; 255 also when SSH itself failed; null when killed for a timeout. */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly output: string;
}

/** Output kept per command; a runaway command must not fill the worker's memory or the history. */
const MAX_OUTPUT = 1024 * 1024;

function sshArgs(target: SshTarget, connectTimeoutS: number): string[] {
  return [
    '-i', target.keyFile, '-p', String(target.port),
    // A fresh VM has a fresh host key on a reused local port: nothing to pin it against.
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
    '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${connectTimeoutS}`,
    '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3',
    `${target.user}@${target.host}`,
  ];
}

export function runOverSsh(target: SshTarget, command: string, timeoutMs: number, signal?: AbortSignal, connectTimeoutS = 10): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', ['-tt', ...sshArgs(target, connectTimeoutS), command], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    let output = '';
    const collect = (chunk: Buffer) => {
      if (output.length < MAX_OUTPUT) output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const abort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', abort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ssh: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      resolve({ exitCode: timedOut ? null : code, timedOut, output: output.replace(/\r\n/g, '\n').slice(0, MAX_OUTPUT) });
    });
  });
}

/**
 * Tries `true` until SSH answers or the wall-clock time runs out: false at the deadline. Each try
 * is cut to what is left, so a guest that accepts TCP and never answers cannot stretch the wait.
 */
export async function waitForSsh(target: SshTarget, timeoutMs: number, intervalMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (signal?.aborted || left <= 0) return false;
    const result = await runOverSsh(target, 'true', Math.min(15_000, left), signal, Math.max(1, Math.min(10, Math.ceil(left / 1000))));
    if (result.exitCode === 0) return true;
    const pause = Math.min(intervalMs, deadline - Date.now());
    if (pause > 0) await new Promise((r) => setTimeout(r, pause));
  }
}
