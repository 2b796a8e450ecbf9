import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { decodeMethodResponse, encodeMethodCall, withKojiKwargs, XmlRpcFaultError, type XmlRpcValue } from '../common/xmlrpc.js';
import { newCompose, startTestSandbox, type TestSandbox } from './helpers/sandbox.js';

let sandbox: TestSandbox;

async function koji(method: string, args: XmlRpcValue[] = [], kwargs?: Record<string, XmlRpcValue>): Promise<XmlRpcValue> {
  const response = await request(sandbox.urls.kojiHub, {
    method: 'POST',
    headers: { 'content-type': 'text/xml' },
    body: encodeMethodCall(method, withKojiKwargs(args, kwargs)),
  });
  assert.equal(response.statusCode, 200);
  return decodeMethodResponse(await response.body.text());
}

async function getJson(url: string, init?: { method?: 'POST' | 'PATCH'; body?: unknown }): Promise<{ status: number; body: any }> {
  const response = await request(url, {
    method: init?.method ?? 'GET',
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    body: init?.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: response.statusCode, body: await response.body.json() };
}

async function kojiFault(method: string, args: XmlRpcValue[]): Promise<XmlRpcFaultError> {
  try {
    await koji(method, args);
  } catch (err) {
    if (err instanceof XmlRpcFaultError) return err;
    throw err;
  }
  assert.fail(`${method} did not fault`);
}

describe('sandbox', () => {
  before(async () => {
    sandbox = await startTestSandbox({ withBus: false, kojiTaskDelayMs: 50 });
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
