/**
 * Fedora CI messages, `ci.<artifact>.test.{queued,running,complete,error}`, as the spec's 1.x
 * schemas require them (../shared/docs/messages.md §e; fields as kaijs validates them). One
 * schema serves both directions: what releng-o-tron publishes is checked before it leaves, and
 * what the listener receives is checked before it reaches a run.
 */
import { z } from 'zod';
import { nvr } from './identifiers.js';
import { issueLines } from './issues.js';

/** The spec tag our messages conform to; Fedora CI's pipelines send the same. */
export const CI_MESSAGE_VERSION = '1.1.14';

export const CI_EVENTS = ['queued', 'running', 'complete', 'error'] as const;
export type CiEvent = (typeof CI_EVENTS)[number];

export const CI_RESULTS = ['passed', 'failed', 'info', 'needs_inspection', 'not_applicable'] as const;
export type CiResult = (typeof CI_RESULTS)[number];

const uri = z.string().max(2048).regex(/^[a-z][a-z0-9+.-]*:\S+$/i, 'expected a URI');
// Python's str(datetime) (space, no zone) is common in real messages; what we send is toISOString().
const isoDateTime = z.string().regex(/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/, 'expected an ISO 8601 date-time');
const semver = z.string().regex(/^\d+\.\d+\.\d+$/, 'expected a spec version such as 1.1.14');

export const CiContactSchema = z.looseObject({
  name: z.string().min(1),
  team: z.string().min(1),
  docs: uri,
  email: z.string().regex(/^[^@\s]+@[^@\s]+$/, 'expected an email address'),
  url: uri.optional(),
  irc: z.string().optional(),
  slack: z.string().optional(),
  version: z.string().optional(),
});

export const CiRunSchema = z.looseObject({
  url: uri,
  log: uri,
  log_raw: uri.optional(),
  log_stream: uri.optional(),
  rebuild: uri.optional(),
  trigger_rebuild: uri.optional(),
  debug: uri.optional(),
});

export const KojiBuildArtifactSchema = z.looseObject({
  type: z.enum(['koji-build', 'brew-build']),
  /** The Koji build task ID. */
  id: z.number().int().positive(),
  issuer: z.string().min(1),
  component: z.string().min(1),
  nvr,
  scratch: z.boolean(),
  baseline: z.string().optional(),
  source: z.string().optional(),
  dependencies: z.array(z.string()).optional(),
});

export const ProductmdComposeArtifactSchema = z.looseObject({
  type: z.literal('productmd-compose'),
  /** The compose ID, e.g. Fedora-Rawhide-20261123.n.0. */
  id: z.string().min(1),
  /** production, nightly, test, ci in Fedora; other products add their own (RHEL: gate). */
  compose_type: z.string().min(1),
  release_type: z.string().optional(),
});

export const FedoraUpdateArtifactSchema = z.looseObject({
  type: z.literal('fedora-update'),
  id: z.string().min(1),
  alias: z.string().min(1),
  builds: z.array(z.looseObject({ nvr: z.string().min(1) })),
  release: z.looseObject({ name: z.string().min(1), version: z.string().min(1) }),
});

export const CiArtifactSchema = z.discriminatedUnion('type', [KojiBuildArtifactSchema, ProductmdComposeArtifactSchema, FedoraUpdateArtifactSchema]);
export type CiArtifact = z.infer<typeof CiArtifactSchema>;
export type CiArtifactType = CiArtifact['type'];

export const CiPipelineSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().min(1),
  build: z.string().optional(),
  stage: z.looseObject({ name: z.string().min(1) }).optional(),
});

export const CiTestSchema = z.looseObject({
  category: z.string().min(1),
  namespace: z.string().min(1),
  type: z.string().min(1),
  docs: uri.optional(),
  label: z.array(z.string()).optional(),
  lifetime: z.number().int().positive().optional(),
  progress: z.number().int().min(2).max(100).optional(),
  scenario: z.string().optional(),
  xunit: z.string().optional(),
  xunit_urls: z.array(uri).optional(),
});

export const CiSystemSchema = z.looseObject({
  os: z.string().min(1),
  provider: z.string().min(1),
  architecture: z.string().min(1),
  variant: z.string().optional(),
  label: z.string().optional(),
});

