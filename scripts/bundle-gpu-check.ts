/**
 * Packs the hand-over for the GPU checks: everything a fresh Linux x86-64 GPU machine with no Node.js and
 * no internet needs, in one archive:
 *   bin/node                  this Node binary (process.execPath), without its debug symbols
 *   infobatch.mjs             the CLI and the gpu-check benchmark, bundled by esbuild into one file
 *   cuda-tests.mjs            test/cuda.test.ts, bundled the same way
 *   native/cuda/src, scripts/build-cuda.mjs, include/node, node_modules/node-addon-api
 *                             what building the cuda addon on that machine needs besides nvcc
 *   *.wasm                    tfjs-backend-wasm's binaries, where its loader looks (beside the bundle)
 *   gpu-check-cuda.sh, gpu-real-run.sh, gpu-data.sh, gpu-check-torch.py, torch_resnet.py
 * and with --webgpu also the webgpu check's parts:
 *   dist/linux-x64/dawn.node  the `webgpu` package's Dawn addon, where its loader looks (beside the bundle)
 *   lib/                      the Vulkan loader and glvnd's libEGL and libGLdispatch, if this machine has them
 *   gpu-check.sh
 *
 * The device tool carries at most 64 MiB with the working tree (~7 MiB), so the cuda hand-over is
 * xz-compressed (~25 MiB; the Node binary is most of it) and goes with the full Fashion-MNIST as xz'd idx
 * files (~27 MiB), for the real training run of docs/gpu-check.md: both land in build/gpu-carry/, the one
 * folder to carry. The webgpu hand-over (tar.gz with Dawn, ~43 MiB) goes to build/gpu-check/ as before.
 * Usage: npm run gpu-check:bundle [-- --webgpu] [-- --data DIR] [-- --out DIR]   (--data: Fashion-MNIST's four
 * idx files, default Debian's /usr/share/datasets/fashion-mnist; the cuda hand-over is packed without data if
 * none is found. --out: where gpu-carry/ (or gpu-check/) and the unpacked gpu-pack/ go, default build/, so a
 * test can pack one without touching a hand-over prepared there)
 */
import { build, type Plugin } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = 'infobatch-gpu-check';
/** What the device tool may carry, less the working tree and a margin. */
const CARRY_LIMIT_BYTES = 56 * 1024 * 1024;
const WEBGPU_LIMIT_BYTES = 60 * 1024 * 1024;
const FASHION_MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
const DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(repo, 'package.json'));

// ESM bundle of CommonJS packages: tfjs-backend-wasm calls require('fs') and reads __dirname.
const BANNER = [
  "import { createRequire as __ibCreateRequire } from 'node:module';",
  "import { fileURLToPath as __ibFileURLToPath } from 'node:url';",
  "import { dirname as __ibDirnameOf } from 'node:path';",
  'const require = __ibCreateRequire(import.meta.url);',
  'const __ibFilename = __ibFileURLToPath(import.meta.url);',
  'const __ibDirname = __ibDirnameOf(__ibFilename);',
].join(' ');

