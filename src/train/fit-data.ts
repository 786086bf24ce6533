import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { StepTensors } from './epoch.js';

/**
 * The data `fit` trains on: in-memory features and targets (tensors or typed arrays), or a function that
 * builds a batch from sample indices (for data that should not sit in memory as one tensor, augmentation,
 * token padding...).
 */
export type Features = tf.Tensor | readonly tf.Tensor[] | tf.TypedArray | readonly number[];
export type Targets = tf.Tensor | tf.TypedArray | readonly number[];

export interface InMemoryData {
  /**
   * One row per sample. A typed array (or number array) is reshaped to [N, ...the model's input shape],
   * which must then be fully defined; an Int32Array becomes an int32 tensor (token ids), anything else
   * float32. A model with several inputs takes an array of tensors.
   */
  readonly x: Features;
  /**
   * Class indices (one per sample), or rows of one-hot / regression targets. A typed array is [N] when it
   * has N entries, else [N, ...the model's output shape].
   */
  readonly y: Targets;
}

export interface BatchBuilder {
  readonly numSamples: number;
  /**
   * Builds the batch of these sample indices (in this order). `fit` disposes the returned tensors after
   * the step, so return fresh ones (tf.gather, tf.tensor), never tensors you keep.
   */
  readonly batch: (indices: Int32Array) => StepTensorsLike | Promise<StepTensorsLike>;
}

export interface StepTensorsLike {
  readonly x: tf.Tensor | tf.Tensor[];
  readonly y: tf.Tensor;
}

export type FitData = InMemoryData | BatchBuilder;

export interface DataSource {
  readonly numSamples: number;
  readonly makeBatch: (indices: Int32Array) => StepTensors | Promise<StepTensors>;
  /** Frees the tensors the source made itself (never the caller's). */
  dispose(): void;
}

function isBatchBuilder(data: FitData): data is BatchBuilder {
  return typeof (data as BatchBuilder).batch === 'function';
}

function isTensor(value: unknown): value is tf.Tensor {
  // By shape rather than instanceof: a second copy of tfjs-core has its own Tensor class.
  return typeof value === 'object' && value !== null && 'dataId' in value && 'shape' in value;
}

function definedShape(shape: readonly (number | null)[], what: string): number[] {
  const rest = shape.slice(1);
  if (rest.some((d) => d === null || d === undefined)) {
    throw new TypeError(`the ${what} shape [${shape.join(', ')}] is not fully defined; pass ${what === 'input' ? 'x' : 'y'} as a tensor`);
  }
  return rest as number[];
}

function featureTensor(values: tf.TypedArray | readonly number[], model: tfl.LayersModel, index: number): tf.Tensor {
  const rowShape = definedShape(model.inputs[index]!.shape, 'input');
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  if (values.length % rowSize !== 0) throw new RangeError(`x has ${values.length} values, not a multiple of the input row size ${rowSize} ([${rowShape.join(', ')}])`);
  // Int32Array features stay integers (token ids for an Embedding); everything else is float32.
  return tf.tensor(values as number[], [values.length / rowSize, ...rowShape], values instanceof Int32Array ? 'int32' : 'float32');
}

function targetTensor(values: tf.TypedArray | readonly number[], numSamples: number, model: tfl.LayersModel): tf.Tensor {
  const integer = values instanceof Int32Array || values instanceof Uint8Array || values instanceof Uint16Array || values instanceof Int8Array || values instanceof Int16Array;
  if (values.length === numSamples) return tf.tensor1d(values as number[], integer ? 'int32' : 'float32');
  const rowShape = definedShape(model.outputs[0]!.shape, 'output');
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  if (values.length !== numSamples * rowSize) throw new RangeError(`y has ${values.length} values for ${numSamples} samples (expected ${numSamples} or ${numSamples * rowSize})`);
  return tf.tensor(values as number[], [numSamples, ...rowShape], 'float32');
}

/** Turns `fit`'s data argument into batches; validates sizes before any training. */
export function dataSource(data: FitData, model: tfl.LayersModel, what = 'data'): DataSource {
  if (isBatchBuilder(data)) {
    if (!Number.isInteger(data.numSamples) || data.numSamples <= 0) throw new RangeError(`${what}.numSamples must be a positive integer, got ${data.numSamples}`);
    return {
      numSamples: data.numSamples,
      makeBatch: async (indices) => {
        const built = await data.batch(indices);
        if (!built || !built.y) throw new TypeError(`${what}.batch() must return { x, y } tensors`);
        return { inputs: built.x, targets: built.y };
      },
      dispose: () => {},
    };
  }
  if (!data || data.x === undefined || data.y === undefined) throw new TypeError(`${what} must be { x, y } or { numSamples, batch }`);
  const owned: tf.Tensor[] = [];
  const own = (t: tf.Tensor): tf.Tensor => (owned.push(t), t);
  const xs: tf.Tensor[] = Array.isArray(data.x) && data.x.length > 0 && isTensor(data.x[0])
    ? [...(data.x as tf.Tensor[])]
    : [isTensor(data.x) ? data.x : own(featureTensor(data.x as tf.TypedArray, model, 0))];
  if (xs.length !== model.inputs.length) throw new RangeError(`the model has ${model.inputs.length} inputs, ${what}.x has ${xs.length}`);
  const numSamples = xs[0]!.shape[0]!;
  if (!(numSamples > 0)) throw new RangeError(`${what}.x has no samples`);
  for (const x of xs) if (x.shape[0] !== numSamples) throw new RangeError(`${what}.x inputs disagree on the sample count (${numSamples} vs ${x.shape[0]})`);
  const y = isTensor(data.y) ? data.y : own(targetTensor(data.y as tf.TypedArray, numSamples, model));
  if (y.shape[0] !== numSamples) throw new RangeError(`${what} has ${numSamples} samples in x but ${y.shape[0]} in y`);
  return {
    numSamples,
    // Gathered on the device: the in-memory data is uploaded once, each batch is a gather of it.
    makeBatch: (indices) =>
      tf.tidy(() => {
        const rows = tf.tensor1d(indices, 'int32');
        const inputs = xs.map((x) => tf.gather(x, rows));
        return { inputs: inputs.length === 1 ? inputs[0]! : inputs, targets: tf.gather(y, rows) };
      }),
    dispose: () => tf.dispose(owned),
  };
}
