/**
 * What each route handler named in the routing table does with a message whose body has been
 * checked: start a run, signal-with-start one, record a fact, or nothing. Deterministic workflow
 * IDs come from common/workflow-ids.ts through the typed start functions in client/start.ts.
 */
import type { Client } from '@temporalio/client';
import type { GatingLane } from '../common/config.js';
import type { Pool } from '../common/db.js';
import type { RouteHandlerName } from '../common/routing.js';
import { ciTestcaseName, parseCiTopic, type CiComplete, type CiError } from '../common/schemas/ci.js';
import type { FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { NVR_PATTERN } from '../common/schemas/identifiers.js';
import { nvrOf, type BuildTagChange } from '../common/schemas/koji.js';
import type { ComposeStatusChange } from '../common/schemas/pungi.js';
import type { GreenwaveDecision } from '../common/schemas/results.js';
import { compactTimestamp, workflowIds } from '../common/workflow-ids.js';
import { recordComposeStatusEvent } from '../activities/results-store.js';
import { signalGate, startBodhiPush, startComposeDiscovery, startComposeTest, type StartResult, type Trigger } from '../client/start.js';
import type { ComposerStart } from '../common/schemas/bodhi.js';
import type { GateOutcome } from '../workflows/gating-policy.js';
import type { PushSettings } from '../workflows/index.js';
import { buildTaggedSignal, greenwaveDecisionSignal, testResultSignal } from '../workflows/api/gate-build.js';

export type Decision =
  | {
      readonly kind: 'start';
      readonly workflowId: string;
      /** Starts the run or signal-with-starts it; idempotent per workflow ID. */
      readonly start: (client: Client, trigger: Trigger) => Promise<StartResult>;
    }
  | { readonly kind: 'record'; readonly reason: string; readonly record: (pool: Pool) => Promise<void> }
  | { readonly kind: 'ignore'; readonly reason: string };

export interface HandlerContext {
  readonly lanes: readonly GatingLane[];
  readonly push: PushSettings;
  /** Compose base URLs (services.composes, bus.acceptComposeLocations) a compose's location must lie under. */
  readonly composeBases: readonly string[];
}

/** A message the listener refuses: its body does not fit, or a handler will not act on what it says. */
export class InvalidBodyError extends Error {
  override name = 'InvalidBodyError';
}

/**
 * A compose location from a message, if it lies under one of the trusted bases: the same host and
 * port, and a path under the base's once `.` and `..` segments and doubled slashes are resolved.
 * Pungi's messages say `http://kojipkgs.fedoraproject.org/compose//rawhide/<id>/compose`; under an
 * https base such a location is fetched over https. Anything else is refused: a stranger's message
 * must not point the image hosts at a server of its choosing.
 */
export function trustedComposeLocation(location: string, bases: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new InvalidBodyError(`compose location ${JSON.stringify(location)} is not a URL`);
  }
  if (url.username || url.password || url.search || url.hash) throw new InvalidBodyError(`compose location ${location} carries credentials, a query or a fragment`);
  const path = url.pathname.replace(/\/{2,}/g, '/').replace(/\/+$/, '');
  for (const baseText of bases) {
    const base = new URL(baseText);
    const basePath = base.pathname.replace(/\/{2,}/g, '/').replace(/\/+$/, '');
    const sameServer = url.host === base.host && (url.protocol === base.protocol || (url.protocol === 'http:' && base.protocol === 'https:'));
    if (sameServer && path.startsWith(`${basePath}/`)) return `${base.protocol}//${base.host}${path}`;
  }
  throw new InvalidBodyError(`compose location ${location} is not under a trusted compose base (${bases.join(', ')})`);
}

export interface Handler {
  /** Topics (after `<prefix>.<env>.`) whose bodies this handler understands. */
  accepts(topic: string): boolean;
  decide(body: unknown, envelope: FedmsgEnvelope, topic: string, context: HandlerContext): Decision;
}

/** The lane a build belongs to by its dist tag (`1.fc44` → the lane with distTag fc44). */
function laneOfNvr(lanes: readonly GatingLane[], nvr: string): GatingLane | undefined {
  const release = nvr.slice(nvr.lastIndexOf('-') + 1);
  return lanes.find((lane) => new RegExp(`(^|\\.)${lane.distTag}(\\.|$)`).test(release));
}

const isCiKojiResult = (topic: string): boolean => {
  const ci = parseCiTopic(topic);
  return ci !== null && (ci.artifact === 'koji-build' || ci.artifact === 'brew-build') && (ci.event === 'complete' || ci.event === 'error');
};

