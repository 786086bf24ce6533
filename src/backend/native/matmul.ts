import * as tf from '@tensorflow/tfjs-core';
import { BinaryOp, UnaryOp } from './addon.js';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, sizeOf, withFallback, type KernelArgs, type KernelContext } from './kernel-util.js';

interface MatMulResult {
  values: Float32Array;
  shape: number[];
}

/** a @ b over the leading (batch) axes, where either side's batch may be a single matrix. */
function nativeMatMul(context: KernelContext, args: KernelArgs): MatMulResult | undefined {
  const backend = cpuBackendOf(args);
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const aValues = floatValues(backend, a);
  const bValues = floatValues(backend, b);
  if (!aValues || !bValues || a!.shape.length < 2 || b!.shape.length < 2) return undefined;
  const aRank = a!.shape.length;
  const bRank = b!.shape.length;
  const m = transposeA ? a!.shape[aRank - 1]! : a!.shape[aRank - 2]!;
  const k = transposeA ? a!.shape[aRank - 2]! : a!.shape[aRank - 1]!;
  const kB = transposeB ? b!.shape[bRank - 1]! : b!.shape[bRank - 2]!;
  const n = transposeB ? b!.shape[bRank - 2]! : b!.shape[bRank - 1]!;
  if (k !== kB) return undefined;
  const aOuter = a!.shape.slice(0, -2);
  const bOuter = b!.shape.slice(0, -2);
  const batchA = sizeOf(aOuter);
  const batchB = sizeOf(bOuter);
  let outer: number[];
  if (batchA === 1) outer = bOuter;
  else if (batchB === 1) outer = aOuter;
  else if (aOuter.length === bOuter.length && aOuter.every((d, i) => d === bOuter[i])) outer = aOuter;
  else return undefined;
  if (batchA === 1 && batchB === 1) outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const values = allocFloat32(backend, Math.max(batchA, batchB) * m * n);
  context.addon.matmul(aValues, bValues, values, batchA, batchB, m, n, k, transposeA, transposeB);
  return { values, shape: [...outer, m, n] };
}

export function batchMatMul(context: KernelContext): tf.KernelFunc {
  return withFallback('BatchMatMul', context, (args) => {
    const result = nativeMatMul(context, args);
    return result && makeFloatOutput(cpuBackendOf(args), result.shape, result.values);
  });
}

/** MatMul plus bias plus a linear or ReLU activation, as tfjs-layers' Dense layer calls it. */
export function fusedMatMul(context: KernelContext): tf.KernelFunc {
  return withFallback('_FusedMatMul', context, (args) => {
    const backend = cpuBackendOf(args);
    const { bias, preluActivationWeights } = args.inputs;
    const { activation } = args.attrs as { activation: string };
    if (preluActivationWeights || (activation !== 'linear' && activation !== 'relu')) return undefined;
    const biasValues = bias ? floatValues(backend, bias) : undefined;
    if (bias && !biasValues) return undefined;
    const result = nativeMatMul(context, args);
    if (!result) return undefined;
    let { values, shape } = result;
    if (bias) {
      const outShape = tf.broadcast_util.assertAndGetBroadcastShape(shape, bias.shape);
      // In place when the bias broadcasts into the product (a dense layer's [units] bias).
      const sum = sizeOf(outShape) === values.length ? values : allocFloat32(backend, sizeOf(outShape));
      context.addon.binary(BinaryOp.Add, values, shape, biasValues!, bias.shape, sum, outShape);
      values = sum;
      shape = outShape;
    }
    if (activation === 'relu') context.addon.unary(UnaryOp.Relu, values, values);
    return makeFloatOutput(backend, shape, values);
  });
}
