/**
 * Hostile bus traffic for the trust-boundary tests: real envelopes from the fixtures, mutated by
 * a seeded generator (so a failing run can be repeated exactly) the ways a broken or malicious
 * publisher would: truncation, byte flips, raw NULs and invalid UTF-8, huge strings, wrong types,
 * deep nesting, absurd timestamps and IDs, spoofed topics and frame counts.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES_DIR } from '../../sandbox/seed.js';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Envelope = Record<string, unknown> & { topic: string; msg: Record<string, unknown> };

/** Every real envelope the repository holds: the message fixtures and the datagrepper capture. */
export function referenceEnvelopes(): Envelope[] {
  const out: Envelope[] = [];
  const messages = join(FIXTURES_DIR, 'messages');
  for (const file of readdirSync(messages).filter((f) => f.endsWith('.json'))) {
    const data = JSON.parse(readFileSync(join(messages, file), 'utf8')) as Envelope;
    if (typeof data.topic === 'string' && data.msg && typeof data.msg === 'object') out.push(data);
  }
  const capture = join(FIXTURES_DIR, 'datagrepper');
  for (const file of readdirSync(capture).filter((f) => f.endsWith('.json'))) {
    const page = JSON.parse(readFileSync(join(capture, file), 'utf8')) as { raw_messages: Envelope[] };
    out.push(...page.raw_messages);
  }
  return out;
}

export const newMsgId = (): string => `${new Date().getUTCFullYear()}-${randomUUID()}`;

/** A fedmsg envelope as fedmsg.core.publish completes one. */
export function envelopeOf(topic: string, msg: Record<string, unknown>, extra: Record<string, unknown> = {}): Envelope {
  return { topic, msg, msg_id: newMsgId(), timestamp: Math.floor(Date.now() / 1000), i: 1, username: 'fuzz', ...extra };
}

/** The two frames fedmsg sends: the topic and the envelope's JSON. */
export const framesOf = (envelope: Envelope, topic = envelope.topic): Buffer[] => [Buffer.from(topic), Buffer.from(JSON.stringify(envelope))];

type Mutation = (frames: Buffer[], envelope: Envelope, random: () => number) => Buffer[];

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;

