/**
 * Signing with gpg under a configured key, as Fedora's release scripts do with sigul: CHECKSUM
 * files clearsigned in place (left alone when already signed) and OSTree commits signed with
 * `ostree gpg-sign`. Every signature is verified after it is made. The passphrase is read from a
 * file and handed to gpg on a pipe: it never appears in an argument list, a log line, an
 * activity input or the workflow history.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';

const run = promisify(execFile);

export interface SigningKey {
  /** GNUPGHOME holding the secret key; dedicated to releng-o-tron (its agent config is managed here). */
  readonly homedir: string;
  /** Key ID or fingerprint. */
  readonly keyId: string;
  /** A file with the passphrase; unset for a key without one. */
  readonly passphraseFile?: string;
}

export class SigningError extends Error {
  override name = 'SigningError';
}

const CLEARSIGNED = '-----BEGIN PGP SIGNED MESSAGE-----';

/** Runs a command with `input` on stdin; rejects with its stderr. */
function withStdin(command: string, args: readonly string[], input: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new SigningError(`${command} failed: ${stderr.trim().split('\n').slice(-3).join(' ')}`))));
    child.stdin.end(input);
  });
}

async function passphraseOf(key: SigningKey): Promise<string> {
  if (!key.passphraseFile) return '';
  return (await readFile(key.passphraseFile, 'utf8')).replace(/\r?\n$/, '');
}

const gpgArgs = (key: SigningKey) => ['--homedir', key.homedir, '--batch', '--no-tty'];

/** Clearsigns a CHECKSUM file in place; a file that is already clearsigned is only verified. */
export async function clearsignFile(key: SigningKey, file: string): Promise<{ signedNow: boolean }> {
  const text = await readFile(file, 'utf8');
  if (!text.startsWith(CLEARSIGNED)) {
    const passphrase = await passphraseOf(key);
    const signed = await withStdin(
      'gpg',
      [...gpgArgs(key), '--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--local-user', key.keyId, '--digest-algo', 'SHA256', '--clearsign', '--output', '-', file],
      `${passphrase}\n`,
    );
    // Written beside and renamed: a reader never sees half a file.
    await writeFile(`${file}.signing`, signed);
    await rename(`${file}.signing`, file);
  }
  await verifyClearsigned(key, file);
  return { signedNow: !text.startsWith(CLEARSIGNED) };
}

/**
 * Writes `<file>.asc`, an armored detached signature (a repository's `repomd.xml.asc`, which Bodhi
 * waits for before it syncs), and verifies it. A good existing signature is kept.
 */
export async function detachSignFile(key: SigningKey, file: string): Promise<{ signedNow: boolean }> {
  const asc = `${file}.asc`;
  if (existsSync(asc) && (await verifyDetached(key, file).then(() => true, () => false))) return { signedNow: false };
  const passphrase = await passphraseOf(key);
  const signature = await withStdin(
    'gpg',
    [...gpgArgs(key), '--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--local-user', key.keyId, '--digest-algo', 'SHA256', '--armor', '--detach-sign', '--output', '-', file],
    `${passphrase}\n`,
  );
  await writeFile(`${asc}.signing`, signature);
  await rename(`${asc}.signing`, asc);
  await verifyDetached(key, file);
  return { signedNow: true };
}

async function verifyDetached(key: SigningKey, file: string): Promise<void> {
  await verifyClearsigned(key, `${file}.asc`, file);
}

/** Throws unless the file (or `signed`, for a detached signature) carries a good signature by the key. */
export async function verifyClearsigned(key: SigningKey, file: string, signed?: string): Promise<void> {
  const { stderr } = await run('gpg', [...gpgArgs(key), '--status-fd', '2', '--verify', file, ...(signed ? [signed] : [])]).catch((err: { stderr?: string }) => {
    throw new SigningError(`${file}: the signature does not verify: ${(err.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`);
  });
  await requireSigner(key, stderr, file);
}

async function fingerprintOf(key: SigningKey): Promise<string> {
  const { stdout } = await run('gpg', [...gpgArgs(key), '--with-colons', '--fingerprint', key.keyId]);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(stdout)?.[1];
  if (!fpr) throw new SigningError(`no key ${key.keyId} in ${key.homedir}`);
  return fpr;
}

async function requireSigner(key: SigningKey, status: string, what: string): Promise<void> {
  const fpr = await fingerprintOf(key);
  const valid = /^\[GNUPG:\] VALIDSIG ([0-9A-F]{40})/m.exec(status)?.[1];
  if (valid !== fpr) throw new SigningError(`${what}: not signed by ${key.keyId} (${valid ? `signed by ${valid}` : 'no valid signature'})`);
}

/**
 * Lets gpg-agent use the passphrase for `ostree gpg-sign`, which cannot pass one itself:
 * `allow-preset-passphrase` in the dedicated homedir, and the passphrase preset on a pipe.
 */
