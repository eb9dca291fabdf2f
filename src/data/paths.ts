// Locates the data bundled with the package (data/ at the package root) from the compiled module.
// Not a downloader or a cache directory: it only resolves paths, it never reads ../shared or the network.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

// This file compiles to dist/src/data/paths.js, three levels below the package root.
const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Absolute path of a file under the package's bundled `data/` folder, e.g. `dataPath('gpt2', 'vocab.bpe')`. */
export function dataPath(...parts: string[]): string {
  return join(packageRoot, 'data', ...parts);
}

/** Absolute path of the package root (the folder holding package.json). */
export function packageRootPath(): string {
  return packageRoot;
}
