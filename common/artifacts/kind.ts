/**
 * What an artifact kind of the push pipeline is: how it is composed, what tests it needs, how it
 * is signed and where it syncs. One module per kind in this folder, one line in index.ts.
 * Pure data and functions: workflows read it to plan a push, activities to carry it out.
 */
export interface ArtifactKind {
  /** Names the kind in runs, messages and config. */
  readonly kind: string;
  readonly description: string;
  /**
   * How PDC knows which builds it contains: build-images of these formats (`build-images/?
   * component_name=`), or release-component relationships of this type (`from_component` is
   * the artifact, `to_component` the package).
   */
  readonly impact:
    | { readonly by: 'build-images'; readonly imageFormats: readonly string[] }
    | { readonly by: 'relationship'; readonly type: string };
  /** OSTree commits from the mashed content, or an image task in Koji. */
  readonly compose:
    | { readonly method: 'ostree' }
    | {
        readonly method: 'koji-image';
        /** Koji's image-build --format. */
        readonly format: string;
        /** What productmd's images.json calls it (type and format). */
        readonly productmd: { readonly type: string; readonly format: string };
        /** How Koji's file names for this format end, after `.<arch>.` */
        readonly fileSuffix: string;
        /** The compose directory of an arch, which is also its mirror directory under the release. */
        dir(arch: string): string;
      };
  /** The compose-testing image type whose plan and provider test it; null: no VM test. */
  readonly testImageType: string | null;
  readonly sign: 'checksum' | 'ostree-commit';
  /**
   * Where it syncs, under the mirror root: `version` is the release's (29), `releaseDir` the
   * push's stream's directory of it (`updates/29`, `updates/testing/29`).
   */
  mirrorPath(where: { readonly version: string; readonly releaseDir: string }, arch: string): string;
}

/** productmd's image type and format for each Koji image format. */
const PRODUCTMD_NAMES: Readonly<Record<string, { type: string; format: string }>> = {
  qcow2: { type: 'qcow2', format: 'qcow2' },
  'raw-xz': { type: 'raw-xz', format: 'raw.xz' },
  'vagrant-libvirt': { type: 'vagrant-libvirt', format: 'vagrant-libvirt.box' },
  'vagrant-virtualbox': { type: 'vagrant-virtualbox', format: 'vagrant-virtualbox.box' },
  iso: { type: 'dvd', format: 'iso' },
};

/** Koji's image file extension for each --format (also productmd's format, but for iso). */
const KOJI_SUFFIXES: Readonly<Record<string, string>> = { qcow2: 'qcow2', 'raw-xz': 'raw.xz', 'vagrant-libvirt': 'vagrant-libvirt.box', 'vagrant-virtualbox': 'vagrant-virtualbox.box', iso: 'iso' };

/** An image Koji builds (image-build / livemedia), checksummed and synced beside its kind. */
export function kojiImage(spec: {
  kind: string;
  description: string;
  /** Koji's image format, also the compose-testing image type unless `tested` says otherwise. */
  format: string;
  /** PDC build-image formats; default: the Koji format. */
  pdcFormats?: readonly string[];
  /** The compose-testing image type; null when no VM test applies. */
  tested?: string | null;
  /** Under `<release>/`: the mirror directory of the arch. */
  mirrorDir: (arch: string) => string;
}): ArtifactKind {
  return {
    kind: spec.kind,
    description: spec.description,
    impact: { by: 'build-images', imageFormats: spec.pdcFormats ?? [spec.format] },
    compose: { method: 'koji-image', format: spec.format, productmd: PRODUCTMD_NAMES[spec.format] ?? { type: spec.format, format: spec.format }, fileSuffix: KOJI_SUFFIXES[spec.format] ?? spec.format, dir: spec.mirrorDir },
    testImageType: spec.tested === undefined ? spec.format : spec.tested,
    sign: 'checksum',
    mirrorPath: (where, arch) => `${where.releaseDir}/${spec.mirrorDir(arch)}`,
  };
}