function sizeOf(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * What building the cuda addon on the GPU machine needs besides nvcc: its sources and build script,
 * node-addon-api's headers and Node's N-API headers (no Node.js is installed there).
 */
function copyCudaSources(folder: string): void {
  const sources = join(repo, 'native', 'cuda', 'src');
  mkdirSync(join(folder, 'native', 'cuda', 'src'), { recursive: true });
  for (const name of readdirSync(sources)) copyFileSync(join(sources, name), join(folder, 'native', 'cuda', 'src', name));
  mkdirSync(join(folder, 'scripts'), { recursive: true });
  copyFileSync(join(repo, 'scripts', 'build-cuda.mjs'), join(folder, 'scripts', 'build-cuda.mjs'));
  const addonApi = dirname(require.resolve('node-addon-api/package.json'));
  mkdirSync(join(folder, 'node_modules', 'node-addon-api'), { recursive: true });
  for (const name of ['napi.h', 'napi-inl.h', 'napi-inl.deprecated.h', 'package.json']) copyFileSync(join(addonApi, name), join(folder, 'node_modules', 'node-addon-api', name));
  const nodeInclude = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find((dir) => existsSync(join(dir, 'node_api.h')));
  if (!nodeInclude) throw new Error("Node's headers (node_api.h) not found: install them (Debian: libnode-dev) to pack the cuda build");
  mkdirSync(join(folder, 'include', 'node'), { recursive: true });
  for (const name of ['node_api.h', 'node_api_types.h', 'js_native_api.h', 'js_native_api_types.h']) copyFileSync(join(nodeInclude, name), join(folder, 'include', 'node', name));
}

/** The Node binary without debug symbols (86 instead of 99 MiB for Node 20), or as it is where strip is missing. */
function copyNode(target: string): void {
  const stripped = spawnSync('strip', ['--strip-all', '-o', target, process.execPath], { encoding: 'utf8' });
  const runs = stripped.status === 0 && spawnSync(target, ['--version'], { encoding: 'utf8' }).stdout.trim() === process.version;
  if (!runs) {
    console.warn(`note: strip failed or is missing (${(stripped.stderr || String(stripped.error ?? '')).trim().split('\n')[0]}); packing the Node binary as it is`);
    copyFileSync(process.execPath, target);
  }
  chmodSync(target, 0o755);
}

/** Fashion-MNIST's idx files from `dir` (plain or .gz) as .xz files in `target`; false if `dir` lacks one.
 *  A pack made from the same source files (path, size, mtime, in target/source.json) is kept: xz -9 of
 *  the training images takes most of a minute. */
function packFashionMnist(dir: string, target: string): boolean {
  const sources = FASHION_MNIST_FILES.map((stem) => [join(dir, stem), join(dir, `${stem}.gz`)].find((path) => existsSync(path)));
  if (sources.some((path) => path === undefined)) return false;
  const stamp = JSON.stringify(sources.map((path) => ({ path: resolve(path!), size: statSync(path!).size, mtimeMs: statSync(path!).mtimeMs })));
  const stampPath = join(target, 'source.json');
  const packed = FASHION_MNIST_FILES.map((stem) => join(target, `${stem}.xz`));
  if (existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp && packed.every((path) => existsSync(path))) return true;
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  for (const [i, source] of sources.entries()) {
    const raw = source!.endsWith('.gz') ? gunzipSync(readFileSync(source!)) : readFileSync(source!);
    writeFileSync(packed[i]!, execFileSync('xz', ['-9', '-T2', '-c'], { input: raw, maxBuffer: 256 * 2 ** 20 }));
  }
  writeFileSync(stampPath, stamp);
  return true;
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

async function main(): Promise<number> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(`bundle-gpu-check: the hand-over is for linux-x64; this is ${process.platform}-${process.arch}`);
    return 1;
  }
  const webgpu = process.argv.includes('--webgpu');
  const dataDir = option('--data');
  if (dataDir !== undefined && !existsSync(dataDir)) {
    console.error(`bundle-gpu-check: --data ${dataDir} does not exist`);
    return 2;
  }
  if (!webgpu && spawnSync('xz', ['--version']).status !== 0) {
    console.error('bundle-gpu-check: xz is needed to pack the cuda hand-over small enough to carry (Debian: apt-get install xz-utils)');
    return 1;
  }
  const outRoot = resolve(option('--out') ?? join(repo, 'build'));
  const outDir = join(outRoot, webgpu ? 'gpu-check' : 'gpu-carry');
  const folder = join(outRoot, 'gpu-pack', NAME);
  const archive = join(outDir, `${NAME}.${webgpu ? 'tar.gz' : 'tar.xz'}`);
  rmSync(folder, { recursive: true, force: true });
  // The carried folder keeps its packed data (see packFashionMnist) and gets a new archive.
  rmSync(archive, { force: true });
  mkdirSync(join(folder, 'bin'), { recursive: true });
  mkdirSync(outDir, { recursive: true });

  // Figures need the canvas addon (a 35 MiB native module) and the bundled font, which would crowd the
  // carry limit; the GPU machine has no use for them, as its logs come back and `infobatch visualize` draws
  // them here. Our PNG module is replaced by one that says so, which the report passes on as its warning.
  const stubFigures: Plugin = {
    name: 'stub-figures',
    setup(bundler) {
      bundler.onResolve({ filter: /[\\/]chart-png\.js$/ }, () => ({ path: 'chart-png', namespace: 'stub' }));
      bundler.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
        loader: 'js',
        contents:
          "export const FONT_FAMILY = 'DejaVu Sans';" +
          "export const renderChartPng = () => { throw new Error('the GPU-check bundle draws no figures'); };",
      }));
    },
  };
  // One single-file ESM bundle per entry point, all with the same settings.
  const bundle = (entryPoint: string, outfile: string) =>
    build({
      entryPoints: [entryPoint],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Optional native backends, absent here; the bundle reports them as not installed.
      external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
      plugins: [stubFigures],
      // tfjs-backend-cpu's package.json lists only its ESM files as having side effects, so esbuild would
      // drop the CommonJS import that registers the backend.
      ignoreAnnotations: true,
      define: { __dirname: '__ibDirname', __filename: '__ibFilename' },
      banner: { js: BANNER },
      logLevel: 'warning',
    });
  await bundle(join(repo, 'scripts', 'bundle-entry.ts'), join(folder, 'infobatch.mjs'));
  // The cuda tests too, so the GPU machine runs them with the bundled Node alone.
  await bundle(join(repo, 'test', 'cuda.test.ts'), join(folder, 'cuda-tests.mjs'));
  copyCudaSources(folder);

  copyNode(join(folder, 'bin', 'node'));
  const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const name of readdirSync(wasmDir).filter((n) => n.endsWith('.wasm'))) copyFileSync(join(wasmDir, name), join(folder, name));
  const scripts = ['gpu-check-cuda.sh', 'gpu-real-run.sh', 'gpu-data.sh', 'gpu-check-torch.py', 'torch_resnet.py', ...(webgpu ? ['gpu-check.sh'] : [])];
  for (const name of scripts) {
    copyFileSync(join(repo, 'scripts', name), join(folder, name));
    if (name.endsWith('.sh')) chmodSync(join(folder, name), 0o755);
  }
  if (webgpu) copyWebgpuParts(folder);

  execFileSync('tar', [webgpu ? '-czf' : '-cJf', archive, '-C', dirname(folder), NAME], { env: { ...process.env, XZ_OPT: '-6 -T2' } });
  console.log(`hand-over folder ${folder}: ${mib(sizeOf(folder))} unpacked`);
  console.log(`hand-over archive ${archive}: ${mib(sizeOf(archive))}`);
  if (!webgpu) {
    const data = dataDir ?? (existsSync(DEBIAN_FASHION_MNIST) ? DEBIAN_FASHION_MNIST : undefined);
    if (data && packFashionMnist(data, join(outDir, 'fashion-mnist'))) console.log(`Fashion-MNIST from ${data}: ${mib(sizeOf(join(outDir, 'fashion-mnist')))} in ${join(outDir, 'fashion-mnist')}`);
    else {
      rmSync(join(outDir, 'fashion-mnist'), { recursive: true, force: true });
      console.warn(`note: no Fashion-MNIST idx files in ${data ?? DEBIAN_FASHION_MNIST} (--data DIR): the hand-over's training steps will skip`);
    }
  }
  const total = sizeOf(outDir);
  const limit = webgpu ? WEBGPU_LIMIT_BYTES : CARRY_LIMIT_BYTES;
  console.log(`to carry: ${outDir} (${mib(total)}, limit ${mib(limit)}); the device call is in docs/gpu-check.md`);
  if (total > limit) {
    console.error(`bundle-gpu-check: ${outDir} is over its ${mib(limit)} limit`);
    return 1;
  }
  return 0;
}

