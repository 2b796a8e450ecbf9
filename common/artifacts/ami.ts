import { kojiImage } from './kind.js';

// Built from the raw image; registering it in EC2 is fedimg's job and out of reach here.
export const Ami = kojiImage({ kind: 'ami', description: 'Amazon machine image, from the raw image', format: 'raw-xz', pdcFormats: ['ami'], tested: null, mirrorDir: (arch) => `Cloud/${arch}/ami` });
