/**
 * What an image-test host can run. The image workers answer for their own machine, so a
 * workflow asking on `image-libvirt` learns about a libvirt host and on `image-vbox` about a
 * VirtualBox host, wherever those workers happen to run.
 */
import { execFile } from 'node:child_process';
import { hostname } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

import type { ImageProvider } from '../common/compose-testing.js';

export interface ToolReport {
  readonly command: string;
  readonly available: boolean;
  readonly version: string | null;
}

export interface ImageHostReport {
  readonly host: string;
  readonly provider: ImageProvider;
  readonly tools: readonly ToolReport[];
}

const TOOLS: Readonly<Record<ImageProvider, readonly (readonly [string, readonly string[]])[]>> = {
  libvirt: [
    ['qemu-system-x86_64', ['--version']],
    ['qemu-img', ['--version']],
    ['virsh', ['--version']],
  ],
  vbox: [
    ['VBoxManage', ['--version']],
    ['vagrant', ['--version']],
  ],
};

async function probe(command: string, args: readonly string[]): Promise<ToolReport> {
  try {
    const { stdout } = await run(command, [...args], { timeout: 10_000 });
    return { command, available: true, version: stdout.split('\n')[0]?.trim() || null };
  } catch {
    return { command, available: false, version: null };
  }
}

export interface ImageHostActivities {
  describeImageHost(): Promise<ImageHostReport>;
}

export function createImageHostActivities(provider: ImageProvider): ImageHostActivities {
  return {
    async describeImageHost(): Promise<ImageHostReport> {
      const tools = await Promise.all(TOOLS[provider].map(([command, args]) => probe(command, args)));
      return { host: hostname(), provider, tools };
    },
  };
}
