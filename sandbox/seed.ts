/**
 * The sandbox's starting state, built from real Fedora data in sandbox/fixtures (copied from
 * ../shared/reference; see sandbox/README.md): the F29 release and its updates from a real
 * Bodhi message, their builds in Koji's F29 tags, PDC releases and components for them, the
 * real compose trees, and a real datagrepper capture.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BodhiRelease, BodhiUpdate } from './bodhi.js';
import type { KojiSeed } from './koji.js';
import type { PdcServer, PdcBuildImage, PdcCompose, PdcRelease, PdcReleaseComponent } from './pdc.js';
import type { StoredMessage } from './datagrepper.js';
import { bodhiRelease } from '../common/release-branch.js';

export const FIXTURES_DIR = fileURLToPath(new URL('../../sandbox/fixtures/', import.meta.url));
export const FIXTURE_COMPOSES_DIR = `${FIXTURES_DIR}composes`;

export function readFixture<T>(relative: string): T {
  return JSON.parse(readFileSync(`${FIXTURES_DIR}${relative}`, 'utf8')) as T;
}

/** Builds named in an update title: "a-1-1.fc29, b-2-1.fc29, and 1 more" / "a-1-1.fc29 and b-2-1.fc29". */
function buildsInTitle(title: string): string[] {
  return title
    .split(/,\s*(?:and\s+)?|\s+and\s+/)
    .map((s) => s.trim())
    .filter((s) => /^.+-[^-]+-[^-]+$/.test(s) && !/more$/.test(s));
}

const packageOf = (nvr: string) => nvr.replace(/-[^-]+-[^-]+$/, '');

export interface SandboxSeed {
  readonly koji: KojiSeed;
  readonly bodhi: { releases: BodhiRelease[]; updates: BodhiUpdate[] };
  readonly pdc: Parameters<PdcServer['seed']>[0];
  readonly datagrepper: StoredMessage[];
}

/**
 * Packages Koji builds per arch (the rest are noarch), as PDC's RPM records in the fixtures name
 * them (`earlyoom-0:1.3-2.fc29.x86_64`): their dist repos hold an x86_64 and an aarch64 RPM each.
 */
const ARCH_PACKAGES = new Set(['earlyoom', 'libntirpc', 'kernel']);
const archesOf = (name: string): { arches?: readonly string[] } => (ARCH_PACKAGES.has(name) ? { arches: ['x86_64', 'aarch64'] } : {});

const F29_TAGS = [
  'f29', 'f29-build', 'f29-override', 'f29-updates', 'f29-updates-candidate', 'f29-updates-testing',
  'f29-updates-testing-pending', 'f29-updates-pending', 'f29-signing-pending', 'f29-pending',
  // releng-o-tron's own: where a build that fails its gate waits (Fedora has no such tag)
  'f29-quarantine',
];

/** The release rawhide builds now, in the sandbox. */
export const RAWHIDE = 45;
const RAWHIDE_TAGS = ['', '-build', '-override', '-updates-candidate', '-signing-pending', '-updates-testing-pending'].map((s) => `f${RAWHIDE}${s}`);
const RAWHIDE_BUILDS = ['bash-5.2.37-1.fc45', 'bash-5.3.0-1.fc45', 'glibc-2.41-3.fc45', 'systemd-257.3-1.fc45', 'kernel-6.17.0-0.rc1.fc45'];

