import { kojiImage } from './kind.js';

export const VagrantVirtualbox = kojiImage({ kind: 'vagrant-virtualbox', description: 'Vagrant box for VirtualBox', format: 'vagrant-virtualbox', mirrorDir: (arch) => `Cloud/${arch}/images` });
