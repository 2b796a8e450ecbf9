/**
 * The demo's bus traffic, built from the real messages in sandbox/fixtures: pungi status changes
 * for composes the sandbox serves (locations pointed at the sandbox compose server), a real
 * DOOMED message as captured (refused: its compose lies outside the trusted bases), traffic that
 * starts nothing, a duplicate delivery and two bad messages.
 */
import { readFixture } from './seed.js';

export interface DemoItem {
  readonly label: string;
  /** An envelope for the gateway to complete and publish (fields given are kept). */
  readonly envelope?: { topic: string; msg: Record<string, unknown> } & Record<string, unknown>;
  /** Raw frames, sent as they are. */
  readonly frames?: string[];
  /** Re-send the envelope of an earlier item (same msg_id): a duplicate delivery. */
  readonly repeatOf?: number;
}

type Fixture = { topic: string; msg: Record<string, unknown> } & Record<string, unknown>;

/** Removes datanommer's additions so the envelope is what fedmsg sent. */
function asSent(envelope: Fixture): Fixture {
  const { source_name: _n, source_version: _v, headers: _h, ...sent } = envelope;
  return { ...sent, timestamp: Math.floor(Number(sent['timestamp'])) };
}

export function buildDemoStream(composeBase: string, newComposeId: string): DemoItem[] {
  const topic = 'org.fedoraproject.prod.pungi.compose.status.change';
  const statusChange = (composeId: string, status: string, extra: Record<string, unknown> = {}) => ({
    topic,
    msg: { compose_id: composeId, location: `${composeBase}/${composeId}/compose`, status, ...extra },
  });
  const incomplete = asSent(readFixture<Fixture>('messages/pungi.compose.status.change.FINISHED_INCOMPLETE.datanommer.json'));
  const doomed = asSent(readFixture<Fixture>('messages/pungi.compose.status.change.DOOMED.datanommer.json'));
  const tag = readFixture<Fixture>('messages/buildsys.tag.json');
  const composerStart = readFixture<Fixture>('messages/bodhi.composer.start.json');
  return [
    { label: `${newComposeId} started`, envelope: statusChange(newComposeId, 'STARTED') },
    { label: `${newComposeId} finished`, envelope: statusChange(newComposeId, 'FINISHED', { release_short: 'Fedora', release_version: 'Rawhide' }) },
    { label: 'Fedora-Cloud-27-20180317.0 finished (real productmd 1.2)', envelope: statusChange('Fedora-Cloud-27-20180317.0', 'FINISHED') },
    {
      label: 'Fedora-24-20151130.n.2 finished incomplete (real productmd 1.0; real envelope, location rewritten)',
      envelope: { ...incomplete, msg: { ...incomplete.msg, compose_id: 'Fedora-24-20151130.n.2', location: `${composeBase}/Fedora-24-20151130.n.2/compose` } },
    },
    { label: 'Fedora-28-20180425.0 finished (real F28 GA metadata)', envelope: statusChange('Fedora-28-20180425.0', 'FINISHED') },
    // Its location is on kojipkgs, which the sandbox configuration does not trust: refused, a dead letter.
    { label: 'Fedora-Rawhide-20160404.n.0 doomed (real signed envelope, as sent: kojipkgs is no trusted compose base here, so it is refused)', envelope: doomed },
    { label: 'koji tagged a build outside any gating lane (kept, starts nothing)', envelope: { topic: tag.topic, msg: tag.msg } },
    { label: 'bodhi composer start (real; F29 stable and testing are pushed, the releases the sandbox lacks are named)', envelope: { topic: composerStart.topic, msg: composerStart.msg, timestamp: composerStart['timestamp'] } },
    { label: `${newComposeId} finished, delivered again`, repeatOf: 1 },
    { label: 'malformed: frame 1 is not JSON', frames: [topic, '{"topic": "org.fedoraproject.prod.pungi.compose.status.change", '] },
    { label: 'invalid body: unknown compose status', envelope: statusChange('Fedora-Rawhide-20261123.n.9', 'EXPLODED') },
  ];
}
