/**
 * The shape of the routing table the bus listener follows, and its default. The table lives in
 * config (bus.routes) so that operators change what starts work without a release; what each
 * handler does is code (bus/handlers.ts). First match wins.
 */
import { z } from 'zod';

/** What a matching message does; each name is implemented in bus/handlers.ts. */
export const ROUTE_HANDLERS = [
  /** start `compose-test/<compose_id>`: read the metadata, test the cloud images */
  'test-compose',
  /** start `compose-discovery/<compose_id>`: read and record the metadata only */
  'discover-compose',
  /** record a compose status that starts nothing */
  'record-compose-status',
  /** signal-with-start `gate/<gate tag>/<nvr>` when a build enters a lane's gate tag */
  'gate-build',
  /** a CI result for a build: signal-with-start its gate */
  'gate-ci-result',
  /** a Greenwave decision on a build: signal-with-start its gate */
  'gate-greenwave-decision',
  /** start `bodhi-push/<time>` for a `bodhi.composer.start`: a push per release and request */
  'push',
  /** validated and kept in the inbox; starts nothing (yet) */
  'note',
] as const;
export type RouteHandlerName = (typeof ROUTE_HANDLERS)[number];

const scalar = z.union([z.string(), z.number(), z.boolean()]);

export const RouteSchema = z.strictObject({
  /** Topic after `<prefix>.<env>.`, exactly. */
  topic: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected a topic such as pungi.compose.status.change'),
  /** Dotted path into the message body → the values that match; all must hold. Empty: always. */
  when: z.record(z.string().min(1), z.array(scalar).min(1)).default({}),
  handler: z.enum(ROUTE_HANDLERS),
});
export type Route = z.infer<typeof RouteSchema>;

export const DEFAULT_ROUTES: readonly z.input<typeof RouteSchema>[] = [
  { topic: 'pungi.compose.status.change', when: { status: ['FINISHED', 'FINISHED_INCOMPLETE'] }, handler: 'test-compose' },
  { topic: 'pungi.compose.status.change', handler: 'record-compose-status' },
  { topic: 'buildsys.tag', handler: 'gate-build' },
  { topic: 'ci.koji-build.test.complete', handler: 'gate-ci-result' },
  { topic: 'ci.koji-build.test.error', handler: 'gate-ci-result' },
  { topic: 'greenwave.decision.update', when: { subject_type: ['koji_build'] }, handler: 'gate-greenwave-decision' },
  { topic: 'resultsdb.result.new', handler: 'note' },
  { topic: 'bodhi.composer.start', handler: 'push' },
  { topic: 'bodhi.compose.start', handler: 'note' },
  { topic: 'bodhi.compose.complete', handler: 'note' },
  { topic: 'bodhi.update.request.stable', handler: 'note' },
  { topic: 'bodhi.update.request.testing', handler: 'note' },
];

/**
 * The default table for a deployment without image-test hosts: finished composes are read and
 * recorded, not tested. The bus tests and the benchmark use it too: they measure delivery.
 */
export const DISCOVERY_ONLY_ROUTES: readonly z.input<typeof RouteSchema>[] = DEFAULT_ROUTES.map((route) =>
  route.handler === 'test-compose' ? { ...route, handler: 'discover-compose' } : route,
);

/** A dotted path's value in a body, or undefined. */
export function valueAt(body: unknown, path: string): unknown {
  let node: unknown = body;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

export function routeMatches(route: Route, body: unknown): boolean {
  return Object.entries(route.when).every(([path, allowed]) => {
    const value = valueAt(body, path);
    return allowed.some((a) => a === value);
  });
}
