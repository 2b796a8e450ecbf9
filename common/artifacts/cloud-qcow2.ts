import { kojiImage } from './kind.js';

export const CloudQcow2 = kojiImage({ kind: 'cloud-qcow2', description: 'Cloud Base qcow2 image', format: 'qcow2', mirrorDir: (arch) => `Cloud/${arch}/images` });
