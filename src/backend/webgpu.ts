import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The `webgpu` backend: TensorFlow.js's WebGPU kernels (@tensorflow/tfjs-backend-webgpu) run in Node by
 * Dawn, Chrome's WebGPU implementation, which the `webgpu` npm package ships prebuilt (dawn.node; no
 * download at install). Both are optional dependencies.
 *
 * Dawn drives the GPU through Vulkan on Linux, so it works wherever a Vulkan driver does: the GPU
 * vendor's driver on a GPU machine, or Mesa's lavapipe (a software Vulkan on the CPU, Mesa 25 or newer;
 * Debian 12's Mesa 22 lacks features Dawn requires) on a machine without one. A software adapter is
 * far slower than the `wasm` backend, so `auto` never takes it; asking for `--backend webgpu` by name
 * still does (that is how CI tests these kernels without a GPU).
 */

/** What Dawn reports about the adapter it picked. */
export interface WebgpuAdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** A CPU implementation of Vulkan (lavapipe/llvmpipe, SwiftShader) rather than a GPU. */
  readonly software: boolean;
}

interface DawnAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

interface DawnAdapter {
  readonly info?: DawnAdapterInfo;
  readonly isFallbackAdapter?: boolean;
}

interface DawnGpu {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<DawnAdapter | null>;
}

interface WebgpuPackage {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown>;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe/i;

const INSTALL_HINT =
  'needs the optional packages "webgpu" and "@tensorflow/tfjs-backend-webgpu" (npm install --include=optional)';
const DRIVER_HINT =
  'Dawn found no Vulkan adapter: install the GPU vendor\'s Vulkan driver and the Vulkan loader (libvulkan1), ' +
  'or, without a GPU, Mesa >= 25 lavapipe (Debian 12: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1)';

let gpu: DawnGpu | undefined;
let activeAdapter: WebgpuAdapterSummary | undefined;

function summarize(adapter: DawnAdapter): WebgpuAdapterSummary {
  const info = adapter.info ?? {};
  const summary = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
  };
  const software =
    info.isFallbackAdapter === true ||
    adapter.isFallbackAdapter === true ||
    summary.architecture === 'software' ||
    SOFTWARE_ADAPTER.test(`${summary.device} ${summary.description}`);
  return { ...summary, software };
}

/** One line naming an adapter, for logs. */
export function describeAdapter(adapter: WebgpuAdapterSummary): string {
  const name = adapter.description || adapter.device || 'unnamed adapter';
  const vendor = adapter.vendor ? `${adapter.vendor}: ` : '';
  return `${vendor}${name}${adapter.software ? ' (software, on the CPU)' : ''}`;
}

/**
 * Loads dawn.node once and installs `navigator.gpu` and the WebGPU constants (GPUBufferUsage, ...) as
 * globals, which is where tfjs-backend-webgpu looks for them, as in a browser.
 */
async function loadDawn(): Promise<DawnGpu> {
  if (gpu) return gpu;
  let pkg: WebgpuPackage;
  try {
    pkg = (await import('webgpu')) as unknown as WebgpuPackage;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new Error(`webgpu is not installed (${INSTALL_HINT})`);
    throw new Error(`the webgpu package (dawn.node) failed to load: ${firstLine(error)}`);
  }
  for (const [name, value] of Object.entries(pkg.globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  const created = pkg.create([]);
  // Node 20 has no `navigator`; Node 21+ has one without `gpu`.
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav) Object.defineProperty(nav, 'gpu', { value: created, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu: created }, configurable: true, writable: true });
  gpu = created;
  return created;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 240);
}

/**
 * The adapter tfjs-backend-webgpu would get (it asks for 'high-performance', as here), or null when Dawn
 * finds none. Throws only when the packages themselves are missing or broken.
 */
export async function probeWebgpuAdapter(): Promise<WebgpuAdapterSummary | null> {
  const dawn = await loadDawn();
  const adapter = await dawn.requestAdapter({ powerPreference: 'high-performance' });
  return adapter ? summarize(adapter) : null;
}

/**
 * Asks Dawn for its adapter in a child process, so that what Dawn prints while it starts (warnings on
 * stderr about reduced limits, say) stays off the user's terminal when `auto` only looks: most machines
 * turn out to have no usable GPU adapter. Null when there is none; undefined when the package cannot be
 * resolved from here; throws when it fails to load.
 */
