#!/usr/bin/env node
// Builds the native addon (build/Release/gptkit_native.node) with node-gyp; run by `npm install`.
// Never fails the install: without a compiler gptkit runs on the js backend. GPTKIT_SKIP_NATIVE=1 skips it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function warn(message) {
  console.warn(
    `gptkit: WARNING: ${message}\n` +
      `gptkit: the native addon is not available; gptkit will run on the (much slower) js backend.\n` +
      `gptkit: to retry, install a C compiler (gcc or clang), make and Python 3, then run 'npm rebuild gptkit'.`,
  );
}

/** node-gyp's entry script: the one npm points install scripts at, npm's bundled copy, or a local install. */
function findNodeGyp() {
  const bin = path.dirname(process.execPath);
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(bin, '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'), // Unix layout
    path.join(bin, 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'), // Windows layout
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  return candidates.find((p) => p && existsSync(p));
}

/** Node's own headers when they ship next to the binary, so node-gyp needs no download (offline builds). */
function localNodeDir() {
  if (process.env.npm_config_nodedir) return null; // npm passes it on to node-gyp itself
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

function main() {
  if (process.env.GPTKIT_SKIP_NATIVE === '1') {
    console.log('gptkit: GPTKIT_SKIP_NATIVE=1, not building the native addon (the js backend will be used)');
    return;
  }
  const args = ['rebuild', '--jobs=max'];
  const nodedir = localNodeDir();
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const gyp = findNodeGyp();
  const r = gyp
    ? spawnSync(process.execPath, [gyp, ...args], { cwd: root, stdio: 'inherit' })
    : spawnSync('npx', ['--yes', 'node-gyp', ...args], {
        cwd: root,
        stdio: 'inherit',
        shell: process.platform === 'win32',
      });
  if (r.error) warn(`could not run node-gyp: ${r.error.message}`);
  else if (r.status !== 0) warn(`node-gyp exited with status ${r.status} (see its output above)`);
  else console.log('gptkit: native addon built: build/Release/gptkit_native.node');
}

try {
  main();
} catch (e) {
  warn(e instanceof Error ? e.message : String(e));
}
process.exit(0);
