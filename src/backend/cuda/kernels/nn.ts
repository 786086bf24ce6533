import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, RELU_GRAD, SGD_MOMENTUM } from '../../../ops/kernel-names.js';
import { BINARY, UNARY } from '../addon.js';
import type { CudaBackend } from '../backend.js';
import { binaryOp, unaryOp } from './elementwise.js';
import { padTensor, sliceTensor } from './shape.js';
import { attr, bf16Mask, input, inputList, optionalInput, sizeOf, type CudaKernel } from './util.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

/**
 * What the addon's convolution takes (symmetric padding), and the explicit padding to apply first where
 * tfjs asks for an asymmetric one ('same' with stride 2 on even sizes pads one more at the bottom/right).
 */
function convShape(info: ConvInfo): { shape: number[]; paddings: Array<[number, number]> | null } {
  const { top, bottom, left, right } = info.padInfo;
  const symmetric = top === bottom && left === right;
  const h = symmetric ? info.inHeight : info.inHeight + top + bottom;
  const w = symmetric ? info.inWidth : info.inWidth + left + right;
  return {
    shape: [info.batchSize, h, w, info.inChannels, info.outChannels, info.filterHeight, info.filterWidth, info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, symmetric ? top : 0, symmetric ? left : 0],
    paddings: symmetric ? null : [[0, 0], [top, bottom], [left, right], [0, 0]],
  };
}

function supportedConv(info: ConvInfo, ...tensors: tf.TensorInfo[]): boolean {
  return info.dataFormat === 'channelsLast' && info.dilationHeight === 1 && info.dilationWidth === 1 && tensors.every((t) => t.dtype === 'float32');
}

function conv2dInfo(args: Parameters<CudaKernel>[0], xShape: readonly number[], filterShape: readonly number[]): ConvInfo {
  const dataFormat = tf.backend_util.convertConv2DDataFormat((attr<'NHWC' | 'NCHW'>(args, 'dataFormat') ?? 'NHWC'));
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], attr(args, 'strides'), attr(args, 'dilations') ?? 1, attr(args, 'pad'), attr(args, 'dimRoundingMode'), false, dataFormat);
}

/** Convolution results (activations, and their gradients backward) are bf16-stored with --precision bf16. */
function convForward(backend: CudaBackend, info: ConvInfo, x: tf.TensorInfo, filter: tf.TensorInfo): tf.TensorInfo {
  const { shape, paddings } = convShape(info);
  const source = paddings ? padTensor(backend, x, paddings) : x;
  const y = backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32', backend.bf16Activations);
  const sx = backend.stored(source);
  backend.addon.conv2d(sx.ptr, backend.ptr(filter), backend.stored(y).ptr, shape, bf16Mask(sx.bf16, false, backend.bf16Activations));
  if (source !== x) backend.disposeIntermediate(source);
  return y;
}

const ACTIVATIONS: Record<string, number | null> = { linear: null, relu: UNARY.Relu, relu6: UNARY.Relu6, elu: UNARY.Elu, sigmoid: UNARY.Sigmoid, leakyrelu: UNARY.LeakyRelu };

/** y + bias, then the activation, in place of fused kernels' epilogues; undefined for prelu. */
function epilogue(backend: CudaBackend, y: tf.TensorInfo, bias: tf.TensorInfo | undefined, activation: string, alpha: number): tf.TensorInfo {
  let out = y;
  if (bias) {
    out = binaryOp(backend, BINARY.Add, y, bias);
    backend.disposeIntermediate(y);
  }
  const op = ACTIVATIONS[activation];
  if (op !== null && op !== undefined) {
    const activated = unaryOp(backend, op, out, alpha);
    backend.disposeIntermediate(out);
    out = activated;
  }
  return out;
}

function matmulShapes(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean) {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const batchA = sizeOf(batchShapeA);
  const batchB = sizeOf(batchShapeB);
  const batchShape = tf.backend_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
  const ok = batchA === batchB || batchA === 1 || batchB === 1;
  return { m, k, n, batchA, batchB, outShape: [...batchShape, m, n], ok };
}

function matmul(args: Parameters<CudaKernel>[0]): tf.TensorInfo | undefined {
  const a = input(args, 'a');
  const b = input(args, 'b');
  const transposeA = attr<boolean>(args, 'transposeA') ?? false;
  const transposeB = attr<boolean>(args, 'transposeB') ?? false;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const s = matmulShapes(a, b, transposeA, transposeB);
  if (!s.ok) return undefined;
  const backend = args.backend;
  const out = backend.makeOutput(s.outShape, 'float32');
  backend.addon.matmul(backend.ptr(a), backend.ptr(b), backend.ptr(out), s.batchA, s.batchB, s.m, s.n, s.k, transposeA, transposeB);
  return out;
}

function poolParams(info: ConvInfo): number[] {
  return [info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left];
}

type PoolCall = (backend: CudaBackend, x: tf.TensorInfo, y: tf.TensorInfo, params: number[]) => void;
type PoolGradCall = (backend: CudaBackend, x: tf.TensorInfo, dy: tf.TensorInfo, dx: tf.TensorInfo, params: number[]) => void;

