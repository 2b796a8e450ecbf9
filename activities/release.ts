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
  bodhiRelease,
  planBranch,
  RAWHIDE_OSTREE_PREFIX,
  releaseVersion,
  type BodhiReleaseFields,
  type BranchPlan,
  type BranchState,
  type InheritanceLink,
  type TargetSpec,
} from '../common/release-branch.js';
import type { XmlRpcValue } from '../common/xmlrpc.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EolRefused, mirrorTreesOf, ostreeRefPrefix, planEol, releaseTags, type EolPlan, type EolState } from '../common/release-eol.js';
import type { BodhiActivities } from './bodhi.js';
import { KojiClient, type KojiLogin } from './koji.js';
import { moveTree } from './mirror.js';
import type { SigningKey } from './signing.js';
import { pruneToLastCommit, refCommit, refCommitsUnder, refsUnder, setRef } from './ostree.js';
import type { PdcActivities } from './pdc.js';
import type { GatingLane } from '../common/config.js';
import type { Pool } from '../common/db.js';
import { branchConfig, effectiveLanes, eolConfig, loadReleaseConfig, type ReleaseConfigEntry } from '../common/release-config.js';
import { releaseConfigBefore, restoreReleaseConfig, writeReleaseConfig } from './release-config.js';

export type BranchStep = 'koji-tags' | 'koji-inheritance' | 'koji-targets' | 'ostree' | 'bodhi' | 'config';
export const BRANCH_STEPS: readonly BranchStep[] = ['koji-tags', 'koji-inheritance', 'koji-targets', 'ostree', 'bodhi', 'config'];

export interface StepOutcome {
  /** What this attempt changed (nothing when an earlier attempt had done it all). */
  readonly changed: readonly string[];
}

export interface UndoOutcome {
  readonly undone: readonly string[];
  readonly notUndone: readonly string[];
}

export type EolStep = 'koji-targets' | 'koji-lock' | 'config' | 'bodhi' | 'pdc' | 'mirror' | 'ostree';
export const EOL_STEPS: readonly EolStep[] = ['koji-targets', 'koji-lock', 'config', 'bodhi', 'pdc', 'mirror', 'ostree'];

export interface ReleaseActivities {
  /** Reads Koji, Bodhi, PDC, the mirror and the OSTree repository and plans the end of life; refused (final) for an unknown, rawhide or already archived release. */
  planReleaseEol(input: { readonly release: string }): Promise<EolPlan>;
  applyEolStep(input: { readonly plan: EolPlan; readonly step: EolStep }): Promise<StepOutcome>;
  undoEolStep(input: { readonly plan: EolPlan; readonly step: EolStep }): Promise<UndoOutcome>;
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
  readonly pdc: Pick<PdcActivities, 'pdcReleaseActive' | 'setPdcReleaseActive'>;
  /** The master mirror, its archive, and the OSTree repository end of life prunes. */
  readonly paths: { readonly mirrorRoot: string; readonly archiveRoot: string; readonly ostreeRepo: string };
  /** Signs the OSTree summary after every ref branching or end of life moves. */
  readonly signingKey?: SigningKey;
  /**
   * Where configuration that follows the release is kept, and the config file's gating lanes it
   * lies over. Without a database (the CLI's dry run with none configured) the plan's
   * configuration comes from the config file alone.
   */
  readonly releaseConfig: { readonly pool: Pool | null; readonly lanes: readonly GatingLane[] };
}