export function probeWebgpuAdapterQuietly(): WebgpuAdapterSummary | null | undefined {
  let specifier: string;
  try {
    specifier = import.meta.resolve('webgpu');
  } catch {
    // Not resolvable as a package (missing, or bundled into one file as the GPU-check hand-over does):
    // undefined = cannot look from outside; the caller probes in this process, which says which it is.
    return undefined;
  }
  const script = [
    `const pkg = await import(${JSON.stringify(specifier)});`,
    'for (const [name, value] of Object.entries(pkg.globals)) if (!(name in globalThis)) globalThis[name] = value;',
    "const adapter = await pkg.create([]).requestAdapter({ powerPreference: 'high-performance' });",
    'const info = adapter?.info ?? {};',
    "const fields = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, isFallbackAdapter: info.isFallbackAdapter };",
    "process.stdout.write('ADAPTER ' + JSON.stringify(adapter ? { info: fields, isFallbackAdapter: adapter.isFallbackAdapter } : null) + '\\n');",
    'process.exit(0);',
  ].join('\n');
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  const line = child.stdout?.split('\n').find((l) => l.startsWith('ADAPTER '));
  if (!line) throw new Error(`the webgpu package (dawn.node) failed to load: ${(child.stderr ?? '').trim().split('\n').pop()?.slice(0, 200) ?? `exit ${child.status}`}`);
  const adapter = JSON.parse(line.slice('ADAPTER '.length)) as DawnAdapter | null;
  return adapter ? summarize(adapter) : null;
}

/** The adapter the active `webgpu` backend runs on, once activateWebgpu has succeeded. */
export function activeWebgpuAdapter(): WebgpuAdapterSummary | undefined {
  return activeAdapter;
}

export interface WebgpuActivation {
  /** Take a software adapter too. `auto` passes false: lavapipe is far slower than `wasm`. */
  readonly allowSoftware: boolean;
}

/** Registers the tfjs WebGPU backend on Dawn's adapter and makes it current; resolves to 'webgpu'. */
export async function activateWebgpu({ allowSoftware }: WebgpuActivation): Promise<string> {
  if (!allowSoftware) {
    // auto: look first without loading Dawn here (and without its warnings) and pass over what it would not take.
    const seen = probeWebgpuAdapterQuietly();
    if (seen === null) throw new Error(DRIVER_HINT);
    if (seen?.software) throw new Error(`only a software adapter (${describeAdapter(seen)}) is available; ask for --backend webgpu by name to use it anyway`);
  }
  const adapter = await probeWebgpuAdapter();
  if (!adapter) throw new Error(DRIVER_HINT);
  if (adapter.software && !allowSoftware) {
    throw new Error(`only a software adapter (${describeAdapter(adapter)}) is available; ask for --backend webgpu by name to use it anyway`);
  }
  // The package registers its backend at import time, and only if navigator.gpu exists by then.
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(`@tensorflow/tfjs-backend-webgpu is not installed (${INSTALL_HINT})`);
    }
    throw new Error(`@tensorflow/tfjs-backend-webgpu failed to load: ${firstLine(error)}`);
  }
  if (!tf.findBackendFactory('webgpu')) throw new Error('tfjs-backend-webgpu did not register (navigator.gpu was missing at import)');
  // setBackend resolves false (after a console warning) when requestDevice fails.
  if (!(await tf.setBackend('webgpu'))) throw new Error(`tfjs could not create a WebGPU device on ${describeAdapter(adapter)}`);
  await tf.ready();
  explainSynchronousReads();
  activeAdapter = adapter;
  return tf.getBackend();
}

/**
 * tfjs-backend-webgpu reads GPU tensors synchronously (dataSync, arraySync) through an OffscreenCanvas,
 * which Node does not have, so such reads die with "OffscreenCanvas is not defined". Say what to do
 * instead. Tensors still on the CPU side read fine, which is why this only shows up now and then.
 */
function explainSynchronousReads(): void {
  const backend = tf.findBackend('webgpu') as unknown as { readSync(dataId: object): unknown; explained?: boolean } | null;
  if (!backend || backend.explained) return;
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    try {
      return readSync(dataId);
    } catch (error) {
      if (error instanceof ReferenceError && /OffscreenCanvas/.test(error.message)) {
        throw new Error('the webgpu backend cannot read GPU tensors synchronously in Node (dataSync/arraySync); use await tensor.data()');
      }
      throw error;
    }
  };
  backend.explained = true;
}
