/**
 * Koji over its XML-RPC hub API (../shared/docs/fedora-apis.md §4): build lookups, tag moves as
 * Koji tasks, and watching a task to its end with heartbeats. Faults are Koji's own words;
 * only a hub that is offline or unreachable is worth retrying.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { z } from 'zod';
import {
  decodeMethodResponse,
  encodeMethodCall,
  withKojiKwargs,
  XmlRpcFaultError,
  XmlRpcParseError,
  type XmlRpcValue,
} from '../common/xmlrpc.js';
import { readCapped, ResponseTooLargeError, type HttpLimits } from '../common/http-body.js';
import { activityCancellation, responseTooLarge, tlsRefusal } from './http.js';

/**
 * Koji fault codes a retry can get past (koji/__init__.py): ServerOffline. Not RetryError (1009):
 * it says the hub already took a call with that callnum, so the change may well be made.
 */
const RETRYABLE_FAULTS = new Set([1014]);

/** What Koji's faults and odd answers may put into a failure (and so into histories and bus messages). */
const MAX_TEXT = 500;
const cut = (text: string): string => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text);

export const KOJI_FAULT = 'KojiFault';
export const KOJI_TASK_FAILED = 'KojiTaskFailed';

const TASK_STATE_NAMES = ['FREE', 'OPEN', 'CLOSED', 'CANCELED', 'ASSIGNED', 'FAILED'] as const;

/** A Koji client certificate login (`sslLogin`), by file paths; the files are read at login and never logged. */
export interface KojiLogin {
  readonly cert: string;
  readonly key: string;
  /** The CA that signed the hub's certificate, when not a public one. */
  readonly serverCa?: string;
  /** Where sslLogin is called; Koji's own clients use `<hub>/ssllogin`. */
  readonly loginUrl?: string;
}

interface KojiSession {
  readonly id: number;
  readonly key: string;
  callnum: number;
}

/** Fault codes that mean "log in again" (koji/__init__.py): AuthError for an unknown session, AuthExpired. */
const SESSION_LOST_FAULTS = new Set([1002, 1007]);
/** Fault codes after which a session's callnum cannot be trusted (SequenceError, RetryError): it is dropped. */
const SESSION_SPOILT_FAULTS = new Set([1008, 1009]);

export class KojiClient {
  /** Sessions not in use. Each call takes one for itself, so callnums on a session only grow (the hub refuses a lower one). */
  private readonly idle: KojiSession[] = [];
  private loginAgent: Agent | null = null;
  /** For hub calls: the configured server CA, when the hub's certificate is not a public one. */
  private hubAgent: Agent | null = null;
  private logins = 0;

  constructor(
    private readonly hubUrl: string,
    private readonly http: HttpLimits,
    private readonly login: KojiLogin | null = null,
  ) {}

  /** Logins made so far (each opens a hub session). */
  get loginCount(): number {
    return this.logins;
  }

  /**
   * One hub call. With a login configured every call carries a session (logged in on first use,
   * again when the hub says the session expired), so writes are made as that user.
   */
  async call(method: string, args: readonly XmlRpcValue[] = [], kwargs?: Record<string, XmlRpcValue>): Promise<XmlRpcValue> {
    if (!this.login) return this.send(this.hubUrl, method, args, kwargs, null);
    let session: KojiSession | null = this.idle.pop() ?? (await this.openSession());
    try {
      return await this.send(this.hubUrl, method, args, kwargs, session);
    } catch (err) {
      const code = kojiFaultCode(err);
      if (code !== null && SESSION_SPOILT_FAULTS.has(code)) session = null;
      if (code === null || !SESSION_LOST_FAULTS.has(code)) throw err;
      // The hub forgot or expired the session: one new login, one more try.
      session = null;
      session = await this.openSession();
      return await this.send(this.hubUrl, method, args, kwargs, session);
    } finally {
      if (session) this.idle.push(session);
    }
  }

