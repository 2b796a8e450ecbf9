/**
 * The listener's settings from the configuration, in one place: the live listener, `bus replay`
 * and `bus retry` check messages exactly alike (signatures included), so a message refused live
 * is refused when re-driven too.
 */
import { readFileSync } from 'node:fs';
import type { Config, GatingLane } from '../common/config.js';
import { durationToMs } from '../common/duration.js';
import type { VerifyOptions } from '../common/fedmsg-crypto.js';
import type { DispatchOptions } from './listener.js';
import { routerFromConfig, type Router } from './router.js';

export interface ListenerSettings {
  readonly router: Router;
  readonly maxMessageBytes: number;
  readonly verify: VerifyOptions | null;
  readonly dispatch: DispatchOptions;
  readonly maxAgeMs: number | undefined;
}

/** `lanes`: where the gating lanes come from (the live listener's follow the release lifecycle); the config file's by default. */
export function listenerSettings(config: Config, lanes?: { readonly lanes: readonly GatingLane[] }): ListenerSettings {
  return {
    router: routerFromConfig(config, lanes),
    maxMessageBytes: config.bus.maxMessageBytes,
    verify: config.bus.verifySignatures
      ? { caCertificates: config.bus.caCertificates.map((file) => readFileSync(file, 'utf8')), routingPolicy: config.bus.routingPolicy }
      : null,
    // A message older than the inbox remembers could be a replay nobody can detect any more.
    maxAgeMs: config.bus.maxMessageAge === 'off' ? undefined : durationToMs(config.bus.maxMessageAge),
    dispatch: {
      concurrency: config.bus.dispatchConcurrency,
      maxAttempts: config.bus.maxStartAttempts,
      retryFirstMs: durationToMs(config.bus.startRetryFirst),
      retryLongestMs: durationToMs(config.bus.startRetryLongest),
    },
  };
}