/** A finished compose starts one run about it, by compose ID. */
function startsComposeRun(
  workflowIdOf: (composeId: string) => string,
  start: (client: Client, input: { composeId: string; location: string; pungiStatus: string }, trigger: Trigger) => Promise<StartResult>,
): Handler {
  return {
    accepts: (topic) => topic === 'pungi.compose.status.change',
    decide(body, _envelope, _topic, { composeBases }) {
      const b = body as ComposeStatusChange;
      const input = { composeId: b.compose_id, location: trustedComposeLocation(b.location, composeBases), pungiStatus: b.status };
      return { kind: 'start', workflowId: workflowIdOf(b.compose_id), start: (client, trigger) => start(client, input, trigger) };
    },
  };
}

export const HANDLERS: Readonly<Record<RouteHandlerName, Handler>> = {
  'test-compose': startsComposeRun(workflowIds.composeTest, startComposeTest),
  'discover-compose': startsComposeRun(workflowIds.composeDiscovery, startComposeDiscovery),
  'record-compose-status': {
    accepts: (topic) => topic === 'pungi.compose.status.change',
    decide(body, envelope, _topic, { composeBases }) {
      const b = body as ComposeStatusChange;
      const location = trustedComposeLocation(b.location, composeBases);
      return {
        kind: 'record',
        reason: `compose status ${b.status} starts no work`,
        record: (pool) => recordComposeStatusEvent(pool, { composeId: b.compose_id, status: b.status, location, msgId: envelope.msg_id }),
      };
    },
  },
  'gate-build': {
    accepts: (topic) => topic === 'buildsys.tag',
    decide(body, envelope, _topic, { lanes }) {
      const b = body as BuildTagChange;
      const lane = lanes.find((l) => l.gateTag === b.tag);
      if (!lane) return { kind: 'ignore', reason: `${b.tag} is not a gate tag` };
      const nvr = nvrOf(b);
      const tagged = { tag: b.tag, owner: b.owner, msgId: envelope.msg_id };
      return {
        kind: 'start',
        workflowId: workflowIds.gateBuild(lane.gateTag, nvr),
        start: (client, trigger) => signalGate(client, { nvr, lane }, buildTaggedSignal, tagged, trigger),
      };
    },
  },
  'gate-ci-result': {
    accepts: isCiKojiResult,
    decide(body, envelope, topic, { lanes }) {
      const b = body as CiComplete | CiError;
      if (b.artifact.type !== 'koji-build' && b.artifact.type !== 'brew-build') return { kind: 'ignore', reason: 'not a build result' };
      if (b.artifact.scratch) return { kind: 'ignore', reason: 'scratch builds are not gated' };
      const nvr = b.artifact.nvr;
      const lane = laneOfNvr(lanes, nvr);
      if (!lane) return { kind: 'ignore', reason: `no gating lane for ${nvr}` };
      const outcome: GateOutcome = parseCiTopic(topic)!.event === 'error' ? 'error' : (b as CiComplete).test.result;
      const result = { testcase: ciTestcaseName(b.test), outcome, url: b.run.url, msgId: envelope.msg_id };
      return {
        kind: 'start',
        workflowId: workflowIds.gateBuild(lane.gateTag, nvr),
        start: (client, trigger) => signalGate(client, { nvr, lane }, testResultSignal, result, trigger),
      };
    },
  },
  'gate-greenwave-decision': {
    accepts: (topic) => topic === 'greenwave.decision.update',
    decide(body, _envelope, _topic, { lanes }) {
      const b = body as GreenwaveDecision;
      const nvr = b.subject_identifier;
      if (!NVR_PATTERN.test(nvr)) return { kind: 'ignore', reason: `${b.subject_type} subject ${JSON.stringify(nvr.slice(0, 100))} is not a build NVR` };
      const lane = laneOfNvr(lanes, nvr);
      if (!lane || lane.greenwaveContext !== b.decision_context) {
        return { kind: 'ignore', reason: `no gating lane decides ${nvr} by Greenwave context ${b.decision_context}` };
      }
      const verdict = { satisfied: b.policies_satisfied, summary: b.summary, anyFailed: b.unsatisfied_requirements.some((r) => r.type === 'test-result-failed') };
      return {
        kind: 'start',
        workflowId: workflowIds.gateBuild(lane.gateTag, nvr),
        start: (client, trigger) => signalGate(client, { nvr, lane }, greenwaveDecisionSignal, verdict, trigger),
      };
    },
  },
  push: {
    accepts: (topic) => topic === 'bodhi.composer.start',
    decide(body, envelope, _topic, { push }) {
      const b = body as ComposerStart;
      const pushId = compactTimestamp(new Date(envelope.timestamp * 1000));
      const input = { pushId, composes: b.composes, ...push };
      return { kind: 'start', workflowId: workflowIds.bodhiPush(pushId), start: (client, trigger) => startBodhiPush(client, input, trigger) };
    },
  },
  note: {
    accepts: () => true,
    decide: (_body, _envelope, topic) => ({ kind: 'ignore', reason: `${topic} is kept in the inbox; it starts no work` }),
  },
};
