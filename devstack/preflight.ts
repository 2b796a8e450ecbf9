/**
 * What a fresh machine lacks, said before anything starts: one sentence naming the missing
 * programs and the one command that installs them, instead of a failure minutes later deep in a
 * worker's log (`spawn qemu-img ENOENT`).
 */
import { findOnPath } from '../common/programs.js';

/** A machine that cannot run what was asked; the message says what to do. */
export class SetupError extends Error {
  override name = 'SetupError';
}

export const SETUP_COMMAND = 'npm run setup   (scripts/setup-system.sh: installs the system packages, as root or with sudo)';

/** The programs the demo runs for real, by what needs them. */
export const DEMO_PROGRAMS: Readonly<Record<string, string>> = {
  'qemu-system-x86_64': 'booting test VMs',
  'qemu-img': 'test VM disks',
  genisoimage: 'cloud-init seeds',
  ssh: 'commands in the VMs',
  'ssh-keygen': 'VM access keys',
  xz: 'raw.xz images',
  ostree: 'OSTree commits',
  gpg: 'signing',
  rsync: 'syncing to the mirror',
  rpmbuild: "the sandbox Koji's RPMs",
  createrepo_c: "the sandbox Koji's repositories",
  bsdtar: 'unpacking RPMs into trees safely',
};

/** Throws SetupError naming every missing program and what it is for. */
export function requirePrograms(programs: Readonly<Record<string, string>>, forWhat: string): void {
  const missing = Object.entries(programs).filter(([program]) => findOnPath(program) === null);
  if (missing.length === 0) return;
  const list = missing.map(([program, use]) => `${program} (${use})`).join(', ');
  throw new SetupError(`${forWhat} needs programs this machine does not have: ${list}. Install them with: ${SETUP_COMMAND}`);
}

/** A spawn that failed because the program is not installed, as a SetupError; anything else as is. */
export function explainSpawnFailure(err: unknown, forWhat: string): unknown {
  const e = err as NodeJS.ErrnoException & { path?: string; spawnargs?: string[] };
  if (e?.code === 'ENOENT' && (e.path || /spawn (\S+) ENOENT/.test(e.message))) {
    const program = e.path ?? /spawn (\S+) ENOENT/.exec(e.message)![1];
    return new SetupError(`${forWhat}: ${program} is not installed. Install the system packages with: ${SETUP_COMMAND}`);
  }
  return err;
}
