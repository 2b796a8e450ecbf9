/**
 * Real RPM files for the sandbox's Koji builds, made with rpmbuild: each build's package carries
 * `/usr/share/<name>/build.txt` (its N-V-R) and `/usr/share/doc/<name>/README.sandbox`. Builds
 * that share a version and release are made by one rpmbuild as subpackages (thousands of builds
 * take seconds), so their SOURCERPM names the group, not the build; nothing reads it. Files are
 * kept in a machine-wide cache by N-V-R: their content depends on nothing else.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RpmBuild {
  readonly name: string;
  readonly version: string;
  readonly release: string;
  /** The package's arch: `noarch`, or one of the arches Koji built it for (x86_64, aarch64, ...). */
  readonly arch: string;
}

export const DEFAULT_RPM_CACHE = join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'releng-o-tron', 'sandbox-rpms');

const nvrOf = (b: RpmBuild) => `${b.name}-${b.version}-${b.release}`;
export const rpmFileName = (b: RpmBuild): string => `${nvrOf(b)}.${b.arch}.rpm`;

/**
 * One spec for builds sharing version, release and arch. Every package carries its N-V-R in
 * `/usr/share/<name>/build.txt`; an arch package also `/usr/lib/<name>/arch` naming its arch, so a
 * tree shows which arch's package it was made from.
 */
function specFor(group: readonly RpmBuild[]): string {
  const first = group[0]!;
  const noarch = first.arch === 'noarch';
  const lines = [
    'Name: releng-o-tron-sandbox-builds', `Version: ${first.version}`, `Release: ${first.release}`, 'Summary: sandbox builds', 'License: MIT',
    ...(noarch ? ['BuildArch: noarch'] : ['%global debug_package %{nil}']),
    '%description', 'Packages standing in for Koji builds in the releng-o-tron sandbox.',
  ];
  for (const b of group) {
    lines.push(`%package -n ${b.name}`, `Summary: ${b.name} (sandbox build ${nvrOf(b)})`, `%description -n ${b.name}`, `The sandbox's ${nvrOf(b)}.`);
  }
  lines.push('%install');
  for (const b of group) {
    lines.push(
      `mkdir -p %{buildroot}/usr/share/${b.name} %{buildroot}/usr/share/doc/${b.name}`,
      `echo '${nvrOf(b)}' > %{buildroot}/usr/share/${b.name}/build.txt`,
      `echo 'Built by the releng-o-tron sandbox as ${nvrOf(b)}.' > %{buildroot}/usr/share/doc/${b.name}/README.sandbox`,
      ...(noarch ? [] : [`mkdir -p %{buildroot}/usr/lib/${b.name}`, `echo '${b.arch}' > %{buildroot}/usr/lib/${b.name}/arch`]),
    );
  }
  for (const b of group) {
    lines.push(`%files -n ${b.name}`, `/usr/share/${b.name}/build.txt`, `/usr/share/doc/${b.name}/README.sandbox`, ...(noarch ? [] : [`/usr/lib/${b.name}/arch`]));
  }
  return `${lines.join('\n')}\n`;
}

/** The RPM file of each build and arch, made if the cache lacks it; keyed by `<nvr>.<arch>`. */
export async function ensureRpms(builds: readonly RpmBuild[], cacheDir = DEFAULT_RPM_CACHE): Promise<Map<string, string>> {
  mkdirSync(cacheDir, { recursive: true });
  const missing = builds.filter((b) => !existsSync(join(cacheDir, rpmFileName(b))));
  const groups = new Map<string, RpmBuild[]>();
  for (const b of missing) {
    const key = `${b.version}\0${b.release}\0${b.arch}`;
    const group = groups.get(key) ?? [];
    if (!group.some((g) => g.name === b.name)) group.push(b);
    groups.set(key, group);
  }
  for (const group of groups.values()) {
    const top = mkdtempSync(join(tmpdir(), 'relengotron-rpmbuild-'));
    const { arch } = group[0]!;
    try {
      writeFileSync(join(top, 'builds.spec'), specFor(group));
      // Uncompressed payloads: the packages are tiny and rpmbuild is then quick. An arch package
      // holds no compiled code, so rpmbuild makes it for any --target on this host.
      await run(
        'rpmbuild',
        ['--define', `_topdir ${top}`, '--define', '_binary_payload w.ufdio', '--define', '_build_id_links none', '--quiet', ...(arch === 'noarch' ? [] : ['--target', arch]), '-bb', join(top, 'builds.spec')],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      const made = join(top, 'RPMS', arch);
      for (const file of readdirSync(made)) {
        copyFileSync(join(made, file), join(cacheDir, `${file}.part`));
        renameSync(join(cacheDir, `${file}.part`), join(cacheDir, file));
      }
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  }
  return new Map(builds.map((b) => [`${nvrOf(b)}.${b.arch}`, join(cacheDir, rpmFileName(b))]));
}
