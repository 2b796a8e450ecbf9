/**
 * A Koji hub over XML-RPC (POST /kojihub): tags, builds, tagging as asynchronous tasks,
 * multicall and Koji's fault codes, with state that later calls observe (a build tagged
 * shows up in listTagged). Docs: ../shared/docs/fedora-apis.md §4.
 */
import type { ServerResponse } from 'node:http';
import {
  decodeMethodCall,
  encodeFault,
  encodeMethodResponse,
  splitKojiKwargs,
  XmlRpcFaultError,
  XmlRpcParseError,
  type XmlRpcValue,
} from '../common/xmlrpc.js';
import { sendText, type Request } from './http.js';

export const KOJI_FAULTS = { GenericError: 1000, TagError: 1003, ActionNotAllowed: 1004, BuildError: 1005, ParameterError: 1019 } as const;
export const BUILD_STATES = { BUILDING: 0, COMPLETE: 1, DELETED: 2, FAILED: 3, CANCELED: 4 } as const;
export const TASK_STATES = { FREE: 0, OPEN: 1, CLOSED: 2, CANCELED: 3, ASSIGNED: 4, FAILED: 5 } as const;

export interface KojiTag {
  id: number;
  name: string;
  arches: string | null;
  locked: boolean;
  perm: string | null;
  perm_id: number | null;
  maven_support: boolean;
  maven_include_all: boolean;
  extra: Record<string, XmlRpcValue>;
}

export interface KojiBuild {
  id: number;
  name: string;
  version: string;
  release: string;
  epoch: number | null;
  state: number;
  owner_name: string;
  task_id: number | null;
  creation_ts: number;
}

interface Tagging {
  buildId: number;
  eventId: number;
  creationTs: number;
}

interface KojiTask {
  id: number;
  method: string;
  state: number;
  owner: string;
  request: XmlRpcValue[];
  result: XmlRpcValue;
  fault: { faultCode: number; faultString: string } | null;
  create_ts: number;
  completion_ts: number | null;
}

export interface KojiEvent {
  readonly topic: 'buildsys.tag' | 'buildsys.untag';
  readonly body: Record<string, XmlRpcValue>;
}

export interface KojiSeed {
  readonly tags: readonly { name: string; arches?: string | null; perm?: string | null }[];
  readonly builds: readonly { nvr: string; owner: string; tags: readonly string[]; epoch?: number | null }[];
}

const fault = (code: number, message: string) => new XmlRpcFaultError(code, message);

function nvrOf(build: KojiBuild): string {
  return `${build.name}-${build.version}-${build.release}`;
}

function splitNvr(nvr: string): { name: string; version: string; release: string } {
  const m = /^(.+)-([^-]+)-([^-]+)$/.exec(nvr);
  if (!m) throw fault(KOJI_FAULTS.GenericError, `invalid format: ${nvr}`);
  return { name: m[1]!, version: m[2]!, release: m[3]! };
}

type Params = Record<string, XmlRpcValue | undefined>;

/** Binds positional and keyword arguments to a method's parameter names, as Python would. */
function bind(method: string, spec: readonly string[], args: readonly XmlRpcValue[], kwargs: Record<string, XmlRpcValue>): Params {
  // Parameter names ending in '?' are optional, like Python keyword defaults.
  const names = spec.map((n) => n.replace(/\?$/, ''));
  if (args.length > names.length) {
    throw fault(KOJI_FAULTS.ParameterError, `${method}() takes at most ${names.length} arguments (${args.length} given)`);
  }
  const bound: Params = {};
  names.forEach((name, i) => (bound[name] = args[i]));
  for (const [name, value] of Object.entries(kwargs)) {
    if (!names.includes(name)) throw fault(KOJI_FAULTS.ParameterError, `${method}() got an unexpected keyword argument '${name}'`);
    bound[name] = value;
  }
  const missing = spec.filter((n, i) => !n.endsWith('?') && bound[names[i]!] === undefined);
  if (missing.length > 0) {
    throw fault(KOJI_FAULTS.ParameterError, `${method}() missing ${missing.length} required positional argument(s): ${missing.map((m) => `'${m}'`).join(', ')}`);
  }
  return bound;
}

export class KojiHub {
  private readonly tags = new Map<number, KojiTag>();
  private readonly builds = new Map<number, KojiBuild>();
  private readonly tagged = new Map<number, Tagging[]>();
  private readonly tasks = new Map<number, KojiTask>();
  private nextId = { tag: 1, build: 1, task: 1, event: 1 };
  private readonly listeners: ((event: KojiEvent) => void)[] = [];

