/**
 * Everything releng-o-tron publishes, by topic (after `<prefix>.<env>.`). A message whose topic
 * is not listed here, or whose body does not fit, never leaves: the publish activity refuses it.
 */
import { z } from 'zod';
import { AUTOCLOUD_SCHEMAS } from './autocloud.js';
import { ciMessageProblems, parseCiTopic } from './ci.js';
import { issueLines } from './issues.js';

/** Our own topics live under this module name, as fedmsg's modname. */
export const PROJECT_TOPIC = 'releng-o-tron';

export const GATING_VERDICTS = ['passed', 'quarantined'] as const;
export type GatingVerdict = (typeof GATING_VERDICTS)[number];

/** `releng-o-tron.gating.{passed,quarantined}`: the packager (`owner`) learns where the build went. */
export const GatingVerdictMessageSchema = z.object({
  nvr: z.string().min(1),
  owner: z.string().min(1),
  lane: z.string().min(1),
  from_tag: z.string().min(1),
  to_tag: z.string().min(1),
  verdict: z.enum(GATING_VERDICTS),
  reason: z.string().min(1),
  results: z.array(z.object({ testcase: z.string(), outcome: z.string(), url: z.string().nullable() })),
  workflow_id: z.string().min(1),
});
export type GatingVerdictMessage = z.infer<typeof GatingVerdictMessageSchema>;

export const PUSH_ARTIFACT_STATES = ['composed', 'unchanged', 'not-composed'] as const;

/** `releng-o-tron.push.complete`: what a push moved, composed, signed and synced, and why. */
export const PushCompleteMessageSchema = z.object({
  push_id: z.string().min(1),
  release: z.string().min(1),
  request: z.enum(['testing', 'stable']),
  workflow_id: z.string().min(1),
  updates: z.array(z.object({ alias: z.string().min(1), builds: z.array(z.string().min(1)) })),
  artifacts: z.array(
    z.object({
      kind: z.string().min(1),
      /** `<kind>/<name>.<arch>`; absent for a kind no build touched. */
      artifact: z.string().min(1).optional(),
      state: z.enum(PUSH_ARTIFACT_STATES),
      reasons: z.array(z.string()),
      commit: z.string().optional(),
      /** The Koji image build and its files. */
      koji_build: z.string().optional(),
      files: z.array(z.object({ name: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() })).optional(),
      signed_by: z.string().nullable().optional(),
      mirror: z.string().optional(),
    }),
  ),
  /** The updates repository Koji wrote (distRepo), signed (repomd.xml.asc) and synced. */
  repository: z.object({ tag: z.string().min(1), repo_id: z.number().int(), packages: z.number().int().nonnegative(), signed_by: z.string().nullable(), mirror: z.string().nullable() }).nullable().optional(),
  /** The push's compose of its images, tested before anything was signed or synced. */
  compose: z.object({ compose_id: z.string().min(1), location: z.string().min(1) }).nullable().optional(),
  tests: z.array(z.object({ artifact: z.string(), testcase: z.string(), outcome: z.string(), job: z.number().int().optional() })),
  /** The test policy's decision (push.testPolicy). */
  policy: z.object({ satisfied: z.boolean(), passed: z.array(z.string()), unsatisfied: z.array(z.string()), skipped_by: z.string().optional() }).optional(),
  /** Whether Bodhi took the news, or why not. */
  bodhi: z.string().optional(),
});
export type PushCompleteMessage = z.infer<typeof PushCompleteMessageSchema>;

/** What every reminder of a run waiting for an operator says: the step, its failure, since when, how to answer. */
const operatorWaitingFields = {
  workflow_id: z.string().min(1),
  step: z.string().min(1),
  error: z.string(),
  since: z.string().min(1),
  reminders: z.number().int().positive(),
  decide: z.string().min(1),
};

/** `releng-o-tron.push.waiting`: a reminder that a push waits for an operator's decision. */
export const PushWaitingMessageSchema = z.object({
  push_id: z.string().min(1),
  release: z.string().min(1),
  request: z.enum(['testing', 'stable']),
  ...operatorWaitingFields,
});
export type PushWaitingMessage = z.infer<typeof PushWaitingMessageSchema>;

