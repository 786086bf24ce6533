import { channelStats, DatasetError, type DatasetLoader, type ImageDataset, type ImageSplit, type SyntheticSizes } from './dataset.js';
import { seededRandom, type Random } from '../infobatch/index.js';

/**
 * A small generated image set that a small CNN can really learn in seconds: each class is a fixed
 * random blob pattern (a few Gaussian bumps at class-specific positions and colours), each image is its
 * class pattern, shifted by up to 2 pixels, scaled in contrast, plus pixel noise. Same seed, same data.
 * Sizes are set through `syntheticSizes` (tests use small ones).
 */
const DEFAULTS: SyntheticSizes = { trainSize: 2000, testSize: 500, imageSize: 16, numClasses: 4 };
const CHANNELS = 3;

interface Bump {
  y: number;
  x: number;
  radius: number;
  colour: number[];
}

function classPatterns(numClasses: number, size: number, channels: number, random: Random): Bump[][] {
  return Array.from({ length: numClasses }, () =>
    Array.from({ length: 3 }, () => ({
      y: 2 + random() * (size - 4),
      x: 2 + random() * (size - 4),
      radius: 1.5 + random() * (size / 6),
      colour: Array.from({ length: channels }, () => random() * 2 - 1),
    })),
  );
}

function generateSplit(count: number, patterns: Bump[][], size: number, channels: number, random: Random): ImageSplit {
  const images = new Uint8Array(count * size * size * channels);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const label = n % patterns.length;
    labels[n] = label;
    const shiftY = Math.round(random() * 4 - 2);
    const shiftX = Math.round(random() * 4 - 2);
    const contrast = 0.6 + random() * 0.4;
    let o = n * size * size * channels;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < channels; c++) {
          let v = 0;
          for (const bump of patterns[label]!) {
            const d2 = (y - bump.y - shiftY) ** 2 + (x - bump.x - shiftX) ** 2;
            v += bump.colour[c]! * Math.exp(-d2 / (2 * bump.radius ** 2));
          }
          const noise = (random() + random() + random() - 1.5) * 0.5;
          images[o++] = Math.max(0, Math.min(255, Math.round(128 + 90 * (contrast * v + noise))));
        }
      }
    }
  }
  return { images, labels, count };
}

function sizeOf(sizes: Partial<SyntheticSizes> | undefined, key: keyof SyntheticSizes): number {
  const value = sizes?.[key] ?? DEFAULTS[key];
  if (!(Number.isInteger(value) && value > 0)) throw new DatasetError(`synthetic ${key} must be a positive integer, got ${value}`);
  return value;
}

export const loadSynthetic: DatasetLoader = async (options) => {
  const imageSize = sizeOf(options.syntheticSizes, 'imageSize');
  const numClasses = sizeOf(options.syntheticSizes, 'numClasses');
  const channels = CHANNELS;
  const random = seededRandom('synthetic', options.seed);
  const patterns = classPatterns(numClasses, imageSize, channels, random);
  const train = generateSplit(sizeOf(options.syntheticSizes, 'trainSize'), patterns, imageSize, channels, random);
  const test = generateSplit(sizeOf(options.syntheticSizes, 'testSize'), patterns, imageSize, channels, random);
  const { mean, std } = channelStats(train.images, channels);
  const dataset: ImageDataset = {
    name: 'synthetic',
    height: imageSize,
    width: imageSize,
    channels,
    numClasses,
    classNames: Array.from({ length: numClasses }, (_, i) => `pattern-${i}`),
    mean,
    std,
    cropPadding: 'zero',
    horizontalFlip: false,
    train,
    test,
  };
  return dataset;
};
