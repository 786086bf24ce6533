/**
 * InfoBatch on something that is not an image: a small text classifier that tells English, French and
 * Spanish words apart from their characters (token ids), trained once on the full data and once with
 * InfoBatch, same model initialization, same seed, through the public API only.
 *
 *   npm run example            (about half a minute on 2 busy cores, wasm backend)
 *   npm run example -- --epochs 12 --per-language 12000 --backend wasm
 *
 * The words come from the npm packages an-array-of-{english,french,spanish}-words (dev dependencies).
 * Words found in more than one list ("a", "du", "mine"...) are dropped: their label would be a guess.
 * In your own project the import is `from 'infobatch'`; here it is the same module from the sources.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { fit, seededRandom, selectBackend, tf, tfl, type BatchBuilder, type FitHistory } from '../src/index.js';

const LANGUAGES = ['english', 'french', 'spanish'] as const;
/** Longer words are cut: their first 16 characters tell the language well enough. */
const MAX_LENGTH = 16;

export interface ExampleOptions {
  readonly perLanguage: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly ratio: number;
  readonly delta: number;
  readonly seed: number;
  readonly backend: string;
  readonly log: (line: string) => void;
}

export const DEFAULT_EXAMPLE: ExampleOptions = {
  perLanguage: 4000,
  epochs: 8,
  batchSize: 64,
  ratio: 0.5,
  delta: 0.875,
  seed: 0,
  // wasm rather than auto: for this small 1-D convolution net it was 5× faster than native on our 2-core
  // machine (native's oneDNN path is tuned for image convolutions); any backend name works.
  backend: 'wasm',
  log: (line) => console.log(line),
};

interface Words {
  readonly tokens: Int32Array;
  readonly labels: Int32Array;
  readonly count: number;
  readonly vocabulary: number;
}

/** `perLanguage` random words of each list, unique to that list, as padded character ids (0 = padding). */
function loadWords(perLanguage: number, seed: number): { train: Words; test: Words } {
  const require = createRequire(import.meta.url);
  const lists = LANGUAGES.map((language) => new Set((require(`an-array-of-${language}-words`) as string[]).map((w) => w.toLowerCase())));
  const random = seededRandom('word-language', seed);
  const chosen: { word: string; label: number }[] = [];
  lists.forEach((list, label) => {
    const unique = [...list].filter((w) => w.length >= 2 && lists.every((other, l) => l === label || !other.has(w)));
    if (unique.length < perLanguage) throw new RangeError(`--per-language ${perLanguage} exceeds the ${unique.length} ${LANGUAGES[label]} words available`);
    for (let i = 0; i < perLanguage; i++) {
      const j = i + Math.floor(random() * (unique.length - i));
      [unique[i], unique[j]] = [unique[j]!, unique[i]!];
      chosen.push({ word: unique[i]!, label });
    }
  });
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
  }
  const alphabet = [...new Set(chosen.flatMap(({ word }) => [...word]))].sort();
  const ids = new Map(alphabet.map((c, i) => [c, i + 1]));
  const split = (rows: typeof chosen): Words => {
    const tokens = new Int32Array(rows.length * MAX_LENGTH);
    rows.forEach(({ word }, r) => [...word].slice(0, MAX_LENGTH).forEach((c, k) => (tokens[r * MAX_LENGTH + k] = ids.get(c)!)));
    return { tokens, labels: Int32Array.from(rows, (r) => r.label), count: rows.length, vocabulary: alphabet.length + 1 };
  };
  const testCount = Math.floor(chosen.length / 4);
  return { test: split(chosen.slice(0, testCount)), train: split(chosen.slice(testCount)) };
}

/**
 * A convolution over character trigrams, max over positions, a small classifier. The input is the
 * one-hot of the token ids, made per batch (a tfjs Embedding layer would do the same, but its gradient,
 * UnsortedSegmentSum, has no wasm kernel and is slow on native).
 */
function buildModel(vocabulary: number, seed: number): tfl.LayersModel {
  const init = (offset: number) => tfl.initializers.glorotUniform({ seed: seed * 100 + offset });
  return tfl.sequential({
    layers: [
      tfl.layers.conv1d({ inputShape: [MAX_LENGTH, vocabulary], filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.globalMaxPooling1d(),
      tfl.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(2) }),
      tfl.layers.dense({ units: LANGUAGES.length, kernelInitializer: init(3) }),
    ],
  });
}

export interface ExampleResult {
  readonly baseline: FitHistory;
  readonly infobatch: FitHistory;
}

