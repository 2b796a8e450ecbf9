/**
 * A two-week release of one stream, as Fedora's push-two-week-atomic.py did it by hand, run by
 * the stream's Schedule (`two-week/<stream>`) or `relengotron twoweek trigger`:
 *
 *  1. choose    - the newest compose whose compose test passed by the stream's policy, minus
 *                 composes marked bad, plus composes marked good; nothing while the stream is blocked
 *  2. approve   - when the stream asks for it, a window in which operators approve (or it ends)
 *  3. gather    - the compose's images, each checked against its sha256, a CHECKSUM per directory
 *  4. begin     - `releng-o-tron.twoweek.begin`
 *  5. sign      - every CHECKSUM clearsigned (one already signed is kept)
 *  6. ostree    - per arch a static delta from the stable commit, the stable ref promoted, summary signed
 *  7. sync      - rsync into `<stable dir>/<compose id>` with --delay-updates, `latest` swapped
 *  8. complete  - the release recorded, `releng-o-tron.twoweek.complete`, the announcement
 *
 * When the stream is blocked, has no eligible compose, or its newest release is older than its
 * limit, `releng-o-tron.twoweek.out_of_date` says so, once per run.
 */
import { ApplicationFailure, condition, executeChild, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { RelengActivities } from '../activities/index.js';
import type { GatheredCompose } from '../activities/two-week.js';
import { PROJECT_TOPIC, type TwoWeekBeginMessage, type TwoWeekCompleteMessage } from '../common/schemas/outgoing.js';
import { chooseCompose, outOfDate, type TwoWeekCandidate, type TwoWeekChoice } from '../common/two-week.js';
import { workflowIds } from '../common/workflow-ids.js';
import { APPROVAL_REFUSED, approveTwoWeekReleaseUpdate, twoWeekStatusQuery, type TwoWeekApproval, type TwoWeekStatus } from './api/two-week.js';
import { waitingForQuery, type Waiting } from './api/waiting.js';
import { publish } from './messages.js';
import { ostreePromote } from './ostree-maintenance.js';

const { readTwoWeekState, recordTwoWeekRelease, ostreeRefVersions } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute' },
  summary: 'read or record the two-week release',
});

const { gatherComposeForRelease } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '6 hours',
  // Downloads heartbeat as bytes arrive; a dead worker's download resumes on another from the image cache.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 20 },
  summary: "gather the compose's images",
});

const { signChecksumFile, ostreeStaticDelta } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '2 minutes', maximumAttempts: 10 },
  summary: 'sign or make a static delta',
});

const { syncToMirror } = proxyActivities<RelengActivities>({
  startToCloseTimeout: '12 hours',
  // rsync reports every few seconds; a dead worker's sync is taken up by another within this.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 20 },
  summary: 'rsync into the stable directory',
});

/** A stream's settings, from `twoWeek.streams` in config (fixed in the Schedule's action when `relengotron up` writes it). */
export interface TwoWeekStreamSettings {
  /** The compose-testing stream whose composes are candidates (`Fedora-Cloud-45`). */
  readonly composeStream: string;
  /** Jobs that must have passed, with none failed, errored or aborted. */
  readonly minPassed: number;
  /** An out-of-date alert when the newest released image set is older than this. */
  readonly maxAgeDays: number;
  /** Under the mirror root: `alt/atomic/stable`. */
  readonly stableDir: string;
  readonly sign: boolean;
  /** A human testing window: the release waits for `approvers` approvals or `windowMs`, whichever comes first. */
  readonly approval: { readonly approvers: number; readonly windowMs: number } | null;
  /** The trees released with the images: each stable ref moved to its candidate ref's commit. */
  readonly ostree: { readonly refs: readonly { readonly candidate: string; readonly stable: string }[] } | null;
}

export interface TwoWeekInput {
  readonly stream: string;
  readonly settings: TwoWeekStreamSettings;
}

