import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../common/config.js';
import { durationToMs } from '../common/duration.js';

describe('configuration', () => {
  it('has working defaults with nothing set', () => {
    const config = loadConfig({});
    assert.equal(config.temporal.address, '127.0.0.1:7233');
    assert.equal(config.temporal.namespace, 'default');
    assert.equal(config.database.url, undefined);
    assert.equal(config.services.kojiHub, 'http://127.0.0.1:8900/kojihub');
    assert.deepEqual(config.bus.endpoints, ['tcp://127.0.0.1:9940']);
    assert.equal(durationToMs(config.temporal.retention), 30 * 86_400_000);
  });

  it('takes the ecosystem variables and strips trailing slashes from URLs', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'temporal.example.org:7233',
      TEMPORAL_NAMESPACE: 'releng',
      DATABASE_URL: 'postgres://releng@db.example.org:5432/releng',
      KOJI_HUB_URL: 'https://koji.fedoraproject.org/kojihub/',
      FEDMSG_ENDPOINTS: 'tcp://hub.fedoraproject.org:9940, tcp://stg.fedoraproject.org:9940',
      RELENGOTRON_LIBVIRT_SLOTS: '4',
    });
    assert.equal(config.temporal.address, 'temporal.example.org:7233');
    assert.equal(config.temporal.namespace, 'releng');
    assert.equal(config.database.url, 'postgres://releng@db.example.org:5432/releng');
    assert.equal(config.services.kojiHub, 'https://koji.fedoraproject.org/kojihub');
    assert.deepEqual(config.bus.endpoints, ['tcp://hub.fedoraproject.org:9940', 'tcp://stg.fedoraproject.org:9940']);
    assert.equal(config.workers.imageLibvirt.maxConcurrentActivities, 4);
  });

  it('names the key, the variable and the expected form of every bad value', () => {
    assert.throws(
      () => loadConfig({ TEMPORAL_ADDRESS: 'http://nope', RELENGOTRON_LIBVIRT_SLOTS: 'many', TEMPORAL_RETENTION: '3 weeks' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /temporal\.address \(from TEMPORAL_ADDRESS\): expected host:port/);
        assert.match(err.message, /workers\.imageLibvirt\.maxConcurrentActivities \(from RELENGOTRON_LIBVIRT_SLOTS\)/);
        assert.match(err.message, /temporal\.retention \(from TEMPORAL_RETENTION\): expected a duration such as/);
        return true;
      },
    );
  });

  it('reads a JSON file under the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ temporal: { namespace: 'from-file', uiPort: 9233 }, bus: { environment: 'prod' } }));
    const config = loadConfig({ RELENGOTRON_CONFIG: file, TEMPORAL_NAMESPACE: 'from-env' });
    assert.equal(config.temporal.namespace, 'from-env');
    assert.equal(config.temporal.uiPort, 9233);
    assert.equal(config.bus.environment, 'prod');
  });

  it('rejects an unreadable or malformed file with its name', () => {
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: '/nonexistent/config.json' }), /RELENGOTRON_CONFIG=\/nonexistent\/config.json/);
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-config-'));
    writeFileSync(join(dir, 'bad.json'), '{"temporal": ');
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: join(dir, 'bad.json') }), ConfigError);
    writeFileSync(join(dir, 'types.json'), JSON.stringify({ bus: { environment: 'production' } }));
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: join(dir, 'types.json') }), /bus\.environment: /);
  });

  it('converts durations', () => {
    assert.equal(durationToMs('500ms'), 500);
    assert.equal(durationToMs('30s'), 30_000);
    assert.equal(durationToMs('14d'), 14 * 86_400_000);
    assert.throws(() => durationToMs('soon'), /not a duration/);
  });
});