  private async openSession(): Promise<KojiSession> {
    const login = this.login!;
    this.loginAgent ??= new Agent({ connect: { cert: readCredential(login.cert, 'client certificate'), key: readCredential(login.key, 'client key'), ...(login.serverCa ? { ca: readCredential(login.serverCa, 'server CA') } : {}) } });
    const url = login.loginUrl ?? `${this.hubUrl.replace(/\/+$/, '')}/ssllogin`;
    const reply = struct(await this.send(url, 'sslLogin', [], undefined, null, this.loginAgent));
    const id = reply['session-id'];
    const key = reply['session-key'];
    if (typeof id !== 'number' || typeof key !== 'string') throw ApplicationFailure.nonRetryable('Koji sslLogin answered without a session-id and session-key', 'KojiBadResponse');
    this.logins++;
    return { id, key, callnum: 0 };
  }

  private async send(url: string, method: string, args: readonly XmlRpcValue[], kwargs: Record<string, XmlRpcValue> | undefined, session: KojiSession | null, dispatcher?: Agent): Promise<XmlRpcValue> {
    let text: string;
    let status: number;
    // Koji >= 1.30 takes the session in headers (kojihub auth.Session); the callnum grows with every call.
    if (!dispatcher && this.login?.serverCa) this.hubAgent ??= new Agent({ connect: { ca: readCredential(this.login.serverCa, 'server CA') } });
    const agent = dispatcher ?? this.hubAgent;
    const sessionHeaders: Record<string, string> = session ? { 'koji-session-id': String(session.id), 'koji-session-key': session.key, 'koji-callnum': String(++session.callnum) } : {};
    try {
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'text/xml', ...sessionHeaders },
        body: encodeMethodCall(method, withKojiKwargs(args, kwargs)),
        headersTimeout: this.http.timeoutMs,
        bodyTimeout: this.http.timeoutMs,
        signal: activityCancellation(),
        ...(agent ? { dispatcher: agent } : {}),
      });
      status = response.statusCode;
      text = (await readCapped(response, this.http.maxBytes, `Koji ${method}`)).toString('utf8');
    } catch (err) {
      if (err instanceof ResponseTooLargeError) throw responseTooLarge(err);
      const refused = tlsRefusal(err);
      if (refused) throw ApplicationFailure.nonRetryable(`Koji ${method}: TLS refused: ${cut(refused)}`, 'KojiTlsRefused');
      throw ApplicationFailure.retryable(`Koji ${method}: hub unreachable: ${cut((err as Error).message)}`, 'KojiUnreachable');
    }
    if (status !== 200) {
      const retry = status >= 500 || status === 429;
      throw ApplicationFailure.create({ message: `Koji ${method}: HTTP ${status}`, type: 'KojiHttpError', nonRetryable: !retry });
    }
    try {
      return decodeMethodResponse(text);
    } catch (err) {
      if (err instanceof XmlRpcFaultError) {
        throw ApplicationFailure.create({
          message: `Koji ${method}: ${cut(err.faultString)} (fault ${err.faultCode})`,
          type: KOJI_FAULT,
          nonRetryable: !RETRYABLE_FAULTS.has(err.faultCode),
          details: [{ faultCode: err.faultCode, faultString: cut(err.faultString) }],
        });
      }
      if (err instanceof XmlRpcParseError) throw ApplicationFailure.nonRetryable(`Koji ${method}: unreadable response: ${err.message}`, 'KojiBadResponse');
      throw err;
    }
  }
}

/** The Koji fault code inside a failure from KojiClient, or null. */
export function kojiFaultCode(err: unknown): number | null {
  if (!(err instanceof ApplicationFailure) || err.type !== KOJI_FAULT) return null;
  const details = err.details?.[0] as { faultCode?: unknown } | undefined;
  return typeof details?.faultCode === 'number' ? details.faultCode : null;
}

