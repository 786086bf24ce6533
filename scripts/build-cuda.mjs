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
// Environment: CUDA_HOME / CUDA_PATH (toolkit root), INFOBATCH_CUDA_ARCH (e.g. "sm_90"; default: sm_80,
// sm_90 and compute_90 PTX for newer GPUs), INFOBATCH_SKIP_CUDA=1, NODE_INCLUDE_DIR (node's headers),
// CUDNN_INCLUDE_DIR / CUBLAS_INCLUDE_DIR (for the header check).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sourceDir = path.join(root, 'native', 'cuda', 'src');
const buildDir = path.join(root, 'native', 'cuda', 'build');
const addonPath = path.join(buildDir, 'infobatch_cuda.node');
const logPath = path.join(buildDir, 'build.log');
const strict = process.argv.includes('--strict');
const HOW = 'install the CUDA toolkit 12 or 13 (nvcc), set CUDA_HOME if it is not in /usr/local/cuda, then run npm run build:cuda';

function done(ok, line) {
  console.log(`infobatch: ${line}`);
  process.exit(ok || !strict ? 0 : 1);
}

if (process.env.INFOBATCH_SKIP_CUDA === '1') done(true, 'cuda backend not built (INFOBATCH_SKIP_CUDA=1)');

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

/** Include folders holding cudnn.h / cublas_api.h: env, the toolkit, and Python environments' nvidia-* wheels. */
function findVendorInclude(header, envName, wheel) {
  const dirs = [process.env[envName], path.join(cudaRootDir ?? '/usr/local/cuda', 'include'), '/usr/include', '/usr/include/x86_64-linux-gnu'];
  for (const site of pythonSitePackages()) dirs.push(path.join(site, 'nvidia', wheel, 'include'));
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
for (const name of ['kernels.cu', 'reduce.cu']) {
  const object = path.join(buildDir, `${name}.o`);
  ok &&= run(nvcc, ['-std=c++17', '-O3', ...gencode, '-Xcompiler', '-fPIC', `-I${cuda.include}`, '-c', path.join(sourceDir, name), '-o', object], log);
  objects.push(object);
}
const cxx = process.env.CXX ?? 'g++';
for (const name of ['runtime.cc', 'libraries.cc', 'dnn.cc', 'addon.cc']) {
  const object = path.join(buildDir, `${name}.o`);
  ok &&= run(cxx, [...cxxFlags, ...includes, '-c', path.join(sourceDir, name), '-o', object], log);
  objects.push(object);
}
const cudart = existsSync(path.join(cuda.lib, 'libcudart_static.a')) ? ['-lcudart_static', '-lrt'] : ['-lcudart', `-Wl,-rpath,${cuda.lib}`];
ok &&= run(cxx, ['-shared', '-o', addonPath, ...objects, `-L${cuda.lib}`, ...cudart, '-ldl', '-lpthread'], log);

// The header check, where the vendors' headers exist (the GPU machine's pip wheels, a full CUDA install).
const cudnnInclude = findVendorInclude('cudnn.h', 'CUDNN_INCLUDE_DIR', 'cudnn');
const cublasInclude = findVendorInclude('cublas_api.h', 'CUBLAS_INCLUDE_DIR', 'cublas');
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