function poolInfo(args: Parameters<CudaKernel>[0], xShape: readonly number[]): ConvInfo {
  return tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], attr(args, 'filterSize'), attr(args, 'strides'), 1, attr(args, 'pad'), attr(args, 'dimRoundingMode'));
}

/** AvgPool / MaxPool: NHWC float32, {filterSize, strides, pad, dimRoundingMode}. */
function poolKernel(call: PoolCall): CudaKernel {
  return (args) => {
    const x = input(args, 'x');
    if (x.dtype !== 'float32' || x.shape.length !== 4) return undefined;
    const info = poolInfo(args, x.shape);
    const y = args.backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
    call(args.backend, x, y, poolParams(info));
    return y;
  };
}

/** AvgPoolGrad / MaxPoolGrad: inputs {dy, input (, output)}, the forward's attributes. */
function poolGradKernel(call: PoolGradCall): CudaKernel {
  return (args) => {
    const dy = input(args, 'dy');
    const x = input(args, 'input');
    if (dy.dtype !== 'float32' || x.dtype !== 'float32' || x.shape.length !== 4) return undefined;
    const dx = args.backend.makeOutput(x.shape, 'float32');
    call(args.backend, x, dy, dx, poolParams(poolInfo(args, x.shape)));
    return dx;
  };
}

/** Per-channel vectors of a BatchNorm: float32 of the channel count. */
function channelVector(t: tf.TensorInfo | undefined, channels: number): boolean {
  return !t || (t.dtype === 'float32' && sizeOf(t.shape) === channels);
}

