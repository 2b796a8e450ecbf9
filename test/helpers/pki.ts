import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
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

