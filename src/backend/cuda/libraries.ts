import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Finding cuDNN 9 and cuBLAS (12 or 13) for the cuda backend, which opens them at run time. Looked for, in
 * order: CUDA_HOME / CUDA_PATH, LD_LIBRARY_PATH, Python environments' nvidia-* wheels (`pip install
 * nvidia-cudnn-cu12 nvidia-cublas-cu12`, or the CUDA 13 wheels, which is how PyTorch and JAX get them:
 * site-packages/nvidia/<name>/lib and nvidia/cu13/lib), conda, and the system's library folders
 * (including what `ldconfig -p` lists). The addon itself needs no CUDA runtime library: cudart is
 * linked into it; only the driver's libcuda.so.1 must be present.
 */
export interface CudaLibraries {
  /** NVRTC where found (cuDNN's runtime-compiled engines need it), then the libcudnn_*.so.9 beside
   *  libcudnn.so.9, in the order they load (each depends on the earlier ones). */
  readonly cudnnParts: readonly string[];
  readonly cudnn: string;
  readonly cublasLt: string;
  readonly cublas: string;
}

export type LibrarySearch =
  | { readonly found: true; readonly libraries: CudaLibraries; readonly searched: readonly string[] }
  | { readonly found: false; readonly missing: readonly string[]; readonly searched: readonly string[] };

/** What the search reads from the machine; tests pass a fake directory tree. */
export interface SearchEnvironment {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly exists: (file: string) => boolean;
  readonly listDir: (dir: string) => readonly string[];
  /** site-packages folders of the Python environments to look in. */
  readonly sitePackages: () => readonly string[];
  /** Folders holding libraries that ldconfig's cache knows. */
  readonly ldconfigDirs: () => readonly string[];
  /** The usual system library folders. */
  readonly systemDirs: readonly string[];
}

const CUDNN_PART_ORDER = ['graph', 'engines_precompiled', 'engines_runtime_compiled', 'heuristic', 'ops', 'cnn', 'adv'];
const CUBLAS_MAJORS = ['13', '12'];

function listOrEmpty(dir: string): readonly string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function runLines(command: string, args: string[]): string[] {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  return result.status === 0 ? result.stdout.split('\n').map((l) => l.trim()).filter(Boolean) : [];
}

const PY_SITES = 'import site, sysconfig\ntry:\n  s = site.getsitepackages()\nexcept Exception:\n  s = []\nprint("\\n".join(s + [sysconfig.get_paths()["purelib"], site.getusersitepackages()]))';

export const SYSTEM_ENVIRONMENT: SearchEnvironment = {
  env: process.env,
  exists: existsSync,
  listDir: listOrEmpty,
  sitePackages: () => {
    const pythons = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
    return [...new Set(pythons.flatMap((python) => runLines(python, ['-c', PY_SITES])))];
  },
  ldconfigDirs: () => {
    const lines = [...runLines('ldconfig', ['-p']), ...runLines('/sbin/ldconfig', ['-p'])];
    const dirs = lines.map((line) => /=>\s*(\/\S+)$/.exec(line)?.[1]).filter((p): p is string => Boolean(p)).map((p) => path.dirname(p));
    return [...new Set(dirs)];
  },
  systemDirs: ['/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'],
};

/** The folders searched, in order, without duplicates. */
export function searchDirectories(environment: SearchEnvironment): string[] {
  const { env, listDir } = environment;
  const dirs: string[] = [];
  for (const rootDir of [env.CUDA_HOME, env.CUDA_PATH, env.CUDNN_HOME, env.CUDNN_PATH]) {
    if (!rootDir) continue;
    dirs.push(path.join(rootDir, 'lib64'), path.join(rootDir, 'lib'), path.join(rootDir, 'targets', 'x86_64-linux', 'lib'));
  }
  dirs.push(...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean));
  const sites = [...environment.sitePackages()];
  for (const venv of [env.VIRTUAL_ENV, env.INFOBATCH_VENV]) {
    if (!venv) continue;
    for (const lib of ['lib', 'lib64']) for (const python of listDir(path.join(venv, lib)).filter((n) => n.startsWith('python'))) sites.push(path.join(venv, lib, python, 'site-packages'));
  }
  for (const site of sites) {
    // nvidia/cudnn/lib, nvidia/cublas/lib (CUDA 12 wheels), nvidia/cu13/lib (CUDA 13 wheels)…
    for (const name of listDir(path.join(site, 'nvidia'))) dirs.push(path.join(site, 'nvidia', name, 'lib'));
  }
  if (env.CONDA_PREFIX) dirs.push(path.join(env.CONDA_PREFIX, 'lib'));
  dirs.push(...environment.systemDirs);
  dirs.push(...environment.ldconfigDirs());
  return [...new Set(dirs.map((d) => path.resolve(d)))];
}

/** Searches for the libraries; never throws. */
export function findCudaLibraries(environment: SearchEnvironment = SYSTEM_ENVIRONMENT): LibrarySearch {
  const searched = searchDirectories(environment);
  const inDir = (dir: string, name: string) => (environment.exists(path.join(dir, name)) ? path.join(dir, name) : null);
  let cudnn: string | null = null;
  for (const dir of searched) if (!cudnn) cudnn = inDir(dir, 'libcudnn.so.9');
  let cublas: { lib: string; lt: string } | null = null;
  for (const major of CUBLAS_MAJORS) {
    for (const dir of searched) {
      if (cublas) break;
      const lib = inDir(dir, `libcublas.so.${major}`);
      const lt = inDir(dir, `libcublasLt.so.${major}`);
      if (lib && lt) cublas = { lib, lt };
    }
  }
  const missing = [...(cudnn ? [] : ['cuDNN 9 (libcudnn.so.9)']), ...(cublas ? [] : ['cuBLAS 12 or 13 (libcublas.so.13/.12 with libcublasLt)'])];
  if (!cudnn || !cublas) return { found: false, missing, searched };
  const cudnnDir = path.dirname(cudnn);
  const parts = environment
    .listDir(cudnnDir)
    .map((name) => /^libcudnn_(\w+)\.so\.9$/.exec(name)?.[1])
    .filter((part): part is string => Boolean(part))
    .sort((a, b) => rank(a) - rank(b))
    .map((part) => path.join(cudnnDir, `libcudnn_${part}.so.9`));
  const nvrtcMajor = /\.so\.(\d+)$/.exec(cublas.lib)?.[1];
  let nvrtc: string | null = null;
  for (const dir of searched) if (!nvrtc) nvrtc = inDir(dir, `libnvrtc.so.${nvrtcMajor}`);
  return { found: true, libraries: { cudnnParts: [...(nvrtc ? [nvrtc] : []), ...parts], cudnn, cublasLt: cublas.lt, cublas: cublas.lib }, searched };
}

function rank(part: string): number {
  const index = CUDNN_PART_ORDER.indexOf(part);
  return index < 0 ? CUDNN_PART_ORDER.length : index;
}

/** One line for the user: what is missing, where it looked (abridged) and how to get it. */
export function describeMissing(search: Extract<LibrarySearch, { found: false }>): string {
  const shown = search.searched.slice(0, 5).join(', ');
  const more = search.searched.length > 5 ? ` and ${search.searched.length - 5} more` : '';
  return `${search.missing.join(' and ')} not found (looked in ${shown}${more}); pip install nvidia-cudnn-cu12 nvidia-cublas-cu12 (or the -cu13 ones), or set LD_LIBRARY_PATH or CUDA_HOME`;
}
