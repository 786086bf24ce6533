// The PyTorch references that benchmarks divide by (scripts/torch_resnet.py's twins of our ResNets, and
// scripts/gpu-check-torch.py, the GPU check's side) run here on the CPU with Debian's python3-torch, so a
// GPU session never spends its minutes finding that the reference does not start or is another model.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Conv2d } from '../src/models/layers/index.js';
import { buildModel, type ModelName } from '../src/models/registry.js';
import { findTorchPython } from '../scripts/torch-python.js';

const scripts = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts');
const torch = findTorchPython();
const skip = torch ? false : 'no python3 with torch (Debian: apt-get install python3-torch; .ci/run installs it)';

function runPython(args: string[]): string {
  const child = spawnSync(torch!.python, args, { cwd: scripts, encoding: 'utf8', timeout: 300_000 });
  assert.equal(child.status, 0, `python ${args.join(' ')} failed:\n${child.stderr}`);
  return child.stdout;
}

/** Each tensor's element count, largest first: two models built alike give the same list. */
function sizes(shapes: readonly tfl.Shape[]): number[] {
  // A weight's shape has no unknown (null) dimension.
  return shapes.map((shape) => tf.util.sizeFromShape(shape as number[])).sort((a, b) => b - a);
}

/** A convolution's geometry as both sides print it: the work it does, wherever the model places it. */
function convolution(cin: number, cout: number, kernel: number, stride: number, padding: number, size: number): string {
  return `${cin}->${cout} k${kernel} s${stride} p${padding} at ${size}`;
}

const TWINS: ModelName[] = ['ResNet18', 'ResNet18Narrow', 'ResNet20', 'ResNet50'];

describe('PyTorch references', { skip }, () => {
  it('torch_resnet.py builds the same ResNets as src/models: parameter tensors, BatchNorm statistics, convolutions', async () => {
    await tf.setBackend('cpu');
    const listing = runPython(['-c', `
import json
import torch
from torch_resnet import MODELS
out = {}
for name in ${JSON.stringify(TWINS)}:
    model = MODELS[name]().eval()
    convolutions = []
    def record(conv, inputs, output):
        convolutions.append(f'{conv.in_channels}->{conv.out_channels} k{conv.kernel_size[0]} s{conv.stride[0]} p{conv.padding[0]} at {inputs[0].shape[2]}')
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(record)
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    out[name] = {
        'trainable': [p.numel() for p in model.parameters()],
        'statistics': sum(b.numel() for n, b in model.named_buffers() if not n.endswith('num_batches_tracked')),
        'convolutions': sorted(convolutions),
    }
print(json.dumps(out))
`]);
    const torchModels = JSON.parse(listing) as Record<string, { trainable: number[]; statistics: number; convolutions: string[] }>;
    for (const name of TWINS) {
      const model = buildModel(name, { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
      try {
        const twin = torchModels[name]!;
        assert.deepEqual(sizes(model.trainableWeights.map((w) => w.shape)), [...twin.trainable].sort((a, b) => b - a), `${name}: parameter tensors`);
        assert.equal(sizes(model.nonTrainableWeights.map((w) => w.shape)).reduce((a, b) => a + b, 0), twin.statistics, `${name}: BatchNorm statistics`);
        // Where each stride sits (e.g. ResNet-50's in its 3×3, not its first 1×1) changes the work, not the weights.
        const convolutions = model.layers.filter((layer): layer is Conv2d => layer instanceof Conv2d).map((layer) => {
          const input = (layer.input as tfl.SymbolicTensor).shape as number[];
          return convolution(input[3]!, layer.filters, layer.kernelSize, layer.strides, layer.padding, input[1]!);
        });
        assert.deepEqual(convolutions.sort(), twin.convolutions, `${name}: convolutions`);
      } finally {
        model.dispose();
      }
    }
  });

  it('gpu-check-torch.py --device cpu times fp32, tf32 and bf16 (autocast really on) and learns', () => {
    const stdout = runPython(['gpu-check-torch.py', '--device', 'cpu', '--batch', '8', '--warmup', '1', '--steps', '2', '--eval', '--precision', 'fp32', 'tf32', 'bf16']);
    const rows = stdout.split('\n').filter((line) => line.startsWith('GPU_CHECK ')).map((line) => JSON.parse(line.slice('GPU_CHECK '.length)) as Record<string, unknown>);
    assert.deepEqual(rows.map((row) => row.precision), ['fp32', 'tf32', 'bf16']);
    for (const row of rows) {
      assert.equal(row.params, 11_173_962);
      assert.equal(row.device, 'cpu');
      assert.ok((row.medianStepSeconds as number) > 0 && (row.evalImagesPerSecond as number) > 0, JSON.stringify(row));
      // Three steps on one batch: the weighted loss falls from about ln 10.
      assert.ok(Math.abs((row.firstLoss as number) - Math.log(10)) < 0.3, `${row.precision}: first loss ${row.firstLoss}`);
      assert.ok((row.lastLoss as number) < (row.firstLoss as number) - 0.5, `${row.precision}: ${row.firstLoss} -> ${row.lastLoss}`);
    }
    const [fp32, tf32, bf16] = rows as [Record<string, number>, Record<string, number>, Record<string, number>];
    // A CPU has no TF32, so the two agree exactly; bf16 rounds the convolutions, so it differs, a little.
    assert.equal(tf32.firstLoss, fp32.firstLoss);
    const bf16Difference = Math.abs(bf16.firstLoss - fp32.firstLoss);
    assert.ok(bf16Difference > 0 && bf16Difference < 0.05, `bf16 vs fp32 first loss: ${bf16.firstLoss} vs ${fp32.firstLoss}`);
  });
});
