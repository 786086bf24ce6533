import type * as tfl from '@tensorflow/tfjs-layers';
import { buildResNet, type BuildOptions, type ResNetSpec } from './resnet.js';

/**
 * The models `--model` accepts. Names are spelled as in the Python reproduction (ResNet18, ResNet50).
 * The small members exist because CPU backends are slow: ResNet-20 and the narrow ResNet-18 train a few
 * hundred images per second on a 2-core CPU with PyTorch, where ResNet-18 manages ~25 (PyTorch 1.13,
 * 2 threads, measured on our 2-core AVX2 machines).
 */
export const MODEL_SPECS = {
  /** CIFAR ResNet-18: 11,173,962 parameters for 10 classes. */
  ResNet18: { block: 'basic', blocks: [2, 2, 2, 2], widths: [64, 128, 256, 512], shortcut: 'projection' },
  /** CIFAR ResNet-50 (bottleneck ×4 expansion). */
  ResNet50: { block: 'bottleneck', blocks: [3, 4, 6, 3], widths: [64, 128, 256, 512], shortcut: 'projection' },
  /** He et al.'s CIFAR ResNet-20 (option-A shortcuts): 269,722 parameters on 3-channel input. */
  ResNet20: { block: 'basic', blocks: [3, 3, 3], widths: [16, 32, 64], shortcut: 'zero-pad' },
  /** ResNet-18 with every width divided by 4: 701,466 parameters, ~12× cheaper per image. */
  ResNet18Narrow: { block: 'basic', blocks: [2, 2, 2, 2], widths: [16, 32, 64, 128], shortcut: 'projection' },
  /** One block per stage at widths 8/16/32: for tests and smoke runs on the pure-JS backend. */
  ResNetTiny: { block: 'basic', blocks: [1, 1, 1], widths: [8, 16, 32], shortcut: 'projection' },
} as const satisfies Record<string, ResNetSpec>;

export type ModelName = keyof typeof MODEL_SPECS;
export const MODEL_NAMES = Object.keys(MODEL_SPECS) as ModelName[];

export function isModelName(name: string): name is ModelName {
  return Object.hasOwn(MODEL_SPECS, name);
}

export function buildModel(name: string, options: BuildOptions): tfl.LayersModel {
  if (!isModelName(name)) throw new Error(`unknown model "${name}"; choose one of: ${MODEL_NAMES.join(', ')}`);
  return buildResNet(name, MODEL_SPECS[name], options);
}