export const NN_KERNELS: Record<string, CudaKernel> = {
  Conv2D: (args) => {
    const x = input(args, 'x');
    const filter = input(args, 'filter');
    const info = conv2dInfo(args, x.shape, filter.shape);
    if (!supportedConv(info, x, filter)) return undefined;
    return convForward(args.backend, info, x, filter);
  },
  FusedConv2D: (args) => {
    const x = input(args, 'x');
    const filter = input(args, 'filter');
    const bias = optionalInput(args, 'bias');
    const activation = attr<string>(args, 'activation') ?? 'linear';
    const info = conv2dInfo(args, x.shape, filter.shape);
    if (!supportedConv(info, x, filter) || !(activation in ACTIVATIONS) || (bias && bias.dtype !== 'float32')) return undefined;
    return epilogue(args.backend, convForward(args.backend, info, x, filter), bias, activation, attr<number>(args, 'leakyreluAlpha') ?? 0.2);
  },
  Conv2DBackpropInput: (args) => {
    const dy = input(args, 'dy');
    const filter = input(args, 'filter');
    const inputShape = attr<number[]>(args, 'inputShape');
    const info = conv2dInfo(args, inputShape, filter.shape);
    if (!supportedConv(info, dy, filter)) return undefined;
    const { shape, paddings } = convShape(info);
    const paddedShape = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
    const b = args.backend;
    const dx = b.makeOutput(paddedShape, 'float32', b.bf16Activations);
    const sdy = b.stored(dy);
    b.addon.conv2dBackpropInput(sdy.ptr, b.ptr(filter), b.stored(dx).ptr, shape, bf16Mask(sdy.bf16, false, b.bf16Activations));
    if (!paddings) return dx;
    const cropped = sliceTensor(b, dx, [0, paddings[1]![0], paddings[2]![0], 0], inputShape);
    b.disposeIntermediate(dx);
    return cropped;
  },
  Conv2DBackpropFilter: (args) => {
    const x = input(args, 'x');
    const dy = input(args, 'dy');
    const filterShape = attr<number[]>(args, 'filterShape');
    const info = conv2dInfo(args, x.shape, filterShape);
    if (!supportedConv(info, x, dy)) return undefined;
    const { shape, paddings } = convShape(info);
    const b = args.backend;
    const source = paddings ? padTensor(b, x, paddings) : x;
    const dfilter = b.makeOutput(filterShape, 'float32');
    const [sx, sdy] = [b.stored(source), b.stored(dy)];
    b.addon.conv2dBackpropFilter(sx.ptr, sdy.ptr, b.ptr(dfilter), shape, bf16Mask(sx.bf16, sdy.bf16));
    if (source !== x) b.disposeIntermediate(source);
    return dfilter;
  },
  BatchMatMul: matmul,
  _FusedMatMul: (args) => {
    const activation = attr<string>(args, 'activation') ?? 'linear';
    const bias = optionalInput(args, 'bias');
    if (!(activation in ACTIVATIONS) || (bias && bias.dtype !== 'float32')) return undefined;
    const product = matmul(args);
    return product && epilogue(args.backend, product, bias, activation, attr<number>(args, 'leakyreluAlpha') ?? 0.2);
  },
  AvgPool: poolKernel((b, x, y, params) => b.addon.avgPool(b.ptr(x), b.ptr(y), params)),
  AvgPoolGrad: poolGradKernel((b, _x, dy, dx, params) => b.addon.avgPoolGrad(b.ptr(dy), b.ptr(dx), params)),
  MaxPool: poolKernel((b, x, y, params) => b.addon.maxPool(b.ptr(x), b.ptr(y), params)),
  MaxPoolGrad: poolGradKernel((b, x, dy, dx, params) => b.addon.maxPoolGrad(b.ptr(x), b.ptr(dy), b.ptr(dx), params)),
  FusedBatchNorm: (args) => {
    const x = input(args, 'x');
    const mean = input(args, 'mean');
    const variance = input(args, 'variance');
    const offset = optionalInput(args, 'offset');
    const scale = optionalInput(args, 'scale');
    const channels = x.shape[x.shape.length - 1] ?? 1;
    if (x.dtype !== 'float32' || ![mean, variance, offset, scale].every((t) => channelVector(t, channels))) return undefined;
    const b = args.backend;
    const sx = b.stored(x);
    const y = b.makeOutput(x.shape, 'float32', sx.bf16);
    b.addon.batchNormInference(sx.ptr, b.ptr(mean), b.ptr(variance), offset ? b.ptr(offset) : 0, scale ? b.ptr(scale) : 0, b.stored(y).ptr, sizeOf(x.shape) / channels, channels,
      attr<number>(args, 'varianceEpsilon') ?? 0.001, bf16Mask(sx.bf16, sx.bf16));
    return y;
  },
  [BATCH_NORM_TRAIN]: (args) => {
    const x = input(args, 'x');
    const channels = x.shape[x.shape.length - 1]!;
    const b = args.backend;
    // y is bf16-stored where x is (a bf16 convolution's result); statistics and running state stay float32.
    const sx = b.stored(x);
    const y = b.makeOutput(x.shape, 'float32', sx.bf16);
    const [mean, variance, runningMean, runningVar] = [0, 1, 2, 3].map(() => b.makeOutput([channels], 'float32'));
    const [gamma, beta, runningMeanIn, runningVarIn] = ['gamma', 'beta', 'runningMean', 'runningVar'].map((name) => b.ptr(input(args, name)));
    const residual = optionalInput(args, 'residual');
    const sr = residual ? b.stored(residual) : { ptr: 0, bf16: false };
    b.addon.batchNormTrain(sx.ptr, gamma!, beta!, runningMeanIn!, runningVarIn!, b.stored(y).ptr, b.ptr(mean!), b.ptr(variance!), b.ptr(runningMean!), b.ptr(runningVar!),
      sizeOf(x.shape) / channels, channels, attr<number>(args, 'epsilon'), attr<number>(args, 'momentum'), sr.ptr, attr<boolean>(args, 'relu') ?? false, bf16Mask(sx.bf16, sr.bf16, sx.bf16));
    return [y, mean!, variance!, runningMean!, runningVar!];
  },
  [BATCH_NORM_TRAIN_GRAD]: (args) => {
    const x = input(args, 'x');
    const dy = input(args, 'dy');
    const channels = x.shape[x.shape.length - 1]!;
    const b = args.backend;
    const [sx, sdy] = [b.stored(x), b.stored(dy)];
    const dx = b.makeOutput(x.shape, 'float32', sx.bf16);
    const dgamma = b.makeOutput([channels], 'float32');
    const dbeta = b.makeOutput([channels], 'float32');
    b.addon.batchNormTrainGrad(sx.ptr, sdy.ptr, b.ptr(input(args, 'gamma')), b.ptr(input(args, 'mean')), b.ptr(input(args, 'variance')), b.stored(dx).ptr, b.ptr(dgamma), b.ptr(dbeta),
      sizeOf(x.shape) / channels, channels, attr<number>(args, 'epsilon'), bf16Mask(sx.bf16, sdy.bf16, sx.bf16));
    return [dx, dgamma, dbeta];
  },
  [RELU_GRAD]: (args) => {
    const dy = input(args, 'dy');
    const y = input(args, 'y');
    if (dy.dtype !== 'float32' || y.dtype !== 'float32') return undefined;
    return binaryOp(args.backend, BINARY.ReluGradFromOutput, dy, y);
  },
  [SGD_MOMENTUM]: (args) => {
    const tensors = inputList(args);
    const n = tensors.length / 3;
    if (!Number.isInteger(n) || tensors.some((t) => t.dtype !== 'float32')) throw new Error(`${SGD_MOMENTUM}: 3n float32 inputs expected, got ${tensors.length}`);
    const b = args.backend;
    const params = tensors.slice(0, n);
    const paramsOut = params.map((p) => b.makeOutput(p.shape, 'float32'));
    const buffersOut = params.map((p) => b.makeOutput(p.shape, 'float32'));
    const pointers = new Float64Array(5 * n);
    const sizes = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      pointers.set([b.ptr(params[i]!), b.ptr(tensors[n + i]!), b.ptr(tensors[2 * n + i]!), b.ptr(paramsOut[i]!), b.ptr(buffersOut[i]!)], 5 * i);
      sizes[i] = sizeOf(params[i]!.shape);
    }
    b.addon.sgdMomentum(pointers, sizes, attr<number>(args, 'lr'), attr<number>(args, 'momentum'), attr<number>(args, 'weightDecay'), attr<boolean>(args, 'firstStep'));
    return [...paramsOut, ...buffersOut];
  },
};
