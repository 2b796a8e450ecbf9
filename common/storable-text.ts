/**
 * Text from outside (a bus message, a guest's console, a server's error) made safe to store and
 * show: Postgres text refuses NUL, and a terminal obeys escape sequences, so control characters
 * (C0 but newline and tab, DEL, C1) become `\uXXXX`; and it is cut to a length.
 */
export function storableText(text: string, max = 4096): string {
  // Well-formed first: a lone surrogate (from a sender, or a cut) is text jsonb and UTF-8 refuse.
  // eslint-disable-next-line no-control-regex
  const safe = text.toWellFormed().replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (safe.length <= max) return safe;
  // Never cut between the two halves of a surrogate pair.
  const end = /[\ud800-\udbff]/.test(safe.charAt(max - 1)) ? max - 1 : max;
  return `${safe.slice(0, end)}… (${safe.length - end} more characters)`;
}

/** The same, on one line: newlines shown as `\n`, so no sender can forge a line of a listing. */
export const oneLine = (text: string, max = 4096): string => storableText(text.replace(/\n/g, '\\n'), max);
