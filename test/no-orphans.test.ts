/**
 * No orphans: SIGINT or SIGTERM to the `demo` or `up` process alone (not its process group, as a
 * supervisor or `kill <pid>` sends it) stops every process it started: the Temporal dev server,
 * the workers, the VMs (qemu, or libvirt domains), the signing gpg-agent. A SIGKILL of it leaves
 * nothing running for long: its children are tied to it and go too. Checked by process list.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { freePort } from '../common/ports.js';

const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly cmdline: string;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(name), ppid, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function descendants(root: number): Proc[] {
  const all = processes();
  const found: Proc[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const p of all.filter((x) => x.ppid === parent)) {
      found.push(p);
      queue.push(p.pid);
    }
  }
  return found;
}

/** Still running: the same PID with the same command line (a reused PID is another process). */
const stillRunning = (list: readonly Proc[]): Proc[] => {
  const now = new Map(processes().map((p) => [p.pid, p.cmdline]));
  return list.filter((p) => now.get(p.pid) === p.cmdline);
};

function domains(): string[] {
  try {
    return execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'list', '--name'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter((n) => n.startsWith('relengotron-'));
  } catch {
    return [];
  }
}

const short = (p: Proc) => `${p.pid}<${p.ppid} ${p.cmdline.replace(/\/\S*\/(node|temporal|qemu-system-x86_64|gpg-agent|setpriv)\b/g, '$1').slice(0, 110)}`;

