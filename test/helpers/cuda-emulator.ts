import { BINARY, REDUCE, UNARY, type CudaAddon, type CudaStats } from '../../src/backend/cuda/addon.js';

/**
 * A JavaScript stand-in for the cuda addon's interface (src/backend/cuda/addon.ts), for CI machines
 * without a GPU: it lets the TypeScript half of the backend (shapes, attributes, broadcasting strides,
 * reduction views, dtype rules, padding, data lifetime, CPU fallbacks) run against tfjs's cpu backend.
 * It checks what the device would reject: unknown or freed addresses, reads past a buffer, convolution
 * shapes that do not agree. It says nothing about the CUDA code itself — that is the GPU check's job.
 */
interface Buffer32 {
  f32: Float32Array;
  i32: Int32Array;
  bytes: number;
}

/** The first maximum (row-major, in-bounds, NaN never wins) of output element `o`'s pooling window. */
function windowArgMax(xs: Float32Array, params: number[], o: number): { value: number; at: number } {
  const [, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl] = params as [number, number, number, number, number, number, number, number, number, number, number, number];
  const ch = o % c;
  const ox = Math.floor(o / c) % ow;
  const oy = Math.floor(o / c / ow) % oh;
  const b = Math.floor(o / c / ow / oh);
  let value = -Infinity;
  let at = -1;
  for (let dy = 0; dy < kh; dy++)
    for (let dx = 0; dx < kw; dx++) {
      const iy = oy * sh - pt + dy;
      const ix = ox * sw - pl + dx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      const i = ((b * h + iy) * w + ix) * c + ch;
      if (xs[i]! > value) {
        value = xs[i]!;
        at = i;
      }
    }
  return { value, at };
}

const UNARY_F: Record<number, (x: number, a: number, b: number) => number> = {
  [UNARY.Relu]: (x) => (x > 0 ? x : 0),
  [UNARY.Relu6]: (x) => Math.min(Math.max(x, 0), 6),
  [UNARY.Step]: (x, a) => (x > 0 ? 1 : Number.isNaN(x) ? x : a),
  [UNARY.Neg]: (x) => -x,
  [UNARY.Square]: (x) => x * x,
  [UNARY.Sqrt]: Math.sqrt,
  [UNARY.Rsqrt]: (x) => 1 / Math.sqrt(x),
  [UNARY.Exp]: Math.exp,
  [UNARY.Log]: Math.log,
  [UNARY.Reciprocal]: (x) => 1 / x,
  [UNARY.Abs]: Math.abs,
  [UNARY.Sigmoid]: (x) => 1 / (1 + Math.exp(-x)),
  [UNARY.Tanh]: Math.tanh,
  [UNARY.Log1p]: Math.log1p,
  [UNARY.Floor]: Math.floor,
  [UNARY.Ceil]: Math.ceil,
  [UNARY.LeakyRelu]: (x, a) => (x < 0 ? a * x : x),
  [UNARY.Elu]: (x) => (x >= 0 ? x : Math.expm1(x)),
  [UNARY.Softplus]: (x) => (x > 20 ? x : Math.log1p(Math.exp(x))),
  [UNARY.ClipByValue]: (x, a, b) => (Number.isNaN(x) ? x : Math.min(Math.max(x, a), b)),
  [UNARY.LogicalNot]: (x) => (x === 0 ? 1 : 0),
  [UNARY.Sign]: Math.sign,
  [UNARY.Expm1]: Math.expm1,
  [UNARY.Round]: (x) => {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  },
  [UNARY.Sin]: Math.sin,
  [UNARY.Cos]: Math.cos,
};

