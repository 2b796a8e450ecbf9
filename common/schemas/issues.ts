/** zod's complaints as the one-line reasons dead letters, refusals and config errors show. */
import type { z } from 'zod';

/** `path.to.field: message` per issue; `root` names the whole value when the path is empty. */
export function issueLines(error: z.ZodError, root = '(body)'): string[] {
  return error.issues.map((issue) => `${issue.path.map(String).join('.') || root}: ${issue.message}`);
}