/** A whole embedded stack on ports of its own and a fresh data directory. */
async function isolatedEnv(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const sandbox = await freePort();
  const sandboxUrl = `http://127.0.0.1:${sandbox}`;
  const bus = `tcp://127.0.0.1:${await freePort()}`;
  const dashboard = await freePort();
  return {
    ...process.env,
    RELENGOTRON_DATA_DIR: mkdtempSync(join(tmpdir(), 'relengotron-orphans-')),
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    TEMPORAL_UI_PORT: String(await freePort()),
    RELENGOTRON_EMBEDDED_PG_PORT: String(await freePort()),
    SANDBOX_PORT: String(sandbox),
    SANDBOX_TLS_PORT: String(await freePort()),
    SANDBOX_BUS_ENDPOINT: bus,
    FEDMSG_ENDPOINTS: bus,
    FEDMSG_PUBLISH_ENDPOINT: `tcp://127.0.0.1:${await freePort()}`,
    RELENGOTRON_BUS_METRICS: `127.0.0.1:${await freePort()}`,
    RELENGOTRON_DASHBOARD_LISTEN: `127.0.0.1:${dashboard}`,
    RELENGOTRON_DASHBOARD_URL: `http://127.0.0.1:${dashboard}`,
    KOJI_HUB_URL: `${sandboxUrl}/kojihub`,
    KOJI_TOP_URL: `${sandboxUrl}/kojifiles`,
    BODHI_URL: `${sandboxUrl}/bodhi`,
    PDC_URL: `${sandboxUrl}/pdc/rest_api/v1`,
    DATAGREPPER_URL: `${sandboxUrl}/datagrepper`,
    COMPOSE_BASE_URL: `${sandboxUrl}/compose`,
    LOG_LEVEL: 'error',
    ...extra,
  };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number, child?: ChildProcess): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (child && (child.exitCode !== null || child.signalCode !== null)) assert.fail(`the process ended (${child.exitCode ?? child.signalCode}) before ${what}`);
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Starts the demo and waits until a test VM runs; returns its process tree, plus the signing
 * gpg-agent (gpg detaches it, so it is found by the demo's homedir, not in the tree).
 */
async function demoWithVm(env: NodeJS.ProcessEnv): Promise<{ demo: ChildProcess; tree: Proc[]; domainsBefore: string[] }> {
  const domainsBefore = domains();
  const demo = spawn(process.execPath, [CLI, 'demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout.resume();
  demo.stderr.resume();
  const agentOfDemo = (p: Proc) => /gpg-agent/.test(p.cmdline) && p.cmdline.includes(env['RELENGOTRON_DATA_DIR']!);
  const tree = await until(
    'a test VM and the signing gpg-agent',
    () => {
      const now = descendants(demo.pid!);
      // A test VM (its overlay disk), not the short KVM probe.
      const vm = now.some((p) => /qemu-system-x86_64.*overlay\.qcow2/.test(p.cmdline)) || domains().length > domainsBefore.length;
      const agents = processes().filter(agentOfDemo);
      return vm && agents.length > 0 ? [...now, ...agents.filter((a) => !now.some((p) => p.pid === a.pid))] : undefined;
    },
    8 * 60_000,
    demo,
  );
  return { demo, tree, domainsBefore };
}

const report = (title: string, list: readonly Proc[]) => process.stdout.write(`# ${title}:\n${list.map((p) => `#   ${short(p)}`).join('\n')}\n`);

describe('no orphans: stopping the demo or `up` stops everything it started', () => {
  it('SIGINT to the demo process alone, mid-test, stops every process it started and every VM', async () => {
    const { demo, tree, domainsBefore } = await demoWithVm(await isolatedEnv());
    report('the demo\'s tree before SIGINT', tree);
    for (const kind of [/temporal.*server start-dev/, /workers\/releng\.js/, /workers\/image-libvirt\.js/, /workers\/bus-listener\.js/, /gpg-agent/]) {
      assert.ok(tree.some((p) => kind.test(p.cmdline)), `${kind} in the tree`);
    }
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    process.kill(demo.pid!, 'SIGINT');
    const code = await exited;
    assert.equal(code, 130, 'the demo exits as interrupted');
    const left = await until('every child gone', () => (stillRunning(tree).length === 0 ? [] : undefined), 30_000).catch(() => stillRunning(tree));
    report('still running after the demo exited', left);
    assert.deepEqual(left.map(short), []);
    assert.deepEqual(domains().filter((d) => !domainsBefore.includes(d)), [], 'no test domain left');
  });

  it('SIGKILL of the demo leaves nothing running for long: its children are tied to it', async () => {
    // qemu directly, so the VM is the image worker's own child and must go with it.
    const { demo, tree, domainsBefore } = await demoWithVm(await isolatedEnv({ RELENGOTRON_VM_BACKEND: 'qemu' }));
    report('the demo\'s tree before SIGKILL', tree);
    assert.ok(tree.some((p) => /qemu-system-x86_64.*overlay\.qcow2/.test(p.cmdline)), 'a test VM in the tree');
    const killedAt = Date.now();
    process.kill(demo.pid!, 'SIGKILL');
    // When each went: the VM at once (SIGKILL), the rest as they shut down (SIGTERM).
    const gone = new Map<number, number>();
    const left = await until('every child gone', () => {
      const running = stillRunning(tree);
      for (const p of tree) if (!running.includes(p) && !gone.has(p.pid)) gone.set(p.pid, Date.now() - killedAt);
      return running.length === 0 ? [] : undefined;
    }, 30_000).catch(() => stillRunning(tree));
    process.stdout.write(`# gone after SIGKILL of the demo:\n${tree.map((p) => `#   ${gone.get(p.pid) ?? '-'} ms  ${short(p)}`).join('\n')}\n`);
    assert.deepEqual(left.map(short), []);
    assert.deepEqual(domains().filter((d) => !domainsBefore.includes(d)), []);
  });

  it('SIGTERM to `relengotron up` alone stops the Temporal server and every worker', async () => {
    const up = spawn(process.execPath, [CLI, 'up'], { env: await isolatedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout.resume();
    up.stderr.resume();
    const tree = await until('the workers', () => {
      const now = descendants(up.pid!);
      return now.filter((p) => /workers\/\S+\.js/.test(p.cmdline)).length >= 4 && now.some((p) => /start-dev/.test(p.cmdline)) ? now : undefined;
    }, 120_000, up);
    report('`up`\'s tree before SIGTERM', tree);
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    process.kill(up.pid!, 'SIGTERM');
    assert.equal(await exited, 0);
    const left = await until('every child gone', () => (stillRunning(tree).length === 0 ? [] : undefined), 30_000).catch(() => stillRunning(tree));
    assert.deepEqual(left.map(short), []);
  });
});