/** Token ids stay on the device as one int32 tensor; each batch is gathered and one-hot encoded there. */
function batches(words: Words): BatchBuilder & { dispose(): void } {
  const tokens = tf.tensor2d(words.tokens, [words.count, MAX_LENGTH], 'int32');
  const labels = tf.tensor1d(words.labels, 'int32');
  return {
    numSamples: words.count,
    batch: (indices) =>
      tf.tidy(() => {
        const rows = tf.tensor1d(indices, 'int32');
        return { x: tf.oneHot(tf.gather(tokens, rows), words.vocabulary), y: tf.gather(labels, rows) };
      }),
    dispose: () => tf.dispose([tokens, labels]),
  };
}

export async function runExample(options: ExampleOptions = DEFAULT_EXAMPLE): Promise<ExampleResult> {
  const { train, test } = loadWords(options.perLanguage, options.seed);
  if (options.backend) await selectBackend(options.backend, options.log);
  const trainData = batches(train);
  const testData = batches(test);
  options.log(`data: ${train.count} train / ${test.count} test words (${LANGUAGES.join(', ')}), ${train.vocabulary - 1} characters, ${MAX_LENGTH} tokens per word`);
  const run = async (infobatch: boolean): Promise<FitHistory> => {
    const model = buildModel(train.vocabulary, options.seed);
    const history = await fit(model, trainData, {
      epochs: options.epochs,
      batchSize: options.batchSize,
      loss: 'softmaxCrossEntropy',
      infobatch: infobatch ? { ratio: options.ratio, delta: options.delta } : false,
      seed: options.seed,
      optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
      learningRate: ({ epoch, batch, numBatches, epochs }) => 0.05 * 0.5 * (1 + Math.cos((Math.PI * (epoch + batch / numBatches)) / epochs)),
      validationData: testData,
      callbacks: {
        onEpochEnd: (e) =>
          options.log(
            `  ${infobatch ? 'InfoBatch' : 'baseline '} epoch ${String(e.epoch + 1).padStart(2)}: train loss ${e.loss.toFixed(4)} | ` +
              `test acc ${(100 * e.valAccuracy!).toFixed(2)} % | ${e.samplesTrained} words${e.samplesPruned ? `, ${e.samplesPruned} pruned` : ''} | ${e.seconds.toFixed(1)} s`,
          ),
      },
    });
    model.dispose();
    return history;
  };
  const baseline = await run(false);
  const infobatch = await run(true);
  trainData.dispose();
  testData.dispose();
  const best = (h: FitHistory) => Math.max(...h.epochs.map((e) => e.valAccuracy!));
  const seconds = (h: FitHistory) => h.epochs.reduce((s, e) => s + e.seconds, 0);
  options.log(`baseline : best test accuracy ${(100 * best(baseline)).toFixed(2)} %, final ${(100 * baseline.epochs.at(-1)!.valAccuracy!).toFixed(2)} %, ${baseline.samplesTrained} sample-steps, ${seconds(baseline).toFixed(1)} s training`);
  options.log(
    `InfoBatch: best test accuracy ${(100 * best(infobatch)).toFixed(2)} %, final ${(100 * infobatch.epochs.at(-1)!.valAccuracy!).toFixed(2)} %, ${infobatch.samplesTrained} sample-steps ` +
      `(${(100 * infobatch.savedFraction).toFixed(1)} % saved, r = ${options.ratio}, δ = ${options.delta}), ${seconds(infobatch).toFixed(1)} s training`,
  );
  return { baseline, infobatch };
}

function parseOptions(argv: string[]): ExampleOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      'per-language': { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      ratio: { type: 'string' },
      delta: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
    },
  });
  const number = (value: string | undefined, fallback: number, flag: string): number => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new RangeError(`--${flag} must be a number, got "${value}"`);
    return parsed;
  };
  return {
    ...DEFAULT_EXAMPLE,
    perLanguage: number(values['per-language'], DEFAULT_EXAMPLE.perLanguage, 'per-language'),
    epochs: number(values.epochs, DEFAULT_EXAMPLE.epochs, 'epochs'),
    batchSize: number(values['batch-size'], DEFAULT_EXAMPLE.batchSize, 'batch-size'),
    ratio: number(values.ratio, DEFAULT_EXAMPLE.ratio, 'ratio'),
    delta: number(values.delta, DEFAULT_EXAMPLE.delta, 'delta'),
    seed: number(values.seed, DEFAULT_EXAMPLE.seed, 'seed'),
    backend: values.backend ?? DEFAULT_EXAMPLE.backend,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    await runExample(parseOptions(process.argv.slice(2)));
  } catch (error) {
    // The library throws; the command line turns a bad setting into one line and exit code 2.
    if (error instanceof RangeError || error instanceof TypeError || (error instanceof Error && error.name === 'BackendError')) {
      console.error(`word-language: ${error.message}`);
      process.exitCode = 2;
    } else {
      throw error;
    }
  }
}
