import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../models/resnet.js'; // registers the custom layers that saved models may contain
import { CorruptFileError } from './errors.js';
import { writeFileAtomic } from './files.js';

/**
 * Saving and loading tfjs Layers models in the standard tfjs format (model.json + weights.bin), the same
 * files tfjs-node's `file://` handler writes, without needing tfjs-node.
 */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

function joinWeightData(data: tf.io.WeightData): Uint8Array {
  return new Uint8Array(Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data);
}

/**
 * Writes model.json + weights.bin (plus any `extraFiles`) into `dir`. Each file is replaced atomically,
 * weights first: model.json never points at a half-written weights file. For a set of files that must
 * change together (checkpoints), save into a staging directory and swap it in with replaceDir.
 */
export async function saveModel(model: tfl.LayersModel, dir: string, extraFiles: Record<string, string | Uint8Array> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs }],
      };
      await writeFileAtomic(join(dir, WEIGHTS_BIN), joinWeightData(artifacts.weightData ?? new ArrayBuffer(0)));
      await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  for (const [name, content] of Object.entries(extraFiles)) await writeFileAtomic(join(dir, name), content);
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1 };

async function readOrCorrupt(file: string, remedy: string): Promise<Buffer> {
  return readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new CorruptFileError(file, error.code === 'ENOENT' ? 'missing' : error.message, remedy);
  });
}

/**
 * Loads a model saved by saveModel (or any single-shard tfjs layers model). A model.json that is not JSON or
 * not a layers model, a weights file of the wrong size, or weights that do not fit the topology is a
 * CorruptFileError naming the file, with `remedy` as what to do.
 */
export async function loadModel(dir: string, remedy = 'delete that folder or retrain the experiment with --overwrite'): Promise<tfl.LayersModel> {
  const jsonFile = join(dir, MODEL_JSON);
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse((await readOrCorrupt(jsonFile, remedy)).toString('utf8')) as tf.io.ModelJSON;
  } catch (error) {
    if (error instanceof CorruptFileError) throw error;
    throw new CorruptFileError(jsonFile, `not valid JSON: ${(error as Error).message}`, remedy);
  }
  const manifest = modelJson?.weightsManifest;
  if (typeof modelJson !== 'object' || modelJson === null || !Array.isArray(manifest) || typeof modelJson.modelTopology !== 'object') {
    throw new CorruptFileError(jsonFile, 'not a tfjs layers model (no modelTopology or weightsManifest)', remedy);
  }
  const weightSpecs = manifest.flatMap((group) => group.weights);
  const paths = manifest.flatMap((group) => group.paths);
  const buffers = await Promise.all(paths.map((p) => readOrCorrupt(join(dir, p), remedy)));
  const bytes = Buffer.concat(buffers);
  const expected = weightSpecs.reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[spec.dtype] ?? 4), 0);
  const weightsFile = join(dir, paths[0] ?? WEIGHTS_BIN);
  if (bytes.byteLength !== expected) {
    throw new CorruptFileError(weightsFile, `${bytes.byteLength} bytes of weights, ${MODEL_JSON} describes ${expected}`, remedy);
  }
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  try {
    return await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }));
  } catch (error) {
    throw new CorruptFileError(jsonFile, `tfjs cannot build the model: ${(error as Error).message.split('\n')[0]}`, remedy);
  }
}