export async function presetPassphrase(key: SigningKey): Promise<void> {
  if (!key.passphraseFile) return;
  const conf = join(key.homedir, 'gpg-agent.conf');
  const current = existsSync(conf) ? await readFile(conf, 'utf8') : '';
  if (!/^allow-preset-passphrase$/m.test(current)) {
    await writeFile(conf, `${current}${current && !current.endsWith('\n') ? '\n' : ''}allow-preset-passphrase\n`);
    await run('gpgconf', ['--homedir', key.homedir, '--reload', 'gpg-agent']);
  }
  const { stdout } = await run('gpg', [...gpgArgs(key), '--with-colons', '--with-keygrip', '--list-secret-keys', key.keyId]);
  const grips = [...stdout.matchAll(/^grp:+([0-9A-F]{40}):/gm)].map((m) => m[1]!);
  if (grips.length === 0) throw new SigningError(`no secret key ${key.keyId} in ${key.homedir}`);
  const passphrase = await passphraseOf(key);
  for (const grip of grips) {
    await withStdin('/usr/lib/gnupg/gpg-preset-passphrase', ['--preset', grip], `${passphrase}\n`, { ...process.env, GNUPGHOME: key.homedir });
  }
}

/** Signs an OSTree commit (once) and verifies the signature. */
export async function signOstreeCommit(key: SigningKey, repo: string, commit: string): Promise<{ signedNow: boolean }> {
  const already = await ostreeSignatureStatus(key, repo, commit);
  if (!already.signed) {
    await presetPassphrase(key);
    try {
      await run('ostree', ['gpg-sign', `--repo=${repo}`, `--gpg-homedir=${key.homedir}`, commit, key.keyId]);
    } catch (err) {
      throw new SigningError(`ostree gpg-sign ${commit}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
    }
  }
  const after = await ostreeSignatureStatus(key, repo, commit);
  if (!after.good) throw new SigningError(`OSTree commit ${commit} in ${repo}: no good signature by ${key.keyId} after signing`);
  return { signedNow: !already.signed };
}

/**
 * Whether a commit has signatures, and a good one by the key. ostree verifies against keyrings in
 * the old file format only, so the key's public part is exported to a throwaway trustedkeys.gpg.
 */
export async function ostreeSignatureStatus(key: SigningKey, repo: string, commit: string): Promise<{ signed: boolean; good: boolean }> {
  const fpr = await fingerprintOf(key);
  const keyring = await mkdtemp(join(tmpdir(), 'relengotron-verify-'));
  try {
    const { stdout: exported } = await run('gpg', [...gpgArgs(key), '--export', fpr], { encoding: 'buffer' });
    await writeFile(join(keyring, 'trustedkeys.gpg'), exported);
    const { stdout } = await run('ostree', ['show', `--repo=${repo}`, `--gpg-homedir=${keyring}`, commit]);
    const blocks = stdout.split(/\n(?=\s*Signature made )/).slice(1);
    const good = blocks.some((block) => block.includes(`key ID ${fpr.slice(-16)}`) && /Good signature from/.test(block));
    return { signed: /^Found \d+ signatures?:/m.test(stdout), good };
  } finally {
    await rm(keyring, { recursive: true, force: true });
  }
}

export interface SigningActivities {
  /** Clearsigns a CHECKSUM file in place (once) and verifies the signature and signer. */
  signChecksumFile(input: { readonly file: string }): Promise<{ readonly signedNow: boolean; readonly keyId: string }>;
  /** Signs a repository's repomd.xml (detached, `repomd.xml.asc`) and verifies it. */
  signRepoMetadata(input: { readonly file: string }): Promise<{ readonly signedNow: boolean; readonly keyId: string }>;
  /** Signs (once) and verifies an OSTree commit with the configured key. */
  signOstreeCommit(input: { readonly repo: string; readonly commit: string }): Promise<{ readonly signedNow: boolean; readonly keyId: string }>;
}

export const SIGNING_NOT_CONFIGURED = 'SigningNotConfigured';

/** The key is the worker's configuration: only paths and the key ID exist here, never the passphrase. */
export function createSigningActivities(deps: { readonly key: SigningKey | undefined }): SigningActivities {
  const configuredKey = (): SigningKey => {
    if (!deps.key) throw ApplicationFailure.nonRetryable('no signing key is configured (push.signing / RELENGOTRON_SIGNING_*)', SIGNING_NOT_CONFIGURED);
    return deps.key;
  };
  return {
    async signChecksumFile(input) {
      const key = configuredKey();
      const result = await clearsignFile(key, input.file);
      await verifyClearsigned(key, input.file);
      return { ...result, keyId: key.keyId };
    },
    async signRepoMetadata(input) {
      const key = configuredKey();
      return { ...(await detachSignFile(key, input.file)), keyId: key.keyId };
    },
    async signOstreeCommit(input) {
      const key = configuredKey();
      const result = await signOstreeCommit(key, input.repo, input.commit);
      return { ...result, keyId: key.keyId };
    },
  };
}
