#!/usr/bin/env node
// Builds the optional `cuda` backend's addon (native/cuda → native/cuda/build/infobatch_cuda.node) with
// nvcc and the host C++ compiler directly (no node-gyp: it has no rule for .cu files). Run by
// `npm install` (after the oneDNN addon) and strictly by `npm run build:cuda`.
//
// Needs only nvcc and the CUDA runtime headers: cudart is linked statically, so the addon loads with
// the driver's libcuda alone; cuDNN 9 and cuBLAS are opened at run time (src/backend/cuda/libraries.ts
// finds them, pip's nvidia-* wheels included), so their SDKs are not needed to build. Where the vendors'
// cudnn.h and cublas_api.h are found, native/cuda/src/check_headers.cc is compiled too: it checks our
// declarations of their API against the real headers.
//
// Without nvcc this prints one line and exits 0 (never failing `npm ci`); `--strict` exits 1 instead.
//
// `--host-emulation` (tests only, see docs/cuda-host-emulation.md) builds the same sources with g++ alone
// for the CPU, against native/cuda/host's fake CUDA runtime and stand-ins for the cuDNN/cuBLAS parts,
// into native/cuda/build-host/infobatch_cuda_host.node. There `--strict` exits 3 when a prerequisite is
// missing (not x86-64, no g++, no node headers) and 1 when the build itself fails.
// Environment: CUDA_HOME / CUDA_PATH (toolkit root), INFOBATCH_CUDA_ARCH (e.g. "sm_90"; default: sm_80,
// sm_90 and compute_90 PTX for newer GPUs), INFOBATCH_SKIP_CUDA=1, NODE_INCLUDE_DIR (node's headers),
// CUDNN_INCLUDE_DIR / CUBLAS_INCLUDE_DIR (for the header check).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sourceDir = path.join(root, 'native', 'cuda', 'src');
const buildDir = path.join(root, 'native', 'cuda', 'build');
const addonPath = path.join(buildDir, 'infobatch_cuda.node');
const logPath = path.join(buildDir, 'build.log');
const strict = process.argv.includes('--strict');
const hostEmulation = process.argv.includes('--host-emulation');
const HOW = 'install the CUDA toolkit 12 or 13 (nvcc), set CUDA_HOME if it is not in /usr/local/cuda, then run npm run build:cuda';

/** The addon's sources in native/cuda/src: kernels (nvcc) and host code (the host C++ compiler). */
const KERNEL_SOURCES = ['kernels.cu', 'reduce.cu'];
const HOST_SOURCES = ['runtime.cc', 'device_allocator.cc', 'libraries.cc', 'dnn.cc', 'blas.cc', 'addon.cc'];

/** Exit status under --strict: 1 a failed build, 3 (host emulation) a missing prerequisite. */
const FAILED = 1;
const UNAVAILABLE = 3;

function done(ok, line, failure = FAILED) {
  console.log(`infobatch: ${line}`);
  process.exit(ok || !strict ? 0 : failure);
}

function findCudaRoot() {
  const candidates = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda', ...cudaVersionDirs('/usr/local'), '/opt/cuda', '/usr'];
  for (const dir of candidates) if (dir && existsSync(path.join(dir, 'bin', 'nvcc'))) return dir;
  const onPath = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  if (onPath.status === 0 && onPath.stdout.trim()) return path.resolve(path.dirname(onPath.stdout.trim()), '..');
  return null;
}

function cudaVersionDirs(parent) {
  try {
    return readdirSync(parent).filter((name) => /^cuda-\d+/.test(name)).sort().reverse().map((name) => path.join(parent, name));
  } catch {
    return [];
  }
}

/** The CUDA runtime's include and library folders under a toolkit root (Debian, NVIDIA's .run and pip layouts). */
function cudaDirs(cudaRoot) {
  const includes = [path.join(cudaRoot, 'include'), path.join(cudaRoot, 'targets', 'x86_64-linux', 'include'), path.join(cudaRoot, 'targets', 'sbsa-linux', 'include')];
  const libs = [path.join(cudaRoot, 'lib64'), path.join(cudaRoot, 'lib'), path.join(cudaRoot, 'targets', 'x86_64-linux', 'lib'), path.join(cudaRoot, 'lib', 'x86_64-linux-gnu')];
  return {
    include: includes.find((dir) => existsSync(path.join(dir, 'cuda_runtime_api.h'))) ?? null,
    lib: libs.find((dir) => existsSync(path.join(dir, 'libcudart_static.a'))) ?? libs.find((dir) => existsSync(path.join(dir, 'libcudart.so'))) ?? null,
  };
}