export interface TwoWeekResult {
  readonly stream: string;
  readonly outcome: 'released' | 'already-released' | 'blocked' | 'no-compose' | 'withdrawn';
  readonly composeId: string | null;
  readonly detail: string;
  readonly passedOver: TwoWeekChoice['passedOver'];
  readonly approvals: TwoWeekStatus['approvals'];
  readonly alert: TwoWeekStatus['alert'];
  /** The stable ref → commit, when trees were released. */
  readonly commits: Readonly<Record<string, string>>;
  /** The announcement to mail, rendered. */
  readonly announcement: string | null;
}

/** The run's state, its `status` and `waitingFor` answers, and the approvals it takes. */
class TwoWeekRun {
  status: TwoWeekStatus;
  private alertSent = false;
  private approvalOpen: { composeId: string; needed: number; since: string } | null = null;

  constructor(readonly input: TwoWeekInput) {
    this.status = { stream: input.stream, stage: 'choosing', choice: null, approvals: [], approvalUntil: null, alert: null };
    setHandler(twoWeekStatusQuery, () => this.status);
    setHandler(waitingForQuery, (): Waiting[] =>
      this.approvalOpen
        ? [{ for: `${this.approvalOpen.needed - this.status.approvals.length} more approvals of ${this.approvalOpen.composeId}`, since: this.approvalOpen.since, until: this.status.approvalUntil, answer: `relengotron twoweek approve ${input.stream} ${this.approvalOpen.composeId}` }]
        : [],
    );
    setHandler(approveTwoWeekReleaseUpdate, (approval) => {
      // Only the fields an approval has: anything else a client sent is not kept in the run's state.
      const kept = { approver: approval.approver, composeId: approval.composeId, ...(approval.comment !== undefined ? { comment: approval.comment } : {}), at: new Date().toISOString() };
      this.update({ approvals: [...this.status.approvals, kept] });
      return { approvals: this.status.approvals.length, needed: this.approvalOpen?.needed ?? 0 };
    }, {
      validator: (approval: TwoWeekApproval) => this.validateApproval(approval),
      description: 'Approve the compose this run waits to release: {"approver": "...", "composeId": "...", "comment": "..."}. Refused when nothing waits, the approver already approved, or the run releases another compose.',
    });
  }

  private validateApproval(approval: TwoWeekApproval): void {
    const refuse = (why: string) => {
      throw ApplicationFailure.nonRetryable(why, APPROVAL_REFUSED);
    };
    if (typeof approval?.approver !== 'string' || !/^[A-Za-z0-9._@-]{1,64}$/.test(approval.approver)) refuse('an approval names its approver (letters, digits, . _ @ -; at most 64)');
    if (typeof approval.composeId !== 'string' || approval.composeId.length > 200) refuse('an approval names the compose it approves');
    if (approval.comment !== undefined && (typeof approval.comment !== 'string' || approval.comment.length > 1000)) refuse('a comment is a string of at most 1000 characters');
    if (!this.approvalOpen) refuse(`nothing waits for an approval: the run is at "${this.status.stage}"`);
    if (approval.composeId !== this.approvalOpen!.composeId) refuse(`the compose was replaced: this run releases ${this.approvalOpen!.composeId}, not ${approval.composeId}`);
    if (this.status.approvals.some((a) => a.approver === approval.approver)) refuse(`${approval.approver} already approved ${approval.composeId}`);
  }

  update(change: Partial<TwoWeekStatus>): void {
    this.status = { ...this.status, ...change };
  }

  enter(stage: string, details: string): void {
    this.update({ stage });
    setCurrentDetails(`**${stage}**: ${details}`);
  }

  /** The out-of-date alert, at most once per run. */
  async alert(alert: { reason: 'blocked' | 'no-passing-compose' | 'too-old'; detail: string }, released: string | null): Promise<void> {
    this.update({ alert });
    if (this.alertSent) return;
    this.alertSent = true;
    await publish({ topic: `${PROJECT_TOPIC}.twoweek.out_of_date`, body: { stream: this.input.stream, workflow_id: workflowInfo().workflowId, reason: alert.reason, detail: alert.detail, released } });
  }

