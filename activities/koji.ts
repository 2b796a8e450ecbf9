/**
 * Koji over its XML-RPC hub API (../shared/docs/fedora-apis.md §4): build lookups, tag moves as
 * Koji tasks, and watching a task to its end with heartbeats. Faults are Koji's own words;
 * only a hub that is offline or unreachable is worth retrying.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { request } from 'undici';
import {
  decodeMethodResponse,
  encodeMethodCall,
  withKojiKwargs,
  XmlRpcFaultError,
  XmlRpcParseError,
  type XmlRpcValue,
} from '../common/xmlrpc.js';
import { activityCancellation } from './http.js';

/** Koji fault codes a retry can get past (koji/__init__.py): ServerOffline, RetryError. */
const RETRYABLE_FAULTS = new Set([1014, 1009]);
export const KOJI_FAULT = 'KojiFault';
export const KOJI_TASK_FAILED = 'KojiTaskFailed';

const TASK_STATE_NAMES = ['FREE', 'OPEN', 'CLOSED', 'CANCELED', 'ASSIGNED', 'FAILED'] as const;

export class KojiClient {
  constructor(
    private readonly hubUrl: string,
    private readonly timeoutMs: number,
  ) {}

  async call(method: string, args: readonly XmlRpcValue[] = [], kwargs?: Record<string, XmlRpcValue>): Promise<XmlRpcValue> {
    let text: string;
    let status: number;
    try {
      const response = await request(this.hubUrl, {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        body: encodeMethodCall(method, withKojiKwargs(args, kwargs)),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: activityCancellation(),
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (err) {
      throw ApplicationFailure.retryable(`Koji ${method}: hub unreachable: ${(err as Error).message}`, 'KojiUnreachable');
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
          message: `Koji ${method}: ${err.faultString} (fault ${err.faultCode})`,
          type: KOJI_FAULT,
          nonRetryable: !RETRYABLE_FAULTS.has(err.faultCode),
          details: [{ faultCode: err.faultCode, faultString: err.faultString }],
        });
      }
      if (err instanceof XmlRpcParseError) throw ApplicationFailure.nonRetryable(`Koji ${method}: unreadable response: ${err.message}`, 'KojiBadResponse');
      throw err;
    }
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

export interface KojiActivities {
  describeBuild(nvr: string): Promise<KojiBuildSummary>;
  /** Starts the tag's repository of builds signed with `keys` (Koji's distRepo); returns the task. */
  startDistRepo(input: { readonly tag: string; readonly keys: readonly string[] }): Promise<{ readonly taskId: number }>;
  moveBuild(input: MoveBuildInput): Promise<MoveBuildResult>;
  waitForKojiTask(taskId: number): Promise<KojiTaskOutcome>;
}

export interface KojiActivityDeps {
  readonly kojiHubUrl: string;
  readonly requestTimeoutMs: number;
  /** How often a watched task is polled; heartbeats go out at the same pace. */
  readonly kojiPollIntervalMs: number;
}

function struct(value: XmlRpcValue): Record<string, XmlRpcValue> {
  if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    return value;
  }
  throw ApplicationFailure.nonRetryable(`Koji returned ${JSON.stringify(value)} where a struct was expected`, 'KojiBadResponse');
}

/** A field Koji documents as a string. */
function text(value: XmlRpcValue | undefined, field: string): string {
  if (typeof value === 'string') return value;
  throw ApplicationFailure.nonRetryable(`Koji returned ${JSON.stringify(value)} for ${field}, not a string`, 'KojiBadResponse');
}

export function createKojiActivities(deps: KojiActivityDeps): KojiActivities {
  const koji = new KojiClient(deps.kojiHubUrl, deps.requestTimeoutMs);

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

    async startDistRepo(input: { readonly tag: string; readonly keys: readonly string[] }): Promise<{ readonly taskId: number }> {
      const taskId = await koji.call('distRepo', [input.tag, [...input.keys]]);
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
        if (state === 'FAILED' || state === 'CANCELED') {
          let reason = `task ${taskId} ${state.toLowerCase()}`;
          if (state === 'FAILED') {
            const result = await koji.call('getTaskResult', [taskId], { raise_fault: false }).catch((err: Error) => err.message);
            const fault = typeof result === 'string' ? result : struct(result)['faultString'];
            if (typeof fault === 'string') reason = `task ${taskId} failed: ${fault}`;
          }
          throw ApplicationFailure.nonRetryable(`Koji ${reason}`, KOJI_TASK_FAILED);
        }
        await context.sleep(deps.kojiPollIntervalMs);
      }
    },
  };
}
