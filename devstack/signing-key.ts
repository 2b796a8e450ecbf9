/**
 * A throwaway gpg signing key, made with the real gpg and protected by a passphrase in a file:
 * the demo's key and each test run's. Production keys are made and kept by people, not by this.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SigningKey } from '../activities/signing.js';

export interface MadeSigningKey extends SigningKey {
  readonly fingerprint: string;
}

export function makeSigningKey(options: { homedir: string; passphraseFile: string; passphrase: string; name: string; expires: string }): MadeSigningKey {
  rmSync(options.homedir, { recursive: true, force: true });
  mkdirSync(options.homedir, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(options.passphraseFile), { recursive: true, mode: 0o700 });
  writeFileSync(options.passphraseFile, `${options.passphrase}\n`, { mode: 0o600 });
  const gpg = (args: string[]) => execFileSync('gpg', ['--homedir', options.homedir, '--batch', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  gpg(['--pinentry-mode', 'loopback', '--passphrase-file', options.passphraseFile, '--quick-gen-key', `${options.name} <releng@example.org>`, 'ed25519', 'sign', options.expires]);
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-secret-keys']))![1]!;
  // Making the key started an agent that would outlive this process; the worker that signs runs its own.
  stopGpgAgent(options.homedir);
  return { homedir: options.homedir, keyId: fingerprint, passphraseFile: options.passphraseFile, fingerprint };
}

/** Stops the gpg-agent a key's homedir started. */
export function stopGpgAgent(homedir: string): void {
  execFileSync('gpgconf', ['--homedir', homedir, '--kill', 'gpg-agent'], { stdio: 'ignore' });
}
