/** Secrets live in files named by configuration, never in the configuration or the logs. */
import { readFileSync } from 'node:fs';

/** A secret file's secret: its first line, trimmed. Throws naming the file (never its content). */
export function readSecret(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the secret file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const secret = text.split('\n')[0]!.trim();
  if (!secret) throw new Error(`the secret file ${file} is empty`);
  return secret;
}
