/**
 * Release branching against Koji and Bodhi: read the state a plan needs, apply one step of the
 * plan, undo one step. Every step finds what exists and does only the rest, so a step retried
 * after a crash (or a whole run started again) ends in the same state; undo removes only what
 * the plan says branching creates, and restores what it says branching changed.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { HttpLimits } from '../common/http-body.js';
import {
  branchInterest,
  BranchRefused,
  planBranch,
  type BodhiReleaseFields,
  type BranchPlan,
  type BranchState,
  type InheritanceLink,
  type TargetSpec,
} from '../common/release-branch.js';
import type { XmlRpcValue } from '../common/xmlrpc.js';
import type { BodhiActivities } from './bodhi.js';
import { KojiClient, type KojiLogin } from './koji.js';

export type BranchStep = 'koji-tags' | 'koji-inheritance' | 'koji-targets' | 'bodhi';
export const BRANCH_STEPS: readonly BranchStep[] = ['koji-tags', 'koji-inheritance', 'koji-targets', 'bodhi'];

export interface StepOutcome {
  /** What this attempt changed (nothing when an earlier attempt had done it all). */
  readonly changed: readonly string[];
}

export interface UndoOutcome {
  readonly undone: readonly string[];
  readonly notUndone: readonly string[];
}

export interface ReleaseActivities {
  /** Reads Koji and Bodhi and plans the branch; a branch that cannot be made fails with BranchRefused (final). */
  planReleaseBranch(input: { readonly release: string }): Promise<BranchPlan>;
  applyBranchStep(input: { readonly plan: BranchPlan; readonly step: BranchStep }): Promise<StepOutcome>;
  undoBranchStep(input: { readonly plan: BranchPlan; readonly step: BranchStep }): Promise<UndoOutcome>;
}

export interface ReleaseActivityDeps {
  readonly kojiHubUrl: string;
  readonly kojiLogin: KojiLogin | null;
  readonly http: HttpLimits;
  readonly bodhi: Pick<BodhiActivities, 'getBodhiRelease' | 'saveBodhiRelease'>;
}

export const BRANCH_REFUSED = 'BranchRefused';

/** A field Koji returns as a string (a tag or target name). */
const str = (v: XmlRpcValue | undefined): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

const isStruct = (v: XmlRpcValue): v is Record<string, XmlRpcValue> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);