/** A credential file's bytes; a missing or unreadable one is a configuration fault no retry fixes (its content is never shown). */
function readCredential(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`Koji login: cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'KojiCredentialsUnusable');
  }
}

export interface KojiBuildSummary {
  readonly id: number;
  readonly nvr: string;
  readonly owner: string;
  readonly state: number;
  readonly tags: readonly string[];
}

export interface MoveBuildInput {
  readonly nvr: string;
  readonly fromTag: string;
  readonly toTag: string;
}

/** taskId null: the build was already where it should be (an earlier attempt moved it). */
export interface MoveBuildResult {
  readonly taskId: number | null;
}

export interface KojiTaskOutcome {
  readonly taskId: number;
  readonly state: (typeof TASK_STATE_NAMES)[number];
}

export interface ImageBuildInput {
  /** The image build's name, e.g. Fedora-Cloud-Base. */
  readonly name: string;
  readonly version: string;
  /** Chosen by the push, so a retry finds the build it already asked for. */
  readonly release: string;
  readonly arches: readonly string[];
  /** Koji's --format: qcow2, raw-xz, vagrant-libvirt, vagrant-virtualbox, iso. */
  readonly formats: readonly string[];
  readonly target: string;
  readonly installTree: string;
  readonly kickstart: string;
  readonly ksurl: string;
  readonly distro: string;
}

export interface ImageFile {
  readonly filename: string;
  readonly arch: string;
  readonly size: number;
  readonly sha256: string;
  /** Under Koji's topurl: packages/<name>/<version>/<release>/images/<file>. */
  readonly url: string;
}

export interface ImageBuildOutput {
  readonly nvr: string;
  readonly taskId: number | null;
  readonly files: readonly ImageFile[];
}

const MoveProgressSchema = z.object({ tasks: z.array(z.tuple([z.number(), z.string()])), moved: z.array(z.string()) });

/** koji.CHECKSUM_TYPES */
const CHECKSUM_TYPES: Readonly<Record<number, string>> = { 0: 'md5', 1: 'sha1', 2: 'sha256' };

export interface KojiActivities {
  /**
   * Asks Koji for an image build (`buildImageOz`, Koji's `image-build`); taskId null when the
   * build N-V-R already exists from an earlier attempt.
   */
  startImageBuild(input: ImageBuildInput): Promise<{ readonly nvr: string; readonly taskId: number | null }>;
  /** The files of a finished image build, with Koji's sha256 of each and its download URL. */
  imageBuildOutput(input: { readonly nvr: string; readonly taskId: number | null }): Promise<ImageBuildOutput>;
  /**
   * Moves many builds in one multicall and watches the tasks, as Bodhi's composer does for a
   * batch. Builds already in `toTag` are left alone (a retry); the failures come back by build.
   */
  moveBuilds(input: MoveBuildsInput): Promise<MoveBuildsResult>;
  describeBuild(nvr: string): Promise<KojiBuildSummary>;
  /** Starts the tag's repository of builds signed with `keys` (Koji's distRepo); returns the task. */
  startDistRepo(input: StartDistRepoInput): Promise<{ readonly taskId: number }>;
  moveBuild(input: MoveBuildInput): Promise<MoveBuildResult>;
  /** The repository a finished distRepo task wrote (its result: [repo id, event id]). */
  distRepoId(taskId: number): Promise<number>;
  waitForKojiTask(taskId: number): Promise<KojiTaskOutcome>;
}

export interface StartDistRepoInput {
  readonly tag: string;
  readonly keys: readonly string[];
  /** One repository per arch (each with the noarch packages too); absent: the tag's arches. */
  readonly arches?: readonly string[];
  /** The tag's builds with those it inherits (a tree's whole package set), not the tag's own only. */
  readonly inherit?: boolean;
}

export interface MoveBuildsInput {
  readonly nvrs: readonly string[];
  readonly fromTag: string;
  readonly toTag: string;
}

export interface MoveBuildsResult {
  /** Moved by this call's tasks. */
  readonly moved: readonly string[];
  /** Already in the target tag and not in the source tag. */
  readonly alreadyThere: readonly string[];
  /** Koji's fault, by build. */
  readonly failed: readonly { readonly nvr: string; readonly reason: string }[];
}

export interface KojiActivityDeps {
  readonly kojiHubUrl: string;
  /** The releng account's certificate login; without it writes go unauthenticated (and a real hub refuses them). */
  readonly kojiLogin: KojiLogin | null;
  /** Koji's topurl (kojipkgs), where image build files are downloaded from. */
  readonly kojiTopUrl: string;
  readonly http: HttpLimits;
  /** How often a watched task is polled; heartbeats go out at the same pace. */
  readonly kojiPollIntervalMs: number;
}

function struct(value: XmlRpcValue): Record<string, XmlRpcValue> {
  if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    return value;
  }
  throw ApplicationFailure.nonRetryable(`Koji returned ${cut(JSON.stringify(value) ?? 'undefined')} where a struct was expected`, 'KojiBadResponse');
}

/** A field Koji documents as a string. */
function text(value: XmlRpcValue | undefined, field: string): string {
  if (typeof value === 'string') return value;
  throw ApplicationFailure.nonRetryable(`Koji returned ${cut(JSON.stringify(value) ?? 'undefined')} for ${field}, not a string`, 'KojiBadResponse');
}

type MultiCallResult = { ok: true; value: XmlRpcValue } | { ok: false; reason: string };

/** Koji's multicall: one request, each call's result or fault. */
async function multiCall(koji: KojiClient, calls: readonly { methodName: string; params: XmlRpcValue[] }[]): Promise<MultiCallResult[]> {
  if (calls.length === 0) return [];
  const answer = await koji.call('multiCall', [calls.map((c) => ({ methodName: c.methodName, params: c.params }))]);
  if (!Array.isArray(answer) || answer.length !== calls.length) {
    throw ApplicationFailure.nonRetryable(`Koji multiCall answered ${Array.isArray(answer) ? answer.length : typeof answer} results for ${calls.length} calls`, 'KojiBadResponse');
  }
  return answer.map((entry) => {
    if (Array.isArray(entry)) return { ok: true, value: entry[0] ?? null };
    const f = struct(entry);
    return { ok: false, reason: `${text(f['faultString'], 'faultString')} (fault ${Number(f['faultCode'])})` };
  });
}

export function createKojiActivities(deps: KojiActivityDeps): KojiActivities {
  const koji = new KojiClient(deps.kojiHubUrl, deps.http, deps.kojiLogin);
  const topUrl = deps.kojiTopUrl.replace(/\/+$/, '');

  /** Why a task ended without success, in Koji's words where it has them. */
  async function taskFailure(taskId: number, state: 'FAILED' | 'CANCELED'): Promise<string> {
    if (state === 'CANCELED') return `task ${taskId} canceled`;
    const result = await koji.call('getTaskResult', [taskId], { raise_fault: false }).catch((err: Error) => err.message);
    const fault = typeof result === 'string' ? result : struct(result)['faultString'];
    return typeof fault === 'string' ? `task ${taskId} failed: ${fault}` : `task ${taskId} failed`;
  }

  async function describeBuild(nvr: string): Promise<KojiBuildSummary> {
    const found = await koji.call('getBuild', [nvr]);
    if (found === null) throw ApplicationFailure.nonRetryable(`Koji has no build ${nvr}`, 'KojiNoSuchBuild');
    const build = struct(found);
    const tags = await koji.call('listTags', [], { build: nvr });
    return {
      id: Number(build['id']),
      nvr: text(build['nvr'], 'nvr'),
      owner: text(build['owner_name'], 'owner_name'),
      state: Number(build['state']),
      tags: Array.isArray(tags) ? tags.map((t) => text(struct(t)['name'], 'tag name')) : [],
    };
  }

  return {
    describeBuild,

    async moveBuild(input: MoveBuildInput): Promise<MoveBuildResult> {
      // A retry after the task was created but before we heard back must not fail on
      // "not in tag": look first.
      const { tags } = await describeBuild(input.nvr);
      if (tags.includes(input.toTag) && !tags.includes(input.fromTag)) return { taskId: null };
      const taskId = await koji.call('moveBuild', [input.fromTag, input.toTag, input.nvr]);
      if (typeof taskId !== 'number') throw ApplicationFailure.nonRetryable(`Koji moveBuild returned ${JSON.stringify(taskId)}, not a task ID`, 'KojiBadResponse');
      return { taskId };
    },

    async startImageBuild(input: ImageBuildInput): Promise<{ readonly nvr: string; readonly taskId: number | null }> {
      const nvr = `${input.name}-${input.version}-${input.release}`;
      const existing = await koji.call('getBuild', [nvr]);
      // COMPLETE or still BUILDING from an attempt whose answer was lost: that build is ours.
      if (existing !== null && [0, 1].includes(Number(struct(existing)['state']))) {
        const taskId = struct(existing)['task_id'];
        return { nvr, taskId: typeof taskId === 'number' ? taskId : null };
      }
      const taskId = await koji.call('buildImageOz', [input.name, input.version, [...input.arches], input.target, input.installTree], {
        opts: { format: [...input.formats], kickstart: input.kickstart, ksurl: input.ksurl, distro: input.distro, release: input.release, scratch: false },
      });
      if (typeof taskId !== 'number') throw ApplicationFailure.nonRetryable(`Koji buildImageOz returned ${JSON.stringify(taskId)}, not a task ID`, 'KojiBadResponse');
      return { nvr, taskId };
    },

    async imageBuildOutput(input: { readonly nvr: string; readonly taskId: number | null }): Promise<ImageBuildOutput> {
      const found = await koji.call('getBuild', [input.nvr]);
      if (found === null) throw ApplicationFailure.nonRetryable(`Koji has no image build ${input.nvr} after its task finished`, 'KojiNoSuchBuild');
      const build = struct(found);
      const [name, version, release] = [text(build['name'], 'name'), text(build['version'], 'version'), text(build['release'], 'release')];
      const archives = await koji.call('listArchives', [], { buildID: Number(build['id']), type: 'image' });
      if (!Array.isArray(archives) || archives.length === 0) throw ApplicationFailure.nonRetryable(`Koji lists no image files for ${input.nvr}`, 'KojiNoImageFiles');
      const files = archives.map((a) => {
        const archive = struct(a);
        const filename = text(archive['filename'], 'filename');
        const type = CHECKSUM_TYPES[Number(archive['checksum_type'])];
        if (type !== 'sha256') {
          throw ApplicationFailure.nonRetryable(`Koji gives ${filename} a ${type ?? 'unknown'} checksum; a push needs sha256 to check the download and write CHECKSUM`, 'KojiNoSha256');
        }
        return {
          filename,
          arch: text(archive['arch'], 'arch'),
          size: Number(archive['size']),
          sha256: text(archive['checksum'], 'checksum'),
          url: `${topUrl}/packages/${[name, version, release].map(encodeURIComponent).join('/')}/images/${encodeURIComponent(filename)}`,
        };
      });
      return { nvr: input.nvr, taskId: input.taskId, files };
    },

    async moveBuilds(input: MoveBuildsInput): Promise<MoveBuildsResult> {
      const context = Context.current();
      // A retry resumes watching the tasks the last attempt started instead of starting more.
      const resumed = MoveProgressSchema.safeParse(context.info.heartbeatDetails);
      const tasks = new Map<number, string>(resumed.success ? resumed.data.tasks : []);
      const moved: string[] = resumed.success ? [...resumed.data.moved] : [];
      const inTarget = new Set<string>();
      const inSource = new Set<string>();
      for (const [tag, into] of [[input.toTag, inTarget], [input.fromTag, inSource]] as const) {
        const rows = await koji.call('listTagged', [tag]);
        if (Array.isArray(rows)) for (const row of rows) into.add(text(struct(row)['nvr'], 'nvr'));
      }
      const watched = new Set([...tasks.values(), ...moved]);
      const alreadyThere = input.nvrs.filter((nvr) => !watched.has(nvr) && inTarget.has(nvr) && !inSource.has(nvr));
      const toMove = input.nvrs.filter((nvr) => !watched.has(nvr) && !alreadyThere.includes(nvr));
      const failed: { nvr: string; reason: string }[] = [];
      const started = await multiCall(koji, toMove.map((nvr) => ({ methodName: 'moveBuild', params: [input.fromTag, input.toTag, nvr] })));
      started.forEach((result, i) => {
        const nvr = toMove[i]!;
        if (!result.ok) failed.push({ nvr, reason: result.reason });
        else if (typeof result.value === 'number') tasks.set(result.value, nvr);
        else failed.push({ nvr, reason: `moveBuild returned ${JSON.stringify(result.value)}, not a task ID` });
      });
      const progress = () => context.heartbeat({ tasks: [...tasks.entries()], moved, failed: failed.length });
      progress();
      while (tasks.size > 0) {
        const ids = [...tasks.keys()];
        const infos = await koji.call('getTaskInfo', [ids]);
        if (!Array.isArray(infos)) throw ApplicationFailure.nonRetryable('Koji getTaskInfo with a list did not answer a list', 'KojiBadResponse');
        for (const [i, info] of infos.entries()) {
          const id = ids[i]!;
          const state = info === null ? 'FREE' : (TASK_STATE_NAMES[Number(struct(info)['state'])] ?? 'FREE');
          if (state !== 'CLOSED' && state !== 'FAILED' && state !== 'CANCELED') continue;
          const nvr = tasks.get(id)!;
          tasks.delete(id);
          if (state === 'CLOSED') moved.push(nvr);
          else failed.push({ nvr, reason: await taskFailure(id, state) });
        }
        progress();
        if (tasks.size > 0) await context.sleep(deps.kojiPollIntervalMs);
      }
      return { moved, alreadyThere, failed };
    },

    async distRepoId(taskId: number): Promise<number> {
      const result = await koji.call('getTaskResult', [taskId]);
      const repoId = Array.isArray(result) ? result[0] : undefined;
      if (typeof repoId !== 'number') throw ApplicationFailure.nonRetryable(`Koji distRepo task ${taskId} returned ${JSON.stringify(result)}, not [repo id, event id]`, 'KojiBadResponse');
      return repoId;
    },

    async startDistRepo(input: StartDistRepoInput): Promise<{ readonly taskId: number }> {
      // The latest build of each package only, as a yum repository and a tree want (Koji's dist-repo --latest).
      const options = { latest: true, ...(input.arches ? { arch: [...input.arches] } : {}), ...(input.inherit ? { inherit: true } : {}) };
      const taskId = await koji.call('distRepo', [input.tag, [...input.keys]], options);
      if (typeof taskId !== 'number') throw ApplicationFailure.nonRetryable(`Koji distRepo returned ${JSON.stringify(taskId)}, not a task ID`, 'KojiBadResponse');
      return { taskId };
    },

    async waitForKojiTask(taskId: number): Promise<KojiTaskOutcome> {
      const context = Context.current();
      for (;;) {
        const info = struct(await koji.call('getTaskInfo', [taskId], { strict: true }));
        const state = TASK_STATE_NAMES[Number(info['state'])] ?? 'FREE';
        context.heartbeat({ taskId, state });
        if (state === 'CLOSED') return { taskId, state };
        if (state === 'FAILED' || state === 'CANCELED') throw ApplicationFailure.nonRetryable(`Koji ${await taskFailure(taskId, state)}`, KOJI_TASK_FAILED);
        await context.sleep(deps.kojiPollIntervalMs);
      }
    },
  };
}
