import { kojiImage } from './kind.js';

// Installer media boot an installer, not a cloud-init image: no Tunir plan applies.
export const Iso = kojiImage({ kind: 'iso', description: 'Installation ISO (netinst, dvd)', format: 'iso', tested: null, mirrorDir: (arch) => `Everything/${arch}/iso` });
