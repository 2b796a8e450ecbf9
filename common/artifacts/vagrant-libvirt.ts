import { kojiImage } from './kind.js';

export const VagrantLibvirt = kojiImage({ kind: 'vagrant-libvirt', description: 'Vagrant box for libvirt', format: 'vagrant-libvirt', mirrorDir: (arch) => `Cloud/${arch}/images` });
