/** A throwaway signing key per test run (devstack/signing-key.ts), protected by a passphrase. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSigningKey as makeKey, stopGpgAgent, type MadeSigningKey } from '../../devstack/signing-key.js';

export const TEST_PASSPHRASE = 'correct horse battery staple';

const homedirs: string[] = [];

/** Stops the gpg-agents the keys started (each homedir has its own). */
export function stopGpgAgents(): void {
  for (const homedir of homedirs.splice(0)) stopGpgAgent(homedir);
}

export function makeSigningKey(name = 'releng-o-tron test signing'): MadeSigningKey {
  const homedir = mkdtempSync(join(tmpdir(), 'relengotron-gnupg-'));
  homedirs.push(homedir);
  const passphraseFile = join(mkdtempSync(join(tmpdir(), 'relengotron-secret-')), 'passphrase');
  return makeKey({ homedir, passphraseFile, passphrase: TEST_PASSPHRASE, name, expires: '2d' });
}
