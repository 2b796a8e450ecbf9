/**
 * The routing table from config, made executable: a message's topic (after `<prefix>.<env>.`)
 * finds its routes, its body is checked against the topic's schema, and the first route whose
 * predicate holds decides what happens (bus/handlers.ts).
 */
import type { z } from 'zod';
import { pushSettings } from '../client/start.js';
import type { Config } from '../common/config.js';
import { routeMatches, type Route } from '../common/routing.js';
import { topicSuffix, type FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { issueLines } from '../common/schemas/issues.js';
import { HANDLERS, type Decision, type HandlerContext } from './handlers.js';
import { bodySchemaFor } from './topics.js';

export type { Decision } from './handlers.js';

export class InvalidBodyError extends Error {
  override name = 'InvalidBodyError';
}

export class RoutingTableError extends Error {
  override name = 'RoutingTableError';
}

export class Router {
  /** Per routed topic: its body schema, looked up once, and its routes in table order. */
  private readonly byTopic = new Map<string, { readonly schema: z.ZodType; readonly routes: Route[] }>();

  /** Throws RoutingTableError when a route names a topic without a schema or a handler that cannot read it. */
  constructor(
    routes: readonly Route[],
    private readonly context: HandlerContext,
  ) {
    routes.forEach((route, index) => {
      const schema = bodySchemaFor(route.topic);
      if (!schema) throw new RoutingTableError(`bus.routes[${index}]: no body schema is known for topic ${route.topic}`);
      if (!HANDLERS[route.handler].accepts(route.topic)) {
        throw new RoutingTableError(`bus.routes[${index}]: handler ${route.handler} does not read ${route.topic} messages`);
      }
      const entry = this.byTopic.get(route.topic) ?? { schema, routes: [] };
      entry.routes.push(route);
      this.byTopic.set(route.topic, entry);
    });
  }

  /** True when some route listens to this full topic: only such messages are verified and stored. */
  handles(topic: string): boolean {
    return this.byTopic.has(topicSuffix(topic));
  }

  /** Topics (after `<prefix>.<env>.`) that some route listens to; backfill asks datagrepper for these. */
  get topics(): readonly string[] {
    return [...this.byTopic.keys()];
  }

  /** Full topics worth backfilling: every configured prefix times every routed topic. */
  backfillTopics(prefixes: readonly string[]): string[] {
    return prefixes.flatMap((prefix) => this.topics.map((topic) => `${prefix}.${topic}`));
  }

  /**
   * What a message leads to; null when its topic is routed but no predicate holds.
   * Throws InvalidBodyError when the body does not fit its topic's schema.
   */
  decide(envelope: FedmsgEnvelope): Decision | null {
    const topic = topicSuffix(envelope.topic);
    const entry = this.byTopic.get(topic);
    if (!entry) return null;
    const parsed = entry.schema.safeParse(envelope.msg);
    if (!parsed.success) throw new InvalidBodyError(`${topic} body: ${issueLines(parsed.error).join('; ')}`);
    const route = entry.routes.find((r) => routeMatches(r, parsed.data));
    return route ? HANDLERS[route.handler].decide(parsed.data, envelope, topic, this.context) : null;
  }
}

/** The router a process builds from its configuration. */
export function routerFromConfig(config: Pick<Config, 'bus' | 'gating' | 'push'>): Router {
  return new Router(config.bus.routes, { lanes: config.gating.lanes, push: pushSettings(config) });
}
