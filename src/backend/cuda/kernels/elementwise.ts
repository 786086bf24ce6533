import * as tf from '@tensorflow/tfjs-core';
import { FORK } from '../../../ops/kernel-names.js';
import { BINARY, UNARY } from '../addon.js';
import { deviceType, type CudaBackend } from '../backend.js';
import { attr, bf16Mask, bitsOf, broadcast, elementwiseBf16, input, inputList, sizeOf, type CudaKernel } from './util.js';

const COMPARISONS = new Set<number>([BINARY.Equal, BINARY.NotEqual, BINARY.Greater, BINARY.GreaterEqual, BINARY.Less, BINARY.LessEqual, BINARY.LogicalAnd, BINARY.LogicalOr]);

/** out = a op b with numpy broadcasting; comparisons give bool. Float operands may be bf16-stored, and the
 *  result is where they are (elementwiseBf16). */
export function binaryOp(backend: CudaBackend, op: number, a: tf.TensorInfo, b: tf.TensorInfo, dtype?: tf.DataType): tf.TensorInfo {
  const plan = broadcast(a.shape, b.shape);
  const computeType = a.dtype === 'float32' || b.dtype === 'float32' ? 'float32' : 'int32';
  const outType = dtype ?? (COMPARISONS.has(op) ? 'bool' : tf.upcastType(a.dtype, b.dtype));
  const bf16Out = computeType === 'float32' && outType === 'float32' && elementwiseBf16(backend, [a, b]);
  const out = backend.makeOutput(plan.outShape, outType, bf16Out);
  const [sa, sb] = [backend.stored(a), backend.stored(b)];
  backend.addon.binary(op, deviceType(computeType), sa.ptr, sb.ptr, backend.stored(out).ptr, plan.shape, plan.aStrides, plan.bStrides, bf16Mask(sa.bf16, sb.bf16, bf16Out));
  return out;
}

/** A float result is bf16-stored where x is. */
export function unaryOp(backend: CudaBackend, op: number, x: tf.TensorInfo, alpha = 0, beta = 0): tf.TensorInfo {
  const sx = backend.stored(x);
  const out = backend.makeOutput(x.shape, x.dtype, sx.bf16);
  backend.addon.unary(op, deviceType(x.dtype), sx.ptr, backend.stored(out).ptr, sizeOf(x.shape), alpha, beta, bf16Mask(sx.bf16, sx.bf16));
  return out;
}

function binaryKernel(op: number, floatOnly = false): CudaKernel {
  return (args) => {
    const a = input(args, 'a');
    const b = input(args, 'b');
    if (a.dtype !== b.dtype) return undefined;
    if (floatOnly && a.dtype !== 'float32') return undefined;
    if (a.dtype !== 'float32' && a.dtype !== 'int32' && a.dtype !== 'bool') return undefined;
    if (broadcastRank(a.shape, b.shape) > 6) return undefined;
    return binaryOp(args.backend, op, a, b);
  };
}

function broadcastRank(a: readonly number[], b: readonly number[]): number {
  return broadcast(a, b).shape.length;
}

export const BINARY_KERNELS: Record<string, CudaKernel> = {
  Add: binaryKernel(BINARY.Add),
  Sub: binaryKernel(BINARY.Sub),
  Multiply: binaryKernel(BINARY.Mul),
  RealDiv: binaryKernel(BINARY.Div, true),
  Maximum: binaryKernel(BINARY.Maximum),
  Minimum: binaryKernel(BINARY.Minimum),
  SquaredDifference: binaryKernel(BINARY.SquaredDifference),
  Pow: binaryKernel(BINARY.Pow, true),
  Equal: binaryKernel(BINARY.Equal),
  NotEqual: binaryKernel(BINARY.NotEqual),
  Greater: binaryKernel(BINARY.Greater),
  GreaterEqual: binaryKernel(BINARY.GreaterEqual),
  Less: binaryKernel(BINARY.Less),
  LessEqual: binaryKernel(BINARY.LessEqual),
  LogicalAnd: binaryKernel(BINARY.LogicalAnd),
  LogicalOr: binaryKernel(BINARY.LogicalOr),
  FloorDiv: binaryKernel(BINARY.FloorDiv),
  Mod: binaryKernel(BINARY.Mod),
  EluGrad: (args) => {
    const dy = input(args, 'dy');
    const y = input(args, 'y');
    if (dy.dtype !== 'float32' || y.dtype !== 'float32') return undefined;
    return binaryOp(args.backend, BINARY.EluGrad, dy, y);
  },
};

/** Ops that also have an int32 form in the addon. */
const INT_UNARY = new Set<number>([UNARY.Neg, UNARY.Abs, UNARY.Square, UNARY.Relu, UNARY.LogicalNot, UNARY.Sign, UNARY.ClipByValue]);

function unaryKernel(op: number, params: (args: Parameters<CudaKernel>[0]) => [number, number] = () => [0, 0]): CudaKernel {
  return (args) => {
    const x = input(args, 'x');
    if (x.dtype !== 'float32' && !((x.dtype === 'int32' || x.dtype === 'bool') && INT_UNARY.has(op))) return undefined;
    const [alpha, beta] = params(args);
    return unaryOp(args.backend, op, x, alpha, beta);
  };
}

