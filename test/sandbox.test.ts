import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { createBodhiActivities } from '../activities/bodhi.js';
import { OidcTokenSource } from '../activities/oidc.js';
import type { SandboxUser } from '../sandbox/auth.js';
import { decodeMethodResponse, encodeMethodCall, withKojiKwargs, XmlRpcFaultError, type XmlRpcValue } from '../common/xmlrpc.js';
import { bodhiLogin, kojiAs, newCompose, startTestSandbox, TEST_HTTP, type TestSandbox } from './helpers/sandbox.js';

let sandbox: TestSandbox;

/** A session of the releng account, made by the real sslLogin over TLS in before(). */
let session: { id: number; key: string; callnum: number } | null = null;

async function sslLogin(user: SandboxUser | 'rogue', url = sandbox.urls.kojiLogin): Promise<Record<string, XmlRpcValue>> {
  const credentials = user === 'rogue' ? rogueCertificate() : { cert: readFileSync(sandbox.credentials.koji[user].cert), key: readFileSync(sandbox.credentials.koji[user].key) };
  const dispatcher = new Agent({ connect: { ...credentials, ca: readFileSync(sandbox.credentials.ca) } });
  const response = await request(url, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: encodeMethodCall('sslLogin', []), dispatcher });
  return decodeMethodResponse(await response.body.text()) as Record<string, XmlRpcValue>;
}

/** A client certificate from a CA the hub does not know. */
function rogueCertificate(): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'relengotron-rogue-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=releng-o-tron'], { cwd: dir, stdio: 'ignore' });
  return { cert: readFileSync(join(dir, 'c.pem')), key: readFileSync(join(dir, 'k.pem')) };
}

async function koji(method: string, args: XmlRpcValue[] = [], kwargs?: Record<string, XmlRpcValue>, as = session): Promise<XmlRpcValue> {
  const headers: Record<string, string> = { 'content-type': 'text/xml' };
  if (as) Object.assign(headers, { 'koji-session-id': String(as.id), 'koji-session-key': as.key, 'koji-callnum': String(++as.callnum) });
  const response = await request(sandbox.urls.kojiHub, {
    method: 'POST',
    headers,
    body: encodeMethodCall(method, withKojiKwargs(args, kwargs)),
  });
  assert.equal(response.statusCode, 200);
  return decodeMethodResponse(await response.body.text());
}

let bodhiToken: OidcTokenSource;

