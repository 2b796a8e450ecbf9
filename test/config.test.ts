import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../common/config.js';
import { redactedUrl } from '../bus/amqp-connection.js';
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

  it('refuses keys no setting has, naming each (with the setting meant, when close) at every level', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-config-'));
    const file = join(dir, 'typos.json');
    writeFileSync(file, JSON.stringify({
      temporal: { adress: 'temporal.example.org:7233' },
      bus: { verifySignature: true, routes: [{ topic: 'org.fedoraproject.prod.pungi.compose.status.change', handler: 'test-compose', extra: 1 }] },
      gating: { lanes: [{ name: 'f44', gateTag: 'f44-updates-testing-pending', releaseTag: 'f44', quarantineTag: 'f44-quarantine', distTag: 'fc44', resultTimout: '6h' }] },
      colour: 'blue',
    }));
    assert.throws(
      () => loadConfig({ RELENGOTRON_CONFIG: file }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^ {2}temporal\.adress: unknown setting "adress"; did you mean address\?/m);
        assert.match(err.message, /^ {2}bus\.verifySignature: unknown setting "verifySignature"; did you mean verifySignatures\?/m);
        assert.match(err.message, /^ {2}bus\.routes\.0\.extra: unknown setting "extra"/m);
        assert.match(err.message, /^ {2}gating\.lanes\.0\.resultTimout: unknown setting "resultTimout"/m);
        assert.match(err.message, /^ {2}colour: unknown setting "colour" \(nothing reads it/m);
        return true;
      },
    );
    // A JSON-valued variable is checked the same way, and named.
    assert.throws(() => loadConfig({ RELENGOTRON_COMPOSE_TESTING: JSON.stringify({ waitForHosts: '5m' }) }), /composeTesting\.waitForHosts \(from RELENGOTRON_COMPOSE_TESTING\): unknown setting "waitForHosts"; did you mean waitForHost\?/);
  });

  it('rejects an unreadable or malformed file with its name', () => {
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: '/nonexistent/config.json' }), /RELENGOTRON_CONFIG=\/nonexistent\/config.json/);
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-config-'));
    writeFileSync(join(dir, 'bad.json'), '{"temporal": ');
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: join(dir, 'bad.json') }), ConfigError);
    writeFileSync(join(dir, 'types.json'), JSON.stringify({ bus: { environment: 'production' } }));
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: join(dir, 'types.json') }), /bus\.environment: /);
  });

  it('keeps testing and stable apart: an OSTree ref template without {stream} is refused; trees need packages', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-config-'));
    writeFileSync(join(dir, 'shared-ref.json'), JSON.stringify({ push: { ostreeRef: 'fedora/{version}/{arch}/{name}' } }));
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: join(dir, 'shared-ref.json') }), /push\.ostreeRef: push\.ostreeRef must contain \{version\}, \{arch\}, \{stream\} and \{name\}/);
    writeFileSync(join(dir, 'empty-tree.json'), JSON.stringify({ push: { ostreeTrees: { 'fedora-iot': { refName: 'iot', packages: [] } } } }));
    assert.throws(() => loadConfig({ RELENGOTRON_CONFIG: join(dir, 'empty-tree.json') }), /push\.ostreeTrees\.fedora-iot\.packages/);
    assert.deepEqual(loadConfig({}).push.ostreeTrees, { 'fedora-iot': { refName: 'iot', packages: ['earlyoom', 'libntirpc'] } });
  });

  it('a production profile starts only as a trust boundary with every Fedora service named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relengotron-prod-'));
    const file = join(dir, 'config.json');
    const policy = Object.fromEntries(
      ['pungi.compose.status.change', 'buildsys.tag', 'ci.koji-build.test.complete', 'ci.koji-build.test.error', 'greenwave.decision.update', 'bodhi.composer.start'].map((t) => [t, ['releng.fedoraproject.org']]),
    );
    writeFileSync(file, JSON.stringify({ bus: { routingPolicy: policy } }));
    const complete = {
      RELENGOTRON_PROFILE: 'production',
      RELENGOTRON_CONFIG: file,
      FEDMSG_VERIFY_SIGNATURES: 'true',
      FEDMSG_CA_CERTS: '/etc/fedmsg.d/ca.crt',
      FEDMSG_ENDPOINTS: 'tcp://hub.fedoraproject.org:9940',
      KOJI_HUB_URL: 'https://koji.fedoraproject.org/kojihub',
      KOJI_TOP_URL: 'https://kojipkgs.fedoraproject.org',
      BODHI_URL: 'https://bodhi.fedoraproject.org',
      PDC_URL: 'https://pdc.fedoraproject.org/rest_api/v1',
      DATAGREPPER_URL: 'https://apps.fedoraproject.org/datagrepper',
      COMPOSE_BASE_URL: 'https://kojipkgs.fedoraproject.org/compose',
      KOJI_CLIENT_CERT: '/etc/relengotron/koji/releng.pem',
      KOJI_CLIENT_KEY: '/etc/relengotron/koji/releng.key',
      BODHI_OIDC_TOKEN_URL: 'https://id.fedoraproject.org/openidc/Token',
      BODHI_OIDC_CLIENT_ID: 'releng-o-tron',
      BODHI_OIDC_CLIENT_SECRET_FILE: '/etc/relengotron/bodhi-client-secret',
    };
    const production = loadConfig(complete);
    assert.equal(production.profile, 'production');
    // Logins are paths: the login URL follows the hub, and nothing of the sandbox's is filled in.
    assert.deepEqual(production.services.kojiAuth, { cert: '/etc/relengotron/koji/releng.pem', key: '/etc/relengotron/koji/releng.key' });
    assert.equal(production.services.bodhiAuth?.clientSecretFile, '/etc/relengotron/bodhi-client-secret');
    const without = (key: keyof typeof complete) => Object.fromEntries(Object.entries(complete).filter(([k]) => k !== key));
    const refusal = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
      return assert.fail('loaded');
    };
    assert.match(refusal(without('FEDMSG_VERIFY_SIGNATURES')), /^RELENGOTRON_PROFILE=production refuses to start:\n {2}bus\.verifySignatures must be true \(FEDMSG_VERIFY_SIGNATURES\)/);
    assert.match(refusal(without('FEDMSG_CA_CERTS')), /bus\.caCertificates must name the fedmsg CA's PEM file \(FEDMSG_CA_CERTS\)/);
    assert.match(refusal(without('BODHI_URL')), /^ {2}services\.bodhi must be set explicitly \(BODHI_URL\): its default is the local sandbox$/m);
    const { KOJI_CLIENT_CERT: _cert, KOJI_CLIENT_KEY: _key, ...noKojiLogin } = complete;
    assert.match(refusal(noKojiLogin), /^ {2}services\.kojiAuth must name the releng certificate and key/m);
    assert.match(refusal(without('KOJI_CLIENT_CERT')), /^ {2}services\.kojiAuth\.cert: /m);
    assert.match(refusal(without('BODHI_OIDC_CLIENT_SECRET_FILE')), /^ {2}services\.bodhiAuth\.clientSecretFile: /m);
    assert.match(refusal(without('RELENGOTRON_CONFIG')), /bus\.routingPolicy names no signer for bodhi\.composer\.start, which starts work/);
    assert.match(refusal({ ...complete, FEDMSG_ACCEPT_PREFIXES: 'org.fedoraproject.prod,org.fedoraproject.dev' }), /bus\.acceptPrefixes includes a dev environment/);
    assert.match(refusal({ ...complete, COMPOSE_BASE_URL: 'http://kojipkgs.fedoraproject.org/compose' }), /services\.composes must be an https URL \(COMPOSE_BASE_URL\)/);
    assert.match(refusal({ ...complete, RELENGOTRON_MAX_MESSAGE_AGE: 'off' }), /bus\.maxMessageAge must be a duration \(RELENGOTRON_MAX_MESSAGE_AGE\)/);
    // fedora-messaging only: no fedmsg signature settings asked for; the broker over TLS with a client certificate instead.
    const fedmsgSettings = ['FEDMSG_VERIFY_SIGNATURES', 'FEDMSG_CA_CERTS', 'FEDMSG_ENDPOINTS', 'RELENGOTRON_CONFIG'];
    const amqpOnly = { ...Object.fromEntries(Object.entries(complete).filter(([k]) => !fedmsgSettings.includes(k))), RELENGOTRON_BUS_TRANSPORT: 'amqp' };
    const amqpTls = { AMQP_URL: 'amqps://fedora:@rabbitmq.fedoraproject.org/%2Fpublic_pubsub', AMQP_CA_CERT: '/etc/fedora-messaging/cacert.pem', AMQP_CLIENT_CERT: '/etc/fedora-messaging/fedora-cert.pem', AMQP_CLIENT_KEY: '/etc/fedora-messaging/fedora-key.pem' };
    assert.equal(loadConfig({ ...amqpOnly, ...amqpTls }).bus.transport, 'amqp');
    assert.deepEqual(refusal(amqpOnly).split('\n').slice(1), [
      '  bus.amqp.url must be set explicitly (AMQP_URL): its default is a local RabbitMQ',
      "  bus.amqp.tls must name the broker's CA, the client certificate and its key (AMQP_CA_CERT, AMQP_CLIENT_CERT, AMQP_CLIENT_KEY), as Fedora's broker requires",
    ]);
    assert.match(refusal({ ...amqpOnly, AMQP_URL: 'amqp://rabbitmq.fedoraproject.org/%2F' }), /bus\.amqp\.url must be amqps:\/\//);
    // Both transports: both boundaries.
    assert.match(refusal({ ...complete, RELENGOTRON_BUS_TRANSPORT: 'both' }), /bus\.amqp\.url must be set explicitly/);
    assert.equal(loadConfig({ ...complete, ...amqpTls, RELENGOTRON_BUS_TRANSPORT: 'both' }).bus.transport, 'both');
    assert.throws(() => loadConfig({ RELENGOTRON_BUS_TRANSPORT: 'stomp' }), /bus\.transport \(from RELENGOTRON_BUS_TRANSPORT\)/);
    assert.throws(() => loadConfig({ AMQP_CLIENT_CERT: '/c.pem', AMQP_URL: 'amqps://h/%2F' }), /certificate and key go together/);
    assert.throws(() => loadConfig({ AMQP_CA_CERT: '/ca.pem' }), /TLS settings need an amqps:\/\/ URL/);
    // Past the inbox's memory an old message could not be told from a replay.
    assert.throws(() => loadConfig({ RELENGOTRON_MAX_MESSAGE_AGE: '120d' }), /bus\.maxMessageAge \(from RELENGOTRON_MAX_MESSAGE_AGE\): must not exceed bus\.inboxRetention/);
    // Development (the default) asks for none of it, and logs in to the sandbox as its releng account.
    const development = loadConfig({ RELENGOTRON_DATA_DIR: '/srv/releng' });
    assert.equal(development.profile, 'development');
    assert.deepEqual(development.services.kojiAuth, {
      cert: '/srv/releng/sandbox/auth/koji-releng-o-tron.crt', key: '/srv/releng/sandbox/auth/koji-releng-o-tron.key', serverCa: '/srv/releng/sandbox/auth/ca.crt', loginUrl: 'https://127.0.0.1:8901/kojihub/ssllogin',
    });
    assert.deepEqual(development.services.bodhiAuth, { tokenUrl: 'http://127.0.0.1:8900/oidc/token', clientId: 'releng-o-tron', clientSecretFile: '/srv/releng/sandbox/auth/bodhi-releng-o-tron.secret' });
    // A Koji elsewhere gets no sandbox login.
    assert.equal(loadConfig({ KOJI_HUB_URL: 'https://koji.example.org/kojihub' }).services.kojiAuth, undefined);
  });

  it('takes mTLS settings for the Temporal frontend, a certificate only with its key', () => {
    const config = loadConfig({ TEMPORAL_TLS_CA_PATH: '/etc/pki/temporal/ca.pem', TEMPORAL_TLS_CERT_PATH: '/c.pem', TEMPORAL_TLS_KEY_PATH: '/k.pem', TEMPORAL_TLS_SERVER_NAME: 'temporal' });
    assert.deepEqual(config.temporal.tls, { ca: '/etc/pki/temporal/ca.pem', cert: '/c.pem', key: '/k.pem', serverName: 'temporal' });
    assert.throws(() => loadConfig({ TEMPORAL_TLS_CA_PATH: '/ca.pem', TEMPORAL_TLS_CERT_PATH: '/c.pem' }), /a client certificate and its key go together/);
  });

  it('never shows an AMQP password, whatever it holds', () => {
    assert.equal(redactedUrl('amqps://fedora:@rabbitmq.fedoraproject.org/%2Fpublic_pubsub'), 'amqps://fedora@rabbitmq.fedoraproject.org/%2Fpublic_pubsub');
    assert.equal(redactedUrl('amqp://guest:guest@127.0.0.1:5672/%2F'), 'amqp://guest:***@127.0.0.1:5672/%2F');
    assert.equal(redactedUrl('amqps://u:p@ss@host/%2F'), 'amqps://u:***@host/%2F');
    assert.equal(redactedUrl('amqp://h'), 'amqp://h');
  });

  it('converts durations', () => {
    assert.equal(durationToMs('500ms'), 500);
    assert.equal(durationToMs('30s'), 30_000);
    assert.equal(durationToMs('14d'), 14 * 86_400_000);
    assert.throws(() => durationToMs('soon'), /not a duration/);
  });
});