const BINARY_F: Record<number, (a: number, b: number, int: boolean) => number> = {
  [BINARY.Add]: (a, b) => a + b,
  [BINARY.Sub]: (a, b) => a - b,
  [BINARY.Mul]: (a, b, int) => (int ? Math.imul(a, b) : a * b),
  [BINARY.Div]: (a, b, int) => (int ? (b === 0 ? 0 : Math.trunc(a / b)) : a / b),
  [BINARY.Maximum]: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  [BINARY.Minimum]: (a, b) => (a < b || Number.isNaN(a) ? a : b),
  [BINARY.SquaredDifference]: (a, b) => (a - b) * (a - b),
  [BINARY.Pow]: (a, b) => a ** b,
  [BINARY.Equal]: (a, b) => Number(a === b),
  [BINARY.NotEqual]: (a, b) => Number(a !== b),
  [BINARY.Greater]: (a, b) => Number(a > b),
  [BINARY.GreaterEqual]: (a, b) => Number(a >= b),
  [BINARY.Less]: (a, b) => Number(a < b),
  [BINARY.LessEqual]: (a, b) => Number(a <= b),
  [BINARY.LogicalAnd]: (a, b) => Number(a !== 0 && b !== 0),
  [BINARY.LogicalOr]: (a, b) => Number(a !== 0 || b !== 0),
  [BINARY.ReluGradFromOutput]: (dy, y) => (y > 0 ? dy : 0),
  [BINARY.EluGrad]: (dy, y) => (y >= 0 ? dy : dy * (y + 1)),
  [BINARY.FloorDiv]: (a, b, int) => (int && b === 0 ? 0 : Math.floor(a / b)),
  [BINARY.Mod]: (a, b, int) => {
    if (int && b === 0) return 0;
    const r = a % b;
    return r !== 0 && r < 0 !== b < 0 ? r + b : r;
  },
};
const BOOL_OUT = new Set<number>([BINARY.Equal, BINARY.NotEqual, BINARY.Greater, BINARY.GreaterEqual, BINARY.Less, BINARY.LessEqual, BINARY.LogicalAnd, BINARY.LogicalOr]);

const toBf16 = (() => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return (x: number) => {
    f[0] = x;
    const bits = u[0]!;
    u[0] = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000; // round to nearest even
    return f[0]!;
  };
})();

export interface EmulatedAddon extends CudaAddon {
  readonly live: number;
  /** Allocations beyond this many bytes in use fail as the addon's do (code ERR_CUDA_OUT_OF_MEMORY). */
  capacityBytes: number;
}