/** `releng-o-tron.release.branched`: a release branched from rawhide, and what was made for it. */
export const ReleaseBranchedMessageSchema = z.object({
  release: z.string().regex(/^F\d+$/),
  rawhide: z.string().regex(/^F\d+$/),
  workflow_id: z.string().min(1),
  koji: z.object({ tags: z.array(z.string()), targets: z.array(z.string()), snapshot: z.object({ src: z.string(), dst: z.string(), builds: z.number().int().nonnegative() }) }),
  bodhi: z.object({ edited: z.string(), created: z.string() }),
  /** The release's OSTree refs, made at rawhide's last commits. */
  ostree_refs: z.array(z.string()).optional(),
  skipped: z.array(z.string()),
});
export type ReleaseBranchedMessage = z.infer<typeof ReleaseBranchedMessageSchema>;

/** `releng-o-tron.release.eol`: a release at end of life, and what was done. */
export const ReleaseEolMessageSchema = z.object({
  release: z.string().regex(/^F\d+$/),
  workflow_id: z.string().min(1),
  koji: z.object({ deleted_targets: z.array(z.string()), locked_tags: z.array(z.string()) }),
  bodhi: z.literal('archived'),
  pdc: z.string().nullable(),
  archived_trees: z.array(z.object({ from: z.string(), to: z.string() })),
  ostree_refs: z.array(z.string()),
  skipped: z.array(z.string()),
});
export type ReleaseEolMessage = z.infer<typeof ReleaseEolMessageSchema>;

/** `releng-o-tron.release.waiting`: a reminder that a branch waits for an operator's decision. */
export const ReleaseWaitingMessageSchema = z.object({ release: z.string().min(1), ...operatorWaitingFields });

/** An image of a two-week release, where the stable directory has it, with its checksum (the old script's artifact info). */
const TwoWeekImageSchema = z.object({ arch: z.string(), type: z.string(), name: z.string(), path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() });

/** `releng-o-tron.twoweek.begin`: a stream's release of a compose has started. */
export const TwoWeekBeginMessageSchema = z.object({
  stream: z.string().min(1),
  compose_id: z.string().min(1),
  workflow_id: z.string().min(1),
  why: z.string(),
  images: z.array(TwoWeekImageSchema),
});
export type TwoWeekBeginMessage = z.infer<typeof TwoWeekBeginMessageSchema>;

/** `releng-o-tron.twoweek.complete`: the compose is the stream's stable image set. */
export const TwoWeekCompleteMessageSchema = TwoWeekBeginMessageSchema.extend({
  stable: z.string(),
  /** OSTree stable ref → commit. */
  commits: z.record(z.string(), z.string()),
  signed_by: z.string().nullable(),
});
export type TwoWeekCompleteMessage = z.infer<typeof TwoWeekCompleteMessageSchema>;

/** `releng-o-tron.twoweek.out_of_date`: the stream's released image set is stale, and why nothing fresher went out. */
export const TwoWeekOutOfDateMessageSchema = z.object({
  stream: z.string().min(1),
  workflow_id: z.string().min(1),
  reason: z.enum(['blocked', 'no-passing-compose', 'too-old']),
  detail: z.string(),
  released: z.string().nullable(),
});
export type TwoWeekOutOfDateMessage = z.infer<typeof TwoWeekOutOfDateMessageSchema>;

const PROJECT_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  [`${PROJECT_TOPIC}.twoweek.begin`]: TwoWeekBeginMessageSchema,
  [`${PROJECT_TOPIC}.twoweek.complete`]: TwoWeekCompleteMessageSchema,
  [`${PROJECT_TOPIC}.twoweek.out_of_date`]: TwoWeekOutOfDateMessageSchema,
  [`${PROJECT_TOPIC}.release.branched`]: ReleaseBranchedMessageSchema,
  [`${PROJECT_TOPIC}.release.waiting`]: ReleaseWaitingMessageSchema,
  [`${PROJECT_TOPIC}.release.eol`]: ReleaseEolMessageSchema,
  [`${PROJECT_TOPIC}.push.waiting`]: PushWaitingMessageSchema,
  [`${PROJECT_TOPIC}.push.complete`]: PushCompleteMessageSchema,
  [`${PROJECT_TOPIC}.gating.passed`]: GatingVerdictMessageSchema,
  [`${PROJECT_TOPIC}.gating.quarantined`]: GatingVerdictMessageSchema,
  // Compose test results keep Autocloud's topics and bodies for the consumers that read them.
  ...AUTOCLOUD_SCHEMAS,
};

/** Why a message may not be published, or an empty list when it may. */
export function outgoingMessageProblems(topic: string, body: unknown): string[] {
  if (parseCiTopic(topic)) return ciMessageProblems(topic, body);
  const schema = PROJECT_SCHEMAS[topic];
  if (!schema) return [`releng-o-tron does not publish ${topic}`];
  const parsed = schema.safeParse(body);
  return parsed.success ? [] : issueLines(parsed.error);
}
