import * as tf from '@tensorflow/tfjs-core';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, sizeOf, withFallback, type KernelContext } from './kernel-util.js';

type Conv2DInfo = tf.backend_util.Conv2DInfo;
type Shape4 = [number, number, number, number];
type Padding = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

/**
 * The addon's 17-number convolution shape, or undefined where oneDNN's output-size rule
 * (⌊(in + pads − dilated filter) / stride⌋ + 1) would not reproduce tfjs's output size.
 */
function convShape(info: Conv2DInfo): number[] | undefined {
  if (info.dataFormat !== 'channelsLast') return undefined;
  const { padInfo: pad } = info;
  const fitsHeight = Math.floor((info.inHeight + pad.top + pad.bottom - info.effectiveFilterHeight) / info.strideHeight) + 1 === info.outHeight;
  const fitsWidth = Math.floor((info.inWidth + pad.left + pad.right - info.effectiveFilterWidth) / info.strideWidth) + 1 === info.outWidth;
  if (!fitsHeight || !fitsWidth || pad.top < 0 || pad.bottom < 0 || pad.left < 0 || pad.right < 0) return undefined;
  return [
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.outChannels, info.filterHeight, info.filterWidth, info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    pad.top, pad.bottom, pad.left, pad.right,
  ];
}

function poolShape(info: Conv2DInfo): number[] | undefined {
  if (info.dataFormat !== 'channelsLast' || info.dilationHeight !== 1 || info.dilationWidth !== 1) return undefined;
  const { padInfo: pad } = info;
  const fits =
    Math.floor((info.inHeight + pad.top + pad.bottom - info.filterHeight) / info.strideHeight) + 1 === info.outHeight &&
    Math.floor((info.inWidth + pad.left + pad.right - info.filterWidth) / info.strideWidth) + 1 === info.outWidth;
  if (!fits || pad.top < 0 || pad.bottom < 0 || pad.left < 0 || pad.right < 0) return undefined;
  return [
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, pad.top, pad.bottom, pad.left, pad.right,
  ];
}

interface ConvAttrs {
  strides: [number, number] | number;
  pad: Padding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(xShape: number[], filterShape: number[], attrs: ConvAttrs): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
}

export function conv2D(context: KernelContext): tf.KernelFunc {
  return withFallback('Conv2D', context, (args) => {
    const backend = cpuBackendOf(args);
    const { x, filter } = args.inputs;
    const xValues = floatValues(backend, x);
    const filterValues = floatValues(backend, filter);
    if (!xValues || !filterValues || x!.shape.length !== 4) return undefined;
    const info = convInfo(x!.shape, filter!.shape, args.attrs as unknown as ConvAttrs);
    const shape = convShape(info);
    if (!shape) return undefined;
    const y = allocFloat32(backend, sizeOf(info.outShape));
    context.addon.conv2d(xValues, filterValues, null, y, shape, false);
    return makeFloatOutput(backend, info.outShape, y);
  });
}

/** Conv2D with an optional bias and a linear or ReLU activation, as tfjs-layers' Conv2D layer calls it. */
export function fusedConv2D(context: KernelContext): tf.KernelFunc {
  return withFallback('FusedConv2D', context, (args) => {
    const backend = cpuBackendOf(args);
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs as unknown as ConvAttrs & { activation: string };
    if (preluActivationWeights || (attrs.activation !== 'linear' && attrs.activation !== 'relu')) return undefined;
    const xValues = floatValues(backend, x);
    const filterValues = floatValues(backend, filter);
    if (!xValues || !filterValues || x!.shape.length !== 4) return undefined;
    const info = convInfo(x!.shape, filter!.shape, attrs);
    const shape = convShape(info);
    if (!shape) return undefined;
    let biasValues: Float32Array | null = null;
    if (bias) {
      const values = floatValues(backend, bias);
      // A per-channel bias only; other broadcasts go to the CPU kernel.
      if (!values || values.length !== info.outChannels || sizeOf(bias.shape) !== info.outChannels) return undefined;
      biasValues = values;
    }
    const y = allocFloat32(backend, sizeOf(info.outShape));
    context.addon.conv2d(xValues, filterValues, biasValues, y, shape, attrs.activation === 'relu');
    return makeFloatOutput(backend, info.outShape, y);
  });
}

export function conv2DBackpropInput(context: KernelContext): tf.KernelFunc {
  return withFallback('Conv2DBackpropInput', context, (args) => {
    const backend = cpuBackendOf(args);
    const { dy, filter } = args.inputs;
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
    const dyValues = floatValues(backend, dy);
    const filterValues = floatValues(backend, filter);
    if (!dyValues || !filterValues || attrs.inputShape.length !== 4) return undefined;
    const info = convInfo(attrs.inputShape, filter!.shape, { ...attrs, dilations: 1 });
    const shape = convShape(info);
    if (!shape) return undefined;
    const dx = allocFloat32(backend, sizeOf(info.inShape));
    context.addon.conv2dBackpropInput(dyValues, filterValues, dx, shape);
    return makeFloatOutput(backend, [...info.inShape], dx);
  });
}

export function conv2DBackpropFilter(context: KernelContext): tf.KernelFunc {
  return withFallback('Conv2DBackpropFilter', context, (args) => {
    const backend = cpuBackendOf(args);
    const { x, dy } = args.inputs;
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
    const xValues = floatValues(backend, x);
    const dyValues = floatValues(backend, dy);
    if (!xValues || !dyValues || x!.shape.length !== 4) return undefined;
    const info = convInfo(x!.shape, attrs.filterShape, { ...attrs, dilations: 1 });
    const shape = convShape(info);
    if (!shape) return undefined;
    const dfilter = allocFloat32(backend, sizeOf(info.filterShape));
    context.addon.conv2dBackpropFilter(xValues, dyValues, dfilter, shape);
    return makeFloatOutput(backend, [...info.filterShape], dfilter);
  });
}

interface PoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: Padding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function poolInfo(xShape: number[], attrs: PoolAttrs): Conv2DInfo {
  return tf.backend_util.computePool2DInfo(xShape as Shape4, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
}

export function avgPool(context: KernelContext): tf.KernelFunc {
  return withFallback('AvgPool', context, (args) => {
    const backend = cpuBackendOf(args);
    const { x } = args.inputs;
    const xValues = floatValues(backend, x);
    if (!xValues || x!.shape.length !== 4) return undefined;
    const info = poolInfo(x!.shape, args.attrs as unknown as PoolAttrs);
    const shape = poolShape(info);
    if (!shape) return undefined;
    const y = allocFloat32(backend, sizeOf(info.outShape));
    context.addon.avgPool(xValues, y, shape);
    return makeFloatOutput(backend, info.outShape, y);
  });
}

export function avgPoolGrad(context: KernelContext): tf.KernelFunc {
  return withFallback('AvgPoolGrad', context, (args) => {
    const backend = cpuBackendOf(args);
    const { dy, input } = args.inputs;
    const dyValues = floatValues(backend, dy);
    if (!dyValues || !input || input.shape.length !== 4) return undefined;
    const info = poolInfo(input.shape, args.attrs as unknown as PoolAttrs);
    const shape = poolShape(info);
    if (!shape || sizeOf(dy!.shape) !== sizeOf(info.outShape)) return undefined;
    const dx = allocFloat32(backend, sizeOf(input.shape));
    context.addon.avgPoolGrad(dyValues, dx, shape);
    return makeFloatOutput(backend, [...input.shape], dx);
  });
}
