/**
 * Branching a release from rawhide, planned from what Koji and Bodhi hold now. Pure: the plan
 * activity reads the state, this decides, the workflow applies the plan step by step and, when
 * aborted, undoes it from the same plan.
 *
 * Fedora's layout, as the sandbox keeps it: rawhide N builds in `fN-build` (inheriting
 * `fN-override`, which inherits `fN`) and lands in `fN-updates-candidate`; `fN` holds its content;
 * the `rawhide` and `fN` targets point there; Bodhi's release FN has branch `rawhide`. Branching FN:
 *
 * - the new rawhide N+1 gets the same tags, `fN+1` a snapshot of `fN`'s latest builds, and the
 *   `rawhide` target plus a new `fN+1` target;
 * - FN gets its updates tags (`fN-updates`, `-updates-testing`, `-updates-pending`), its override
 *   and candidate tags inherit `fN-updates` instead of `fN`, and a `fN-candidate` target;
 * - Bodhi: FN is edited into a branched release composed by Bodhi, FN+1 is created for rawhide.
 */
import type { ReleaseConfigEntry } from './release-config.js';

export interface TagSpec {
  readonly name: string;
  /** The parent it is created with (priority 0), if any. */
  readonly parent: string | null;
  readonly arches: string | null;
  /** Set with editTag2 after the tag is made: rawhide's counterpart's permission and extra settings. */
  readonly perm?: string | null;
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

/** What the plan reads of an existing tag. */
export interface TagState {
  readonly arches: string | null;
  readonly inheritance: readonly InheritanceLink[];
  /** The permission a tag write needs, and the tag's extra settings (mock's, for a build tag). */
  readonly perm?: string | null;
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

export interface InheritanceLink {
  readonly name: string;
  readonly priority: number;
}

export interface TargetSpec {
  readonly build_tag: string;
  readonly dest_tag: string;
}

/** The Bodhi release fields branching sets (SaveReleaseSchema's). */
export interface BodhiReleaseFields {
  readonly name: string;
  readonly long_name: string;
  readonly version: string;
  readonly branch: string;
  readonly id_prefix: string;
  readonly dist_tag: string;
  readonly stable_tag: string;
  readonly testing_tag: string;
  readonly candidate_tag: string;
  readonly pending_signing_tag: string;
  readonly pending_testing_tag: string;
  readonly pending_stable_tag: string;
  readonly override_tag: string;
  readonly state: string;
  readonly composed_by_bodhi: boolean;
  readonly create_automatic_updates: boolean;
  readonly package_manager: string;
  readonly testing_repository: string | null;
}

/** What the plan activity read. */
export interface BranchState {
  readonly release: string;
  /** Bodhi's record of the asked release and of the next one, null where Bodhi has none. */
  readonly bodhi: { readonly asked: Partial<BodhiReleaseFields> | null; readonly next: Partial<BodhiReleaseFields> | null };
  /** Every tag the plan looks at: null when Koji has no such tag. */
  readonly tags: Readonly<Record<string, TagState | null>>;
  readonly targets: Readonly<Record<string, TargetSpec | null>>;
  /** Latest builds in rawhide's tag, for the plan's words. */
  readonly rawhideBuilds: number;
  /** Rawhide's OSTree refs (`fedora/rawhide/<arch>/<variant>`) and their commits; the release's refs that exist already. */
  readonly ostree?: { readonly rawhide: readonly { readonly ref: string; readonly commit: string }[]; readonly existing: readonly string[] };
}

export interface BranchPlan {
  readonly release: string;
  readonly version: number;
  readonly next: number;
  readonly snapshot: { readonly src: string; readonly dst: string; readonly builds: number };
  /** In creation order (parents first); undone in reverse. */
  readonly createTags: readonly TagSpec[];
  readonly inheritance: readonly { readonly tag: string; readonly before: readonly InheritanceLink[]; readonly after: readonly InheritanceLink[] }[];
  readonly createTargets: readonly ({ readonly name: string } & TargetSpec)[];
  readonly editTargets: readonly { readonly name: string; readonly before: TargetSpec; readonly after: TargetSpec }[];
  readonly bodhi: {
    readonly edit: { readonly before: Partial<BodhiReleaseFields>; readonly after: BodhiReleaseFields };
    readonly create: BodhiReleaseFields;
  };
  /** The branched release's OSTree refs, each made at rawhide's last commit of the same tree. */
  readonly ostree?: readonly { readonly ref: string; readonly from: string; readonly commit: string }[];
  /** Configuration that follows the release (gating lanes), and the rows it replaces, for undo. */
  readonly config?: ReleaseConfigChange;
}

export interface ReleaseConfigChange {
  readonly entries: readonly ReleaseConfigEntry[];
  readonly before: readonly (ReleaseConfigEntry | null)[];
}

/** Rawhide's OSTree refs live under this prefix; a branched release's under `fedora/<N>/`. */
export const RAWHIDE_OSTREE_PREFIX = 'fedora/rawhide/';

/** Why a branch cannot be made: said to the operator as is. */
export class BranchRefused extends Error {
  override name = 'BranchRefused';
}

const RAWHIDE_SUFFIXES = ['', '-build', '-override', '-updates-candidate', '-signing-pending', '-updates-testing-pending'] as const;
const BRANCHED_SUFFIXES = ['-updates', '-updates-testing', '-updates-pending'] as const;

/** `F45` → 45. */
export function releaseVersion(name: string): number {
  const m = /^F([1-9]\d{0,3})$/.exec(name);
  if (!m) throw new BranchRefused(`${name} is not a Fedora release name (F45, F46, ...)`);
  return Number(m[1]);
}

/** The tags and targets a plan for `release` must read. */
export function branchInterest(release: string): { tags: string[]; targets: string[]; next: string } {
  const n = releaseVersion(release);
  const f = (v: number, suffix: string) => `f${v}${suffix}`;
  return {
    tags: [...RAWHIDE_SUFFIXES.map((s) => f(n, s)), ...BRANCHED_SUFFIXES.map((s) => f(n, s)), ...RAWHIDE_SUFFIXES.map((s) => f(n + 1, s))],
    targets: ['rawhide', `f${n}`, `f${n}-candidate`, `f${n + 1}`],
    next: `F${n + 1}`,
  };
}

/** Bodhi's record of a Fedora release in the layout above. */
export function bodhiRelease(version: number, branched: boolean): BodhiReleaseFields {
  const f = `f${version}`;
  return {
    name: `F${version}`,
    long_name: `Fedora ${version}`,
    version: String(version),
    branch: branched ? f : 'rawhide',
    id_prefix: 'FEDORA',
    dist_tag: f,
    stable_tag: branched ? `${f}-updates` : f,
    testing_tag: `${f}-updates-testing`,
    candidate_tag: `${f}-updates-candidate`,
    pending_signing_tag: `${f}-signing-pending`,
    pending_testing_tag: `${f}-updates-testing-pending`,
    pending_stable_tag: `${f}-updates-pending`,
    override_tag: `${f}-override`,
    state: 'pending',
    composed_by_bodhi: branched,
    create_automatic_updates: !branched,
    package_manager: 'dnf',
    testing_repository: branched ? 'updates-testing' : null,
  };
}

/** The plan, or BranchRefused saying why not (unknown release, not rawhide, already branched). */
export function planBranch(state: BranchState): BranchPlan {
  const n = releaseVersion(state.release);
  const next = n + 1;
  const f = (v: number, suffix = '') => `f${v}${suffix}`;
  const asked = state.bodhi.asked;
  if (!asked) throw new BranchRefused(`Bodhi knows no release ${state.release}`);
  const already = [
    ...(state.bodhi.next ? [`Bodhi has F${next}`] : []),
    ...BRANCHED_SUFFIXES.map((s) => f(n, s)).filter((t) => state.tags[t]),
    ...RAWHIDE_SUFFIXES.map((s) => f(next, s)).filter((t) => state.tags[t]),
    ...[`f${n}-candidate`, `f${next}`].filter((t) => state.targets[t]),
  ];
  if (asked.branch !== 'rawhide') {
    throw new BranchRefused(`${state.release} is not rawhide: its branch is ${asked.branch ?? 'unset'}${already.length > 0 ? ` (already branched: ${already.join(', ')} exist)` : ''}`);
  }
  const existingRefs = state.ostree?.existing ?? [];
  if (already.length + existingRefs.length > 0) {
    throw new BranchRefused(`${state.release} is rawhide but half of a branch is left over (a run aborted without its undo?): ${[...already, ...existingRefs].join(', ')} exist`);
  }
  const missing = RAWHIDE_SUFFIXES.map((s) => f(n, s)).filter((t) => !state.tags[t]);
  if (missing.length > 0) throw new BranchRefused(`rawhide's tags are not all in Koji: ${missing.join(', ')} missing`);
  const rawhide = state.targets['rawhide'];
  const expected: TargetSpec = { build_tag: f(n, '-build'), dest_tag: f(n, '-updates-candidate') };
  if (!rawhide || rawhide.build_tag !== expected.build_tag || rawhide.dest_tag !== expected.dest_tag) {
    throw new BranchRefused(`rawhide does not build ${state.release}: the rawhide target is ${rawhide ? `${rawhide.build_tag} -> ${rawhide.dest_tag}` : 'missing'}`);
  }
  const arches = state.tags[f(n, '-build')]?.arches ?? null;
  // The new rawhide's tags take the permission and extra settings of rawhide's tags of the same role.
  const like = (suffix: string) => {
    const counterpart = state.tags[f(n, suffix)];
    return { ...(counterpart?.perm ? { perm: counterpart.perm } : {}), ...(counterpart?.extra && Object.keys(counterpart.extra).length ? { extra: counterpart.extra } : {}) };
  };
  const inheritanceOf = (tag: string) => state.tags[tag]?.inheritance ?? [];
  return {
    release: state.release,
    version: n,
    next,
    snapshot: { src: f(n), dst: f(next), builds: state.rawhideBuilds },
    createTags: [
      // The new rawhide: its content tag comes from the snapshot; the rest are made here, parents first.
      { name: f(next, '-override'), parent: f(next), arches: null, ...like('-override') },
      { name: f(next, '-build'), parent: f(next, '-override'), arches, ...like('-build') },
      { name: f(next, '-updates-candidate'), parent: f(next), arches: null, ...like('-updates-candidate') },
      { name: f(next, '-signing-pending'), parent: f(next), arches: null, ...like('-signing-pending') },
      { name: f(next, '-updates-testing-pending'), parent: f(next), arches: null, ...like('-updates-testing-pending') },
      // The branched release's updates tags.
      { name: f(n, '-updates'), parent: f(n), arches: null },
      { name: f(n, '-updates-testing'), parent: f(n, '-updates'), arches: null },
      { name: f(n, '-updates-pending'), parent: f(n, '-updates-testing'), arches: null },
    ],
    inheritance: [f(n, '-override'), f(n, '-updates-candidate')].map((tag) => ({ tag, before: inheritanceOf(tag), after: [{ name: f(n, '-updates'), priority: 0 }] })),
    createTargets: [
      { name: f(n, '-candidate'), ...expected },
      { name: f(next), build_tag: f(next, '-build'), dest_tag: f(next, '-updates-candidate') },
    ],
    editTargets: [{ name: 'rawhide', before: rawhide, after: { build_tag: f(next, '-build'), dest_tag: f(next, '-updates-candidate') } }],
    bodhi: { edit: { before: asked, after: bodhiRelease(n, true) }, create: bodhiRelease(next, false) },
    ostree: (state.ostree?.rawhide ?? []).map((r) => ({ ref: `fedora/${n}/${r.ref.slice(RAWHIDE_OSTREE_PREFIX.length)}`, from: r.ref, commit: r.commit })),
  };
}

/** The plan in words, one change a line, as `release branch --dry-run` prints it. */
export function describeBranchPlan(plan: BranchPlan): string {
  const link = (l: InheritanceLink) => `${l.name} (${l.priority})`;
  const target = (t: TargetSpec) => `${t.build_tag} -> ${t.dest_tag}`;
  const changed = Object.entries(plan.bodhi.edit.after).filter(([k, v]) => plan.bodhi.edit.before[k as keyof BodhiReleaseFields] !== v);
  return [
    `Branch ${plan.release} from rawhide; rawhide moves to ${plan.next}.`,
    'Koji:',
    `  snapshot ${plan.snapshot.src} -> ${plan.snapshot.dst} (latest builds only: ${plan.snapshot.builds})`,
    ...plan.createTags.map((t) => `  create tag ${t.name}${t.parent ? ` inheriting ${t.parent}` : ''}${t.arches ? ` [${t.arches}]` : ''}${t.perm ? ` perm ${t.perm}` : ''}${t.extra ? ` extra ${JSON.stringify(t.extra)}` : ''}`),
    ...plan.inheritance.map((i) => `  inheritance of ${i.tag}: ${i.before.map(link).join(', ') || 'none'} -> ${i.after.map(link).join(', ')}`),
    ...plan.createTargets.map((t) => `  create target ${t.name}: ${target(t)}`),
    ...plan.editTargets.map((t) => `  edit target ${t.name}: ${target(t.before)} => ${target(t.after)}`),
    'Bodhi:',
    `  edit release ${plan.release}: ${changed.map(([k, v]) => `${k} ${JSON.stringify(plan.bodhi.edit.before[k as keyof BodhiReleaseFields] ?? null)} -> ${JSON.stringify(v)}`).join(', ')}`,
    `  create release ${plan.bodhi.create.name} (rawhide): ${Object.entries(plan.bodhi.create).filter(([k]) => k !== 'name').map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`,
    'OSTree:',
    ...(plan.ostree?.length ? plan.ostree.map((r) => `  create ref ${r.ref} at ${r.from}'s last commit ${r.commit.slice(0, 12)}`) : ['  no rawhide trees']),
    'Configuration:',
    ...(plan.config?.entries.length ? plan.config.entries.map((e) => `  ${e.kind} ${e.name}: ${e.active ? `${e.value?.gateTag ?? ''} -> ${e.value?.releaseTag ?? ''}` : 'stopped'}`) : ['  no gating lane releases into this release']),
    'Bus:',
    '  releng-o-tron.release.branched',
  ].join('\n');
}