export const UNARY_KERNELS: Record<string, CudaKernel> = {
  Relu: unaryKernel(UNARY.Relu),
  Relu6: unaryKernel(UNARY.Relu6),
  Step: unaryKernel(UNARY.Step, (args) => [attr<number>(args, 'alpha') ?? 0, 0]),
  Neg: unaryKernel(UNARY.Neg),
  Square: unaryKernel(UNARY.Square),
  Sqrt: unaryKernel(UNARY.Sqrt),
  Rsqrt: unaryKernel(UNARY.Rsqrt),
  Exp: unaryKernel(UNARY.Exp),
  Log: unaryKernel(UNARY.Log),
  Reciprocal: unaryKernel(UNARY.Reciprocal),
  Abs: unaryKernel(UNARY.Abs),
  Sigmoid: unaryKernel(UNARY.Sigmoid),
  Tanh: unaryKernel(UNARY.Tanh),
  Log1p: unaryKernel(UNARY.Log1p),
  Floor: unaryKernel(UNARY.Floor),
  Ceil: unaryKernel(UNARY.Ceil),
  LeakyRelu: unaryKernel(UNARY.LeakyRelu, (args) => [attr<number>(args, 'alpha') ?? 0.2, 0]),
  Elu: unaryKernel(UNARY.Elu),
  Softplus: unaryKernel(UNARY.Softplus),
  ClipByValue: unaryKernel(UNARY.ClipByValue, (args) => [attr<number>(args, 'clipValueMin'), attr<number>(args, 'clipValueMax')]),
  LogicalNot: unaryKernel(UNARY.LogicalNot),
  Sign: unaryKernel(UNARY.Sign),
  Expm1: unaryKernel(UNARY.Expm1),
  Round: unaryKernel(UNARY.Round),
  Sin: unaryKernel(UNARY.Sin),
  Cos: unaryKernel(UNARY.Cos),
};

export const BASIC_KERNELS: Record<string, CudaKernel> = {
  Identity: (args) => args.backend.share(input(args, 'x')),
  [FORK]: (args) => [args.backend.share(input(args, 'x')), args.backend.share(input(args, 'x'))],
  Reshape: (args) => {
    const x = input(args, 'x');
    const shape = tf.util.inferFromImplicitShape(attr<number[]>(args, 'shape'), sizeOf(x.shape));
    return args.backend.share(x, shape);
  },
  AddN: (args) => {
    const tensors = inputList(args);
    if (tensors.length === 1) return args.backend.share(tensors[0]!);
    if (tensors.some((t) => t.dtype !== tensors[0]!.dtype || t.dtype === 'string' || t.dtype === 'complex64')) return undefined;
    let sum = binaryOp(args.backend, BINARY.Add, tensors[0]!, tensors[1]!);
    for (const next of tensors.slice(2)) {
      const previous = sum;
      sum = binaryOp(args.backend, BINARY.Add, previous, next);
      args.backend.disposeIntermediate(previous);
    }
    return sum;
  },
  Cast: (args) => {
    const x = input(args, 'x');
    const to = attr<tf.DataType>(args, 'dtype');
    const supported = (d: tf.DataType) => d === 'float32' || d === 'int32' || d === 'bool';
    if (!supported(x.dtype) || !supported(to)) return undefined;
    // Same type: the data is shared, as tfjs's cpu backend does (Identity's gradient casts every dy).
    if (x.dtype === to) return args.backend.share(x);
    const out = args.backend.makeOutput(x.shape, to);
    const n = sizeOf(x.shape);
    if (x.dtype === 'bool' && to === 'int32') args.backend.addon.copyDevice(args.backend.ptr(out), args.backend.ptr(x), n * 4);
    else args.backend.addon.cast(deviceType(x.dtype), deviceType(to), to === 'bool', args.backend.ptr(x), args.backend.ptr(out), n);
    return out;
  },
  Select: (args) => {
    const condition = input(args, 'condition');
    const a = input(args, 't');
    const b = input(args, 'e');
    const n = sizeOf(a.shape);
    const sameShape = condition.shape.length === a.shape.length && condition.shape.every((d, i) => d === a.shape[i]);
    // tf.where broadcasts its operands first, so the kernel sees equal shapes.
    if (a.dtype !== b.dtype || a.dtype === 'string' || a.dtype === 'complex64' || !sameShape || sizeOf(b.shape) !== n) return undefined;
    const out = args.backend.makeOutput(a.shape, a.dtype);
    args.backend.addon.select(args.backend.ptr(condition), args.backend.ptr(a), args.backend.ptr(b), args.backend.ptr(out), n, 1);
    return out;
  },
  Fill: (args) => {
    const dtype = attr<tf.DataType>(args, 'dtype') ?? 'float32';
    const value = attr<number | string>(args, 'value');
    if (typeof value !== 'number' || dtype === 'string') return undefined;
    return filled(args.backend, attr<number[]>(args, 'shape'), dtype, value);
  },
  ZerosLike: (args) => {
    const x = input(args, 'x');
    return x.dtype === 'string' || x.dtype === 'complex64' ? undefined : filled(args.backend, x.shape, x.dtype, 0);
  },
  OnesLike: (args) => {
    const x = input(args, 'x');
    return x.dtype === 'string' || x.dtype === 'complex64' ? undefined : filled(args.backend, x.shape, x.dtype, 1);
  },
};

export function filled(backend: CudaBackend, shape: readonly number[], dtype: tf.DataType, value: number): tf.TensorInfo {
  const out = backend.makeOutput(shape, dtype);
  backend.addon.fill(backend.ptr(out), sizeOf(shape), bitsOf(value, dtype));
  return out;
}
