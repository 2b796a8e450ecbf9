/** The sandbox in-process on free ports, with a compose directory of its own. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materializeCompose, type ComposeSpec } from '../../sandbox/compose-factory.js';
import { FIXTURE_COMPOSES_DIR } from '../../sandbox/seed.js';
import { startSandbox, type Sandbox } from '../../sandbox/server.js';
import { freePort } from '../../common/ports.js';
import type { HttpLimits } from '../../common/http-body.js';

/** The timeout and size cap tests call the sandbox's services with. */
export const TEST_HTTP: HttpLimits = { timeoutMs: 5_000, maxBytes: 64 * 1024 * 1024 };

export { freePort };

export interface TestSandbox extends Sandbox {
  readonly busEndpoint: string;
}

export async function startTestSandbox(options: { withBus?: boolean; kojiTaskDelayMs?: number; imageFile?: (format: string) => string | undefined } = {}): Promise<TestSandbox> {
  const composeDir = mkdtempSync(join(tmpdir(), 'relengotron-composes-'));
  const kojiFilesDir = mkdtempSync(join(tmpdir(), 'relengotron-kojifiles-'));
  const busEndpoint = `tcp://127.0.0.1:${await freePort()}`;
  const sandbox = await startSandbox({
    port: 0,
    composeDir,
    busEndpoint: options.withBus === false ? null : busEndpoint,
    kojiTaskDelayMs: options.kojiTaskDelayMs ?? 0,
    kojiFilesDir,
    ...(options.imageFile ? { imageFile: options.imageFile } : {}),
  });
  return {
    ...sandbox,
    busEndpoint,
    async stop() {
      await sandbox.stop();
      rmSync(composeDir, { recursive: true, force: true });
      rmSync(kojiFilesDir, { recursive: true, force: true });
    },
  };
}

export interface NewCompose {
  readonly composeId: string;
  readonly dir: string;
  readonly location: string;
  readonly imageCount: number;
}

/** A freshly finished compose in the sandbox, made from one of the real fixture trees. */
export function newCompose(
  sandbox: TestSandbox,
  options: { template: string; respin?: number; date?: string } & Partial<Pick<ComposeSpec, 'release' | 'type' | 'keepImage' | 'contentFor'>>,
): NewCompose {
  const made = materializeCompose({
    templateDir: join(FIXTURE_COMPOSES_DIR, options.template),
    root: sandbox.composeDir,
    release: options.release ?? { short: 'Fedora', version: 'Rawhide' },
    date: options.date ?? '20261123',
    type: options.type ?? 'nightly',
    respin: options.respin ?? 0,
    ...(options.keepImage ? { keepImage: options.keepImage } : {}),
    ...(options.contentFor ? { contentFor: options.contentFor } : {}),
  });
  return { ...made, location: `${sandbox.urls.composes}/${made.composeId}/compose` };
}
