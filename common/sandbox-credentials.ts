/**
 * Where the sandbox keeps the credentials it makes (sandbox/auth.ts writes them; the default
 * development configuration points Koji's and Bodhi's logins here). Production names its own.
 */
import { join } from 'node:path';

/** The sandbox's credentials directory under a data directory. */
export const sandboxCredentialsDir = (dataDir: string): string => join(dataDir, 'sandbox', 'auth');

export interface SandboxCredentialFiles {
  readonly ca: string;
  readonly server: { readonly cert: string; readonly key: string };
  koji(user: string): { readonly cert: string; readonly key: string };
  bodhiSecret(user: string): string;
}

export function sandboxCredentialFiles(dir: string): SandboxCredentialFiles {
  return {
    ca: join(dir, 'ca.crt'),
    server: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') },
    koji: (user) => ({ cert: join(dir, `koji-${user}.crt`), key: join(dir, `koji-${user}.key`) }),
    bodhiSecret: (user) => join(dir, `bodhi-${user}.secret`),
  };
}

/** The account releng-o-tron's workers use in the sandbox (admin in Koji, releng in Bodhi). */
export const SANDBOX_RELENG_USER = 'releng-o-tron';
