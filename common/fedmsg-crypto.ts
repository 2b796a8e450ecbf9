/**
 * fedmsg's X.509 message signatures (fedmsg/crypto/x509_ng.py; ../shared/docs/messages.md §b):
 * RSA PKCS#1 v1.5 with SHA-1 over the canonical JSON of the envelope without `signature` and
 * `certificate`: Python's json.dumps(sort_keys=True, separators=(',', ':'), ensure_ascii=True).
 * Numbers keep the text they were sent with (`1504643044.0` stays so), hence lossless parsing.
 */
import { createSign, createVerify, X509Certificate } from 'node:crypto';
import { isLosslessNumber, LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';

/** Escapes a string as Python's json module does with ensure_ascii (lowercase hex). */
function pythonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const ch = text[i]!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Python sorts str keys by code point; JS's default sort compares UTF-16 units. */
function byCodePoint(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function canonical(value: unknown): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (isLosslessNumber(value)) return value.value;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return pythonString(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => byCodePoint(a, b));
    return `{${entries.map(([k, v]) => `${pythonString(k)}:${canonical(v)}`).join(',')}}`;
  }
  throw new TypeError(`cannot canonicalize a ${typeof value}`);
}

type LosslessObject = Record<string, unknown>;

/** The bytes fedmsg signs for an envelope given as JSON text. */
export function signedBytes(envelopeJson: string): string {
  const envelope = parseLossless(envelopeJson) as LosslessObject;
  const { signature: _s, certificate: _c, ...rest } = envelope;
  return canonical(rest);
}

/** fedmsg wraps base64 at 76 columns with a trailing newline. */
function wrap76(base64: string): string {
  return `${base64.match(/.{1,76}/g)!.join('\n')}\n`;
}

export interface Signer {
  /** PEM private key (RSA). */
  readonly key: string;
  /** PEM certificate whose CN names the signer. */
  readonly certificate: string;
}

/** Signs an envelope as fedmsg does: adds crypto, signature and certificate. */
export function signEnvelope<T extends Record<string, unknown>>(envelope: T, signer: Signer): T & { crypto: 'x509'; signature: string; certificate: string } {
  const withCrypto = { ...envelope, crypto: 'x509' as const };
  const bytes = signedBytes(JSON.stringify(withCrypto));
  const signature = createSign('RSA-SHA1').update(bytes, 'utf8').sign(signer.key, 'base64');
  return { ...withCrypto, signature: wrap76(signature), certificate: wrap76(Buffer.from(signer.certificate).toString('base64')) };
}

export interface VerifyOptions {
  /** PEM certificates of the CAs that may issue signing certificates. Empty: the chain is not checked. */
  readonly caCertificates: readonly string[];
  /** Topic suffix → certificate CNs allowed to send it (fedmsg's routing_policy). */
  readonly routingPolicy?: Readonly<Record<string, readonly string[]>>;
}

export type Verification =
  | { readonly valid: true; readonly signer: string }
  | { readonly valid: false; readonly reason: string };

const caCache = new Map<string, X509Certificate>();

/** CA certificates are parsed once, not for every message checked against them. */
function parsedCa(pem: string): X509Certificate {
  let ca = caCache.get(pem);
  if (!ca) caCache.set(pem, (ca = new X509Certificate(pem)));
  return ca;
}

function commonName(cert: X509Certificate): string {
  return /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1] ?? cert.subject;
}

/**
 * Checks a signed envelope: a signature by the enclosed certificate over the canonical bytes,
 * the certificate issued by a configured CA and valid when the message was sent, and the signer
 * allowed for the topic by the routing policy.
 */
export function verifyEnvelope(envelopeJson: string, topicSuffix: string, options: VerifyOptions): Verification {
  let envelope: LosslessObject;
  try {
    envelope = parseLossless(envelopeJson) as LosslessObject;
  } catch (err) {
    return { valid: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const { signature, certificate, crypto } = envelope;
  if (crypto !== 'x509') return { valid: false, reason: crypto === undefined ? 'unsigned message' : `unsupported crypto ${JSON.stringify(crypto)}` };
  if (typeof signature !== 'string' || typeof certificate !== 'string') return { valid: false, reason: 'signature or certificate missing' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(certificate.replace(/\s+/g, ''), 'base64').toString('utf8'));
  } catch (err) {
    return { valid: false, reason: `unreadable certificate: ${(err as Error).message}` };
  }
  const signer = commonName(cert);
  const ok = createVerify('RSA-SHA1').update(signedBytes(envelopeJson), 'utf8').verify(cert.publicKey, signature.replace(/\s+/g, ''), 'base64');
  if (!ok) return { valid: false, reason: `signature does not match the envelope (signer ${signer})` };

  if (options.caCertificates.length > 0) {
    const issuer = options.caCertificates.map(parsedCa).find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
    if (!issuer) return { valid: false, reason: `certificate of ${signer} is not issued by a trusted CA` };
    const sentAt = isLosslessNumber(envelope['timestamp']) ? Number(envelope['timestamp'].value) * 1000 : Date.now();
    if (sentAt < Date.parse(cert.validFrom) || sentAt > Date.parse(cert.validTo)) {
      return { valid: false, reason: `certificate of ${signer} was not valid when the message was sent` };
    }
  }
  const allowed = options.routingPolicy?.[topicSuffix];
  if (allowed && !allowed.includes(signer)) return { valid: false, reason: `${signer} may not send ${topicSuffix}` };
  return { valid: true, signer };
}

/**
 * Undoes what datanommer/datagrepper add to a stored envelope (fedmsg's fix_datagrepper_message):
 * source_name/source_version, an empty `headers`, and the float timestamp, so a backfilled
 * message is byte for byte what was published and its signature checks.
 */
export function undoDatagrepperArtefacts(envelopeJson: string): string {
  const envelope = parseLossless(envelopeJson) as LosslessObject;
  const { source_name: _n, source_version: _v, ...rest } = envelope;
  const headers = rest['headers'];
  if (headers && typeof headers === 'object' && Object.keys(headers).length === 0) delete rest['headers'];
  const timestamp = rest['timestamp'];
  if (isLosslessNumber(timestamp)) rest['timestamp'] = new LosslessNumber(String(Math.trunc(Number(timestamp.value))));
  return stringifyLossless(rest) ?? '{}';
}
