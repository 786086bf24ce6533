import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';

/**
 * The package as a user gets it: `npm pack`, install the tarball into a fresh project outside the
 * repository, and type-check and run a TypeScript program there that imports only `infobatch`.
 *
 * The install takes the dependencies from the npm cache where it can (--prefer-offline). It leaves out
 * the optional dependencies (tfjs-node's install downloads libtensorflow from outside the registry;
 * webgpu is large) and skips the compiles of the native and cuda addons (INFOBATCH_SKIP_NATIVE/_CUDA; CI
 * builds and tests it in the repository): the program trains on the wasm backend, picked by name.
 */
const repo = resolve(import.meta.dirname, '..');
const root = mkdtempSync(join(tmpdir(), 'infobatch-package-'));
after(async () => rm(root, { recursive: true, force: true }));

const PROGRAM = `
import { fit, InfoBatch, ScoreFeedback, weightedLoss, tf, tfl, type EpochLogs, type FitHistory } from 'infobatch';

// Two Gaussian blobs in 4 dimensions: tabular data, not images.
const n = 256;
const x = new Float32Array(n * 4);
const y = new Int32Array(n);
for (let i = 0; i < n; i++) {
  y[i] = i % 2;
  for (let j = 0; j < 4; j++) x[i * 4 + j] = Math.sin(i * 9.1 + j * 3.7) + (y[i] === 1 ? 1.5 : -1.5);
}
const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }), tfl.layers.dense({ units: 2 })] });
const epochs: EpochLogs[] = [];
const history: FitHistory = await fit(model, { x, y }, {
  epochs: 4, batchSize: 32, loss: 'softmaxCrossEntropy', learningRate: 0.1, backend: 'wasm', validationData: { x, y },
  callbacks: { onEpochEnd: (logs) => void epochs.push(logs) },
});

// The three-line change in a loop of one's own.
const infobatch = new InfoBatch({ numSamples: n, epochs: 2, batchSize: 64, ratio: 0.5, delta: 0.875, seed: 0 });
const feedback = new ScoreFeedback(infobatch);
const optimizer = tf.train.sgd(0.1);
const xs = tf.tensor2d(x, [n, 4]);
const ys = tf.tensor1d(y, 'int32');
for (let epoch = 0; epoch < 2; epoch++) {
  const plan = infobatch.planEpoch(epoch);
  for (let b = 0; b < plan.numBatches; b++) {
    const { indices, weights } = infobatch.batch(plan, b);
    const rows = tf.tensor1d(indices, 'int32');
    let losses: tf.Tensor1D | undefined;
    optimizer.minimize(() => {
      const logits = model.apply(tf.gather(xs, rows), { training: true }) as tf.Tensor2D;
      const perSample = tf.losses.softmaxCrossEntropy(tf.oneHot(tf.gather(ys, rows), 2), logits, undefined, 0, tf.Reduction.NONE) as tf.Tensor1D;
      const weighted = weightedLoss(perSample, weights);
      losses = weighted.losses;
      return weighted.loss;
    });
    await feedback.add(indices, losses!);
    rows.dispose();
  }
  await feedback.flush();
}
console.log(JSON.stringify({
  backend: history.backend,
  savedFraction: history.savedFraction,
  valAccuracy: epochs.at(-1)?.valAccuracy,
  ownLoopScored: infobatch.scores.filter((s) => s !== 3).length,
}));
`;

describe('the packed package, installed into a fresh project', () => {
  it('installs from its tarball and runs a TypeScript program that imports only the public API', () => {
    const packDir = join(root, 'pack');
    mkdirSync(packDir);
    // npm pack runs `prepare`, which builds dist/ with its declarations.
    execFileSync('npm', ['pack', '--pack-destination', packDir, '--silent'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);

    const project = join(root, 'user-project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
    // skipLibCheck as every tfjs user needs it: tfjs-core's and tfjs-layers' own .d.ts files fail a strict
    // check (Long, PyJsonValue index types). Our declarations are still checked where the program uses them.
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out', types: [] }, files: ['main.ts'] }),
    );
    writeFileSync(join(project, 'main.ts'), PROGRAM);
    execFileSync('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', '--loglevel=error'], {
      cwd: project,
      env: { ...process.env, INFOBATCH_SKIP_NATIVE: '1', INFOBATCH_SKIP_CUDA: '1' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });

    // The user's compiler check of the program against the published declarations, then the run.
    execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, stdio: ['ignore', 'inherit', 'inherit'] });
    const output = execFileSync(process.execPath, [join(project, 'out', 'main.js')], { cwd: project, encoding: 'utf8' });
    const result = JSON.parse(output.trim().split('\n').at(-1)!) as { backend: string; savedFraction: number; valAccuracy: number; ownLoopScored: number };
    assert.equal(result.backend, 'wasm');
    assert.ok(result.savedFraction > 0, `saved ${result.savedFraction}`);
    assert.ok(result.valAccuracy > 0.9, `validation accuracy ${result.valAccuracy}`);
    assert.equal(result.ownLoopScored, 256, 'every sample of the own loop got its loss as score');
  });
});
