/**
 * Hosts apart on one machine: each host a Linux network namespace with one veth pair to a private
 * bridge (10.77.0.0/24, the machine at .1). Nothing is routed beyond the bridge, so no traffic
 * leaves the machine. A host is cut off by taking its link down and healed by bringing it up.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopProcess } from '../helpers/bus.js';

const FORWARDER = fileURLToPath(new URL('./forwarder.js', import.meta.url));

const PREFIX = 'rot';
const BRIDGE = `${PREFIX}-br0`;
export const MACHINE_IP = '10.77.0.1';

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export interface Host {
  readonly name: string;
  readonly ip: string;
  /** Starts a program inside the host's namespace (`ip netns exec` execs it: the pid is the program's). */
  spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess;
  /** Takes the host's link down: its connections hang, as when a switch port dies. */
  cut(): void;
  heal(): void;
}

export interface Lab {
  readonly hosts: Readonly<Record<string, Host>>;
  /** Makes a service of the machine (listening on 127.0.0.1) reachable from the hosts at MACHINE_IP:port. */
  expose(port: number, target?: { host: string; port: number }): Promise<void>;
  remove(): Promise<void>;
}

/** Removes what an earlier run (killed before its cleanup) left: namespaces and links named rot-*. */
function removeStale(): void {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${PREFIX}-`));
  for (const ns of namespaces) ip('netns', 'del', ns);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).filter((n): n is string => Boolean(n?.startsWith(`${PREFIX}-`)));
  for (const link of links) {
    try {
      ip('link', 'del', link);
    } catch {
      // a veth whose peer went with its namespace is gone already
    }
  }
}

export function createLab(names: readonly string[]): Lab {
  removeStale();
  ip('link', 'add', BRIDGE, 'type', 'bridge');
  ip('addr', 'add', `${MACHINE_IP}/24`, 'dev', BRIDGE);
  ip('link', 'set', BRIDGE, 'up');
  const hosts: Record<string, Host> = {};
  names.forEach((name, index) => {
    const ns = `${PREFIX}-${name}`;
    const link = `${PREFIX}-v${index}`;
    const address = `10.77.0.${10 + index}`;
    ip('netns', 'add', ns);
    ip('link', 'add', link, 'type', 'veth', 'peer', 'name', `${PREFIX}-p${index}`);
    ip('link', 'set', `${PREFIX}-p${index}`, 'netns', ns);
    ip('-n', ns, 'link', 'set', `${PREFIX}-p${index}`, 'name', 'eth0');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('link', 'set', link, 'master', BRIDGE);
    ip('link', 'set', link, 'up');
    hosts[name] = {
      name,
      ip: address,
      spawn: (command, args, options) => spawn('ip', ['netns', 'exec', ns, command, ...args], options),
      cut: () => ip('link', 'set', link, 'down'),
      heal: () => ip('link', 'set', link, 'up'),
    };
  });
  const forwarders: ChildProcess[] = [];
  return {
    hosts,
    async expose(port, target = { host: '127.0.0.1', port }) {
      const forwarder = spawn(process.execPath, [FORWARDER, MACHINE_IP, String(port), target.host, String(target.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
      forwarders.push(forwarder);
      await new Promise<void>((resolve, reject) => {
        forwarder.stdout.once('data', () => resolve());
        forwarder.once('exit', (code) => reject(new Error(`the forwarder to ${target.host}:${target.port} exited (${code})`)));
      });
    },
    async remove() {
      await Promise.all(forwarders.map((f) => stopProcess(f, 'SIGTERM')));
      removeStale();
    },
  };
}