function findNodeInclude() {
  const candidates = [
    process.env.NODE_INCLUDE_DIR,
    path.join(path.dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
    path.join(os.homedir(), '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
  ];
  return candidates.find((dir) => dir && existsSync(path.join(dir, 'node_api.h'))) ?? null;
}

function findAddonApi() {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('node-addon-api/napi.h'));
  } catch {
    const local = path.join(root, 'node_modules', 'node-addon-api');
    return existsSync(path.join(local, 'napi.h')) ? local : null;
  }
}

/** Include folders holding cudnn.h / cublas_api.h: env, the toolkit, and Python environments' nvidia-* wheels
 *  (the CUDA 12 wheels put headers in nvidia/cudnn/include, nvidia/cublas/include; the CUDA 13 ones share
 *  nvidia/cu13/include), so every nvidia/<folder>/include is tried. */
function findVendorInclude(header, envName) {
  const dirs = [process.env[envName], path.join(cudaRootDir ?? '/usr/local/cuda', 'include'), '/usr/include', '/usr/include/x86_64-linux-gnu'];
  for (const site of pythonSitePackages()) {
    const nvidia = path.join(site, 'nvidia');
    if (existsSync(nvidia)) for (const folder of readdirSync(nvidia).sort()) dirs.push(path.join(nvidia, folder, 'include'));
  }
  return dirs.find((dir) => dir && existsSync(path.join(dir, header))) ?? null;
}

function pythonSitePackages() {
  const found = [];
  for (const python of ['python3', '/usr/bin/python3']) {
    const result = spawnSync(python, ['-c', 'import site, sysconfig; print("\\n".join(site.getsitepackages() + [sysconfig.get_paths()["purelib"], site.getusersitepackages()]))'], { encoding: 'utf8' });
    if (result.status === 0) found.push(...result.stdout.split('\n').filter(Boolean));
  }
  return [...new Set(found)];
}

function run(command, args, log) {
  log.push(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  log.push(`${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`);
  return result.status === 0;
}

/** As run, without waiting: resolves to whether the command succeeded. */
function runAsync(command, args, log) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => (output += String(error)));
    child.on('close', (status) => {
      log.push(`$ ${command} ${args.join(' ')}\n${output}`);
      resolve(status === 0);
    });
  });
}

/** Runs the commands, `parallel` at a time; resolves to whether all succeeded. */
async function runAll(commands, parallel, log) {
  let next = 0;
  let ok = true;
  const worker = async () => {
    while (next < commands.length) {
      const [command, args] = commands[next++];
      ok = (await runAsync(command, args, log)) && ok;
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, commands.length) }, worker));
  return ok;
}

/**
 * --host-emulation: the addon's sources compiled for the CPU (tests only). The .cu files are copied with
 * their launches rewritten (native/cuda/host/launch-syntax.mjs) and compiled with the kernel language of
 * kernel_language.h; the sources that call cuDNN/cuBLAS are replaced by the stand-ins below; the rest
 * compile unchanged against the fake runtime's cuda_runtime_api.h.
 */
