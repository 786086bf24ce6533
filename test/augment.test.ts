import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchMaker, normalizationTable } from '../src/data/augment.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { seededRandom } from '../src/infobatch/index.js';

/** 2 images of 4×4×2 with pixel value = 10·y + x (+100 on channel 1, +50 for image 1). */
function dataset(padding: 'reflect' | 'zero', flip = true): ImageDataset {
  const h = 4, w = 4, c = 2;
  const images = new Uint8Array(2 * h * w * c);
  for (let n = 0; n < 2; n++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) {
    images[((n * h + y) * w + x) * c + ch] = 10 * y + x + 100 * ch + 50 * n;
  }
  const split = { images, labels: new Uint8Array([1, 0]), count: 2 };
  return { name: 't', height: h, width: w, channels: c, numClasses: 2, classNames: ['a', 'b'], mean: [0, 0], std: [1 / 255, 1 / 255], cropPadding: padding, horizontalFlip: flip, train: split, test: split };
}

/** With mean 0 and std 1/255 the normalized value is the raw pixel value. */
function pixel(batch: { images: Float32Array }, n: number, y: number, x: number, ch: number): number {
  return Math.round(batch.images[((n * 4 + y) * 4 + x) * 2 + ch]!);
}

describe('batch maker', () => {
  it('gathers and normalizes without augmentation', () => {
    const d = dataset('zero');
    const batch = new BatchMaker(d).make(d.train, [1, 0], { augment: false, cropPadding: 0 });
    assert.deepEqual(batch.shape, [2, 4, 4, 2]);
    assert.deepEqual(Array.from(batch.labels), [0, 1]);
    assert.equal(pixel(batch, 0, 2, 3, 1), 50 + 23 + 100);
    assert.equal(pixel(batch, 1, 0, 0, 0), 0);
    const table = normalizationTable({ channels: 1, mean: [0.5], std: [0.25] });
    assert.equal(table[255], (1 - 0.5) / 0.25);
  });

  it('crops with offsets in [−pad, pad], reflect or zero padding, and flips', () => {
    for (const padding of ['reflect', 'zero'] as const) {
      const d = dataset(padding);
      const maker = new BatchMaker(d);
      const random = seededRandom('t', padding);
      const outputs = new Set<string>();
      let flips = 0;
      for (let trial = 0; trial < 200; trial++) {
        const batch = maker.make(d.train, [0], { augment: true, cropPadding: 2, random });
        // Find (dy, dx, flip) that explains the output, checking every pixel against the rule.
        let explained = false;
        for (let dy = -2; dy <= 2 && !explained; dy++) for (let dx = -2; dx <= 2 && !explained; dx++) for (const flip of [false, true]) {
          let ok = true;
          for (let y = 0; y < 4 && ok; y++) for (let x = 0; x < 4 && ok; x++) {
            const sy = y + dy, sx = (flip ? 3 - x : x) + dx;
            const inside = sy >= 0 && sy < 4 && sx >= 0 && sx < 4;
            const ry = sy < 0 ? -sy : sy > 3 ? 6 - sy : sy, rx = sx < 0 ? -sx : sx > 3 ? 6 - sx : sx;
            const expected = padding === 'zero' && !inside ? 0 : 10 * ry + rx + 100;
            ok = pixel(batch, 0, y, x, 1) === expected;
          }
          if (ok) { explained = true; if (flip) flips++; break; }
        }
        assert.ok(explained, `${padding}: output is a crop/flip of the input`);
        outputs.add(Array.from(batch.images).join());
      }
      assert.ok(outputs.size >= 20, `many distinct crops (${outputs.size}; some of the 50 offset/flip choices coincide on a 4×4 image)`);
      assert.ok(flips > 50 && flips < 150, `about half flipped (${flips})`);
    }
  });

  it('does not flip data whose labels a flip would change', () => {
    const d = dataset('zero', false);
    const maker = new BatchMaker(d);
    const random = seededRandom('noflip');
    for (let i = 0; i < 50; i++) {
      const batch = maker.make(d.train, [0], { augment: true, cropPadding: 0, random });
      assert.equal(pixel(batch, 0, 0, 0, 0), 0);
      assert.equal(pixel(batch, 0, 0, 3, 0), 3);
    }
  });

  it('is reproducible from the seed', () => {
    const d = dataset('reflect');
    const a = new BatchMaker(d).make(d.train, [0, 1, 0], { augment: true, cropPadding: 2, random: seededRandom('s', 1) });
    const b = new BatchMaker(d).make(d.train, [0, 1, 0], { augment: true, cropPadding: 2, random: seededRandom('s', 1) });
    assert.deepEqual(a.images, b.images);
  });
});