export function buildSeed(): SandboxSeed {
  const message = readFixture<{ msg: { update: BodhiUpdate & { compose: { update_summary: { alias: string; title: string }[] } } } }>(
    'messages/bodhi.update.complete.testing.bodhi4.json',
  );
  const real = message.msg.update;
  const { composes: _composes, ...f29 } = real.release as BodhiRelease & { composes?: unknown };
  const release: BodhiRelease = { ...f29, id: 23 };
  const updates: BodhiUpdate[] = real.compose.update_summary.map(({ alias, title }, index) => {
    const nvrs = alias === real.alias ? real.builds.map((b) => b.nvr) : buildsInTitle(title);
    const { compose: _compose, ...base } = real;
    return {
      ...base,
      alias,
      title,
      display_name: '',
      url: `https://bodhi.fedoraproject.org/updates/${alias}`,
      updateid: alias,
      release,
      status: 'testing',
      request: index % 4 === 0 ? 'stable' : null,
      locked: false,
      pushed: true,
      builds: nvrs.map((nvr) => ({ nvr, epoch: 0, type: 'rpm', signed: true, release_id: 23 })),
    };
  });
  const allNvrs = updates.flatMap((u) => u.builds.map((b) => b.nvr));
  const packages = [...new Set(allNvrs.map(packageOf))].sort();

  const tag = readFixture<{ msg: { name: string; version: string; release: string; owner: string; tag: string } }>('messages/buildsys.tag.json').msg;
  const koji: KojiSeed = {
    tags: [
      ...F29_TAGS.map((name) => ({ name, arches: name === 'f29-build' ? 'armv7hl i686 x86_64 aarch64 ppc64le s390x' : null })),
      { name: tag.tag },
      ...RAWHIDE_TAGS.map((name) => ({ name, arches: name === `f${RAWHIDE}-build` ? 'aarch64 ppc64le s390x x86_64' : null, ...(name === `f${RAWHIDE}` ? { perm: 'admin' } : {}), ...(name === `f${RAWHIDE}-build` ? { extra: { 'mock.package_manager': 'dnf5', 'mock.new_chroot': 1 } } : {}) })),
    ],
    builds: [
      ...updates.flatMap((u) =>
        u.builds.map((b) => ({ nvr: b.nvr, owner: String((u['user'] as { name?: string } | undefined)?.name ?? 'packager'), tags: ['f29-updates-testing'], ...archesOf(packageOf(b.nvr)) })),
      ),
      { nvr: `${tag.name}-${tag.version}-${tag.release}`, owner: tag.owner, tags: [tag.tag] },
      // Rawhide's content, with an older and a newer build of one package (a snapshot takes the latest only).
      ...RAWHIDE_BUILDS.map((nvr) => ({ nvr, owner: 'packager', tags: [`f${RAWHIDE}`] })),
    ],
    // Fedora's targets: f29 builds in f29-build and lands in f29-updates-candidate (image builds too);
    // rawhide (f45) builds in f45-build and lands in f45-updates-candidate, then gating moves it to f45.
    targets: [
      { name: 'f29', build_tag: 'f29-build', dest_tag: 'f29-updates-candidate' },
      { name: 'rawhide', build_tag: `f${RAWHIDE}-build`, dest_tag: `f${RAWHIDE}-updates-candidate` },
      { name: `f${RAWHIDE}`, build_tag: `f${RAWHIDE}-build`, dest_tag: `f${RAWHIDE}-updates-candidate` },
    ],
    inheritance: [
      // As Fedora's: testing sees what is stable (a testing tree is composed from both).
      { child: 'f29-updates-testing', parent: 'f29-updates', priority: 0 },
      { child: `f${RAWHIDE}-override`, parent: `f${RAWHIDE}`, priority: 0 },
      { child: `f${RAWHIDE}-build`, parent: `f${RAWHIDE}-override`, priority: 0 },
      { child: `f${RAWHIDE}-updates-candidate`, parent: `f${RAWHIDE}`, priority: 0 },
      { child: `f${RAWHIDE}-signing-pending`, parent: `f${RAWHIDE}`, priority: 0 },
      { child: `f${RAWHIDE}-updates-testing-pending`, parent: `f${RAWHIDE}`, priority: 0 },
    ],
  };

  const pdcReleases: PdcRelease[] = [28, 29].map((version) => ({
    release_id: `fedora-${version}`, short: 'fedora', version: String(version), name: 'Fedora', base_product: null,
    active: true, product_version: `fedora-${version}`, release_type: 'ga', compose_set: [], integrated_with: null,
    sigkey: version === 29 ? '429476b4' : '9db62fb1', allow_buildroot_push: false, allowed_debuginfo_services: [], allowed_push_targets: [],
  }));
  const components: PdcReleaseComponent[] = packages.map((name, i) => ({
    id: i + 1, name, release: { release_id: 'fedora-29', active: true }, bugzilla_component: null, brew_package: name,
    global_component: name, dist_git_branch: 'f29', dist_git_web_url: `https://src.fedoraproject.org/rpms/${name}/tree/f29`,
    active: true, type: 'rpm', srpm_name: name,
  }));
  const cloudRpms = ['kernel-0:5.1.7-200.fc29.x86_64', 'kernel-core-0:5.1.7-200.fc29.x86_64', 'earlyoom-0:1.3-2.fc29.x86_64', 'libntirpc-0:1.7.4-1.fc29.x86_64'];
  const buildImages: PdcBuildImage[] = [
    { url: '/build-images/1/', image_id: 'Fedora-Cloud-Base-29-20190606.0.x86_64.qcow2', image_format: 'qcow2', md5: '4f1de7d5c0c3a3a5b1e65f8b9a0a7c21', rpms: cloudRpms, archives: [{ build_nvr: 'Fedora-Cloud-Base-29-20190606.0', name: 'Fedora-Cloud-Base-29-20190606.0.x86_64.qcow2', size: 305004544, md5: '4f1de7d5c0c3a3a5b1e65f8b9a0a7c21' }], releases: ['fedora-29'] },
    { url: '/build-images/2/', image_id: 'Fedora-Cloud-Base-Vagrant-29-20190606.0.x86_64.vagrant-libvirt.box', image_format: 'vagrant-libvirt', md5: '7c9d0e2b51f4a1f0a86d2bd4c6e0c3f9', rpms: cloudRpms.slice(0, 2), archives: [{ build_nvr: 'Fedora-Cloud-Base-Vagrant-29-20190606.0', name: 'Fedora-Cloud-Base-Vagrant-29-20190606.0.x86_64.vagrant-libvirt.box', size: 291506176, md5: '7c9d0e2b51f4a1f0a86d2bd4c6e0c3f9' }], releases: ['fedora-29'] },
  ];
  const composes: PdcCompose[] = [
    { compose_id: 'Fedora-28-20180425.0', compose_date: '2018-04-25', compose_type: 'production', compose_respin: 0, release: 'fedora-28', compose_label: 'RC-1.1', deleted: false, rpm_mapping_template: '', sigkeys: ['9db62fb1'], acceptance_testing: 'untested', linked_releases: [], rtt_tested_architectures: {} },
  ];
  const raw = readFixture<{ raw_messages: StoredMessage[] }>('datagrepper/raw-response.2017-09-05.json');
  return {
    koji,
    bodhi: { releases: [release, { ...bodhiRelease(RAWHIDE, false), id: 500 }], updates },
    pdc: {
      releases: pdcReleases, components, buildImages, composes, srpmOf: { 'kernel-core': 'kernel', 'kernel-headers': 'kernel' },
      // What the F29 IoT OSTree includes (PDC keeps no OSTree records; releng-o-tron reads this relationship).
      relationships: ['kernel', 'earlyoom', 'libntirpc'].map((name, i) => ({
        id: i + 1, type: 'OSTreeIncludesRPM', from_component: { release: 'fedora-29', name: 'fedora-iot' }, to_component: { release: 'fedora-29', name },
      })),
    },
    datagrepper: raw.raw_messages,
  };
}
