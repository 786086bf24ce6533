/**
 * Packs the hand-over for scripts/gpu-check.sh: everything a fresh Linux x86-64 GPU machine with no
 * Node.js and no internet needs to run the GPU check, in one tar.gz under 60 MiB:
 *   bin/node                  this Node binary (process.execPath)
 *   infobatch.mjs             the CLI and the gpu-check benchmark, bundled by esbuild into one file
 *   dist/linux-x64/dawn.node  the `webgpu` package's Dawn addon, where its loader looks (beside the bundle)
 *   *.wasm                    tfjs-backend-wasm's binaries, where its loader looks (beside the bundle)
 *   lib/                      the Vulkan loader and glvnd's libEGL and libGLdispatch, if this machine has them
 *   gpu-check.sh, gpu-check-torch.py, torch_resnet.py
 * Usage: npm run gpu-check:bundle [-- OUTDIR]   (default build/gpu-check)
 */
import { build, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIMIT_BYTES = 60 * 1024 * 1024;
const NAME = 'infobatch-gpu-check';
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

async function main(): Promise<number> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(`bundle-gpu-check: the hand-over is for linux-x64; this is ${process.platform}-${process.arch}`);
    return 1;
  }
  const outDir = resolve(process.argv[2] ?? join(repo, 'build', 'gpu-check'));
  const folder = join(outDir, NAME);
  const tarball = join(outDir, `${NAME}.tar.gz`);
  rmSync(folder, { recursive: true, force: true });
  rmSync(tarball, { force: true });
  mkdirSync(join(folder, 'bin'), { recursive: true });
  mkdirSync(join(folder, 'dist', 'linux-x64'), { recursive: true });

  // The canvas addon (a native module) only draws figures, which the GPU check never does: a stub that
  // says so keeps it out of the hand-over without breaking the CLI's other commands.
  const stubCanvas: Plugin = {
    name: 'stub-canvas',
    setup(bundler) {
      bundler.onResolve({ filter: /^@napi-rs\/canvas$/ }, () => ({ path: 'canvas', namespace: 'stub' }));
      bundler.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
        loader: 'js',
        contents:
          "const unavailable = () => { throw new Error('figures are not part of the GPU-check bundle; use an npm install of infobatch'); };" +
          'export const createCanvas = unavailable; export const GlobalFonts = { registerFromPath: unavailable };',
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
      plugins: [stubCanvas],
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

  copyFileSync(process.execPath, join(folder, 'bin', 'node'));
  chmodSync(join(folder, 'bin', 'node'), 0o755);
  const webgpuDir = dirname(require.resolve('webgpu/package.json'));
  copyFileSync(join(webgpuDir, 'dist', 'linux-x64', 'dawn.node'), join(folder, 'dist', 'linux-x64', 'dawn.node'));
  const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const name of readdirSync(wasmDir).filter((n) => n.endsWith('.wasm'))) copyFileSync(join(wasmDir, name), join(folder, name));
  for (const name of ['gpu-check.sh', 'gpu-check-cuda.sh', 'gpu-check-torch.py', 'torch_resnet.py']) copyFileSync(join(repo, 'scripts', name), join(folder, name));
  chmodSync(join(folder, 'gpu-check.sh'), 0o755);
  chmodSync(join(folder, 'gpu-check-cuda.sh'), 0o755);

  // The NVIDIA Vulkan driver (libGLX_nvidia.so.0) fails to create an instance without glvnd's libEGL and
  // libGLdispatch: seen on an H200 machine whose image had neither.
  const libs = ['libvulkan.so.1', 'libGLdispatch.so.0', 'libEGL.so.1'];
  const systemLibDir = '/usr/lib/x86_64-linux-gnu';
  for (const lib of libs) {
    const path = join(systemLibDir, lib);
    if (existsSync(path)) {
      mkdirSync(join(folder, 'lib'), { recursive: true });
      copyFileSync(realpathSync(path), join(folder, 'lib', lib));
    } else {
      console.warn(`note: ${path} not found (Debian: apt-get install libvulkan1 libglvnd0 libegl1); the hand-over will rely on the target's own`);
    }
  }

  execFileSync('tar', ['-czf', tarball, '-C', outDir, NAME]);
  const packed = sizeOf(tarball);
  console.log(`hand-over folder ${folder}: ${mib(sizeOf(folder))} unpacked`);
  console.log(`hand-over archive ${tarball}: ${mib(packed)} (limit ${mib(LIMIT_BYTES)})`);
  console.log(`on the GPU machine: tar xzf ${NAME}.tar.gz && ${NAME}/gpu-check.sh`);
  if (packed > LIMIT_BYTES) {
    console.error('bundle-gpu-check: the hand-over is over its 60 MiB limit');
    return 1;
  }
  return 0;
}

process.exitCode = await main();
