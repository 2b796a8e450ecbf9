import { kojiImage } from './kind.js';

export const CloudRaw = kojiImage({ kind: 'cloud-raw', description: 'Cloud Base raw image, xz-compressed', format: 'raw-xz', pdcFormats: ['raw-xz', 'raw.xz'], mirrorDir: (arch) => `Cloud/${arch}/images` });
