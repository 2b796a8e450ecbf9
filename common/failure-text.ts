/** The innermost message of a failure: what went wrong, not which layer (workflow, child, activity) reported it. Bundle-safe. */
export function failureText(err: unknown): string {
  let node: unknown = err;
  while (node instanceof Error && node.cause instanceof Error) node = node.cause;
  return node instanceof Error ? node.message : String(err);
}