export function createReleaseActivities(deps: ReleaseActivityDeps): ReleaseActivities {
  const koji = new KojiClient(deps.kojiHubUrl, deps.http, deps.kojiLogin);
  const beat = (detail: string) => {
    try {
      Context.current().heartbeat(detail);
    } catch {
      // outside an activity (the CLI's dry run)
    }
  };

  async function tag(name: string): Promise<{ id: number; arches: string | null } | null> {
    const info = await koji.call('getTag', [name]);
    return info && isStruct(info) ? { id: Number(info['id']), arches: typeof info['arches'] === 'string' ? info['arches'] : null } : null;
  }

  async function inheritance(name: string): Promise<InheritanceLink[]> {
    const links = await koji.call('getInheritanceData', [name]);
    return (Array.isArray(links) ? links : []).filter(isStruct).map((l) => ({ name: str(l['name']), priority: Number(l['priority']) }));
  }

  async function target(name: string): Promise<TargetSpec | null> {
    const info = await koji.call('getBuildTarget', [name]);
    return info && isStruct(info) ? { build_tag: str(info['build_tag_name']), dest_tag: str(info['dest_tag_name']) } : null;
  }

  /** Sets a tag's parents to exactly `links` (by name), removing the others. */
  async function setInheritance(tagName: string, links: readonly InheritanceLink[]): Promise<void> {
    const current = await inheritance(tagName);
    const data: Record<string, XmlRpcValue>[] = [];
    for (const old of current) if (!links.some((l) => l.name === old.name)) data.push({ parent_id: (await tag(old.name))!.id, 'delete link': true });
    for (const l of links) {
      const parent = await tag(l.name);
      if (!parent) throw ApplicationFailure.nonRetryable(`Koji has no tag ${l.name} to inherit from`, 'KojiTagMissing');
      data.push({ parent_id: parent.id, priority: l.priority, maxdepth: null, intransitive: false, noconfig: false, pkg_filter: '' });
    }
    // Removals first in a separate call: Koji refuses two links at one priority, even for a moment.
    const removals = data.filter((d) => d['delete link'] === true);
    if (removals.length > 0) await koji.call('setInheritanceData', [tagName, removals]);
    await koji.call('setInheritanceData', [tagName, data.filter((d) => d['delete link'] !== true)]);
  }

  const sameLinks = (a: readonly InheritanceLink[], b: readonly InheritanceLink[]) =>
    a.length === b.length && a.every((l) => b.some((m) => m.name === l.name && m.priority === l.priority));
  const sameTarget = (a: TargetSpec | null, b: TargetSpec) => a !== null && a.build_tag === b.build_tag && a.dest_tag === b.dest_tag;

  const apply: Record<BranchStep, (plan: BranchPlan) => Promise<string[]>> = {
    async 'koji-tags'(plan) {
      const changed: string[] = [];
      if (!(await tag(plan.snapshot.dst))) {
        await koji.call('snapshotTag', [plan.snapshot.src, plan.snapshot.dst], { latest_only: true, inherit_builds: false });
        changed.push(`snapshot ${plan.snapshot.src} -> ${plan.snapshot.dst}`);
      }
      for (const t of plan.createTags) {
        beat(t.name);
        if (await tag(t.name)) continue;
        await koji.call('createTag', [t.name], { ...(t.parent ? { parent: t.parent } : {}), ...(t.arches ? { arches: t.arches } : {}) });
        changed.push(`created tag ${t.name}`);
      }
      return changed;
    },
    async 'koji-inheritance'(plan) {
      const changed: string[] = [];
      for (const i of plan.inheritance) {
        if (sameLinks(await inheritance(i.tag), i.after)) continue;
        await setInheritance(i.tag, i.after);
        changed.push(`inheritance of ${i.tag} set to ${i.after.map((l) => l.name).join(', ')}`);
      }
      return changed;
    },
    async 'koji-targets'(plan) {
      const changed: string[] = [];
      for (const t of plan.createTargets) {
        if (sameTarget(await target(t.name), t)) continue;
        await koji.call('createBuildTarget', [t.name, t.build_tag, t.dest_tag]);
        changed.push(`created target ${t.name}`);
      }
      for (const t of plan.editTargets) {
        if (sameTarget(await target(t.name), t.after)) continue;
        await koji.call('editBuildTarget', [t.name, t.name, t.after.build_tag, t.after.dest_tag]);
        changed.push(`target ${t.name} now ${t.after.build_tag} -> ${t.after.dest_tag}`);
      }
      return changed;
    },
    async bodhi(plan) {
      const changed: string[] = [];
      const created = await deps.bodhi.getBodhiRelease(plan.bodhi.create.name);
      if (!created) {
        await deps.bodhi.saveBodhiRelease({ ...plan.bodhi.create });
        changed.push(`created Bodhi release ${plan.bodhi.create.name}`);
      }
      const edited = await deps.bodhi.getBodhiRelease(plan.release);
      if (!edited || !matches(edited, plan.bodhi.edit.after)) {
        await deps.bodhi.saveBodhiRelease({ ...plan.bodhi.edit.after }, plan.release);
        changed.push(`edited Bodhi release ${plan.release}`);
      }
      return changed;
    },
  };

  const undo: Record<BranchStep, (plan: BranchPlan, out: { undone: string[]; notUndone: string[] }) => Promise<void>> = {
    async 'koji-tags'(plan, out) {
      // Children before parents, the snapshot last: Koji keeps no dangling inheritance.
      for (const t of [...plan.createTags].reverse().map((c) => c.name).concat(plan.snapshot.dst)) {
        if (!(await tag(t))) continue;
        await koji.call('deleteTag', [t]);
        out.undone.push(`deleted tag ${t}`);
      }
    },
    async 'koji-inheritance'(plan, out) {
      for (const i of plan.inheritance) {
        if (sameLinks(await inheritance(i.tag), i.before)) continue;
        await setInheritance(i.tag, i.before);
        out.undone.push(`inheritance of ${i.tag} back to ${i.before.map((l) => l.name).join(', ') || 'none'}`);
      }
    },
    async 'koji-targets'(plan, out) {
      for (const t of plan.editTargets) {
        if (sameTarget(await target(t.name), t.before)) continue;
        await koji.call('editBuildTarget', [t.name, t.name, t.before.build_tag, t.before.dest_tag]);
        out.undone.push(`target ${t.name} back to ${t.before.build_tag} -> ${t.before.dest_tag}`);
      }
      for (const t of plan.createTargets) {
        if (!(await target(t.name))) continue;
        await koji.call('deleteBuildTarget', [t.name]);
        out.undone.push(`deleted target ${t.name}`);
      }
    },
    async bodhi(plan, out) {
      const edited = await deps.bodhi.getBodhiRelease(plan.release);
      if (edited && !matches(edited, plan.bodhi.edit.before)) {
        await deps.bodhi.saveBodhiRelease({ ...plan.bodhi.edit.before, name: plan.release }, plan.release);
        out.undone.push(`Bodhi release ${plan.release} restored`);
      }
      const created = await deps.bodhi.getBodhiRelease(plan.bodhi.create.name);
      if (created && created['state'] !== 'disabled') {
        // Bodhi's API cannot delete a release: the one branching made is disabled, and said so.
        await deps.bodhi.saveBodhiRelease({ ...plan.bodhi.create, state: 'disabled' }, plan.bodhi.create.name);
        out.notUndone.push(`Bodhi release ${plan.bodhi.create.name} disabled, not deleted (Bodhi has no way to delete a release)`);
      }
    },
  };

  return {
    async planReleaseBranch({ release }) {
      try {
        return planBranch(await readState(release));
      } catch (err) {
        if (err instanceof BranchRefused) throw ApplicationFailure.nonRetryable(err.message, BRANCH_REFUSED);
        throw err;
      }
    },
    async applyBranchStep({ plan, step }) {
      return { changed: await apply[step](plan) };
    },
    async undoBranchStep({ plan, step }) {
      const out = { undone: [] as string[], notUndone: [] as string[] };
      await undo[step](plan, out);
      return out;
    },
  };

  async function readState(release: string): Promise<BranchState> {
    const interest = branchInterest(release);
    const tags: Record<string, BranchState['tags'][string]> = {};
    for (const name of interest.tags) {
      const info = await tag(name);
      tags[name] = info ? { arches: info.arches, inheritance: await inheritance(name) } : null;
    }
    const targets: Record<string, TargetSpec | null> = {};
    for (const name of interest.targets) targets[name] = await target(name);
    const [asked, next] = await Promise.all([deps.bodhi.getBodhiRelease(release), deps.bodhi.getBodhiRelease(interest.next)]);
    const rawhideTag = `f${release.slice(1)}`;
    const latest = tags[rawhideTag] ? await koji.call('listTagged', [rawhideTag], { latest: true }) : [];
    return {
      release,
      bodhi: { asked: asked, next: next },
      tags,
      targets,
      rawhideBuilds: Array.isArray(latest) ? latest.length : 0,
    };
  }
}

/** Whether Bodhi's record has every field of `fields` as given. */
function matches(record: Record<string, unknown>, fields: Partial<BodhiReleaseFields>): boolean {
  return Object.entries(fields).every(([k, v]) => (record[k] ?? null) === (v ?? null));
}