  /** How long a tagBuild task stays OPEN before it runs; tests use 0. */
  constructor(private readonly taskDelayMs = 200) {}

  onEvent(listener: (event: KojiEvent) => void): void {
    this.listeners.push(listener);
  }

  seed(seed: KojiSeed): void {
    for (const tag of seed.tags) this.createTag(tag.name, tag.arches ?? null, tag.perm ?? null);
    for (const build of seed.builds) {
      const id = this.importBuild(build.nvr, build.owner, build.epoch ?? null);
      for (const tag of build.tags) this.applyTag(this.tagByName(tag).id, id, 'kojiadmin', false);
    }
  }

  importBuild(nvr: string, owner: string, epoch: number | null = null): number {
    const id = this.nextId.build++;
    this.builds.set(id, { id, ...splitNvr(nvr), epoch, state: BUILD_STATES.COMPLETE, owner_name: owner, task_id: null, creation_ts: Date.now() / 1000 });
    return id;
  }

  private createTag(name: string, arches: string | null, perm: string | null): KojiTag {
    if ([...this.tags.values()].some((t) => t.name === name)) throw fault(KOJI_FAULTS.GenericError, `A tag with the name "${name}" already exists`);
    const tag: KojiTag = { id: this.nextId.tag++, name, arches, locked: false, perm, perm_id: null, maven_support: false, maven_include_all: false, extra: {} };
    this.tags.set(tag.id, tag);
    this.tagged.set(tag.id, []);
    return tag;
  }

  private tagByName(name: string): KojiTag {
    const tag = [...this.tags.values()].find((t) => t.name === name);
    if (!tag) throw fault(KOJI_FAULTS.GenericError, `No such tagInfo: '${name}'`);
    return tag;
  }

  private findTag(info: XmlRpcValue | undefined): KojiTag | undefined {
    if (typeof info === 'number') return this.tags.get(info);
    if (typeof info === 'string') return [...this.tags.values()].find((t) => t.name === info);
    return undefined;
  }

  private requireTag(info: XmlRpcValue | undefined): KojiTag {
    const tag = this.findTag(info);
    if (!tag) throw fault(KOJI_FAULTS.GenericError, `No such tagInfo: ${JSON.stringify(info)}`);
    return tag;
  }

  private findBuild(info: XmlRpcValue | undefined): KojiBuild | undefined {
    if (typeof info === 'number') return this.builds.get(info);
    if (typeof info === 'string') {
      const { name, version, release } = splitNvr(info);
      return [...this.builds.values()].find((b) => b.name === name && b.version === version && b.release === release);
    }
    if (info && typeof info === 'object' && !Array.isArray(info) && !(info instanceof Date) && !(info instanceof Uint8Array)) {
      return [...this.builds.values()].find((b) => b.name === info['name'] && b.version === info['version'] && b.release === info['release']);
    }
    return undefined;
  }

  private requireBuild(info: XmlRpcValue | undefined): KojiBuild {
    const build = this.findBuild(info);
    if (!build) throw fault(KOJI_FAULTS.GenericError, `No such build: ${JSON.stringify(info)}`);
    return build;
  }

  private buildInfo(b: KojiBuild): Record<string, XmlRpcValue> {
    return {
      id: b.id, build_id: b.id, package_id: b.id, package_name: b.name, name: b.name, version: b.version, release: b.release,
      epoch: b.epoch, nvr: nvrOf(b), draft: false, state: b.state, task_id: b.task_id,
      owner_id: 1, owner_name: b.owner_name, volume_id: 0, volume_name: 'DEFAULT', creation_event_id: b.id,
      creation_time: new Date(b.creation_ts * 1000).toISOString().replace('T', ' ').replace('Z', ''),
      creation_ts: b.creation_ts, start_time: null, start_ts: null, completion_time: null, completion_ts: b.creation_ts,
      source: null, extra: null, cg_id: null, cg_name: null, promotion_time: null,
    };
  }

  private applyTag(tagId: number, buildId: number, user: string, emit = true): void {
    const list = this.tagged.get(tagId)!;
    if (list.some((t) => t.buildId === buildId)) return;
    list.push({ buildId, eventId: this.nextId.event++, creationTs: Date.now() / 1000 });
    if (emit) this.emit('buildsys.tag', tagId, buildId, user);
  }