/** Paths to every value in a JSON tree, to change one at random. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const path = [...prefix, Array.isArray(value) ? Number(k) : k];
      out.push(path);
      paths(v, path, out);
    }
  }
  return out;
}

function setAt(root: Envelope, path: readonly (string | number)[], value: unknown): Envelope {
  const copy = structuredClone(root);
  let node: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}

const withEnvelope = (frames: Buffer[], envelope: Envelope): Buffer[] => [frames[0] ?? Buffer.from(envelope.topic), Buffer.from(JSON.stringify(envelope))];

const MUTATIONS: Readonly<Record<string, Mutation>> = {
  truncate: (frames, _e, r) => [frames[0]!, frames[1]!.subarray(0, Math.floor(r() * frames[1]!.length))],
  flipBytes: (frames, _e, r) => {
    const body = Buffer.from(frames[1]!);
    for (let n = 1 + Math.floor(r() * 8); n > 0; n--) body[Math.floor(r() * body.length)] = Math.floor(r() * 256);
    return [frames[0]!, body];
  },
  rawNul: (frames, _e, r) => {
    const body = frames[1]!;
    const at = Math.floor(r() * body.length);
    return [frames[0]!, Buffer.concat([body.subarray(0, at), Buffer.from([0]), body.subarray(at)])];
  },
  invalidUtf8: (frames, _e, r) => {
    const body = frames[1]!;
    const at = Math.floor(r() * body.length);
    return [frames[0]!, Buffer.concat([body.subarray(0, at), Buffer.from([0xff, 0xfe, 0xc3]), body.subarray(at)])];
  },
  escapedNul: (frames, envelope, r) => {
    const strings = paths(envelope).filter((p) => typeof p.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], envelope) === 'string');
    return strings.length ? withEnvelope(frames, setAt(envelope, pick(strings, r), 'a\u0000b')) : frames;
  },
  hugeString: (frames, envelope, r) => {
    const size = pick([10_000, 100_000, 600_000, 1_500_000], r);
    const all = paths(envelope);
    return all.length ? withEnvelope(frames, setAt(envelope, pick(all, r), 'x'.repeat(size))) : frames;
  },
  wrongType: (frames, envelope, r) => {
    const all = paths(envelope);
    return all.length ? withEnvelope(frames, setAt(envelope, pick(all, r), pick<unknown>([42, -1, 1e308, null, true, [], {}, '', [[1]], { a: {} }], r))) : frames;
  },
  deepNesting: (frames, envelope, r) => {
    const depth = pick([40, 500, 5_000, 20_000], r);
    const nested = r() < 0.5 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const text = JSON.stringify({ ...envelope, msg: { ...envelope.msg, nested: '@@' } }).replace('"@@"', nested);
    return [frames[0]!, Buffer.from(text)];
  },
  absurdTimestamp: (frames, envelope, r) => withEnvelope(frames, { ...envelope, timestamp: pick<unknown>([1e13, -1, 0, 1e308, '1700000000', 1.5e9 * 1e3], r) }),
  absurdIds: (frames, envelope, r) => {
    const long = 'A'.repeat(pick([300, 1_500, 100_000], r));
    const msg = { ...envelope.msg, compose_id: `Fedora-${long}-20261202.n.0`, name: long, tag: long, nvr: `${long}-1-1`, subject_identifier: long };
    return withEnvelope(frames, { ...envelope, msg_id: r() < 0.3 ? long : envelope['msg_id'], msg });
  },
  spoofTopic: (frames, envelope, r) => {
    const suffix = envelope.topic.replace(/^([a-z]+\.)+?(prod|stg|dev)\./, '');
    const topic = pick([`evil.dev.${suffix}`, `org.fedoraproject.stg.${suffix}`, `org.fedoraproject.prod.evil.dev.${suffix}`, `org.fedoraproject.prod`, `org.fedoraproject.prodx.${suffix}`], r);
    return r() < 0.5 ? [Buffer.from(topic), Buffer.from(JSON.stringify({ ...envelope, topic }))] : [Buffer.from(topic), frames[1]!];
  },
  frameCount: (frames, _e, r) => (r() < 0.5 ? [frames[1]!] : [...frames, Buffer.from('extra')]),
  foreignLocation: (frames, envelope, r) =>
    withEnvelope(frames, { ...envelope, msg: { ...envelope.msg, location: pick(['http://evil.example.org/compose/x/compose', 'file:///etc/passwd', 'http://127.0.0.1:1/compose/../../x'], r) } }),
};

export const MUTATION_NAMES = Object.keys(MUTATIONS);

export interface Mutant {
  readonly frames: Buffer[];
  readonly mutations: readonly string[];
}

/** One to three mutations of a real envelope, with a fresh msg_id so no two mutants collide. */
export function mutate(base: Envelope, random: () => number): Mutant {
  const envelope: Envelope = { ...structuredClone(base), msg_id: newMsgId(), timestamp: Math.floor(Date.now() / 1000) };
  delete envelope['signature'];
  delete envelope['certificate'];
  delete envelope['crypto'];
  let frames = framesOf(envelope);
  const names: string[] = [];
  for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
    const name = pick(MUTATION_NAMES, random);
    names.push(name);
    // Later mutations work on the bytes as they are now; those that need the object start from it.
    frames = MUTATIONS[name]!(frames.length >= 2 ? frames : [Buffer.from(envelope.topic), frames[0] ?? Buffer.alloc(0)], envelope, random);
  }
  return { frames, mutations: names };
}

/** A line for `fedmsg_publisher.py --frames`: each frame base64, separated by spaces. */
export const publisherLine = (frames: readonly Buffer[]): string => frames.map((f) => f.toString('base64') || '-').join(' ');
