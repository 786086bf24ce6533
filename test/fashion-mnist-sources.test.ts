import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { DatasetError, validateDataset } from '../src/data/dataset.js';
import { BUNDLED_FASHION_MNIST_DIR, loadFashionMnistVerified, FASHION_MNIST_MD5 } from '../src/data/fashion-mnist.js';
import { loadDataset } from '../src/data/registry.js';
import { startLocalServer } from './helpers/local-server.js';

/** Where Fashion-MNIST comes from: the subset inside the package, --data_dir, the system copy, a verified download. */
const root = mkdtempSync(join(tmpdir(), 'infobatch-fmnist-'));
after(() => rmSync(root, { recursive: true, force: true }));
const log = (): void => {};

function idx(count: number, labels: boolean): Buffer {
  const header = Buffer.alloc(labels ? 8 : 16);
  header.writeUInt32BE(labels ? 0x801 : 0x803, 0);
  header.writeUInt32BE(count, 4);
  if (!labels) {
    header.writeUInt32BE(28, 8);
    header.writeUInt32BE(28, 12);
  }
  const body = Buffer.alloc(labels ? count : count * 28 * 28);
  for (let i = 0; i < body.length; i++) body[i] = labels ? i % 10 : (i * 7) % 256;
  return Buffer.concat([header, body]);
}

const FILES = {
  'train-images-idx3-ubyte': gzipSync(idx(30, false)),
  'train-labels-idx1-ubyte': gzipSync(idx(30, true)),
  't10k-images-idx3-ubyte': gzipSync(idx(10, false)),
  't10k-labels-idx1-ubyte': gzipSync(idx(10, true)),
};
const md5s = Object.fromEntries(Object.entries(FILES).map(([stem, bytes]) => [stem, createHash('md5').update(bytes).digest('hex')])) as typeof FASHION_MNIST_MD5;

describe('Fashion-MNIST sources', () => {
  it('ships a real 10k/2k subset with its licence and checksums, loadable with no setup', async () => {
    assert.match(readFileSync(join(BUNDLED_FASHION_MNIST_DIR, 'LICENSE'), 'utf8'), /Zalando SE[\s\S]*Permission is hereby granted/);
    const data = await loadDataset('fashion-mnist-10k', { dataDir: join(root, 'unused'), seed: 0, log });
    validateDataset(data);
    assert.equal(data.train.count, 10_000);
    assert.equal(data.test.count, 2_000);
    assert.equal(data.height, 28);
    // Real images, every class present in both splits.
    for (const split of [data.train, data.test]) assert.equal(new Set(split.labels).size, 10);
    assert.ok(!existsSync(join(root, 'unused')), 'reads nothing from --data_dir and writes nothing');
  });

  it('downloads the full set into <data_dir>/fashion-mnist from the official source (here a local server), checking MD5s', async () => {
    const server = await startLocalServer((request, response) => {
      const name = (request.url ?? '').slice(1).replace(/\.gz$/, '') as keyof typeof FILES;
      if (!FILES[name]) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-length': FILES[name].length }).end(FILES[name]);
    });
    try {
      const dataDir = join(root, 'download');
      const options = { dataDir, seed: 0, log, systemDirs: [], mirror: server.baseUrl, download: { progress: 'none' as const, retries: 0 } };
      const data = await loadFashionMnistVerified(options, md5s);
      assert.equal(data.train.count, 30);
      assert.ok(existsSync(join(dataDir, 'fashion-mnist', 'train-images-idx3-ubyte.gz')));
      assert.deepEqual(server.requests.map((r) => r.path).sort(), Object.keys(FILES).map((stem) => `/${stem}.gz`).sort());
      // Found in the cache the second time: no more requests.
      await loadFashionMnistVerified(options, md5s);
      assert.equal(server.requests.length, 4);
      // A file whose MD5 does not match is refused, one line, and not kept.
      const wrong = { ...md5s, 't10k-labels-idx1-ubyte': '0'.repeat(32) };
      const elsewhere = { ...options, dataDir: join(root, 'download-wrong') };
      await assert.rejects(loadFashionMnistVerified(elsewhere, wrong), (e: unknown) => e instanceof DatasetError && /MD5|checksum/i.test(e.message) && !e.message.includes('\n'));
      assert.ok(!existsSync(join(root, 'download-wrong', 'fashion-mnist', 't10k-labels-idx1-ubyte.gz')));
    } finally {
      await server.close();
    }
  });

  it('finds the set in --data_dir or its fashion-mnist/ folder before the system copy', async () => {
    const nested = join(root, 'nested', 'fashion-mnist');
    mkdirSync(nested, { recursive: true });
    for (const [stem, bytes] of Object.entries(FILES)) writeFileSync(join(nested, `${stem}.gz`), bytes);
    const data = await loadDataset('fashion-mnist', { dataDir: join(root, 'nested'), seed: 0, log, systemDirs: ['/usr/share/datasets/fashion-mnist'] });
    assert.equal(data.train.count, 30);
  });

  const system = '/usr/share/datasets/fashion-mnist';
  it("finds Debian's copy when --data_dir has none", { skip: existsSync(system) ? false : `${system} not installed` }, async () => {
    const data = await loadDataset('fashion-mnist', { dataDir: join(root, 'empty'), seed: 0, log });
    assert.equal(data.train.count, 60_000);
  });

  it('a dataset with no images is refused in one line', () => {
    const empty = { images: new Uint8Array(0), labels: new Uint8Array(0), count: 0 };
    const dataset = { name: 'x', height: 1, width: 1, channels: 1, numClasses: 1, classNames: ['a'], mean: [0], std: [1], cropPadding: 'zero' as const, horizontalFlip: false, train: empty, test: empty };
    assert.throws(() => validateDataset(dataset), /x train: the dataset has no train images/);
  });
});