  private removeTag(tagId: number, buildId: number, user: string): boolean {
    const list = this.tagged.get(tagId)!;
    const index = list.findIndex((t) => t.buildId === buildId);
    if (index < 0) return false;
    list.splice(index, 1);
    this.nextId.event++;
    this.emit('buildsys.untag', tagId, buildId, user);
    return true;
  }

  private emit(topic: KojiEvent['topic'], tagId: number, buildId: number, user: string): void {
    const tag = this.tags.get(tagId)!;
    const b = this.builds.get(buildId)!;
    const body = { build_id: b.id, name: b.name, version: b.version, release: b.release, owner: b.owner_name, tag: tag.name, tag_id: tag.id, user, instance: 'primary' };
    for (const listener of this.listeners) listener({ topic, body });
  }

  /** tagBuild is a task in Koji: checked now, applied when the task runs. */
  private tagBuildTask(tag: KojiTag, build: KojiBuild, force: boolean, fromTag: KojiTag | undefined): number {
    if (build.state !== BUILD_STATES.COMPLETE) throw fault(KOJI_FAULTS.TagError, `build ${nvrOf(build)} not complete: state ${build.state}`);
    if (tag.locked && !force) throw fault(KOJI_FAULTS.TagError, `tag ${tag.name} is locked`);
    const task: KojiTask = {
      id: this.nextId.task++, method: 'tagBuild', state: TASK_STATES.FREE, owner: 'kojiadmin',
      request: [tag.id, build.id, force, fromTag?.id ?? null, true], result: null, fault: null,
      create_ts: Date.now() / 1000, completion_ts: null,
    };
    this.tasks.set(task.id, task);
    const run = () => {
      if (task.state === TASK_STATES.CANCELED) return;
      task.state = TASK_STATES.OPEN;
      if (fromTag && !this.tagged.get(fromTag.id)!.some((t) => t.buildId === build.id)) {
        task.state = TASK_STATES.FAILED;
        task.fault = { faultCode: KOJI_FAULTS.TagError, faultString: `build ${nvrOf(build)} not in tag ${fromTag.name}` };
      } else {
        if (fromTag) this.removeTag(fromTag.id, build.id, task.owner);
        this.applyTag(tag.id, build.id, task.owner);
        task.state = TASK_STATES.CLOSED;
      }
      task.completion_ts = Date.now() / 1000;
    };
    if (this.taskDelayMs === 0) run();
    else setTimeout(run, this.taskDelayMs).unref();
    return task.id;
  }

  private taskInfo(task: KojiTask, withRequest: boolean): Record<string, XmlRpcValue> {
    const info: Record<string, XmlRpcValue> = {
      id: task.id, state: task.state, create_ts: task.create_ts, start_ts: task.create_ts, completion_ts: task.completion_ts,
      create_time: new Date(task.create_ts * 1000).toISOString(), channel_id: 1, host_id: 1, parent: null, label: null,
      waiting: null, awaited: null, owner: 1, method: task.method, arch: 'noarch', priority: 20, weight: 0.2,
    };
    if (withRequest) info['request'] = task.request;
    return info;
  }

  private requireTask(id: XmlRpcValue | undefined): KojiTask {
    const task = typeof id === 'number' ? this.tasks.get(id) : undefined;
    if (!task) throw fault(KOJI_FAULTS.GenericError, `No such task: ${JSON.stringify(id)}`);
    return task;
  }

