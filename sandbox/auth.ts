/**
 * The sandbox's credentials, made once per directory with openssl and kept: a CA, the TLS
 * certificate its HTTPS listener presents, a client certificate per Koji user (the hub maps the
 * certificate's CN to the user, as Fedora's hub does), and a client secret per Bodhi OIDC client.
 * `releng-o-tron` is Fedora's releng account (admin in Koji, in the releng group for Bodhi);
 * `packager` may log in but holds no permission, for the refusals.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, join } from 'node:path';
import { sandboxCredentialFiles } from '../common/sandbox-credentials.js';

export const SANDBOX_USERS = {
  'releng-o-tron': { kojiPerms: ['admin'], bodhiGroups: ['releng', 'packager'] },
  packager: { kojiPerms: [], bodhiGroups: ['packager'] },
} as const;

export type SandboxUser = keyof typeof SANDBOX_USERS;

export interface ClientCertificate {
  readonly cert: string;
  readonly key: string;
}

export interface SandboxCredentials {
  readonly dir: string;
  /** PEM path of the CA that signed everything here. */
  readonly ca: string;
  /** The HTTPS listener's certificate and key (for 127.0.0.1, localhost and the address it listens on). */
  readonly server: ClientCertificate;
  /** Per user: the Koji client certificate and key paths. */
  readonly koji: Readonly<Record<SandboxUser, ClientCertificate>>;
  /** Per user: the Bodhi OIDC client's secret file (client ID = user name). */
  readonly bodhiSecretFiles: Readonly<Record<SandboxUser, string>>;
}

/**
 * The credentials under `dir`, made on first use (a few openssl calls) and reused after. `host` is
 * the address the sandbox listens on: its HTTPS certificate names it too, so that clients on other
 * hosts (test/cluster's network namespaces) can check it.
 */
export function sandboxCredentials(dir: string, host = '127.0.0.1'): SandboxCredentials {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  // Each file is written under a temporary name and renamed, so a crash never leaves half a credential.
  const once = (file: string, make: (tmp: string) => void) => {
    if (existsSync(path(file))) return;
    const tmp = `${file}.${process.pid}.tmp`;
    make(tmp);
    renameSync(path(tmp), path(file));
  };
  once('ca.key', (tmp) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', tmp));
  once('ca.crt', (tmp) => openssl('req', '-x509', '-key', 'ca.key', '-out', tmp, '-days', '3650', '-subj', '/O=releng-o-tron sandbox/CN=sandbox CA'));
  const issue = (name: string, subject: string, extensions: string[] = []) => {
    once(`${name}.key`, (tmp) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', tmp));
    once(`${name}.crt`, (tmp) => {
      openssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
      const ext = extensions.length ? ['-extfile', writeExt(name, extensions)] : [];
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', tmp, '-days', '3650', ...ext);
    });
    return { cert: path(`${name}.crt`), key: path(`${name}.key`) };
  };
  const writeExt = (name: string, lines: string[]) => {
    writeFileSync(path(`${name}.ext`), `${lines.join('\n')}\n`);
    return `${name}.ext`;
  };
  const files = sandboxCredentialFiles(dir);
  // The host becomes a file name, a certificate subject and an extension line: an address or a plain host name only.
  if (!isIP(host) && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(host)) throw new Error(`the sandbox's host must be an IP address or a host name: ${JSON.stringify(host)}`);
  // A wildcard address (0.0.0.0, ::) gets the loopback names only: a client elsewhere checks the name it dials, which is not known here.
  const elsewhere = !['127.0.0.1', 'localhost', '0.0.0.0', '::'].includes(host);
  const altNames = ['IP:127.0.0.1', 'DNS:localhost', ...(elsewhere ? [`${isIP(host) ? 'IP' : 'DNS'}:${host}`] : [])];
  const server = issue(elsewhere ? `server-${host}` : 'server', `/O=releng-o-tron sandbox/CN=${elsewhere ? host : '127.0.0.1'}`, [`subjectAltName=${altNames.join(',')}`, 'extendedKeyUsage=serverAuth']);
  const users = Object.keys(SANDBOX_USERS) as SandboxUser[];
  const koji = Object.fromEntries(users.map((user) => [user, issue(basename(files.koji(user).cert, '.crt'), `/O=Fedora Project/OU=Koji/CN=${user}`, ['extendedKeyUsage=clientAuth'])])) as Record<SandboxUser, ClientCertificate>;
  const bodhiSecretFiles = Object.fromEntries(
    users.map((user) => {
      const secret = files.bodhiSecret(user);
      once(basename(secret), (tmp) => writeFileSync(path(tmp), `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 }));
      return [user, secret];
    }),
  ) as Record<SandboxUser, string>;
  return { dir, ca: files.ca, server, koji, bodhiSecretFiles };
}

/** The environment that logs a releng-o-tron process in to a sandbox as `user` (for processes whose URLs are not the default sandbox's). */
export function sandboxLoginEnv(credentials: SandboxCredentials, urls: { readonly kojiLogin: string; readonly oidcToken: string }, user: SandboxUser = 'releng-o-tron'): Record<string, string> {
  return {
    KOJI_CLIENT_CERT: credentials.koji[user].cert,
    KOJI_CLIENT_KEY: credentials.koji[user].key,
    KOJI_SERVER_CA: credentials.ca,
    KOJI_LOGIN_URL: urls.kojiLogin,
    BODHI_OIDC_TOKEN_URL: urls.oidcToken,
    BODHI_OIDC_CLIENT_ID: user,
    BODHI_OIDC_CLIENT_SECRET_FILE: credentials.bodhiSecretFiles[user],
  };
}