async function buildHostEmulation() {
  const hostDir = path.join(root, 'native', 'cuda', 'host');
  const outDir = path.join(root, 'native', 'cuda', 'build-host');
  const output = path.join(outDir, 'infobatch_cuda_host.node');
  // dnn.cc and blas.cc are compiled as they are, against stand-ins for cuDNN and cuBLAS that
  // host_libraries.cc puts into their function table instead of dlopening the libraries.
  const standIns = { 'libraries.cc': 'host_libraries.cc' };
  const hostOnly = ['fake_runtime.cc', 'device_memory.cc', 'kernel_threads.cc', 'host_exports.cc', 'host_cudnn.cc', 'host_cublas.cc'];
  const unavailable = (line) => done(false, `host emulation not built: ${line}`, UNAVAILABLE);
  if (process.arch !== 'x64') unavailable(`its kernel threads switch with x86-64 code, and this is ${process.arch}`);
  const cxx = process.env.CXX ?? 'g++';
  if (spawnSync(cxx, ['--version'], { encoding: 'utf8' }).status !== 0) unavailable(`${cxx} not found (install g++)`);
  const nodeInclude = findNodeInclude();
  if (!nodeInclude) unavailable("node's headers (node_api.h) not found; set NODE_INCLUDE_DIR or install nodejs headers (Debian: libnode-dev)");
  const addonApi = findAddonApi();
  if (!addonApi) unavailable('node-addon-api is missing (run npm install)');

  mkdirSync(outDir, { recursive: true });
  const log = [];
  const { rewriteLaunches } = await import(pathToFileURL(path.join(hostDir, 'launch-syntax.mjs')).href);
  // Our cuda_runtime_api.h, library_types.h and cuda_bf16.h come first; kernels.h etc. from the sources.
  const flags = ['-std=c++17', '-O2', '-fPIC', '-Wall', '-Wextra', '-Wno-unused-parameter', '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS',
    `-I${hostDir}`, `-I${sourceDir}`, `-I${nodeInclude}`, `-I${addonApi}`];
  const compiles = [];
  const objects = [];
  const compile = (source, extra = []) => {
    const object = path.join(outDir, `${path.basename(source)}.o`);
    compiles.push([cxx, [...flags, ...extra, '-c', source, '-o', object]]);
    objects.push(object);
  };
  /** A .cu file as C++: a copy with its launches rewritten, compiled in the kernel language. */
  const compileKernels = (source) => {
    const copy = path.join(outDir, `${path.basename(source)}.cc`);
    try {
      writeFileSync(copy, rewriteLaunches(readFileSync(source, 'utf8'), path.relative(root, source)));
    } catch (error) {
      done(false, `host emulation not built: ${error instanceof Error ? error.message : String(error)}`);
    }
    compile(copy, ['-include', path.join(hostDir, 'kernel_language.h')]);
  };
  for (const name of KERNEL_SOURCES) compileKernels(path.join(sourceDir, name));
  for (const name of HOST_SOURCES) {
    if (name in standIns) compile(path.join(hostDir, standIns[name]));
    else compile(path.join(sourceDir, name), name === 'addon.cc' ? ['-include', path.join(hostDir, 'host_module.h')] : []);
  }
  for (const name of hostOnly) compile(path.join(hostDir, name));
  const addonObjects = objects.splice(0);
  // The emulation's own checks (emulation_selftest.cu): a program on the fake runtime and kernel threads.
  compileKernels(path.join(hostDir, 'emulation_selftest.cu'));
  const runtimeObjects = ['fake_runtime.cc', 'device_memory.cc', 'kernel_threads.cc'].map((name) => path.join(outDir, `${name}.o`));
  let ok = await runAll(compiles, Math.max(1, os.availableParallelism?.() ?? os.cpus().length), log);
  ok &&= run(cxx, ['-shared', '-o', output, ...addonObjects, '-lpthread'], log);
  ok &&= run(cxx, ['-o', path.join(outDir, 'emulation_selftest'), ...objects, ...runtimeObjects], log);
  const logPath = path.join(outDir, 'build.log');
  writeFileSync(logPath, log.join('\n'));
  if (!ok) done(false, `host emulation not built: the compile failed (log: ${path.relative(root, logPath)})`);
  const check = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(output)}); if (typeof a.hostEmulationSetCapacity !== 'function') throw new Error('no host controls'); console.log(a.probe().deviceCount)`], { encoding: 'utf8' });
  if (check.status !== 0) done(false, `host emulation built but does not load: ${(check.stderr || '').split('\n').find((l) => l.trim()) ?? 'unknown error'}`);
  done(true, `host emulation built (${path.relative(root, output)}, ${cxx}; the CUDA sources on a fake runtime on the CPU, for tests only)`);
}

if (hostEmulation) await buildHostEmulation();
if (process.env.INFOBATCH_SKIP_CUDA === '1') done(true, 'cuda backend not built (INFOBATCH_SKIP_CUDA=1)');

const cudaRootDir = findCudaRoot();
if (!cudaRootDir) done(false, `cuda backend not built: nvcc not found (looked in CUDA_HOME, CUDA_PATH, /usr/local/cuda*, /opt/cuda, PATH); ${HOW}`);
const nvcc = path.join(cudaRootDir, 'bin', 'nvcc');
const cuda = cudaDirs(cudaRootDir);
if (!cuda.include || !cuda.lib) done(false, `cuda backend not built: the CUDA runtime headers or library are missing under ${cudaRootDir}; ${HOW}`);
const nodeInclude = findNodeInclude();
if (!nodeInclude) done(false, `cuda backend not built: node's headers (node_api.h) not found; set NODE_INCLUDE_DIR or install nodejs headers (Debian: libnode-dev)`);
const addonApi = findAddonApi();
if (!addonApi) done(false, 'cuda backend not built: node-addon-api is missing (run npm install)');

