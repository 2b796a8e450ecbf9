/**
 * A push the size of a busy Fedora stable push, for the scale benchmark: `updates` updates of
 * F29 requested for stable, one build each in f29-updates-testing, and `artifacts` artifacts that
 * PDC says contain them (image builds across the image kinds and arches, and OSTree trees), each
 * build in one artifact. Real formats throughout: Bodhi updates, Koji builds, PDC build-images
 * and release-component relationships.
 */
import type { BodhiUpdate } from './bodhi.js';
import type { Sandbox } from './server.js';

const IMAGE_FORMATS = [
  { format: 'qcow2', ext: 'qcow2', prefix: 'Fedora-Cloud-Base' },
  { format: 'raw-xz', ext: 'raw.xz', prefix: 'Fedora-Cloud-Base' },
  { format: 'vagrant-libvirt', ext: 'vagrant-libvirt.box', prefix: 'Fedora-Cloud-Base-Vagrant' },
  { format: 'vagrant-virtualbox', ext: 'vagrant-virtualbox.box', prefix: 'Fedora-Cloud-Base-Vagrant' },
  { format: 'iso', ext: 'iso', prefix: 'Fedora-Everything-netinst' },
  { format: 'ami', ext: 'raw.xz', prefix: 'Fedora-Cloud-Base-AMI' },
] as const;
const ARCHES = ['x86_64', 'aarch64', 'ppc64le'] as const;

export interface LargePush {
  readonly updates: number;
  readonly builds: number;
  readonly imageArtifacts: number;
  readonly trees: number;
  /** push.ostreeTrees for the seeded trees: what each is made of (the builds PDC says it includes). */
  readonly ostreeTrees: Record<string, { refName: string; packages: string[] }>;
}

export function seedLargePush(sandbox: Sandbox, options: { updates: number; artifacts: number; trees: number }): LargePush {
  const release = sandbox.bodhi.releases.get('F29');
  if (!release) throw new Error('the sandbox has no F29 release');
  const images = options.artifacts - options.trees;
  const builds: string[] = [];
  const updates: BodhiUpdate[] = [];
  for (let n = 0; n < options.updates; n++) {
    const nvr = `bench-pkg${n}-1.0-1.fc29`;
    builds.push(nvr);
    const alias = `FEDORA-2026-${n.toString(16).padStart(10, '0')}`;
    updates.push({
      alias, title: nvr, status: 'testing', request: 'stable', locked: false, release, type: 'bugfix',
      date_submitted: `2026-11-${String(1 + (n % 20)).padStart(2, '0')} 10:00:00`, user: { name: 'packager' },
      builds: [{ nvr, epoch: 0, type: 'rpm', signed: true, release_id: Number(release['id'] ?? 23) }],
    });
  }
  sandbox.bodhi.seed([], updates);
  sandbox.koji.seed({ tags: [], builds: builds.map((nvr) => ({ nvr, owner: 'packager', tags: ['f29-updates-testing'] })) });
  const componentOf = (n: number) => `bench-pkg${n}`;
  const buildImages = Array.from({ length: images }, (_, i) => {
    const kind = IMAGE_FORMATS[i % IMAGE_FORMATS.length]!;
    const arch = ARCHES[Math.floor(i / IMAGE_FORMATS.length) % ARCHES.length]!;
    const name = `${kind.prefix}-${Math.floor(i / (IMAGE_FORMATS.length * ARCHES.length))}`;
    const nvr = `${name}-29-20261101.0`;
    const members = builds.map((_, n) => n).filter((n) => n % options.artifacts === i);
    return {
      url: `/build-images/${1000 + i}/`, image_id: `${nvr}.${arch}.${kind.ext}`, image_format: kind.format, md5: '0'.repeat(32),
      rpms: members.map((n) => `${componentOf(n)}-0:1.0-1.fc29.${arch}`), archives: [{ build_nvr: nvr, name: `${nvr}.${arch}.${kind.ext}`, size: 65536, md5: '0'.repeat(32) }],
      releases: ['fedora-29'],
    };
  });
  const relationships = builds.flatMap((_, n) => {
    const tree = n % options.artifacts - images;
    return tree >= 0 ? [{ id: 10_000 + n, type: 'OSTreeIncludesRPM', from_component: { release: 'fedora-29', name: `fedora-bench-tree${tree}` }, to_component: { release: 'fedora-29', name: componentOf(n) } }] : [];
  });
  sandbox.pdc.seed({ releases: [], components: [], buildImages, composes: [], srpmOf: {}, relationships });
  const ostreeTrees: LargePush['ostreeTrees'] = {};
  for (const { from_component: tree, to_component: component } of relationships) {
    (ostreeTrees[tree.name] ??= { refName: tree.name.replace(/^fedora-/, ''), packages: [] }).packages.push(component.name);
  }
  return { updates: updates.length, builds: builds.length, imageArtifacts: images, trees: options.trees, ostreeTrees };
}
