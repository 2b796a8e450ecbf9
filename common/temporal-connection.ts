/**
 * How every releng-o-tron process reaches the Temporal frontend: the address, and mTLS when
 * `temporal.tls` is set (deploy/temporal shows the server's side). Workers, the listener and the
 * CLI all connect through here, so a TLS setting is never forgotten by one of them.
 */
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from './config.js';

export interface TemporalConnectionOptions {
  readonly address: string;
  readonly tls?: TLSConfig;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read the Temporal TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function temporalConnectionOptions(config: Pick<Config, 'temporal'>): TemporalConnectionOptions {
  const { address, tls } = config.temporal;
  if (!tls) return { address };
  return {
    address,
    tls: {
      serverRootCACertificate: readPem(tls.ca, 'CA certificate (TEMPORAL_TLS_CA_PATH)'),
      ...(tls.cert && tls.key ? { clientCertPair: { crt: readPem(tls.cert, 'client certificate (TEMPORAL_TLS_CERT_PATH)'), key: readPem(tls.key, 'client key (TEMPORAL_TLS_KEY_PATH)') } } : {}),
      ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    },
  };
}
