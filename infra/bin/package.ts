import { resolve } from 'node:path';
import { packLibrary } from '../lib/libraryPackage.ts';

// `npm run package [-- DIR]`: @lambda-infra/shared as an npm tarball (the layer's code, with its types) in DIR.
const destination = resolve(process.argv[2] ?? 'dist');
console.log(await packLibrary(destination));
