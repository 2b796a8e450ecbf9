/**
 * Per-ref pruning policies, as fedora-ostree-pruner keeps them: an ordered list of rules, each a
 * ref pattern and what to keep of the refs it matches; the first rule that matches a ref decides.
 * A ref no rule matches is an error (the pruner refuses to run), never "keep everything" by
 * accident or "delete" by default.
 *
 * A pattern is an exact ref (`fedora/29/x86_64/iot`), a glob (`*` within one path segment, `**`
 * across segments, `?` one character) or a regular expression between slashes that must match the
 * whole ref (`/fedora/2[0-9]/.+/`). No ref contains `*` or `?` or starts with `/`, so the three
 * never overlap. Pure: the config, the CLI, activities and workflows (types) read it.
 */
import { z } from 'zod';
import { ostreeRefProblem } from './safe-names.js';

const GLOB_CHARS = /[*?]/;

/** Why a pattern can match nothing sensible, or null. */
export function refPatternProblem(pattern: string): string | null {
  if (pattern.length > 255) return 'a ref pattern has at most 255 characters';
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    try {
      new RegExp(pattern.slice(1, -1));
      return null;
    } catch (err) {
      return `not a regular expression: ${(err as Error).message}`;
    }
  }
  // A glob is a ref whose segments may hold wildcards: check it as a ref with the wildcards made letters.
  const asRef = GLOB_CHARS.test(pattern) ? pattern.replace(/\*\*|\*|\?/g, 'x') : pattern;
  const problem = ostreeRefProblem(asRef);
  return problem ? `${problem} (nor a glob of one, nor /a regular expression/)` : null;
}

const refPattern = z.string().min(1).superRefine((pattern, ctx) => {
  const problem = refPatternProblem(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Fedora's four kinds of policy (fedora-ostree-pruner: `keep all`, `time:N`, `depth:N`, delete). */
export const PruneRuleSchema = z.discriminatedUnion('policy', [
  /** Every commit stays (a stable release's main and updates refs). */
  z.strictObject({ match: refPattern, policy: z.literal('keep-all') }),
  /** Commits younger than `days` stay, and always the ref's last (`ostree prune --keep-younger-than`). */
  z.strictObject({ match: refPattern, policy: z.literal('keep-days'), days: z.number().int().min(1).max(36_500) }),
  /** The last commit and `depth` parents stay (`ostree prune --depth`; 0: the last commit only, as at end of life). */
  z.strictObject({ match: refPattern, policy: z.literal('keep-depth'), depth: z.number().int().min(0).max(100_000) }),
  /** The ref goes, and whatever only it held (an end-of-life release's testing refs). */
  z.strictObject({ match: refPattern, policy: z.literal('delete') }),
]);

export type PruneRule = z.infer<typeof PruneRuleSchema>;
export type PrunePolicy = PruneRule['policy'];

/** A matcher for one pattern (see the module comment for the three forms). */
export function refMatcher(pattern: string): (ref: string) => boolean {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    const regex = new RegExp(`^(?:${pattern.slice(1, -1)})$`);
    return (ref) => regex.test(ref);
  }
  if (!GLOB_CHARS.test(pattern)) return (ref) => ref === pattern;
  const source = pattern
    .split(/(\*\*|\*|\?)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const regex = new RegExp(`^${source}$`);
  return (ref) => regex.test(ref);
}

/** The first rule matching `ref` and its place in the list (the report names the rule), or null. */
export function ruleFor(ref: string, rules: readonly PruneRule[]): { readonly index: number; readonly rule: PruneRule } | null {
  const index = rules.findIndex((rule) => refMatcher(rule.match)(ref));
  return index < 0 ? null : { index, rule: rules[index]! };
}

/** A rule in words: `keep-days 90`, `keep-depth 0`, `keep-all`, `delete`. */
export function describeRule(rule: PruneRule): string {
  switch (rule.policy) {
    case 'keep-days':
      return `keep-days ${rule.days}`;
    case 'keep-depth':
      return `keep-depth ${rule.depth}`;
    default:
      return rule.policy;
  }
}
