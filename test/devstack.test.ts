import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../common/search-attributes.js';
import { prepareNamespace } from '../devstack/temporal-namespace.js';
import { resolveTemporalCli, startTemporalDevServer } from '../devstack/temporal-dev-server.js';
import { freePort } from './helpers/sandbox.js';

const run = promisify(execFile);

describe('embedded Temporal dev server', () => {
  it('keeps history, retention and search attributes across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'relengotron-temporal-'));
    const options = { cliPath: resolveTemporalCli(process.env['TEMPORAL_CLI']), dataDir, port: await freePort(), uiPort: await freePort(), namespace: 'default' };
    let server = await startTemporalDevServer(options);
    let connection = await Connection.connect({ address: server.address });
    await prepareNamespace(connection, { namespace: 'default', retentionMs: 30 * 86_400_000 });
    await new Client({ connection }).workflow.start('discoverCompose', {
      taskQueue: 'nobody-polls-this',
      workflowId: 'compose-discovery/Fedora-Rawhide-20261123.n.0',
      args: [{ composeId: 'Fedora-Rawhide-20261123.n.0', location: 'http://x/compose', pungiStatus: 'FINISHED' }],
    });
    await connection.close();
    await server.stop();

    server = await startTemporalDevServer(options);
    connection = await Connection.connect({ address: server.address });
    try {
      const client = new Client({ connection });
      const description = await client.workflow.getHandle('compose-discovery/Fedora-Rawhide-20261123.n.0').describe();
      assert.equal(description.status.name, 'RUNNING', 'the run survived the restart');
      const namespace = await connection.workflowService.describeNamespace({ namespace: 'default' });
      assert.equal(Number(namespace.config?.workflowExecutionRetentionTtl?.seconds), 30 * 86_400);
      const attributes = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      for (const key of ALL_SEARCH_ATTRIBUTE_KEYS) assert.ok(attributes.customAttributes?.[key.name] !== undefined, key.name);
      // Preparing again is a no-op.
      await prepareNamespace(connection, { namespace: 'default', retentionMs: 30 * 86_400_000 });
      const ui = await fetch(`http://127.0.0.1:${options.uiPort}/`);
      assert.equal(ui.status, 200, 'the Web UI answers');
    } finally {
      await connection.close();
      await server.stop();
    }
  });
});

describe('the Temporal CLI installer (scripts/ensure-temporal.mjs)', () => {
  const script = fileURLToPath(new URL('../../scripts/ensure-temporal.mjs', import.meta.url));

  it('uses TEMPORAL_CLI when it names an executable, and says so when it does not', async () => {
    const cli = resolveTemporalCli(process.env['TEMPORAL_CLI']);
    const { stdout } = await run(process.execPath, [script], { env: { ...process.env, TEMPORAL_CLI: cli } });
    assert.equal(stdout.trim(), cli);
    const failed = await run(process.execPath, [script], { env: { ...process.env, TEMPORAL_CLI: '/nonexistent/temporal' } }).catch((err: { code: number; stderr: string }) => err);
    assert.equal((failed as { code: number }).code, 1);
    assert.match((failed as { stderr: string }).stderr, /TEMPORAL_CLI=\/nonexistent\/temporal is not an executable file/);
  });

  it('tells what to do when nothing is cached and Go is missing', async () => {
    const emptyCache = mkdtempSync(join(tmpdir(), 'relengotron-cache-'));
    const { TEMPORAL_CLI: _cli, ...env } = process.env;
    const failed = await run(process.execPath, [script], { env: { ...env, RELENGOTRON_CACHE_DIR: emptyCache, PATH: '/nonexistent' } }).catch(
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal((failed as { code: number }).code, 1);
    assert.match((failed as { stderr: string }).stderr, /Go is not installed to build it[\s\S]*Install Go 1\.25 or newer[\s\S]*TEMPORAL_CLI/);
  });
});
