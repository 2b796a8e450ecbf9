/** A throwaway signing key per test run, made with the real gpg, protected by a passphrase. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SigningKey } from '../../activities/signing.js';

export const TEST_PASSPHRASE = 'correct horse battery staple';

const homedirs: string[] = [];

/** Stops the gpg-agents the keys started (each homedir has its own). */
export function stopGpgAgents(): void {
  for (const homedir of homedirs.splice(0)) execFileSync('gpgconf', ['--homedir', homedir, '--kill', 'gpg-agent'], { stdio: 'ignore' });
}

export function makeSigningKey(name = 'releng-o-tron test signing'): SigningKey & { fingerprint: string } {
  const homedir = mkdtempSync(join(tmpdir(), 'relengotron-gnupg-'));
  homedirs.push(homedir);
  const passphraseFile = join(mkdtempSync(join(tmpdir(), 'relengotron-secret-')), 'passphrase');
  writeFileSync(passphraseFile, `${TEST_PASSPHRASE}\n`, { mode: 0o600 });
  execFileSync('gpg', ['--homedir', homedir, '--batch', '--pinentry-mode', 'loopback', '--passphrase-file', passphraseFile, '--quick-gen-key', `${name} <releng@example.org>`, 'ed25519', 'sign', '2d'], { stdio: 'ignore' });
  const listing = execFileSync('gpg', ['--homedir', homedir, '--batch', '--with-colons', '--list-secret-keys'], { encoding: 'utf8' });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!;
  return { homedir, keyId: fingerprint, passphraseFile, fingerprint };
}
