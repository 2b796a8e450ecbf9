/**
 * Reaching the fedora-messaging broker: settings from the configuration (TLS material read from
 * the files it names) and one connection per role. The URL's password is never logged.
 */
import { readFileSync } from 'node:fs';
import { connect, type ChannelModel } from 'amqplib';
import type { Config } from '../common/config.js';
import { durationToMs } from '../common/duration.js';

export interface AmqpSettings {
  readonly url: string;
  readonly exchange: string;
  readonly queue: string;
  readonly prefetch: number;
  readonly deadLetterExchange: string | null;
  readonly heartbeatSeconds: number;
  readonly reconnectFirstMs: number;
  readonly reconnectLongestMs: number;
  readonly confirmTimeoutMs: number;
  /** PEM contents, read once at start (a missing file stops the process naming it). */
  readonly tls: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer } | null;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`bus.amqp.tls.${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function amqpSettings(config: Pick<Config, 'bus'>): AmqpSettings {
  const amqp = config.bus.amqp;
  return {
    url: amqp.url,
    exchange: amqp.exchange,
    queue: amqp.queue,
    prefetch: amqp.prefetch,
    deadLetterExchange: amqp.deadLetterExchange ?? null,
    heartbeatSeconds: Math.max(1, Math.round(durationToMs(amqp.heartbeat) / 1000)),
    reconnectFirstMs: durationToMs(amqp.reconnectFirst),
    reconnectLongestMs: durationToMs(amqp.reconnectLongest),
    confirmTimeoutMs: durationToMs(amqp.confirmTimeout),
    tls: amqp.tls
      ? {
          ...(amqp.tls.ca ? { ca: readPem(amqp.tls.ca, 'ca') } : {}),
          ...(amqp.tls.certificate ? { cert: readPem(amqp.tls.certificate, 'certificate') } : {}),
          ...(amqp.tls.key ? { key: readPem(amqp.tls.key, 'key') } : {}),
        }
      : null,
  };
}

/** The URL as it may be shown: the password replaced (parsed as the connection parses it, so an @ in the password cannot leak part of it). */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${parsed.username}${parsed.password ? ':***' : ''}@` : '';
    return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`;
  } catch {
    return '(an AMQP URL that does not parse)';
  }
}

/** Opens a connection; `role` names it in the broker's connection list (rabbitmqctl list_connections client_properties). */
export async function connectAmqp(settings: AmqpSettings, role: string): Promise<ChannelModel> {
  const url = new URL(settings.url);
  const vhost = url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : '/';
  return connect(
    {
      protocol: url.protocol.replace(/:$/, ''),
      hostname: url.hostname,
      port: url.port ? Number(url.port) : url.protocol === 'amqps:' ? 5671 : 5672,
      // No user in the URL: the AMQP default, guest/guest (as amqplib and pika assume).
      username: url.username ? decodeURIComponent(url.username) : 'guest',
      password: url.username ? decodeURIComponent(url.password) : 'guest',
      vhost,
      heartbeat: settings.heartbeatSeconds,
    },
    {
      ...(settings.tls ?? {}),
      // Only for amqps: rejectUnauthorized stays Node's default (on), so the broker's certificate is checked.
      timeout: 10_000,
      clientProperties: { connection_name: `releng-o-tron ${role}` },
    },
  );
}
