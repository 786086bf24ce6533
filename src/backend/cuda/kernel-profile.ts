import type { CudaAddon } from './addon.js';

/**
 * GPU time per tfjs kernel of the cuda backend, for finding where a training step's GPU time goes (the GPU
 * check prints it next to PyTorch's step time). While a profile runs, a timing event is recorded on the
 * stream after every kernel; a kernel's time is the GPU time between the event before it and its own. When
 * the host keeps ahead of the GPU (the fast case) that is the kernel's own work; where the GPU waited for
 * the host, the wait lands on the kernel after it, so the sum is the GPU's wall time from the start to the
 * last kernel. Off (one null check per kernel) unless started.
 */
export interface KernelGpuTime {
  readonly kernel: string;
  readonly calls: number;
  readonly ms: number;
}

export interface KernelProfile {
  /** Heaviest first. */
  readonly kernels: readonly KernelGpuTime[];
  readonly totalMs: number;
}

let running: { addon: CudaAddon; start: number; marks: Array<[string, number]> } | null = null;

/** Called by the backend after each kernel it ran (ours or a CPU fallback). */
export function kernelRan(kernel: string): void {
  if (running) running.marks.push([kernel, running.addon.markTime()]);
}

export function startKernelProfile(addon: CudaAddon): void {
  if (running) throw new Error('a kernel profile is already running');
  addon.clearTimes();
  running = { addon, start: addon.markTime(), marks: [] };
}

/** Waits for the GPU, then gives each kernel name its calls and summed GPU time. */
export function stopKernelProfile(): KernelProfile {
  if (!running) throw new Error('no kernel profile is running');
  const { addon, start, marks } = running;
  running = null;
  const byKernel = new Map<string, { calls: number; ms: number }>();
  let previous = start;
  let totalMs = 0;
  for (const [kernel, mark] of marks) {
    const ms = addon.elapsedMs(previous, mark);
    const entry = byKernel.get(kernel) ?? { calls: 0, ms: 0 };
    entry.calls += 1;
    entry.ms += ms;
    byKernel.set(kernel, entry);
    totalMs += ms;
    previous = mark;
  }
  addon.clearTimes();
  const kernels = [...byKernel].map(([kernel, { calls, ms }]) => ({ kernel, calls, ms })).sort((a, b) => b.ms - a.ms);
  return { kernels, totalMs };
}
