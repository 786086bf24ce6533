import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { DatasetError } from '../src/data/dataset.js';
import { loadDataset } from '../src/data/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'infobatch-data-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const log = () => {};

function idxImages(count: number, h: number, w: number, pixel: (n: number, y: number, x: number) => number): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  header.writeUInt32BE(count, 4);
  header.writeUInt32BE(h, 8);
  header.writeUInt32BE(w, 12);
  const body = Buffer.alloc(count * h * w);
  for (let n = 0; n < count; n++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) body[(n * h + y) * w + x] = pixel(n, y, x);
  return Buffer.concat([header, body]);
}

function idxLabels(labels: number[]): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(0x801, 0);
  header.writeUInt32BE(labels.length, 4);
  return Buffer.concat([header, Buffer.from(labels)]);
}

describe('fashion-mnist loader', () => {
  it('parses idx files, plain and gzipped, into NHWC uint8 with labels', async () => {
    const pixel = (n: number, y: number, x: number) => (n * 50 + y * 4 + x) % 256;
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idxImages(3, 4, 4, pixel));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxLabels([9, 0, 4])));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idxImages(2, 4, 4, pixel)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxLabels([1, 2]));
    const data = await loadDataset('fashion-mnist', { dataDir: dir, seed: 0, log });
    assert.equal(data.train.count, 3);
    assert.equal(data.channels, 1);
    assert.deepEqual(Array.from(data.train.labels), [9, 0, 4]);
    assert.equal(data.train.images[(2 * 4 + 3) * 4 + 1], pixel(2, 3, 1));
    assert.equal(data.classNames[9], 'Ankle boot');
  });

  it('without the files, no system copy and no network: one error naming the Debian package and the bundled subset', async () => {
    const sources = { systemDirs: [], mirror: 'http://127.0.0.1:9/', download: { retries: 0, progress: 'none' as const } };
    await assert.rejects(loadDataset('fashion-mnist', { dataDir: join(dir, 'nowhere'), seed: 0, log, ...sources }), (e: unknown) =>
      e instanceof DatasetError && /could not be downloaded/.test(e.message) && /dataset-fashion-mnist/.test(e.message) && /fashion-mnist-10k/.test(e.message));
  });

  it('rejects a truncated images file', async () => {
    const bad = join(dir, 'bad');
    rmSync(bad, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bad);
    writeFileSync(join(bad, 'train-images-idx3-ubyte'), idxImages(3, 4, 4, () => 1).subarray(0, 30));
    writeFileSync(join(bad, 'train-labels-idx1-ubyte'), idxLabels([1, 2, 3]));
    writeFileSync(join(bad, 't10k-images-idx3-ubyte'), idxImages(1, 4, 4, () => 1));
    writeFileSync(join(bad, 't10k-labels-idx1-ubyte'), idxLabels([1]));
    await assert.rejects(loadDataset('fashion-mnist', { dataDir: bad, seed: 0, log }), /truncated/);
  });

  const system = '/usr/share/datasets/fashion-mnist';
  it('loads the real 60k/10k set from Debian\'s package', { skip: existsSync(system) ? false : `${system} not installed` }, async () => {
    const data = await loadDataset('fashion-mnist', { dataDir: system, seed: 0, log });
    assert.equal(data.train.count, 60_000);
    assert.equal(data.test.count, 10_000);
    assert.equal(data.height, 28);
    const counts = new Array(10).fill(0);
    for (const label of data.train.labels) counts[label]++;
    assert.ok(counts.every((c) => c === 6000), 'balanced classes');
  });
});

describe('synthetic dataset and the registry', () => {
  it('is generated from the seed: same seed same data, other seed other data', async () => {
    const a = await loadDataset('synthetic', { dataDir: '', seed: 1, log, syntheticSizes: { trainSize: 40, testSize: 8 } });
    const b = await loadDataset('synthetic', { dataDir: '', seed: 1, log, syntheticSizes: { trainSize: 40, testSize: 8 } });
    const c = await loadDataset('synthetic', { dataDir: '', seed: 2, log, syntheticSizes: { trainSize: 40, testSize: 8 } });
    assert.deepEqual(a.train.images, b.train.images);
    assert.notDeepEqual(a.train.images, c.train.images);
    assert.equal(a.train.count, 40);
  });

  it('rejects an unknown dataset name', async () => {
    await assert.rejects(loadDataset('imagenet', { dataDir: '', seed: 0, log }), (e: unknown) => e instanceof DatasetError && /unknown dataset "imagenet"/.test(e.message));
  });
});
