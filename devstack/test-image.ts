/**
 * The VM image compose tests boot, built by test-image/build.sh from Debian packages and cached
 * under ~/.cache/releng-o-tron by the hash of its sources, so it is built once per machine
 * (about 10 s plus a 70 MB kernel download) and rebuilt when the recipe changes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { explainSpawnFailure, SetupError } from './preflight.js';

const run = promisify(execFile);
const RECIPE_DIR = fileURLToPath(new URL('../../test-image/', import.meta.url));
const RECIPE_FILES = ['build.sh', 'init', 'udhcpc.script'];

export interface TestImage {
  readonly raw: string;
  readonly qcow2: string;
  /** Debian package names and versions it was built from. */
  readonly packages: string;
}

let building: Promise<TestImage> | undefined;

export function ensureTestImage(cacheRoot = join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'releng-o-tron')): Promise<TestImage> {
  building ??= (async () => {
    const hash = createHash('sha256');
    for (const file of RECIPE_FILES) hash.update(readFileSync(join(RECIPE_DIR, file)));
    const dir = join(cacheRoot, `test-image-${hash.digest('hex').slice(0, 12)}`);
    const image = { raw: join(dir, 'disk.raw'), qcow2: join(dir, 'disk.qcow2'), packages: join(dir, 'packages.txt') };
    if (existsSync(image.qcow2)) return image;
    const partial = `${dir}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    try {
      await run('bash', [join(RECIPE_DIR, 'build.sh'), partial], { maxBuffer: 16 * 1024 * 1024 });
      await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', join(partial, 'disk.raw'), join(partial, 'disk.qcow2')]);
      await rm(dir, { recursive: true, force: true });
      await rename(partial, dir);
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      const explained = explainSpawnFailure(err, 'Building the test VM image');
      if (explained instanceof SetupError) throw explained;
      throw new Error(`building the test VM image failed: ${(err as Error).message}`);
    }
    return image;
  })();
  return building;
}

/** The test image in each format a compose ships cloud images in, made once beside the image. */
export interface TestImageArtifacts {
  readonly qcow2: string;
  readonly rawXz: string;
  readonly vagrantLibvirtBox: string;
  readonly vagrantVirtualboxBox: string;
}

const OVF = (disk: string, capacity: number) => `<?xml version="1.0" encoding="UTF-8"?>
<Envelope ovf:version="1.0" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References><File ovf:id="file1" ovf:href="${disk}"/></References>
  <DiskSection><Info>Virtual disks</Info>
    <Disk ovf:capacity="${capacity}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="relengotron-test-image"><Info>releng-o-tron test image</Info>
    <VirtualHardwareSection><Info>Virtual hardware</Info>
      <Item><rasd:ElementName>1 CPU</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:ElementName>256 MB</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:ElementName>SATA</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>disk1</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;

let artifacts: Promise<TestImageArtifacts> | undefined;

export function ensureTestImageArtifacts(): Promise<TestImageArtifacts> {
  artifacts ??= (async () => {
    const image = await ensureTestImage();
    const dir = join(image.qcow2, '..');
    const made = {
      qcow2: image.qcow2,
      rawXz: join(dir, 'disk.raw.xz'),
      vagrantLibvirtBox: join(dir, 'libvirt.box'),
      vagrantVirtualboxBox: join(dir, 'virtualbox.box'),
    };
    if (!existsSync(made.rawXz)) {
      await run('bash', ['-c', `xz -1 -T0 -c "$1" > "$2.partial" && mv "$2.partial" "$2"`, 'xz', image.raw, made.rawXz]);
    }
    const { stdout } = await run('qemu-img', ['info', '--output=json', image.qcow2]);
    const virtualSize = (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'];
    if (!existsSync(made.vagrantLibvirtBox)) {
      const box = `${made.vagrantLibvirtBox}.d`;
      await rm(box, { recursive: true, force: true });
      await mkdir(box, { recursive: true });
      await run('cp', [image.qcow2, join(box, 'box.img')]);
      writeFileSync(join(box, 'metadata.json'), JSON.stringify({ provider: 'libvirt', format: 'qcow2', virtual_size: Math.ceil(virtualSize / 2 ** 30) }));
      writeFileSync(join(box, 'Vagrantfile'), 'Vagrant.configure("2") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = "kvm"\n  end\nend\n');
      await run('tar', ['-czf', `${made.vagrantLibvirtBox}.partial`, '-C', box, 'metadata.json', 'Vagrantfile', 'box.img']);
      await rename(`${made.vagrantLibvirtBox}.partial`, made.vagrantLibvirtBox);
      await rm(box, { recursive: true, force: true });
    }
    if (!existsSync(made.vagrantVirtualboxBox)) {
      const box = `${made.vagrantVirtualboxBox}.d`;
      await rm(box, { recursive: true, force: true });
      await mkdir(box, { recursive: true });
      await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', image.raw, join(box, 'box-disk1.vmdk')]);
      writeFileSync(join(box, 'box.ovf'), OVF('box-disk1.vmdk', virtualSize));
      writeFileSync(join(box, 'metadata.json'), JSON.stringify({ provider: 'virtualbox' }));
      writeFileSync(join(box, 'Vagrantfile'), 'Vagrant.configure("2") do |config|\n  config.vm.base_mac = "0800275F0936"\nend\n');
      await run('tar', ['-czf', `${made.vagrantVirtualboxBox}.partial`, '-C', box, 'box.ovf', 'box-disk1.vmdk', 'metadata.json', 'Vagrantfile']);
      await rename(`${made.vagrantVirtualboxBox}.partial`, made.vagrantVirtualboxBox);
      await rm(box, { recursive: true, force: true });
    }
    return made;
  })();
  return artifacts;
}

/** For sandbox composes: the test image's bytes for an images.json entry's type, or undefined. */
export function testImageFileFor(made: TestImageArtifacts, imageType: string): string | undefined {
  switch (imageType) {
    case 'qcow2':
      return made.qcow2;
    case 'raw-xz':
      return made.rawXz;
    case 'vagrant-libvirt':
      return made.vagrantLibvirtBox;
    case 'vagrant-virtualbox':
      return made.vagrantVirtualboxBox;
    default:
      return undefined;
  }
}