export function createEmulatedAddon(): EmulatedAddon {
  const memory = new Map<number, Buffer32>();
  let next = 4096;
  let inUse = 0;
  let peak = 0;
  let dispatches = 0;
  let uploads = 0;
  let downloads = 0;
  let precision = 0;
  const marks: number[] = [];

  const buffer = (ptr: number, elements: number, what: string): Buffer32 => {
    const found = memory.get(ptr);
    if (!found) throw new Error(`${what}: ${ptr} is not a live device buffer (freed, or never allocated)`);
    if (elements * 4 > found.bytes) throw new Error(`${what}: ${elements} elements past a buffer of ${found.bytes / 4}`);
    return found;
  };
  const f32 = (ptr: number, n: number, what: string) => buffer(ptr, n, what).f32;
  const i32 = (ptr: number, n: number, what: string) => buffer(ptr, n, what).i32;
  const view = (ptr: number, n: number, dtype: number, what: string) => (dtype === 0 ? f32(ptr, n, what) : i32(ptr, n, what));
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const bf = (x: number) => (precision === 2 ? toBf16(x) : x);
  const launched = (n = 1) => {
    dispatches += n;
  };

  /** Row-major index decomposition over `shape`, calling back with each operand's offsets. */
  const walk = (shape: readonly number[], strides: ReadonlyArray<readonly number[]>, offsets: readonly number[], visit: (i: number, at: number[]) => void) => {
    const n = size(shape);
    const at = new Array<number>(strides.length);
    for (let i = 0; i < n; i++) {
      let rest = i;
      for (let s = 0; s < strides.length; s++) at[s] = offsets[s]!;
      for (let d = shape.length - 1; d >= 0; d--) {
        const idx = rest % shape[d]!;
        rest = Math.floor(rest / shape[d]!);
        for (let s = 0; s < strides.length; s++) at[s]! += idx * strides[s]![d]!;
      }
      visit(i, at);
    }
  };

  const checkConv = (s: number[], what: string) => {
    const [, h, w, , , kh, kw, oh, ow, sh, sw, ph, pw] = s as [number, number, number, number, number, number, number, number, number, number, number, number, number];
    const expectH = Math.floor((h + 2 * ph - kh) / sh) + 1;
    const expectW = Math.floor((w + 2 * pw - kw) / sw) + 1;
    if (expectH !== oh || expectW !== ow) throw new Error(`${what}: cuDNN would reject output ${oh}×${ow} for input ${h}×${w}, kernel ${kh}×${kw}, stride ${sh}, pad ${ph}`);
    return s as [number, number, number, number, number, number, number, number, number, number, number, number, number];
  };

  /** Visits every (input, filter, output) index triple of a convolution. */
  const convTriples = (s: number[], visit: (xi: number, fi: number, yi: number) => void) => {
    const [n, h, w, c, k, kh, kw, oh, ow, sh, sw, ph, pw] = s as [number, number, number, number, number, number, number, number, number, number, number, number, number];
    for (let b = 0; b < n; b++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++)
          for (let dy = 0; dy < kh; dy++) {
            const iy = oy * sh - ph + dy;
            if (iy < 0 || iy >= h) continue;
            for (let dx = 0; dx < kw; dx++) {
              const ix = ox * sw - pw + dx;
              if (ix < 0 || ix >= w) continue;
              for (let ci = 0; ci < c; ci++)
                for (let co = 0; co < k; co++) visit(((b * h + iy) * w + ix) * c + ci, ((dy * kw + dx) * c + ci) * k + co, ((b * oh + oy) * ow + ox) * k + co);
            }
          }
  };

  const addon: EmulatedAddon = {
    capacityBytes: Infinity,
    get live() {
      return memory.size;
    },
    probe: () => ({ deviceCount: 1, driverVersion: 13000, runtimeVersion: 13000 }),
    init: () => ({ name: 'emulated', computeCapability: '9.0', multiprocessors: 1, memoryBytes: 2 ** 30, driverVersion: 13000, runtimeVersion: 13000, cudnnVersion: 91000, cublasVersion: 130000 }),
    setPrecision: (mode) => {
      precision = mode;
    },
    malloc: (bytes) => {
      if (inUse + bytes > addon.capacityBytes) {
        throw Object.assign(new Error(`CUDA out of memory: could not allocate ${(bytes / 2 ** 20).toFixed(1)} MiB`), { code: 'ERR_CUDA_OUT_OF_MEMORY' });
      }
      const ptr = next;
      next += Math.ceil(Math.max(bytes, 4) / 256) * 256;
      const raw = new ArrayBuffer(Math.max(bytes, 4));
      // Poisoned: a kernel that leaves an element unwritten shows up as NaN.
      new Float32Array(raw).fill(Number.NaN);
      memory.set(ptr, { f32: new Float32Array(raw), i32: new Int32Array(raw), bytes });
      inUse += bytes;
      peak = Math.max(peak, inUse);
      return ptr;
    },
    free: (ptr) => {
      const found = memory.get(ptr);
      if (!found) throw new Error(`free: ${ptr} is not a live device buffer (double free?)`);
      inUse -= found.bytes;
      memory.delete(ptr);
    },
    upload: (ptr, values) => {
      const target = buffer(ptr, values.length, 'upload');
      (values instanceof Float32Array ? target.f32 : target.i32).set(values);
      uploads++;
    },
    copyDevice: (dst, src, bytes) => {
      i32(dst, bytes / 4, 'copyDevice').set(i32(src, bytes / 4, 'copyDevice').subarray(0, bytes / 4));
      launched();
    },
    readSync: (ptr, out) => {
      const source = buffer(ptr, out.length, 'readSync');
      out.set((out instanceof Float32Array ? source.f32 : source.i32).subarray(0, out.length));
      downloads++;
    },
    readAsync: async (ptr, bytes) => {
      const copy = i32(ptr, bytes / 4, 'readAsync').slice(0, bytes / 4);
      downloads++;
      await new Promise((resolve) => setImmediate(resolve));
      return copy.buffer;
    },
    fill: (ptr, n, bits) => {
      i32(ptr, n, 'fill').fill(bits | 0, 0, n);
      launched();
    },
    unary: (op, dtype, x, y, n, alpha, beta) => {
      const fn = UNARY_F[op];
      if (!fn) throw new Error(`unary: unknown op ${op}`);
      const xs = view(x, n, dtype, 'unary');
      const ys = view(y, n, dtype, 'unary');
      for (let i = 0; i < n; i++) ys[i] = fn(xs[i]!, alpha, beta);
      launched();
    },
    binary: (op, dtype, a, b, out, shape, as, bs) => {
      const fn = BINARY_F[op];
      if (!fn || shape.length > 6) throw new Error(`binary: op ${op}, rank ${shape.length}`);
      const span = (strides: number[]) => 1 + strides.reduce((sum, s, d) => sum + s * (shape[d]! - 1), 0);
      const av = view(a, span(as), dtype, 'binary a');
      const bv = view(b, span(bs), dtype, 'binary b');
      const ov = BOOL_OUT.has(op) || dtype === 1 ? i32(out, size(shape), 'binary out') : f32(out, size(shape), 'binary out');
      walk(shape, [as, bs], [0, 0], (i, [ai, bi]) => {
        ov[i] = fn(av[ai!]!, bv[bi!]!, dtype === 1);
      });
      launched();
    },
    select: (condition, a, b, out, n, inner) => {
      const c = i32(condition, Math.ceil(n / inner), 'select condition');
      const [av, bv, ov] = [i32(a, n, 'select a'), i32(b, n, 'select b'), i32(out, n, 'select out')];
      for (let i = 0; i < n; i++) ov[i] = c[Math.floor(i / inner)] ? av[i]! : bv[i]!;
      launched();
    },
    cast: (from, to, toBool, x, y, n) => {
      const xs = view(x, n, from, 'cast');
      const ys = view(y, n, to, 'cast');
      for (let i = 0; i < n; i++) ys[i] = toBool ? Number(xs[i] !== 0) : to === 1 ? Math.trunc(xs[i]!) : xs[i]!;
      launched();
    },
    copyStrided: (src, srcOffset, srcStrides, srcModulo, dst, dstOffset, dstStrides, shape) => {
      if (shape.length > 6) throw new Error('copyStrided: rank over 6');
      const s = memory.get(src);
      const d = memory.get(dst);
      if (!s || !d) throw new Error('copyStrided: not a live device buffer');
      const modulo = srcModulo ?? shape;
      walk(shape, [dstStrides], [dstOffset], (i, [di]) => {
        let rest = i;
        let si = srcOffset;
        for (let k = shape.length - 1; k >= 0; k--) {
          const idx = rest % shape[k]!;
          rest = Math.floor(rest / shape[k]!);
          si += (idx % modulo[k]!) * srcStrides[k]!;
        }
        if (si * 4 >= s.bytes || di! * 4 >= d.bytes || si < 0 || di! < 0) throw new Error(`copyStrided: element ${si} → ${di} out of bounds`);
        d.i32[di!] = s.i32[si]!;
      });
      launched();
    },
    reduce: (op, dtype, x, out, outer, reduce, inner, scale) => {
      const xs = view(x, outer * reduce * inner, dtype, 'reduce');
      const os = view(out, outer * inner, dtype, 'reduce out');
      const combine: Record<number, (a: number, b: number) => number> = {
        [REDUCE.Sum]: (a, b) => a + b,
        [REDUCE.Max]: (a, b) => (a > b || Number.isNaN(a) ? a : b),
        [REDUCE.Min]: (a, b) => (a < b || Number.isNaN(a) ? a : b),
        [REDUCE.Prod]: (a, b) => a * b,
        [REDUCE.Any]: (a, b) => Number(a !== 0 || b !== 0),
        [REDUCE.All]: (a, b) => Number(a !== 0 && b !== 0),
      };
      const start: Record<number, number> = { [REDUCE.Sum]: 0, [REDUCE.Max]: -Infinity, [REDUCE.Min]: Infinity, [REDUCE.Prod]: 1, [REDUCE.Any]: 0, [REDUCE.All]: 1 };
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) {
          let acc = dtype === 1 && (op === REDUCE.Max || op === REDUCE.Min) ? (op === REDUCE.Max ? -(2 ** 31) : 2 ** 31 - 1) : start[op]!;
          for (let r = 0; r < reduce; r++) acc = combine[op]!(acc, xs[(o * reduce + r) * inner + i]!);
          os[o * inner + i] = scale !== 1 ? acc * scale : acc;
        }
      launched();
    },
    argReduce: (isMax, dtype, x, out, outer, reduce, inner) => {
      const xs = view(x, outer * reduce * inner, dtype, 'argReduce');
      const os = i32(out, outer * inner, 'argReduce out');
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) {
          let best = 0;
          for (let r = 1; r < reduce; r++) {
            const v = xs[(o * reduce + r) * inner + i]!;
            const b = xs[(o * reduce + best) * inner + i]!;
            if (isMax ? v > b : v < b) best = r;
          }
          os[o * inner + i] = best;
        }
      launched();
    },
    oneHot: (indices, out, n, depth, onBits, offBits) => {
      const idx = i32(indices, n, 'oneHot');
      const os = i32(out, n * depth, 'oneHot out');
      for (let i = 0; i < n * depth; i++) os[i] = idx[Math.floor(i / depth)] === i % depth ? onBits | 0 : offBits | 0;
      launched();
    },
    gather: (x, indices, out, outer, axisSize, inner, m) => {
      const xs = i32(x, outer * axisSize * inner, 'gather');
      const idx = i32(indices, m, 'gather indices');
      const os = i32(out, outer * m * inner, 'gather out');
      for (let o = 0; o < outer; o++)
        for (let j = 0; j < m; j++)
          for (let i = 0; i < inner; i++) os[(o * m + j) * inner + i] = idx[j]! >= 0 && idx[j]! < axisSize ? xs[(o * axisSize + idx[j]!) * inner + i]! : 0;
      launched();
    },
    softmax: (x, y, rows, cols, log) => {
      const xs = f32(x, rows * cols, 'softmax');
      const ys = f32(y, rows * cols, 'softmax out');
      for (let r = 0; r < rows; r++) {
        const row = xs.subarray(r * cols, (r + 1) * cols);
        const m = Math.max(...row);
        const sum = row.reduce((s, v) => s + Math.exp(v - m), 0);
        for (let c = 0; c < cols; c++) ys[r * cols + c] = log ? row[c]! - m - Math.log(sum) : Math.exp(row[c]! - m) / sum;
      }
      launched();
    },
    avgPool: (x, y, p) => {
      const [n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl] = p as [number, number, number, number, number, number, number, number, number, number, number, number];
      const xs = f32(x, n * h * w * c, 'avgPool');
      const ys = f32(y, n * oh * ow * c, 'avgPool out');
      for (let b = 0; b < n; b++)
        for (let oy = 0; oy < oh; oy++)
          for (let ox = 0; ox < ow; ox++)
            for (let ch = 0; ch < c; ch++) {
              let sum = 0;
              let count = 0;
              for (let dy = 0; dy < kh; dy++)
                for (let dx = 0; dx < kw; dx++) {
                  const iy = oy * sh - pt + dy;
                  const ix = ox * sw - pl + dx;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                  sum += xs[((b * h + iy) * w + ix) * c + ch]!;
                  count++;
                }
              ys[((b * oh + oy) * ow + ox) * c + ch] = count ? sum / count : 0;
            }
      launched();
    },
    avgPoolGrad: (dyPtr, dxPtr, p) => {
      const [n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl] = p as [number, number, number, number, number, number, number, number, number, number, number, number];
      const dys = f32(dyPtr, n * oh * ow * c, 'avgPoolGrad');
      const dxs = f32(dxPtr, n * h * w * c, 'avgPoolGrad out');
      dxs.fill(0, 0, n * h * w * c);
      for (let b = 0; b < n; b++)
        for (let oy = 0; oy < oh; oy++)
          for (let ox = 0; ox < ow; ox++) {
            const cells: number[] = [];
            for (let dy = 0; dy < kh; dy++)
              for (let dx = 0; dx < kw; dx++) {
                const iy = oy * sh - pt + dy;
                const ix = ox * sw - pl + dx;
                if (iy >= 0 && iy < h && ix >= 0 && ix < w) cells.push((b * h + iy) * w + ix);
              }
            // tfjs divides the gradient by the whole window, padding included.
            for (let ch = 0; ch < c; ch++) for (const cell of cells) dxs[cell * c + ch]! += dys[((b * oh + oy) * ow + ox) * c + ch]! / (kh * kw);
          }
      launched();
    },
    batchedTranspose: (x, out, batch, rows, cols) => {
      const xs = i32(x, batch * rows * cols, 'batchedTranspose');
      const os = i32(out, batch * rows * cols, 'batchedTranspose out');
      for (let b = 0; b < batch; b++)
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) os[b * rows * cols + c * rows + r] = xs[b * rows * cols + r * cols + c]!;
      launched();
    },
    setConvLayout: (mode) => {
      if (!Number.isInteger(mode) || mode < 0 || mode > 2) throw new Error('convolution layout must be 0 (auto), 1 (NHWC) or 2 (NCHW)');
    },
    maxPool: (x, y, p) => {
      const [n, h, w, c, oh, ow] = p as [number, number, number, number, number, number];
      const xs = f32(x, n * h * w * c, 'maxPool');
      const ys = f32(y, n * oh * ow * c, 'maxPool out');
      for (let o = 0; o < n * oh * ow * c; o++) ys[o] = windowArgMax(xs, p, o).value;
      launched();
    },
    maxPoolGrad: (x, dyPtr, dxPtr, p) => {
      const [n, h, w, c, oh, ow] = p as [number, number, number, number, number, number];
      const xs = f32(x, n * h * w * c, 'maxPoolGrad x');
      const dys = f32(dyPtr, n * oh * ow * c, 'maxPoolGrad dy');
      const dxs = f32(dxPtr, n * h * w * c, 'maxPoolGrad out');
      dxs.fill(0, 0, n * h * w * c);
      for (let o = 0; o < n * oh * ow * c; o++) {
        const { at } = windowArgMax(xs, p, o);
        if (at >= 0) dxs[at]! += dys[o]!;
      }
      launched();
    },
    conv2d: (x, filter, y, shape) => {
      const s = checkConv(shape, 'conv2d');
      const [n, h, w, c, k, kh, kw, oh, ow] = s;
      const xs = f32(x, n * h * w * c, 'conv2d x');
      const fs = f32(filter, kh * kw * c * k, 'conv2d filter');
      const acc = new Float64Array(n * oh * ow * k);
      convTriples(s, (xi, fi, yi) => {
        acc[yi]! += bf(xs[xi]!) * bf(fs[fi]!);
      });
      f32(y, acc.length, 'conv2d y').set(acc);
      launched(2);
    },
    conv2dBackpropInput: (dy, filter, dx, shape) => {
      const s = checkConv(shape, 'conv2dBackpropInput');
      const [n, h, w, c, k, kh, kw, oh, ow] = s;
      const dys = f32(dy, n * oh * ow * k, 'conv2dBackpropInput dy');
      const fs = f32(filter, kh * kw * c * k, 'conv2dBackpropInput filter');
      const acc = new Float64Array(n * h * w * c);
      convTriples(s, (xi, fi, yi) => {
        acc[xi]! += bf(dys[yi]!) * bf(fs[fi]!);
      });
      f32(dx, acc.length, 'conv2dBackpropInput dx').set(acc);
      launched(2);
    },
    conv2dBackpropFilter: (x, dy, dfilter, shape) => {
      const s = checkConv(shape, 'conv2dBackpropFilter');
      const [n, h, w, c, k, kh, kw, oh, ow] = s;
      const xs = f32(x, n * h * w * c, 'conv2dBackpropFilter x');
      const dys = f32(dy, n * oh * ow * k, 'conv2dBackpropFilter dy');
      const acc = new Float64Array(kh * kw * c * k);
      convTriples(s, (xi, fi, yi) => {
        acc[fi]! += bf(xs[xi]!) * bf(dys[yi]!);
      });
      f32(dfilter, acc.length, 'conv2dBackpropFilter dfilter').set(acc);
      launched(2);
    },
    matmul: (a, b, c, batchA, batchB, m, n, k, transposeA, transposeB) => {
      const batch = Math.max(batchA, batchB);
      const as = f32(a, batchA * m * k, 'matmul a');
      const bs = f32(b, batchB * k * n, 'matmul b');
      const cs = f32(c, batch * m * n, 'matmul c');
      for (let p = 0; p < batch; p++) {
        const ao = batchA === 1 ? 0 : p * m * k;
        const bo = batchB === 1 ? 0 : p * k * n;
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let sum = 0;
            for (let q = 0; q < k; q++) sum += bf(as[ao + (transposeA ? q * m + i : i * k + q)]!) * bf(bs[bo + (transposeB ? j * k + q : q * n + j)]!);
            cs[p * m * n + i * n + j] = sum;
          }
      }
      launched();
    },
    batchNormTrain: (x, gamma, beta, runningMean, runningVar, y, mean, variance, runningMeanOut, runningVarOut, rows, channels, epsilon, momentum, residual, relu) => {
      if (rows < 2) throw new Error('batchNormTrain needs at least two rows');
      const xs = f32(x, rows * channels, 'bn x');
      const [g, bt, ys, ms, vs] = [f32(gamma, channels, 'bn gamma'), f32(beta, channels, 'bn beta'), f32(y, rows * channels, 'bn y'), f32(mean, channels, 'bn mean'), f32(variance, channels, 'bn var')];
      const [rm, rv, rmOut, rvOut] = [f32(runningMean, channels, 'bn running mean'), f32(runningVar, channels, 'bn running var'), f32(runningMeanOut, channels, 'bn running mean out'), f32(runningVarOut, channels, 'bn running var out')];
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        let sq = 0;
        for (let r = 0; r < rows; r++) {
          sum += xs[r * channels + c]!;
          sq += xs[r * channels + c]! ** 2;
        }
        const m = sum / rows;
        const v = Math.max(sq / rows - m * m, 0);
        ms[c] = m;
        vs[c] = v;
        rmOut[c] = (1 - momentum) * rm[c]! + momentum * m;
        rvOut[c] = (1 - momentum) * rv[c]! + momentum * ((v * rows) / (rows - 1));
        const scale = g[c]! / Math.sqrt(v + epsilon);
        for (let r = 0; r < rows; r++) ys[r * channels + c] = (xs[r * channels + c]! - m) * scale + bt[c]!;
      }
      const rs = residual ? f32(residual, rows * channels, 'bn residual') : null;
      for (let i = 0; i < rows * channels; i++) {
        const v = ys[i]! + (rs ? rs[i]! : 0);
        ys[i] = relu ? Math.max(v, 0) : v;
      }
      launched(3);
    },
    batchNormTrainGrad: (x, dy, gamma, mean, variance, dx, dgamma, dbeta, rows, channels, epsilon) => {
      const xs = f32(x, rows * channels, 'bn grad x');
      const dys = f32(dy, rows * channels, 'bn grad dy');
      const [g, ms, vs, dxs, dg, db] = [f32(gamma, channels, 'g'), f32(mean, channels, 'm'), f32(variance, channels, 'v'), f32(dx, rows * channels, 'dx'), f32(dgamma, channels, 'dg'), f32(dbeta, channels, 'db')];
      for (let c = 0; c < channels; c++) {
        const rstd = 1 / Math.sqrt(vs[c]! + epsilon);
        let sumDy = 0;
        let sumDyXhat = 0;
        for (let r = 0; r < rows; r++) {
          sumDy += dys[r * channels + c]!;
          sumDyXhat += dys[r * channels + c]! * (xs[r * channels + c]! - ms[c]!) * rstd;
        }
        dg[c] = sumDyXhat;
        db[c] = sumDy;
        for (let r = 0; r < rows; r++) {
          const xhat = (xs[r * channels + c]! - ms[c]!) * rstd;
          dxs[r * channels + c] = g[c]! * rstd * (dys[r * channels + c]! - sumDy / rows - (xhat * sumDyXhat) / rows);
        }
      }
      launched(3);
    },
    batchNormInference: (x, mean, variance, offset, scale, y, rows, channels, epsilon) => {
      const xs = f32(x, rows * channels, 'bn x');
      const ys = f32(y, rows * channels, 'bn y');
      const [ms, vs] = [f32(mean, channels, 'mean'), f32(variance, channels, 'variance')];
      const os = offset ? f32(offset, channels, 'offset') : null;
      const ss = scale ? f32(scale, channels, 'scale') : null;
      for (let i = 0; i < rows * channels; i++) {
        const c = i % channels;
        ys[i] = ((xs[i]! - ms[c]!) * (ss ? ss[c]! : 1)) / Math.sqrt(vs[c]! + epsilon) + (os ? os[c]! : 0);
      }
      launched(2);
    },
    sgdMomentum: (pointers, sizes, lr, momentum, weightDecay, firstStep) => {
      sizes.forEach((n, t) => {
        const [p, g, b, po, bo] = [0, 1, 2, 3, 4].map((k) => f32(pointers[5 * t + k]!, n, `sgd ${k}`)) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
        for (let i = 0; i < n; i++) {
          const grad = g[i]! + weightDecay * p[i]!;
          const buf = firstStep ? grad : momentum * b[i]! + grad;
          bo[i] = buf;
          po[i] = p[i]! - lr * buf;
        }
      });
      launched();
    },
    stats: (): CudaStats => ({ dispatches, uploads, downloads, bytesInUse: inUse, bytesReserved: inUse, peakBytesInUse: peak, pinnedBytes: 0, deviceFreeBytes: 2 ** 30 - inUse, deviceTotalBytes: 2 ** 30 }),
    resetPeak: () => {
      peak = inUse;
    },
    synchronize: () => {},
    markTime: () => marks.push(performance.now()) - 1,
    elapsedMs: (from, to) => marks[to]! - marks[from]!,
    clearTimes: () => {
      marks.length = 0;
    },
    convAlgorithms: () => '',
    releaseCaches: () => {},
  };
  return addon;
}
