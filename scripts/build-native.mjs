#!/usr/bin/env node
// Builds the optional native backend (native/ → native/build/Release/infobatch_native.node) with
// node-gyp. Run by `npm install`/`npm ci` (the "install" script) and by `npm run build:native`.
//
// The addon is optional: where oneDNN or a compiler is missing this prints one line saying why and how
// to get the fast path, and exits 0 so the install goes on; `auto` then falls back to the wasm backend.
// `--strict` (CI, `npm run build:native`) makes a failed build exit 1 instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const logPath = path.join(nativeDir, 'build-native.log');
const addonPath = path.join(nativeDir, 'build', 'Release', 'infobatch_native.node');
const strict = process.argv.includes('--strict');
const HOW = 'install oneDNN (Debian/Ubuntu: apt-get install libdnnl-dev; macOS: brew install onednn libomp) and a C++17 compiler, then run npm run build:native';

function done(ok, line) {
  console.log(`infobatch: ${line}`);
  process.exit(ok || !strict ? 0 : 1);
}

if (process.env.INFOBATCH_SKIP_NATIVE === '1') done(true, 'native backend not built (INFOBATCH_SKIP_NATIVE=1)');

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    // npm bundles node-gyp; node and npm share a prefix in the usual installs.
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

/** DNNL_ROOT if set (and only it), else the usual prefixes of apt, source installs and Homebrew. */
function findOneDnn() {
  const roots = process.env.DNNL_ROOT ? [process.env.DNNL_ROOT] : ['/usr', '/usr/local', '/opt/homebrew'];
  return roots.find((dir) => existsSync(path.join(dir, 'include', 'oneapi', 'dnnl', 'dnnl.hpp'))) ?? null;
}

const dnnlRoot = findOneDnn();
if (!dnnlRoot) done(false, `native backend not built: oneDNN headers not found; to get the fast CPU backend, ${HOW}`);
const nodeGyp = findNodeGyp();
if (!nodeGyp) done(false, `native backend not built: node-gyp not found (it ships with npm); ${HOW}`);

const args = [nodeGyp, 'rebuild', '--directory', nativeDir, '--jobs', 'max'];
// Use the headers installed with node when present, so the build needs no download.
const nodePrefix = path.resolve(path.dirname(process.execPath), '..');
if (existsSync(path.join(nodePrefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodePrefix}`);

mkdirSync(nativeDir, { recursive: true });
const build = spawnSync(process.execPath, args, {
  cwd: root,
  env: { ...process.env, DNNL_ROOT: dnnlRoot },
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
});
writeFileSync(logPath, `${build.stdout ?? ''}${build.stderr ?? ''}${build.error ? String(build.error) : ''}`);
if (build.status !== 0 || !existsSync(addonPath)) {
  done(false, `native backend not built: the compile failed (log: ${path.relative(root, logPath)}); ${HOW}`);
}

// Load it once: a library missing at run time (libdnnl.so) shows here rather than at training time.
const check = spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(addonPath)}).info()))`], {
  encoding: 'utf8',
});
if (check.status !== 0) {
  const reason = (check.stderr || '').split('\n').find((l) => l.trim()) ?? 'unknown error';
  done(false, `native backend built but does not load: ${reason.slice(0, 200)}; ${HOW}`);
}
const info = JSON.parse(check.stdout);
done(true, `native backend built (oneDNN ${info.onednn}, ${info.isa}, ${path.relative(root, addonPath)})`);
