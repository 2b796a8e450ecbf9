/**
 * The routing table from config, made executable: a message's topic (after `<prefix>.<env>.`)
 * finds its routes, its body is checked against the topic's schema, and the first route whose
 * predicate holds decides what happens (bus/handlers.ts).
 */
import type { z } from 'zod';
import { pushSettings } from '../client/start.js';
import type { Config, GatingLane } from '../common/config.js';
import { routeMatches, type Route } from '../common/routing.js';
import { acceptedTopic, type FedmsgEnvelope } from '../common/schemas/fedmsg.js';
import { issueLines } from '../common/schemas/issues.js';
import { HANDLERS, InvalidBodyError, type Decision, type HandlerContext } from './handlers.js';
import { bodySchemaFor } from './topics.js';

export type { Decision } from './handlers.js';

export { InvalidBodyError } from './handlers.js';

export class RoutingTableError extends Error {
  override name = 'RoutingTableError';
}

export class Router {
  /** Per routed topic: its body schema, looked up once, and its routes in table order. */
  private readonly byTopic = new Map<string, { readonly schema: z.ZodType; readonly routes: Route[] }>();

  /**
   * Throws RoutingTableError when a route names a topic without a schema or a handler that cannot
   * read it. `acceptPrefixes`: the `<prefix>.<environment>` a topic must start with to be ours.
   */
  constructor(
    routes: readonly Route[],
    private readonly context: HandlerContext,
    readonly acceptPrefixes: readonly string[] = ['org.fedoraproject.prod', 'org.centos.prod'],
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

  /** The topic after an accepted prefix, or null when it is under none (not ours, whatever it says). */
  accepted(topic: string): string | null {
    return acceptedTopic(topic, this.acceptPrefixes);
  }

  /** True when some route listens to this topic (after its prefix): only such messages are verified and stored. */
  handles(suffix: string): boolean {
    return this.byTopic.has(suffix);
  }

  /** ZeroMQ subscriptions: everything under the accepted prefixes, nothing else reaches the listener. */
  get subscriptions(): readonly string[] {
    return this.acceptPrefixes.map((prefix) => `${prefix}.`);
  }

  /** Topics (after `<prefix>.<env>.`) that some route listens to; backfill asks datagrepper for these. */
  get topics(): readonly string[] {
    return [...this.byTopic.keys()];
  }

  /** Full topics worth backfilling: every accepted prefix times every routed topic. */
  backfillTopics(): string[] {
    return this.acceptPrefixes.flatMap((prefix) => this.topics.map((topic) => `${prefix}.${topic}`));
  }

  /**
   * What a message leads to; null when its topic is not ours or no predicate holds. Throws
   * InvalidBodyError when the body does not fit its topic's schema or its handler refuses it; a
   * handler that throws anything else is reported the same way, since it can only be this
   * message that made it throw (handlers do no I/O).
   */
  decide(envelope: FedmsgEnvelope): Decision | null {
    const topic = this.accepted(envelope.topic);
    const entry = topic === null ? undefined : this.byTopic.get(topic);
    if (!entry || topic === null) return null;
    const parsed = entry.schema.safeParse(envelope.msg);
    if (!parsed.success) throw new InvalidBodyError(`${topic} body: ${issueLines(parsed.error).join('; ')}`);
    const route = entry.routes.find((r) => routeMatches(r, parsed.data));
    if (!route) return null;
    try {
      return HANDLERS[route.handler].decide(parsed.data, envelope, topic, this.context);
    } catch (err) {
      if (err instanceof InvalidBodyError) throw err;
      throw new InvalidBodyError(`handler ${route.handler} cannot act on this ${topic} message: ${(err as Error).message}`);
    }
  }
}

/** The router a process builds from its configuration. */
export function routerFromConfig(config: Pick<Config, 'bus' | 'gating' | 'push' | 'services'>, lanes: { readonly lanes: readonly GatingLane[] } = config.gating): Router {
  const composeBases = [config.services.composes, ...config.bus.acceptComposeLocations];
  // Read at each message: the lanes may follow the release lifecycle (common/release-config.ts LiveLanes).
  const context = { get lanes() { return lanes.lanes; }, push: pushSettings(config), composeBases };
  return new Router(config.bus.routes, context, config.bus.acceptPrefixes);
}