mkdirSync(buildDir, { recursive: true });
const log = [];
const arch = process.env.INFOBATCH_CUDA_ARCH;
const gencode = arch
  ? [`-arch=${arch}`]
  : ['-gencode=arch=compute_80,code=sm_80', '-gencode=arch=compute_90,code=sm_90', '-gencode=arch=compute_90,code=compute_90'];
const includes = [`-I${cuda.include}`, `-I${nodeInclude}`, `-I${addonApi}`];
const cxxFlags = ['-std=c++17', '-O3', '-fPIC', '-Wall', '-Wextra', '-Wno-unused-parameter', '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS'];
const objects = [];
let ok = true;
for (const name of KERNEL_SOURCES) {
  const object = path.join(buildDir, `${name}.o`);
  ok &&= run(nvcc, ['-std=c++17', '-O3', ...gencode, '-Xcompiler', '-fPIC', `-I${cuda.include}`, '-c', path.join(sourceDir, name), '-o', object], log);
  objects.push(object);
}
const cxx = process.env.CXX ?? 'g++';
for (const name of HOST_SOURCES) {
  const object = path.join(buildDir, `${name}.o`);
  ok &&= run(cxx, [...cxxFlags, ...includes, '-c', path.join(sourceDir, name), '-o', object], log);
  objects.push(object);
}
const cudart = existsSync(path.join(cuda.lib, 'libcudart_static.a')) ? ['-lcudart_static', '-lrt'] : ['-lcudart', `-Wl,-rpath,${cuda.lib}`];
ok &&= run(cxx, ['-shared', '-o', addonPath, ...objects, `-L${cuda.lib}`, ...cudart, '-ldl', '-lpthread'], log);

// The header check, where the vendors' headers exist (the GPU machine's pip wheels, a full CUDA install).
const cudnnInclude = findVendorInclude('cudnn.h', 'CUDNN_INCLUDE_DIR');
const cublasInclude = findVendorInclude('cublas_api.h', 'CUBLAS_INCLUDE_DIR');
let headerCheck = 'header check skipped (cudnn.h or cublas_api.h not found)';
if (ok && cudnnInclude && cublasInclude) {
  const checked = run(cxx, ['-std=c++17', '-fsyntax-only', `-I${cudnnInclude}`, `-I${cublasInclude}`, `-I${cuda.include}`, path.join(sourceDir, 'check_headers.cc')], log);
  headerCheck = checked ? `our cuDNN/cuBLAS declarations match ${cudnnInclude} and ${cublasInclude}` : `header check FAILED against ${cudnnInclude} and ${cublasInclude}`;
  ok &&= checked;
}
writeFileSync(logPath, log.join('\n'));
if (!ok) done(false, `cuda backend not built: the compile failed (log: ${path.relative(root, logPath)}); ${HOW}`);

// Load it once: the addon needs only the driver (libcuda.so.1) to load, which a machine without a GPU lacks.
const check = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(addonPath)}); console.log(JSON.stringify(a.probe()))`], { encoding: 'utf8' });
if (check.status !== 0) {
  const reason = (check.stderr || '').split('\n').find((l) => l.trim()) ?? 'unknown error';
  done(false, `cuda backend built but does not load: ${reason.slice(0, 200)}`);
}
const probe = JSON.parse(check.stdout);
const devices = probe.deviceCount > 0 ? `${probe.deviceCount} GPU(s), driver CUDA ${probe.driverVersion}` : `no GPU here (${probe.error ?? 'none found'})`;
done(true, `cuda backend built (${path.relative(root, addonPath)}, nvcc in ${cudaRootDir}; ${devices}; ${headerCheck})`);