  /** Step 2: waits for the approvals or the window's end, whichever comes first (the caller then checks the compose still qualifies). */
  async approvalWindow(composeId: string, approval: { approvers: number; windowMs: number }): Promise<void> {
    const since = new Date();
    this.approvalOpen = { composeId, needed: approval.approvers, since: since.toISOString() };
    this.update({ approvalUntil: new Date(since.getTime() + approval.windowMs).toISOString() });
    this.enter('approval', `${composeId} waits for ${approval.approvers} approvals until ${this.status.approvalUntil} (relengotron twoweek approve ${this.input.stream} ${composeId})`);
    await condition(() => this.status.approvals.length >= approval.approvers, approval.windowMs);
    this.approvalOpen = null;
    this.update({ approvalUntil: null });
  }

  result(outcome: TwoWeekResult['outcome'], composeId: string | null, detail: string, extra: Partial<TwoWeekResult> = {}): TwoWeekResult {
    this.enter(outcome === 'released' ? 'done' : outcome, detail);
    return { stream: this.input.stream, outcome, composeId, detail, passedOver: this.status.choice?.passedOver ?? [], approvals: this.status.approvals, alert: this.status.alert, commits: {}, announcement: null, ...extra };
  }
}

/** Step 1: the compose to release, and the stream's out-of-date state. */
async function choose(run: TwoWeekRun) {
  const { stream, settings } = run.input;
  const state = await readTwoWeekState({ stream, composeStream: settings.composeStream });
  const choice = chooseCompose(state.candidates, state.marks, { minPassed: settings.minPassed });
  run.update({ choice });
  const alert = outOfDate({ blocked: state.block, choice, lastRelease: state.lastRelease, maxAgeDays: settings.maxAgeDays, now: new Date() });
  return { state, choice, alert };
}

/** The announcement Fedora mailed, rendered: the compose, where it is, what to verify it with. */
function announcement(stream: string, composeId: string, stableUrl: string, gathered: GatheredCompose, commits: Readonly<Record<string, string>>, signedBy: string | null): string {
  const lines = [
    `Subject: ${stream} two-week release: ${composeId}`,
    '',
    `The ${stream} image set has been released from ${composeId}.`,
    '',
    'Images:',
    ...gathered.images.map((i) => `  ${stableUrl}/${i.path}  (${i.type}, ${i.arch}, ${i.size} bytes)`),
    '',
    signedBy ? `CHECKSUM files, signed with key ${signedBy}:` : 'CHECKSUM files (unsigned: no signing key is configured):',
    ...gathered.checksumFiles.map((c) => `  ${stableUrl}/${c}`),
  ];
  if (Object.keys(commits).length > 0) lines.push('', 'OSTree:', ...Object.entries(commits).map(([ref, commit]) => `  ${ref} ${commit}`));
  return `${lines.join('\n')}\n`;
}