/** Dawn and the libraries the NVIDIA Vulkan driver needs, for the webgpu check (scripts/gpu-check.sh). */
function copyWebgpuParts(folder: string): void {
  mkdirSync(join(folder, 'dist', 'linux-x64'), { recursive: true });
  const webgpuDir = dirname(require.resolve('webgpu/package.json'));
  copyFileSync(join(webgpuDir, 'dist', 'linux-x64', 'dawn.node'), join(folder, 'dist', 'linux-x64', 'dawn.node'));
  // The NVIDIA Vulkan driver (libGLX_nvidia.so.0) fails to create an instance without glvnd's libEGL and
  // libGLdispatch: seen on an H200 machine whose image had neither.
  const systemLibDir = '/usr/lib/x86_64-linux-gnu';
  for (const lib of ['libvulkan.so.1', 'libGLdispatch.so.0', 'libEGL.so.1']) {
    const path = join(systemLibDir, lib);
    if (existsSync(path)) {
      mkdirSync(join(folder, 'lib'), { recursive: true });
      copyFileSync(realpathSync(path), join(folder, 'lib', lib));
    } else {
      console.warn(`note: ${path} not found (Debian: apt-get install libvulkan1 libglvnd0 libegl1); the hand-over will rely on the target's own`);
    }
  }
}

process.exitCode = await main();