  private readonly methods: Record<string, { params: readonly string[]; run: (p: Params) => XmlRpcValue }> = {
    getAPIVersion: { params: [], run: () => 1 },
    hello: { params: [], run: () => 'Hello World' },
    getBuild: {
      params: ['buildInfo', 'strict?'],
      run: (p) => {
        const build = this.findBuild(p['buildInfo']);
        if (!build && p['strict']) throw fault(KOJI_FAULTS.GenericError, `No such build: ${JSON.stringify(p['buildInfo'])}`);
        return build ? this.buildInfo(build) : null;
      },
    },
    getTag: {
      params: ['tagInfo', 'strict?', 'event?', 'blocked?'],
      run: (p) => {
        const tag = this.findTag(p['tagInfo']);
        if (!tag && p['strict']) throw fault(KOJI_FAULTS.GenericError, `No such tagInfo: ${JSON.stringify(p['tagInfo'])}`);
        return tag ? { ...tag, query_event: this.nextId.event } : null;
      },
    },
    listTags: { params: ['build?', 'package?', 'perms?', 'queryOpts?', 'pattern?'], run: (p) => {
      const build = p['build'] === undefined || p['build'] === null ? undefined : this.requireBuild(p['build']);
      return [...this.tags.values()].filter((t) => !build || this.tagged.get(t.id)!.some((x) => x.buildId === build.id)).map((t) => ({ ...t }));
    } },
    createTag: {
      params: ['name', 'parent?', 'arches?', 'perm?', 'locked?', 'maven_support?', 'maven_include_all?', 'extra?'],
      run: (p) => {
        if (typeof p['name'] !== 'string') throw fault(KOJI_FAULTS.ParameterError, 'name must be a string');
        const tag = this.createTag(p['name'], typeof p['arches'] === 'string' ? p['arches'] : null, typeof p['perm'] === 'string' ? p['perm'] : null);
        tag.locked = p['locked'] === true;
        return tag.id;
      },
    },
    editTag2: {
      params: ['tagInfo', 'name?', 'arches?', 'locked?', 'perm?', 'maven_support?', 'maven_include_all?', 'extra?', 'remove_extra?', 'block_extra?'],
      run: (p) => {
        const tag = this.requireTag(p['tagInfo']);
        if (typeof p['name'] === 'string') tag.name = p['name'];
        if (typeof p['arches'] === 'string') tag.arches = p['arches'];
        if (typeof p['locked'] === 'boolean') tag.locked = p['locked'];
        if (typeof p['perm'] === 'string' || p['perm'] === null) tag.perm = (p['perm']) ?? null;
        return null;
      },
    },
    listTagged: {
      params: ['tag', 'event?', 'inherit?', 'prefix?', 'latest?', 'package?', 'owner?', 'type?', 'strict?', 'extra?', 'draft?'],
      run: (p) => {
        const tag = this.requireTag(p['tag']);
        let rows = this.tagged.get(tag.id)!.map((t) => ({ t, b: this.builds.get(t.buildId)! }));
        if (typeof p['package'] === 'string') rows = rows.filter((r) => r.b.name === p['package']);
        if (typeof p['owner'] === 'string') rows = rows.filter((r) => r.b.owner_name === p['owner']);
        if (typeof p['prefix'] === 'string') rows = rows.filter((r) => r.b.name.startsWith(p['prefix'] as string));
        rows.sort((a, b) => b.t.eventId - a.t.eventId);
        if (p['latest']) rows = rows.filter((r, i) => rows.findIndex((o) => o.b.name === r.b.name) === i);
        return rows.map(({ t, b }) => ({ ...this.buildInfo(b), tag_id: tag.id, tag_name: tag.name, create_event: t.eventId, create_ts: t.creationTs }));
      },
    },
    getLatestBuilds: {
      params: ['tag', 'event?', 'package?', 'type?', 'draft?'],
      run: (p) => this.methods['listTagged']!.run({ tag: p['tag'], package: p['package'], latest: true }),
    },
    tagBuild: {
      params: ['tag', 'build', 'force?', 'fromtag?'],
      run: (p) => {
        const fromTag = p['fromtag'] === undefined || p['fromtag'] === null ? undefined : this.requireTag(p['fromtag']);
        return this.tagBuildTask(this.requireTag(p['tag']), this.requireBuild(p['build']), p['force'] === true, fromTag);
      },
    },
    moveBuild: {
      params: ['tag1', 'tag2', 'build', 'force?'],
      run: (p) => this.tagBuildTask(this.requireTag(p['tag2']), this.requireBuild(p['build']), p['force'] === true, this.requireTag(p['tag1'])),
    },
    untagBuild: {
      params: ['tag', 'build', 'strict?', 'force?'],
      run: (p) => {
        const tag = this.requireTag(p['tag']);
        const build = this.requireBuild(p['build']);
        if (tag.locked && p['force'] !== true) throw fault(KOJI_FAULTS.TagError, `tag ${tag.name} is locked`);
        const removed = this.removeTag(tag.id, build.id, 'kojiadmin');
        if (!removed && p['strict'] !== false) throw fault(KOJI_FAULTS.TagError, `build ${nvrOf(build)} not in tag ${tag.name}`);
        return null;
      },
    },
    distRepo: {
      // kojihub distRepo(tag, keys, **task_opts): a task that writes the tag's repository of builds signed with `keys`.
      params: ['tag', 'keys', 'event?', 'arch?', 'comp?', 'delta?', 'inherit?', 'latest?', 'multilib?', 'split_debuginfo?', 'skip_missing_signatures?', 'volume?', 'zck?', 'zck_dict_dir?', 'write_signed_rpms?'],
      run: (p) => {
        const tag = this.requireTag(p['tag']);
        const keys = p['keys'];
        if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && /^[0-9a-f]{8}$/.test(k))) {
          throw fault(KOJI_FAULTS.ParameterError, `keys must be a list of 8-hex-digit signing key IDs, got ${JSON.stringify(keys)}`);
        }
        const task: KojiTask = {
          id: this.nextId.task++, method: 'distRepo', state: TASK_STATES.FREE, owner: 'kojiadmin',
          request: [tag.name, keys], result: null, fault: null, create_ts: Date.now() / 1000, completion_ts: null,
        };
        this.tasks.set(task.id, task);
        const finish = () => {
          if (task.state === TASK_STATES.CANCELED) return;
          task.state = TASK_STATES.CLOSED;
          task.result = [this.nextId.event++, this.nextId.event];
          task.completion_ts = Date.now() / 1000;
        };
        if (this.taskDelayMs === 0) finish();
        else setTimeout(finish, this.taskDelayMs).unref();
        return task.id;
      },
    },
    getTaskInfo: {
      params: ['task_id', 'request?', 'strict?'],
      run: (p) => {
        const ids = Array.isArray(p['task_id']) ? p['task_id'] : [p['task_id']];
        const infos = ids.map((id) => {
          const task = typeof id === 'number' ? this.tasks.get(id) : undefined;
          if (!task && p['strict']) throw fault(KOJI_FAULTS.GenericError, `No such task: ${JSON.stringify(id)}`);
          return task ? this.taskInfo(task, p['request'] === true) : null;
        });
        return Array.isArray(p['task_id']) ? infos : (infos[0] ?? null);
      },
    },
    taskFinished: {
      params: ['taskId'],
      run: (p) => {
        const state = this.requireTask(p['taskId']).state;
        return state === TASK_STATES.CLOSED || state === TASK_STATES.CANCELED || state === TASK_STATES.FAILED;
      },
    },
    getTaskResult: {
      params: ['taskId', 'raise_fault?'],
      run: (p) => {
        const task = this.requireTask(p['taskId']);
        if (task.fault && p['raise_fault'] !== false) throw fault(task.fault.faultCode, task.fault.faultString);
        if (task.state !== TASK_STATES.CLOSED && !task.fault) throw fault(KOJI_FAULTS.GenericError, `Task ${task.id} is not finished`);
        return task.fault ?? task.result;
      },
    },
    cancelTask: {
      params: ['task_id', 'recurse?'],
      run: (p) => {
        const task = this.requireTask(p['task_id']);
        if (task.state === TASK_STATES.FREE || task.state === TASK_STATES.OPEN) {
          task.state = TASK_STATES.CANCELED;
          task.completion_ts = Date.now() / 1000;
        }
        return null;
      },
    },
  };

  /** Runs one call; faults come back as XmlRpcFaultError. */
  call(method: string, params: readonly XmlRpcValue[]): XmlRpcValue {
    if (method === 'multiCall' || method === 'system.multicall') {
      const calls = params[0];
      if (!Array.isArray(calls)) throw fault(KOJI_FAULTS.ParameterError, 'multiCall takes a list of calls');
      return calls.map((c) => {
        try {
          const call = c as { methodName?: XmlRpcValue; params?: XmlRpcValue };
          if (typeof call.methodName !== 'string' || !Array.isArray(call.params)) throw fault(KOJI_FAULTS.ParameterError, 'each call needs methodName and params');
          return [this.call(call.methodName, call.params)];
        } catch (err) {
          const f = err instanceof XmlRpcFaultError ? err : fault(1, (err as Error).message);
          return { faultCode: f.faultCode, faultString: f.faultString };
        }
      });
    }
    const entry = this.methods[method];
    if (!entry) throw fault(KOJI_FAULTS.GenericError, `Invalid method: ${method}`);
    const { args, kwargs } = splitKojiKwargs(params);
    return entry.run(bind(method, entry.params, args, kwargs));
  }

  readonly service = async (req: Request, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') {
      sendText(res, 405, 'Koji hub: POST XML-RPC here\n');
      return;
    }
    let xml: string;
    try {
      const call = decodeMethodCall(await req.body());
      xml = encodeMethodResponse(this.call(call.method, call.params));
    } catch (err) {
      if (err instanceof XmlRpcFaultError) xml = encodeFault(err);
      else if (err instanceof XmlRpcParseError) xml = encodeFault({ faultCode: KOJI_FAULTS.ParameterError, faultString: err.message });
      else xml = encodeFault({ faultCode: 1, faultString: (err as Error).message });
    }
    sendText(res, 200, xml, 'text/xml');
  };
}
