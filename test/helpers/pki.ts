import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Signer } from '../../common/fedmsg-crypto.js';

export interface TestPki {
  readonly ca: string;
  readonly signer: Signer;
  readonly other: Signer;
  readonly stranger: Signer;
}

/** A throwaway CA and two signers issued by it, made with openssl. */
export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'relengotron-pki-'));
  const sh = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/O=Test/OU=fedmsg/CN=fedmsg');
  sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rogue-ca.key', '-out', 'rogue-ca.crt', '-days', '3650', '-subj', '/CN=fedmsg');
  const issue = (name: string, ca: string) => {
    sh('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Test/OU=fedmsg/CN=${name}`);
    sh('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '365');
    return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), certificate: readFileSync(join(dir, `${name}.crt`), 'utf8') };
  };
  return {
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    signer: issue('releng-rawhide-composer.example.org', 'ca'),
    other: issue('bodhi-backend.example.org', 'ca'),
    stranger: issue('releng-rawhide-composer.example.org-rogue', 'rogue-ca'),
  };
}


export interface TlsPki {
  readonly dir: string;
  readonly ca: string;
  readonly server: { readonly cert: string; readonly key: string };
  readonly client: { readonly cert: string; readonly key: string };
  /** A client certificate from another CA. */
  readonly stranger: { readonly cert: string; readonly key: string };
  /** More server certificates from the same CA, by name (`alsoServing`); each serves and is a client too. */
  readonly servers: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
}

/**
 * A CA, a server's certificate (for `serverName` and 127.0.0.1), a client's, and a stranger's from
 * another CA; `alsoServing` adds server certificates for more names (a cluster's internode name).
 */
export function makeTlsPki(serverName = 'temporal.releng.test', alsoServing: readonly string[] = []): TlsPki {
  const dir = mkdtempSync(join(tmpdir(), 'relengotron-tls-'));
  const sh = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=releng-o-tron test CA');
  sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rogue-ca.key', '-out', 'rogue-ca.pem', '-days', '30', '-subj', '/CN=rogue CA');
  const issue = (name: string, ca: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    sh('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    sh('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '30', '-extfile', `${name}.ext`);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    server: issue(serverName, 'ca', `subjectAltName=DNS:${serverName},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`),
    client: issue('releng-worker', 'ca', 'extendedKeyUsage=clientAuth\n'),
    stranger: issue('stranger', 'rogue-ca', 'extendedKeyUsage=clientAuth\n'),
    servers: Object.fromEntries(alsoServing.map((name) => [name, issue(name, 'ca', `subjectAltName=DNS:${name},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`)])),
  };
}