export const BRANCH_REFUSED = 'BranchRefused';
export const EOL_REFUSED = 'EolRefused';

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

  async function tag(name: string): Promise<{ id: number; arches: string | null; perm: string | null; extra: Record<string, string | number | boolean> } | null> {
    const info = await koji.call('getTag', [name]);
    if (!info || !isStruct(info)) return null;
    const extra = isStruct(info['extra'] ?? null) ? (info['extra'] as Record<string, XmlRpcValue>) : {};
    const scalars = Object.fromEntries(Object.entries(extra).filter((e): e is [string, string | number | boolean] => ['string', 'number', 'boolean'].includes(typeof e[1])));
    return { id: Number(info['id']), arches: typeof info['arches'] === 'string' ? info['arches'] : null, perm: typeof info['perm'] === 'string' ? info['perm'] : null, extra: scalars };
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
        const existing = await tag(t.name);
        if (!existing) {
          await koji.call('createTag', [t.name], { ...(t.parent ? { parent: t.parent } : {}), ...(t.arches ? { arches: t.arches } : {}) });
          changed.push(`created tag ${t.name}`);
        }
        // Permission and extra by editTag2, as Fedora's branching does; checked again so a retry does not repeat it.
        const settled = existing && (t.perm ?? null) === existing.perm && Object.entries(t.extra ?? {}).every(([k, v]) => existing.extra[k] === v);
        if ((t.perm || t.extra) && !settled) {
          await koji.call('editTag2', [t.name], { ...(t.perm ? { perm: t.perm } : {}), ...(t.extra ? { extra: { ...t.extra } } : {}) });
          changed.push(`set ${t.perm ? `perm ${t.perm}` : ''}${t.perm && t.extra ? ' and ' : ''}${t.extra ? 'extra' : ''} on ${t.name}`);
        }
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
    async ostree(plan) {
      const changed: string[] = [];
      for (const r of plan.ostree ?? []) {
        if ((await refCommit(deps.paths.ostreeRepo, r.ref)) === r.commit) continue;
        await setRef(deps.paths.ostreeRepo, r.ref, r.commit, deps.signingKey);
        changed.push(`created ref ${r.ref} at ${r.commit.slice(0, 12)}`);
      }
      return changed;
    },
    config: (plan) => applyConfig(plan),
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
      // What the snapshot copied is in its source; anything else in the new rawhide tag came after.
      const source = await koji.call('listTagged', [plan.snapshot.src]);
      const snapshotted = new Set((Array.isArray(source) ? source : []).filter(isStruct).map((b) => str(b['nvr'])));
      // Children before parents, the snapshot last: Koji keeps no dangling inheritance.
      for (const t of [...plan.createTags].reverse().map((c) => c.name).concat(plan.snapshot.dst)) {
        if (!(await tag(t))) continue;
        // Koji's deleteTag also drops targets using the tag, and its builds go with it: a tag in use,
        // or holding builds the branch did not put there, stays for a person to look at.
        const users = ((await koji.call('getBuildTargets', [])) as XmlRpcValue[]).filter(isStruct).filter((x) => x['build_tag_name'] === t || x['dest_tag_name'] === t);
        const tagged = await koji.call('listTagged', [t]);
        const foreign = (Array.isArray(tagged) ? tagged : []).filter(isStruct).map((b) => str(b['nvr'])).filter((nvr) => t !== plan.snapshot.dst || !snapshotted.has(nvr));
        if (users.length > 0 || foreign.length > 0) {
          out.notUndone.push(`tag ${t} kept: ${users.length ? `used by target(s) ${users.map((u) => str(u['name'])).join(', ')}` : ''}${users.length && foreign.length ? '; ' : ''}${foreign.length ? `holds ${foreign.length} build(s) made since the branch (${foreign.slice(0, 3).join(', ')})` : ''}`);
          continue;
        }
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
    async ostree(plan, out) {
      for (const r of plan.ostree ?? []) {
        const now = await refCommit(deps.paths.ostreeRepo, r.ref);
        if (now === null) continue;
        // A ref that has moved on since (a commit made on the branch) is kept.
        if (now !== r.commit) {
          out.notUndone.push(`ref ${r.ref} kept: it has moved on to ${now.slice(0, 12)}`);
          continue;
        }
        await setRef(deps.paths.ostreeRepo, r.ref, null, deps.signingKey);
        out.undone.push(`deleted ref ${r.ref}`);
      }
    },
    config: (plan, out) => undoConfig(plan, out),
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

  const signal = () => {
    try {
      return Context.current().cancellationSignal;
    } catch {
      return undefined;
    }
  };

  const setBy = () => {
    try {
      return Context.current().info.workflowExecution?.workflowId ?? 'relengotron';
    } catch {
      return 'relengotron';
    }
  };
  const { pool: configPool, lanes: configLanes } = deps.releaseConfig;
  const needPool = (): Pool => {
    if (!configPool) throw ApplicationFailure.nonRetryable('configuration that follows the release needs the database (DATABASE_URL)', 'ReleaseConfigUnavailable');
    return configPool;
  };
  const applyConfig = async (plan: { config?: { entries: readonly ReleaseConfigEntry[] } }) =>
    plan.config ? writeReleaseConfig(needPool(), plan.config.entries, setBy()) : [];
  const undoConfig = async (plan: { config?: { entries: readonly ReleaseConfigEntry[]; before: readonly (ReleaseConfigEntry | null)[] } }, out: { undone: string[] }) => {
    if (plan.config) out.undone.push(...(await restoreReleaseConfig(needPool(), plan.config.entries, plan.config.before, setBy())));
  };
  /** The entries a run will write, with the rows they replace. */
  const configChange = async (entries: ReleaseConfigEntry[]) => ({ entries, before: configPool ? await releaseConfigBefore(configPool, entries) : entries.map(() => null) });
  const lanesNow = async () => effectiveLanes(configLanes, configPool ? await loadReleaseConfig(configPool) : []);

  const applyEol: Record<EolStep, (plan: EolPlan) => Promise<string[]>> = {
    config: (plan) => applyConfig(plan),
    async 'koji-targets'(plan) {
      const changed: string[] = [];
      for (const t of plan.deleteTargets) {
        if (!(await target(t.name))) continue;
        await koji.call('deleteBuildTarget', [t.name]);
        changed.push(`deleted target ${t.name}`);
      }
      return changed;
    },
    async 'koji-lock'(plan) {
      const changed: string[] = [];
      for (const name of plan.lockTags) {
        const info = await koji.call('getTag', [name]);
        if (!info || !isStruct(info) || info['locked'] === true) continue;
        await koji.call('editTag2', [name], { locked: true });
        changed.push(`locked tag ${name}`);
      }
      return changed;
    },
    async bodhi(plan) {
      const release = await deps.bodhi.getBodhiRelease(plan.release);
      if (!release || release['state'] === 'archived') return [];
      await deps.bodhi.saveBodhiRelease({ name: plan.release, state: 'archived' }, plan.release);
      return [`Bodhi release ${plan.release} archived`];
    },
    async pdc(plan) {
      if (!plan.pdc || (await deps.pdc.pdcReleaseActive(plan.pdc.releaseId)) !== true) return [];
      await deps.pdc.setPdcReleaseActive(plan.pdc.releaseId, false);
      return [`PDC release ${plan.pdc.releaseId} inactive`];
    },
    async mirror(plan) {
      const changed: string[] = [];
      for (const a of plan.archive) {
        beat(a.from);
        const { moved } = await moveTree({ root: deps.paths.mirrorRoot, path: a.from }, { root: deps.paths.archiveRoot, path: a.to }, signal());
        if (moved) changed.push(`moved ${a.from} to the archive's ${a.to}`);
      }
      return changed;
    },
    async ostree(plan) {
      const changed: string[] = [];
      const refs = new Map((await refsUnder(deps.paths.ostreeRepo, ostreeRefPrefix(plan.version))).map((r) => [r.ref, r.olderCommits]));
      for (const ref of plan.ostreeRefs) {
        if (!refs.get(ref)) continue;
        await pruneToLastCommit(deps.paths.ostreeRepo, ref, deps.signingKey);
        changed.push(`${ref} pruned to its last commit (${refs.get(ref)} older removed)`);
      }
      return changed;
    },
  };

  const undoEol: Record<EolStep, (plan: EolPlan, out: { undone: string[]; notUndone: string[] }) => Promise<void>> = {
    config: (plan, out) => undoConfig(plan, out),
    async 'koji-targets'(plan, out) {
      for (const t of plan.deleteTargets) {
        if (await target(t.name)) continue;
        await koji.call('createBuildTarget', [t.name, t.build_tag, t.dest_tag]);
        out.undone.push(`target ${t.name} recreated`);
      }
    },
    async 'koji-lock'(plan, out) {
      for (const name of plan.lockTags) {
        const info = await koji.call('getTag', [name]);
        if (!info || !isStruct(info) || info['locked'] !== true) continue;
        await koji.call('editTag2', [name], { locked: false });
        out.undone.push(`tag ${name} unlocked`);
      }
    },
    async bodhi(plan, out) {
      const release = await deps.bodhi.getBodhiRelease(plan.release);
      if (!release || release['state'] !== 'archived') return;
      await deps.bodhi.saveBodhiRelease({ name: plan.release, state: plan.bodhi.stateBefore }, plan.release);
      out.undone.push(`Bodhi release ${plan.release} back to ${plan.bodhi.stateBefore}`);
      // Bodhi made the open updates obsolete when it archived the release; un-archiving does not bring them back.
      out.notUndone.push(`updates Bodhi made obsolete when ${plan.release} was archived stay obsolete`);
    },
    async pdc(plan, out) {
      if (!plan.pdc || (await deps.pdc.pdcReleaseActive(plan.pdc.releaseId)) !== false) return;
      await deps.pdc.setPdcReleaseActive(plan.pdc.releaseId, true);
      out.undone.push(`PDC release ${plan.pdc.releaseId} active again`);
    },
    async mirror(plan, out) {
      for (const a of [...plan.archive].reverse()) {
        const { moved } = await moveTree({ root: deps.paths.archiveRoot, path: a.to }, { root: deps.paths.mirrorRoot, path: a.from }, signal()).catch(() => ({ moved: false }));
        if (moved) out.undone.push(`moved the archive's ${a.to} back to ${a.from}`);
      }
    },
    ostree(plan, out) {
      if (plan.ostreeRefs.length > 0) out.notUndone.push(`pruned OSTree commits of ${plan.ostreeRefs.join(', ')} cannot be restored`);
      return Promise.resolve();
    },
  };

  return {
    async planReleaseEol({ release }) {
      try {
        const plan = planEol(await readEolState(release));
        return { ...plan, config: await configChange(eolConfig(await lanesNow(), release, plan.version)) };
      } catch (err) {
        if (err instanceof EolRefused || err instanceof BranchRefused) throw ApplicationFailure.nonRetryable(err.message, EOL_REFUSED);
        throw err;
      }
    },
    async applyEolStep({ plan, step }) {
      return { changed: await applyEol[step](plan) };
    },
    async undoEolStep({ plan, step }) {
      const out = { undone: [] as string[], notUndone: [] as string[] };
      await undoEol[step](plan, out);
      return out;
    },
    async planReleaseBranch({ release }) {
      try {
        const plan = planBranch(await readState(release));
        return { ...plan, config: await configChange(branchConfig(await lanesNow(), release, plan.version)) };
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

  async function readEolState(release: string): Promise<EolState> {
    const version = releaseVersion(release);
    const names = releaseTags(version);
    const tags: { name: string; locked: boolean }[] = [];
    for (const name of names) {
      const info = await koji.call('getTag', [name]);
      if (info && isStruct(info)) tags.push({ name, locked: info['locked'] === true });
    }
    const all = await koji.call('getBuildTargets', []);
    const targets = (Array.isArray(all) ? all : [])
      .filter(isStruct)
      .map((t) => ({ name: str(t['name']), build_tag: str(t['build_tag_name']), dest_tag: str(t['dest_tag_name']) }))
      .filter((t) => names.includes(t.build_tag) || names.includes(t.dest_tag));
    const active = await deps.pdc.pdcReleaseActive(`fedora-${version}`);
    return {
      release,
      bodhi: await deps.bodhi.getBodhiRelease(release),
      targets,
      tags,
      pdc: active === null ? null : { releaseId: `fedora-${version}`, active },
      mirrorTrees: mirrorTreesOf(version).map((t) => t.from).filter((p) => existsSync(join(deps.paths.mirrorRoot, p))),
      ostreeRefs: await refsUnder(deps.paths.ostreeRepo, ostreeRefPrefix(version)),
    };
  }

  async function readState(release: string): Promise<BranchState> {
    const interest = branchInterest(release);
    const tags: Record<string, BranchState['tags'][string]> = {};
    for (const name of interest.tags) {
      const info = await tag(name);
      tags[name] = info ? { arches: info.arches, perm: info.perm, extra: info.extra, inheritance: await inheritance(name) } : null;
    }
    const targets: Record<string, TargetSpec | null> = {};
    for (const name of interest.targets) targets[name] = await target(name);
    const [asked, next] = await Promise.all([deps.bodhi.getBodhiRelease(release), deps.bodhi.getBodhiRelease(interest.next)]);
    const rawhideTag = `f${release.slice(1)}`;
    const rawhideRefs = await refCommitsUnder(deps.paths.ostreeRepo, RAWHIDE_OSTREE_PREFIX);
    const existingRefs = (await refCommitsUnder(deps.paths.ostreeRepo, `fedora/${release.slice(1)}/`)).map((r) => r.ref);
    const latest = tags[rawhideTag] ? await koji.call('listTagged', [rawhideTag], { latest: true }) : [];
    return {
      release,
      bodhi: { asked: asked && releaseFields(asked), next: next && releaseFields(next) },
      tags,
      targets,
      rawhideBuilds: Array.isArray(latest) ? latest.length : 0,
      ostree: { rawhide: rawhideRefs, existing: existingRefs },
    };
  }
}

/** Only the fields branching sets, as strings, booleans or null: a plan (and the history it lives in) never carries the rest of Bodhi's record. */
function releaseFields(record: Record<string, unknown>): Partial<BodhiReleaseFields> {
  const fields: Record<string, string | boolean | null> = {};
  for (const key of Object.keys(bodhiRelease(0, false))) {
    const value = record[key];
    if (typeof value === 'string') fields[key] = value.slice(0, 200);
    else if (typeof value === 'boolean' || value === null) fields[key] = value;
  }
  return fields;
}

/** Whether Bodhi's record has every field of `fields` as given. */
function matches(record: Record<string, unknown>, fields: Partial<BodhiReleaseFields>): boolean {
  return Object.entries(fields).every(([k, v]) => (record[k] ?? null) === (v ?? null));
}