const common = {
  contact: CiContactSchema,
  run: CiRunSchema,
  artifact: CiArtifactSchema,
  pipeline: CiPipelineSchema,
  generated_at: isoDateTime,
  version: semver,
  image: z.looseObject({ id: z.string(), name: z.string(), type: z.string() }).optional(),
  notification: z.looseObject({ recipients: z.array(z.string()) }).optional(),
};

export const CiQueuedSchema = z.looseObject({ ...common, test: CiTestSchema });
export const CiRunningSchema = CiQueuedSchema;
export const CiCompleteSchema = z.looseObject({
  ...common,
  test: CiTestSchema.extend({
    result: z.enum(CI_RESULTS),
    runtime: z.number().nonnegative().optional(),
    output: z.string().optional(),
    output_urls: z.array(uri).optional(),
  }),
  system: z.array(CiSystemSchema).min(1),
});
export const CiErrorSchema = z.looseObject({
  ...common,
  test: CiTestSchema,
  error: z.looseObject({ reason: z.string().min(1), issue_url: uri.optional() }),
});

export const CI_SCHEMAS = {
  queued: CiQueuedSchema,
  running: CiRunningSchema,
  complete: CiCompleteSchema,
  error: CiErrorSchema,
} as const;

export type CiQueued = z.infer<typeof CiQueuedSchema>;
export type CiComplete = z.infer<typeof CiCompleteSchema>;
export type CiError = z.infer<typeof CiErrorSchema>;
export type CiMessageBody = CiQueued | CiComplete | CiError;

const CI_TOPIC = /^ci\.([a-z0-9-]+)\.test\.(queued|running|complete|error)$/;

/** `ci.koji-build.test.complete` → { artifact: 'koji-build', event: 'complete' }; null for other topics. */
export function parseCiTopic(topicSuffix: string): { artifact: string; event: CiEvent } | null {
  const match = CI_TOPIC.exec(topicSuffix);
  return match ? { artifact: match[1]!, event: match[2] as CiEvent } : null;
}

/** ResultsDB's testcase name for a CI message (resultsdb-updater: namespace.type.category). */
export function ciTestcaseName(test: { namespace: string; type: string; category: string }): string {
  return `${test.namespace}.${test.type}.${test.category}`;
}

/**
 * Checks a CI message body for its topic: the event's schema, and an artifact of the topic's
 * type. Returns the reasons it fails, or an empty list.
 */
export function ciMessageProblems(topicSuffix: string, body: unknown): string[] {
  const topic = parseCiTopic(topicSuffix);
  if (!topic) return [`${topicSuffix} is not a ci.<artifact>.test.<event> topic`];
  const parsed = CI_SCHEMAS[topic.event].safeParse(body);
  if (!parsed.success) return issueLines(parsed.error);
  if (parsed.data.artifact.type !== topic.artifact) {
    return [`artifact.type ${parsed.data.artifact.type} does not match the topic's ${topic.artifact}`];
  }
  return [];
}

/** How a test ended, as the CI spec separates it: the artifact's fault or the infrastructure's. */
export type CiOutcome =
  | { readonly kind: 'result'; readonly result: CiResult }
  | { readonly kind: 'infrastructure-error'; readonly reason: string };

export interface CiMessageBase {
  readonly contact: CiQueued['contact'];
  readonly run: CiQueued['run'];
  readonly artifact: CiArtifact;
  readonly pipeline: CiQueued['pipeline'];
  readonly test: CiQueued['test'];
  readonly system: readonly z.infer<typeof CiSystemSchema>[];
  readonly generatedAt: string;
}

/**
 * The message for a finished test: a test that ran and failed is `complete` with result
 * `failed`; a test that could not run (no VM, download broke) is `error` with the reason.
 */
export function ciFinishedMessage(base: CiMessageBase, outcome: CiOutcome): { topic: string; body: CiComplete | CiError } {
  const common = { contact: base.contact, run: base.run, artifact: base.artifact, pipeline: base.pipeline, generated_at: base.generatedAt, version: CI_MESSAGE_VERSION };
  if (outcome.kind === 'result') {
    return {
      topic: `ci.${base.artifact.type}.test.complete`,
      body: { ...common, test: { ...base.test, result: outcome.result }, system: [...base.system] },
    };
  }
  return { topic: `ci.${base.artifact.type}.test.error`, body: { ...common, test: base.test, error: { reason: outcome.reason } } };
}