/** Steps 3-8 for the chosen compose. */
async function release(run: TwoWeekRun, chosen: TwoWeekCandidate & { why: string }): Promise<TwoWeekResult> {
  const { stream, settings } = run.input;
  const workflowId = workflowInfo().workflowId;
  run.enter('gathering', `${chosen.composeId}'s images (${chosen.why})`);
  const gathered = await gatherComposeForRelease({ composeId: chosen.composeId });
  const images = gathered.images.map((i) => ({ arch: i.arch, type: i.type, name: i.path.slice(i.path.lastIndexOf('/') + 1), path: i.path, sha256: i.sha256, size: i.size }));
  const begin: TwoWeekBeginMessage = { stream, compose_id: chosen.composeId, workflow_id: workflowId, why: chosen.why, images };
  await publish({ topic: `${PROJECT_TOPIC}.twoweek.begin`, body: begin });

  let signedBy: string | null = null;
  if (settings.sign) {
    run.enter('signing', `${gathered.checksumFiles.length} CHECKSUM files`);
    for (const file of gathered.checksumFiles) signedBy = (await signChecksumFile({ file: `${gathered.dir}/${file}` })).keyId;
  }

  const commits: Record<string, string> = {};
  if (settings.ostree) {
    run.enter('ostree', `${settings.ostree.refs.length} stable refs`);
    const refs = settings.ostree.refs;
    const known = await ostreeRefVersions({ refs: refs.flatMap((r) => [r.candidate, r.stable]) });
    const at = (ref: string) => known.find((k) => k.ref === ref)!;
    const versions = new Set(refs.map((r) => at(r.candidate).version));
    // As the old script: every arch has a candidate commit, all of the same version.
    if (refs.some((r) => !at(r.candidate).commit)) throw ApplicationFailure.nonRetryable(`no candidate commit on ${refs.filter((r) => !at(r.candidate).commit).map((r) => r.candidate).join(', ')}`, 'TwoWeekTreeMissing');
    if (versions.size !== 1) throw ApplicationFailure.nonRetryable(`the candidate commits' versions differ (${[...versions].join(', ')}): arches would be released at different versions`, 'TwoWeekTreeVersionMismatch');
    for (const r of refs) {
      const next = at(r.candidate).commit!;
      const previous = at(r.stable).commit;
      if (previous && previous !== next) await ostreeStaticDelta({ from: previous, to: next });
      if (previous !== next) {
        await executeChild(ostreePromote, {
          // From the stream and the compose, not workflowInfo(): the same child ID however the run is replayed.
          workflowId: `${workflowIds.twoWeek(stream)}/${chosen.composeId}/promote/${r.stable}`,
          args: [{ ref: r.stable, commit: next, force: previous === null, dryRun: false }],
        });
      }
      commits[r.stable] = next;
    }
  }

  run.enter('sync', `${chosen.composeId} into ${settings.stableDir}`);
  const synced = await syncToMirror({ source: gathered.dir, path: settings.stableDir, name: chosen.composeId });

  run.enter('announce', `recording ${chosen.composeId} as ${stream}'s release`);
  await recordTwoWeekRelease({ stream, composeId: chosen.composeId, composeDate: chosen.composeDate, workflowId, commits });
  const complete: TwoWeekCompleteMessage = { ...begin, stable: synced.dest, commits, signed_by: signedBy };
  await publish({ topic: `${PROJECT_TOPIC}.twoweek.complete`, body: complete });
  const text = announcement(stream, chosen.composeId, `${settings.stableDir}/${chosen.composeId}`, gathered, commits, signedBy);
  return run.result('released', chosen.composeId, `${chosen.composeId} released into ${settings.stableDir} (${chosen.why})`, { commits, announcement: text });
}

export async function twoWeekRelease(input: TwoWeekInput): Promise<TwoWeekResult> {
  const run = new TwoWeekRun(input);
  const { settings } = input;
  const { state, choice, alert } = await choose(run);
  const released = state.lastRelease?.composeId ?? null;
  if (state.block) {
    await run.alert(alert!, released);
    return run.result('blocked', null, alert!.detail);
  }
  const { chosen } = choice;
  if (!chosen) {
    await run.alert(alert!, released);
    return run.result('no-compose', null, alert!.detail);
  }
  if (chosen.composeId === released) {
    if (alert) await run.alert(alert, released);
    return run.result('already-released', chosen.composeId, `${chosen.composeId} is already ${input.stream}'s release (${chosen.why})`);
  }
  if (settings.approval) {
    await run.approvalWindow(chosen.composeId, settings.approval);
    // A person may have marked the compose bad or blocked the stream during the window; a newer
    // compose that qualified meanwhile waits for the next run (withdrawing for it would starve the stream).
    const after = await choose(run);
    if (after.state.block) {
      await run.alert({ reason: 'blocked', detail: `the stream was blocked during the approval window by ${after.state.block.blockedBy}: ${after.state.block.reason}` }, released);
      return run.result('withdrawn', chosen.composeId, `not released: the stream was blocked: ${after.state.block.reason}`);
    }
    const markedBad = after.state.marks.find((m) => m.composeId === chosen.composeId && m.verdict === 'bad');
    if (markedBad) return run.result('withdrawn', chosen.composeId, `not released: marked bad during the approval window by ${markedBad.markedBy}: ${markedBad.reason}`);
  }
  const result = await release(run, chosen);
  if (alert) await run.alert(alert, chosen.composeId);
  return { ...result, alert: run.status.alert };
}

