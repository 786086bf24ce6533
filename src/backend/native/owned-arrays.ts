/** Outputs below this many elements are left to the garbage collector. */
const OWNED_MIN_ELEMENTS = 1 << 16;
/** Slack of the pool over the peak of live bytes (arrays of other sizes than the next ones asked for). */
const POOL_SLACK_BYTES = 256 * 2 ** 20;

/**
 * The native backend's large output arrays, reused instead of left to the garbage collector.
 *
 * The CPU backend drops a disposed tensor's array and lets V8 collect it, so a training step keeps
 * allocating fresh memory: page faults on every output, a full GC every few dozen milliseconds, RSS
 * twice PyTorch's on ResNet-18. Here each large output array is "owned": counted per dataId that holds
 * it (a CPU kernel may alias an input's array), and when the last holder goes the array returns to a
 * pool from which the next output of the same length is served, as PyTorch's allocator reuses freed
 * blocks. The pool holds at most as many bytes as were ever live at once (a training step's working
 * set, so steady training allocates nothing) plus POOL_SLACK_BYTES, and frees its oldest arrays beyond
 * that (after a batch-size change, say) by detaching them, which releases their memory at once.
 */
export class OwnedArrayPool {
  /** Owned buffers and their full-length views. */
  private readonly owned = new WeakMap<ArrayBuffer, Float32Array>();
  /** How many dataIds hold each owned buffer. */
  private readonly holders = new Map<ArrayBuffer, number>();
  /** Released arrays by length, and all of them oldest first. */
  private readonly pool = new Map<number, Float32Array[]>();
  private readonly poolOrder = new Set<Float32Array>();
  private pooledBytes = 0;
  /** Bytes of owned arrays handed out and not yet released, and the most there ever were. */
  private liveBytes = 0;
  private peakLiveBytes = 0;

  constructor(private readonly detach: (buffer: ArrayBuffer) => void) {}

  /** A float32 array of `size` elements with undefined contents. */
  allocate(size: number): Float32Array {
    if (size < OWNED_MIN_ELEMENTS) return new Float32Array(size);
    this.liveBytes += size * 4;
    this.peakLiveBytes = Math.max(this.peakLiveBytes, this.liveBytes);
    const reused = this.pool.get(size)?.pop();
    if (reused) {
      this.poolOrder.delete(reused);
      this.pooledBytes -= reused.byteLength;
      return reused;
    }
    // A miss: make room so that pooled and live arrays stay within the limit.
    this.evictUntil(this.limit() - size * 4);
    // allocUnsafeSlow: a buffer of its own, not zero-filled.
    const bytes = Buffer.allocUnsafeSlow(size * 4);
    const array = new Float32Array(bytes.buffer, bytes.byteOffset, size);
    this.owned.set(bytes.buffer, array);
    return array;
  }

  /** The owned buffer behind `values`, if it is one. */
  isOwned(values: unknown): ArrayBuffer | undefined {
    const buffer = (values as { buffer?: unknown } | undefined)?.buffer;
    return buffer instanceof ArrayBuffer && this.owned.has(buffer) ? buffer : undefined;
  }

  /** A dataId now holds `values`. */
  hold(values: unknown): void {
    const buffer = this.isOwned(values);
    if (buffer) this.holders.set(buffer, (this.holders.get(buffer) ?? 0) + 1);
  }

  /** A dataId that held `values` is gone; the last one returns the array to the pool. */
  drop(values: unknown): void {
    const buffer = this.isOwned(values);
    if (!buffer) return;
    const left = (this.holders.get(buffer) ?? 1) - 1;
    if (left > 0) {
      this.holders.set(buffer, left);
      return;
    }
    this.holders.delete(buffer);
    const array = this.owned.get(buffer)!;
    let list = this.pool.get(array.length);
    if (!list) this.pool.set(array.length, (list = []));
    list.push(array);
    this.poolOrder.add(array);
    this.pooledBytes += array.byteLength;
    this.liveBytes -= array.byteLength;
    this.evictUntil(this.limit());
  }

  /** Frees every pooled array. */
  clear(): void {
    this.evictUntil(0);
  }

  private limit(): number {
    return this.peakLiveBytes + POOL_SLACK_BYTES;
  }

  private evictUntil(limit: number): void {
    for (const oldest of this.poolOrder) {
      if (this.pooledBytes <= Math.max(0, limit)) break;
      this.poolOrder.delete(oldest);
      const list = this.pool.get(oldest.length)!;
      list.splice(list.indexOf(oldest), 1);
      this.pooledBytes -= oldest.byteLength;
      this.detach(oldest.buffer as ArrayBuffer);
    }
  }
}