async function getJson(url: string, init?: { method?: 'POST' | 'PATCH'; body?: unknown; token?: string | null }): Promise<{ status: number; body: any }> {
  const token = init?.method && init.token !== null ? (init.token ?? (await bodhiToken.token())) : null;
  const response = await request(url, {
    method: init?.method ?? 'GET',
    headers: { accept: 'application/json', 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: init?.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: response.statusCode, body: await response.body.json() };
}

async function kojiFault(method: string, args: XmlRpcValue[], as = session): Promise<XmlRpcFaultError> {
  try {
    await koji(method, args, undefined, as);
  } catch (err) {
    if (err instanceof XmlRpcFaultError) return err;
    throw err;
  }
  assert.fail(`${method} did not fault`);
}

describe('sandbox', () => {
  before(async () => {
    sandbox = await startTestSandbox({ withBus: false, kojiTaskDelayMs: 50 });
    const login = await sslLogin('releng-o-tron');
    session = { id: login['session-id'] as number, key: login['session-key'] as string, callnum: 0 };
    bodhiToken = new OidcTokenSource(bodhiLogin(sandbox), TEST_HTTP);
  });
  after(async () => sandbox.stop());

  describe('Koji hub (XML-RPC)', () => {
    it('serves seeded builds and tags', async () => {
      const build = (await koji('getBuild', ['nfs-ganesha-2.7.4-1.fc29'])) as Record<string, XmlRpcValue>;
      assert.equal(build['name'], 'nfs-ganesha');
      assert.equal(build['state'], 1);
      const tag = (await koji('getTag', ['f29-updates-testing'])) as Record<string, XmlRpcValue>;
      assert.equal(tag['name'], 'f29-updates-testing');
      const tagged = (await koji('listTagged', ['f29-updates-testing'], { package: 'kernel' })) as Record<string, XmlRpcValue>[];
      assert.deepEqual(tagged.map((b) => b['nvr']).sort(), ['kernel-5.1.7-200.fc29']);
      assert.equal(await koji('getBuild', ['no-such-1-1.fc29']), null);
    });

    it('tags as an asynchronous task whose effect later calls observe', async () => {
      const before = (await koji('listTagged', ['f29-updates-pending'])) as unknown[];
      assert.equal(before.length, 0);
      const taskId = (await koji('tagBuild', ['f29-updates-pending', 'earlyoom-1.3-2.fc29'])) as number;
      assert.equal(typeof taskId, 'number');
      let finished = false;
      for (let i = 0; i < 50 && !finished; i++) {
        finished = (await koji('taskFinished', [taskId])) as boolean;
        if (!finished) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(finished);
      assert.equal(((await koji('getTaskInfo', [taskId])) as Record<string, XmlRpcValue>)['state'], 2);
      const after = (await koji('listTagged', ['f29-updates-pending'])) as Record<string, XmlRpcValue>[];
      assert.deepEqual(after.map((b) => b['nvr']), ['earlyoom-1.3-2.fc29']);
    });

    it('moves a build between tags and untags it', async () => {
      const taskId = (await koji('moveBuild', ['f29-updates-testing', 'f29-updates', 'flrig-1.3.45-1.fc29'])) as number;
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(await koji('taskFinished', [taskId]), true);
      const stable = (await koji('listTagged', ['f29-updates'], { package: 'flrig' })) as unknown[];
      const testing = (await koji('listTagged', ['f29-updates-testing'], { package: 'flrig' })) as unknown[];
      assert.equal(stable.length, 1);
      assert.equal(testing.length, 0);
      assert.equal(await koji('untagBuild', ['f29-updates', 'flrig-1.3.45-1.fc29']), null);
      assert.equal(((await koji('listTagged', ['f29-updates'], { package: 'flrig' })) as unknown[]).length, 0);
    });

    it('answers with Koji\'s fault codes', async () => {
      assert.equal((await kojiFault('getTag', [])).faultCode, 1019);
      assert.equal((await kojiFault('noSuchMethod', [])).faultCode, 1000);
      assert.equal((await kojiFault('untagBuild', ['f29-updates', 'earlyoom-1.3-2.fc29'])).faultCode, 1003);
      assert.match((await kojiFault('tagBuild', ['no-such-tag', 'earlyoom-1.3-2.fc29'])).faultString, /No such tagInfo/);
      assert.match((await kojiFault('getTaskResult', [999_999])).faultString, /No such task/);
    });

    it('runs a multicall with per-call results and faults', async () => {
      const results = (await koji('multiCall', [[
        { methodName: 'getTag', params: ['f29'] },
        { methodName: 'getBuild', params: [{ name: 'kernel', version: '5.1.7', release: '200.fc29' }] },
        { methodName: 'untagBuild', params: ['f29', 'kernel-5.1.7-200.fc29'] },
      ]])) as XmlRpcValue[];
      assert.equal(((results[0] as XmlRpcValue[])[0] as Record<string, XmlRpcValue>)['name'], 'f29');
      assert.equal(((results[1] as XmlRpcValue[])[0] as Record<string, XmlRpcValue>)['nvr'], 'kernel-5.1.7-200.fc29');
      assert.equal((results[2] as Record<string, XmlRpcValue>)['faultCode'], 1003);
    });

    it('refuses a malformed request with a fault, not a crash', async () => {
      const response = await request(sandbox.urls.kojiHub, { method: 'POST', body: '<methodCall><oops' });
      assert.throws(() => decodeMethodResponse(''), Error);
      const text = await response.body.text();
      assert.throws(() => decodeMethodResponse(text), (err: unknown) => err instanceof XmlRpcFaultError && err.faultCode === 1019);
    });
    it('keeps tag inheritance, build targets and tag snapshots as the hub does, with its faults', async () => {
      await koji('createTag', ['f99'], { arches: 'x86_64 aarch64', extra: { mock: 'yes' } });
      await koji('createTag', ['f99-override'], { parent: 'f99' });
      await koji('createTag', ['f99-build']);
      const f99 = (await koji('getTag', ['f99'])) as { id: number };
      const override = (await koji('getTag', ['f99-override'])) as { id: number };
      assert.deepEqual(((await koji('getInheritanceData', ['f99-override'])) as Record<string, XmlRpcValue>[]).map((l) => [l['name'], l['priority']]), [['f99', 0]]);
      await koji('setInheritanceData', ['f99-build', [{ parent_id: override.id, priority: 0 }, { parent_id: f99.id, priority: 10, pkg_filter: '' }]]);
      assert.deepEqual(((await koji('getInheritanceData', ['f99-build'])) as Record<string, XmlRpcValue>[]).map((l) => l['name']), ['f99-override', 'f99']);
      assert.match((await kojiFault('setInheritanceData', ['f99-build', [{ parent_id: override.id, priority: 10 }]])).faultString, /^Inheritance priorities must be unique \(pri 10: /);
      await koji('setInheritanceData', ['f99-build', [{ parent_id: override.id, 'delete link': true }]]);
      assert.deepEqual(((await koji('getInheritanceData', ['f99-build'])) as Record<string, XmlRpcValue>[]).map((l) => l['name']), ['f99']);

      await koji('createBuildTarget', ['f99-candidate', 'f99-build', 'f99']);
      assert.equal(((await koji('getBuildTarget', ['f99-candidate'])) as Record<string, XmlRpcValue>)['dest_tag_name'], 'f99');
      assert.equal((await kojiFault('createBuildTarget', ['f99-candidate', 'f99-build', 'f99'])).faultString, "A build target with the name 'f99-candidate' already exists");
      await koji('editBuildTarget', ['f99-candidate', 'f99-next', 'f99-build', 'f99-override']);
      assert.equal(await koji('getBuildTarget', ['f99-candidate']), null);
      assert.equal(((await koji('getBuildTargets', ['f99-next'])) as Record<string, XmlRpcValue>[])[0]!['dest_tag_name'], 'f99-override');
      await koji('deleteBuildTarget', ['f99-next']);
      await koji('createBuildTarget', ['f99-doomed', 'f99-build', 'f99']);
      // As Koji does: deleting a tag takes the targets that use it along.
      await koji('deleteTag', ['f99-build']);
      assert.equal(await koji('getTag', ['f99-build']), null);
      assert.equal(await koji('getBuildTarget', ['f99-doomed']), null);

      // A snapshot takes the latest build of each package and the config, not the inheritance.
      await koji('snapshotTag', ['f29-updates-testing', 'f99-snapshot']);
      const copied = (await koji('listTagged', ['f99-snapshot'])) as unknown[];
      assert.equal(copied.length, ((await koji('listTagged', ['f29-updates-testing'], { latest: true })) as unknown[]).length);
      assert.equal((await kojiFault('snapshotTag', ['f29-updates-testing', 'f99-snapshot'])).faultString, 'Target tag f99-snapshot already exists');
      await koji('editTag2', ['f99'], { extra: { 'mock.package_manager': 'dnf5' }, remove_extra: ['mock'] });
      assert.deepEqual(((await koji('getTag', ['f99'])) as Record<string, XmlRpcValue>)['extra'], { 'mock.package_manager': 'dnf5' });
    });
  });

  describe('Bodhi', () => {
    it('lists updates with filters and paging', async () => {
      const page1 = await getJson(`${sandbox.urls.bodhi}/updates/?releases=F29&rows_per_page=5`);
      assert.equal(page1.status, 200);
      assert.equal(page1.body.total, 22);
      assert.equal(page1.body.pages, 5);
      assert.equal(page1.body.updates.length, 5);
      const page5 = await getJson(`${sandbox.urls.bodhi}/updates/?releases=F29&rows_per_page=5&page=5`);
      assert.equal(page5.body.updates.length, 2);
      const kernel = await getJson(`${sandbox.urls.bodhi}/updates/?packages=kernel`);
      assert.deepEqual(kernel.body.updates.map((u: { alias: string }) => u.alias), ['FEDORA-2019-492d24f0ef']);
      const stable = await getJson(`${sandbox.urls.bodhi}/updates/?request=stable&rows_per_page=100`);
      assert.ok(stable.body.updates.length > 0);
      assert.ok(stable.body.updates.every((u: { request: string }) => u.request === 'stable'));
    });

    it('changes an update\'s request and shows it afterwards', async () => {
      const alias = 'FEDORA-2019-3082237808';
      const changed = await getJson(`${sandbox.urls.bodhi}/updates/${alias}/request`, { method: 'POST', body: { request: 'stable' } });
      assert.equal(changed.status, 200);
      const shown = await getJson(`${sandbox.urls.bodhi}/updates/${alias}`);
      assert.equal(shown.body.update.request, 'stable');
      const bad = await getJson(`${sandbox.urls.bodhi}/updates/${alias}/request`, { method: 'POST', body: { request: 'sideways' } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.status, 'error');
      assert.match(bad.body.errors[0].description, /request must be one of/);
    });

    it('creates, edits and archives releases, obsoleting open updates', async () => {
      const created = await getJson(`${sandbox.urls.bodhi}/releases/`, {
        method: 'POST',
        body: { name: 'F99', long_name: 'Fedora 99', version: '99', id_prefix: 'FEDORA', branch: 'f99', dist_tag: 'f99', state: 'pending' },
      });
      assert.equal(created.status, 200);
      assert.equal((await getJson(`${sandbox.urls.bodhi}/releases/F99`)).body.state, 'pending');
      await getJson(`${sandbox.urls.bodhi}/releases/`, { method: 'POST', body: { name: 'F29', edited: 'F29', state: 'archived' } });
      const open = await getJson(`${sandbox.urls.bodhi}/updates/?releases=F29&status=testing`);
      assert.equal(open.body.total, 0);
      assert.equal((await getJson(`${sandbox.urls.bodhi}/releases/F404`)).status, 404);
    });
  });

  describe('authentication, as Koji and Bodhi do it', () => {
    it('Koji: sslLogin takes only a certificate from the CA it trusts, over TLS, for a known user', async () => {
      const login = await sslLogin('packager');
      assert.equal(typeof login['session-id'], 'number');
      assert.equal(login['header-auth'], true);
      await assert.rejects(sslLogin('rogue'), (err: XmlRpcFaultError) => err.faultCode === 1002 && /^could not verify client: /.test(err.faultString));
      // Over plain HTTP there is no client certificate to check.
      await assert.rejects(sslLogin('packager', `${sandbox.urls.kojiHub}/ssllogin`), (err: XmlRpcFaultError) => err.faultCode === 1002 && err.faultString === 'could not verify client: NONE');
    });

    it('Koji: writes need a session and the permission; reads do not; callnums only grow', async () => {
      const anonymous = await kojiFault('tagBuild', ['f29-updates-pending', 'earlyoom-1.3-2.fc29'], null);
      assert.deepEqual([anonymous.faultCode, anonymous.faultString], [1004, 'tag permission required (user not logged in)']);
      const login = await sslLogin('packager');
      const packager = { id: login['session-id'] as number, key: login['session-key'] as string, callnum: 0 };
      const refused = await kojiFault('createTag', ['f99-sneaky'], packager);
      assert.deepEqual([refused.faultCode, refused.faultString], [1004, 'tag permission required (logged in as packager)']);
      assert.equal(((await koji('getTag', ['f29'], undefined, null)) as Record<string, XmlRpcValue>)['name'], 'f29');
      const forged = await kojiFault('getTag', ['f29'], { ...packager, key: 'guess' });
      assert.deepEqual([forged.faultCode, forged.faultString], [1002, 'Invalid session or bad credentials']);
      packager.callnum = 100;
      await koji('getTag', ['f29'], undefined, packager);
      const replayed = await kojiFault('getTag', ['f29'], { ...packager, callnum: 50 });
      assert.equal(replayed.faultCode, 1008);
      assert.match(replayed.faultString, /^101 > 51 \(session \d+\)$/);
    });

    it('Koji: a client whose session expired logs in again by itself', async () => {
      const client = kojiAs(sandbox);
      await client.call('editTag2', ['f29-override'], { locked: false });
      const old = session!;
      sandbox.koji.expireSessions();
      await client.call('editTag2', ['f29-override'], { locked: false });
      assert.equal(client.loginCount, 2);
      // An expired session is refused with AuthExpired, not taken.
      const expired = await kojiFault('getTag', ['f29'], old);
      assert.deepEqual([expired.faultCode, expired.faultString], [1007, `session "${old.id}" has expired`]);
      const login = await sslLogin('releng-o-tron');
      session = { id: login['session-id'] as number, key: login['session-key'] as string, callnum: 0 };
    });

    it('Bodhi: writes need a live OIDC token; releases need the releng group; an expired token is fetched again', async () => {
      const alias = 'FEDORA-2019-3082237808';
      const anonymous = await getJson(`${sandbox.urls.bodhi}/updates/${alias}/request`, { method: 'POST', body: { request: 'testing' }, token: null });
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.body.errors[0].description, /Authentication required/);
      const packager = new OidcTokenSource(bodhiLogin(sandbox, 'packager'), TEST_HTTP);
      const release = await getJson(`${sandbox.urls.bodhi}/releases/`, { method: 'POST', body: { name: 'F98', version: '98' }, token: await packager.token() });
      assert.equal(release.status, 403);
      assert.equal(release.body.errors[0].description, 'packager is not a member of releng');
      // A wrong secret gets no token.
      const dir = mkdtempSync(join(tmpdir(), 'relengotron-secret-'));
      writeFileSync(join(dir, 'secret'), 'not-the-secret\n');
      await assert.rejects(new OidcTokenSource({ ...bodhiLogin(sandbox), clientSecretFile: join(dir, 'secret') }, TEST_HTTP).token(), /OIDC login for releng-o-tron refused: HTTP 401 invalid_client/);
      // The activities' client: a 401 on an expired token fetches one more, once.
      const bodhi = createBodhiActivities({ bodhiUrl: sandbox.urls.bodhi, http: TEST_HTTP, bodhiLogin: bodhiLogin(sandbox) });
      const issued = sandbox.oidc.issuedCount;
      await bodhi.reportPushToBodhi({ release: 'F29', request: 'testing', state: 'failed', updates: [], errorMessage: 'auth test' });
      sandbox.oidc.expireTokens();
      await bodhi.reportPushToBodhi({ release: 'F29', request: 'testing', state: 'failed', updates: [], errorMessage: 'auth test' });
      assert.equal(sandbox.oidc.issuedCount - issued, 2);
    });
  });

  describe('PDC', () => {
    it('pages with count, next and previous', async () => {
      const first = await getJson(`${sandbox.urls.pdc}/release-components/?release=fedora-29&page_size=10`);
      assert.equal(first.status, 200);
      assert.ok(first.body.count > 10);
      assert.equal(first.body.previous, null);
      assert.match(first.body.next, /page=2/);
      const second = await getJson(first.body.next);
      assert.equal(second.body.results.length, 10);
      assert.ok(second.body.previous);
      const all = await getJson(`${sandbox.urls.pdc}/release-components/?release=fedora-29&page_size=-1`);
      assert.equal(all.body.length, first.body.count);
    });

    it('finds the images that contain a component, by SRPM or binary name', async () => {
      const kernel = await getJson(`${sandbox.urls.pdc}/build-images/?component_name=kernel`);
      assert.equal(kernel.body.count, 2);
      const earlyoom = await getJson(`${sandbox.urls.pdc}/build-images/?component_name=earlyoom`);
      assert.deepEqual(earlyoom.body.results.map((i: { image_format: string }) => i.image_format), ['qcow2']);
      const none = await getJson(`${sandbox.urls.pdc}/build-images/?component_name=gnumeric`);
      assert.equal(none.body.count, 0);
    });

    it('marks a release inactive (the end-of-life step) and shows it', async () => {
      const patched = await getJson(`${sandbox.urls.pdc}/releases/fedora-28/`, { method: 'PATCH', body: { active: false } });
      assert.equal(patched.body.active, false);
      assert.equal((await getJson(`${sandbox.urls.pdc}/releases/?active=false`)).body.results[0].release_id, 'fedora-28');
      assert.equal((await getJson(`${sandbox.urls.pdc}/releases/fedora-1/`)).body.detail, 'Not found.');
    });
  });

  describe('datagrepper', () => {
    it('serves the real capture by window, topic, order and page', async () => {
      const all = await getJson(`${sandbox.urls.datagrepper}/raw?start=1504643021&end=1504643081&order=asc&rows_per_page=10`);
      assert.equal(all.status, 200);
      assert.equal(all.body.total, 25);
      assert.equal(all.body.pages, 3);
      const stamps = all.body.raw_messages.map((m: { timestamp: number }) => m.timestamp);
      assert.deepEqual(stamps, [...stamps].sort((a, b) => a - b));
      const tags = await getJson(`${sandbox.urls.datagrepper}/raw?start=0&topic=org.fedoraproject.prod.buildsys.tag`);
      assert.ok(tags.body.total > 0);
      assert.ok(tags.body.raw_messages.every((m: { topic: string }) => m.topic === 'org.fedoraproject.prod.buildsys.tag'));
      const one = all.body.raw_messages[0];
      assert.equal((await getJson(`${sandbox.urls.datagrepper}/id?id=${one.msg_id}`)).body.msg_id, one.msg_id);
      assert.equal((await getJson(`${sandbox.urls.datagrepper}/raw?order=sideways`)).status, 400);
    });
  });

  describe('compose server', () => {
    it('serves the real trees and a generated one whose checksums match its bytes', async () => {
      const status = await request(`${sandbox.urls.composes}/Fedora-28-20180425.0/STATUS`);
      assert.equal((await status.body.text()).trim(), 'FINISHED');
      const made = newCompose(sandbox, { template: 'Fedora-28-20180425.0', keepImage: (variant, image) => variant === 'Cloud' && image.arch === 'x86_64' });
      assert.equal(made.composeId, 'Fedora-Rawhide-20261123.n.0');
      const images = await getJson(`${sandbox.urls.composes}/${made.composeId}/compose/metadata/images.json`);
      const list = images.body.payload.images.Cloud.x86_64 as { path: string; size: number; checksums: { sha256: string } }[];
      assert.equal(list.length, made.imageCount);
      for (const image of list) {
        assert.match(image.path, /Rawhide-20261123\.n\.0/);
        const bytes: Buffer = Buffer.from(await (await request(`${sandbox.urls.composes}/${made.composeId}/compose/${image.path}`)).body.arrayBuffer());
        assert.equal(bytes.length, image.size);
        assert.equal(createHash('sha256').update(bytes).digest('hex'), image.checksums.sha256);
      }
    });

    it('answers byte ranges for resumable downloads', async () => {
      const url = `${sandbox.urls.composes}/Fedora-Cloud-27-20180317.0/compose/metadata/images.json`;
      const whole = await (await request(url)).body.text();
      const part = await request(url, { headers: { range: 'bytes=100-' } });
      assert.equal(part.statusCode, 206);
      assert.equal(part.headers['content-range'], `bytes 100-${whole.length - 1}/${whole.length}`);
      assert.equal(await part.body.text(), whole.slice(100));
      const beyond = await request(url, { headers: { range: `bytes=${whole.length + 5}-` } });
      assert.equal(beyond.statusCode, 416);
      await beyond.body.dump();
    });

    it('lists directories and refuses paths that leave the tree', async () => {
      const listing = await (await request(`${sandbox.urls.composes}/Fedora-28-20180425.0/compose/`)).body.text();
      assert.match(listing, /Index of/);
      assert.match(listing, /metadata\//);
      const escape = await request(`${sandbox.urls.composes}/..%2F..%2Fpackage.json`);
      assert.equal(escape.statusCode, 400);
      await escape.body.dump();
      const missing = await request(`${sandbox.urls.composes}/Fedora-Rawhide-20180426.n.0/compose/metadata/composeinfo.json`);
      assert.equal(missing.statusCode, 404);
      await missing.body.dump();
    });
  });
});
