import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../models/resnet.js'; // registers the custom layers that saved models may contain
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

/** Loads a model saved by saveModel (or any single-shard tfjs layers model). */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  const modelJson = JSON.parse(await readFile(join(dir, MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
  const manifest = modelJson.weightsManifest;
  const weightSpecs = manifest.flatMap((group) => group.weights);
  const buffers = await Promise.all(manifest.flatMap((group) => group.paths.map((p) => readFile(join(dir, p)))));
  const bytes = Buffer.concat(buffers);
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }));
}
