/**
 * CIFAR-10/100: record parsing on known bytes, and the whole loader (download → verify → extract →
 * parse → cache) against a local HTTP server serving small archives in the official format.
 */
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatasetError, validateDataset, type DatasetLoadOptions } from '../src/data/dataset.js';
import { loadCifar, loadCifar10, loadCifar100, MIRROR_ENV, readCifarSettings, type CifarInternals } from '../src/data/cifar.js';
import {
  CIFAR10_CLASS_NAMES,
  CIFAR100_COARSE_CLASS_NAMES,
  CIFAR100_FINE_CLASS_NAMES,
  CIFAR10_SPEC,
  CIFAR100_SPEC,
  OFFICIAL_CIFAR_BASE_URL,
} from '../src/data/cifar-specs.js';
import { CIFAR_IMAGE_BYTES, countRecords, decodeRecordsInto, type CifarRecordFormat } from '../src/data/cifar-records.js';
import {
  cifar100Labels,
  cifar10Label,
  makeCifarArchive,
  makeRecords,
  pixelValue,
  writeExtractedFolder,
  type GeneratedArchive,
} from './helpers/cifar-archive.js';
import { sendFile, sendTruncated, startLocalServer, unusedBaseUrl, type LocalServer } from './helpers/local-server.js';

const QUIET: CifarInternals = { retryDelayMs: 0, progress: 'lines', env: {} };

let root: string;
let cifar10: GeneratedArchive;
let cifar100: GeneratedArchive;
const servers: LocalServer[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'infobatch-cifar-test-'));
  cifar10 = await makeCifarArchive('cifar10', 3, 2);
  cifar100 = await makeCifarArchive('cifar100', 4, 3);
});
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await rm(root, { recursive: true, force: true });
  for (const archive of [cifar10, cifar100]) await rm(join(archive.archivePath, '..'), { recursive: true, force: true });
});

async function serveArchive(archive: GeneratedArchive, handler?: Parameters<typeof startLocalServer>[0]): Promise<LocalServer> {
  const server = await startLocalServer(handler ?? ((req, res) => sendFile(req, res, archive.bytes)));
  servers.push(server);
  return server;
}

const freshDir = (): Promise<string> => mkdtemp(join(root, 'data-'));
const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

type LoaderSettings = Pick<DatasetLoadOptions, 'mirror' | 'cifar100Labels' | 'download'>;

function options(dataDir: string, settings: LoaderSettings = {}): DatasetLoadOptions & { lines: string[] } {
  const lines: string[] = [];
  return { dataDir, seed: 0, log: (line) => lines.push(line), ...settings, lines };
}

/** Decodes in-memory record files as the loader decodes the files it reads: counted, then decoded in order. */
function decodeCifarRecords(files: readonly { name: string; bytes: Uint8Array }[], format: CifarRecordFormat) {
  const count = files.reduce((sum, file) => sum + countRecords(file.bytes.length, format, file.name), 0);
  const target = { images: new Uint8Array(count * CIFAR_IMAGE_BYTES), labels: new Uint8Array(count) };
  let next = 0;
  for (const file of files) next += decodeRecordsInto(target, next, file, format);
  return { ...target, count };
}

/** Checks every pixel and label of a split against the generator, images numbered from `first`. */
function assertGenerated(images: Uint8Array, labels: Uint8Array, first: number, count: number, label: (image: number) => number): void {
  assert.equal(labels.length, count);
  assert.equal(images.length, count * 3072);
  for (let i = 0; i < count; i++) {
    assert.equal(labels[i], label(first + i), `label of image ${first + i}`);
    for (let pixel = 0; pixel < 1024; pixel += 37) {
      for (let c = 0; c < 3; c++) assert.equal(images[i * 3072 + pixel * 3 + c], pixelValue(first + i, c, pixel));
    }
  }
}

describe('CIFAR binary records', () => {
  it('decodes the label byte and channel-planar RGB into NHWC', () => {
    const record = new Uint8Array(1 + 3072);
    record[0] = 7;
    // Pixel at row 1, column 2 (index 34): R = 10, G = 20, B = 30 in the three planes.
    record[1 + 34] = 10;
    record[1 + 1024 + 34] = 20;
    record[1 + 2048 + 34] = 30;
    record[1 + 1023] = 200; // last red value
    const split = decodeCifarRecords([{ name: 'one.bin', bytes: record }], { labelClassCounts: [10], labelByte: 0 });
    assert.equal(split.count, 1);
    assert.equal(split.labels[0], 7);
    assert.deepEqual([...split.images.subarray(34 * 3, 34 * 3 + 3)], [10, 20, 30]);
    assert.equal(split.images[1023 * 3], 200);
    assert.equal(split.images.reduce((sum, v) => sum + v, 0), 260);
  });

  it('reads many records across files in order', () => {
    const files = [
      { name: 'a.bin', bytes: makeRecords('cifar10', 0, 3) },
      { name: 'b.bin', bytes: makeRecords('cifar10', 3, 2) },
    ];
    const split = decodeCifarRecords(files, { labelClassCounts: [10], labelByte: 0 });
    assert.equal(split.count, 5);
    assertGenerated(split.images, split.labels, 0, 5, cifar10Label);
  });

  it('picks the fine (second) or coarse (first) CIFAR-100 label byte', () => {
    const bytes = makeRecords('cifar100', 0, 4);
    const fine = decodeCifarRecords([{ name: 'train.bin', bytes }], { labelClassCounts: [20, 100], labelByte: 1 });
    const coarse = decodeCifarRecords([{ name: 'train.bin', bytes }], { labelClassCounts: [20, 100], labelByte: 0 });
    assertGenerated(fine.images, fine.labels, 0, 4, (i) => cifar100Labels(i)[1]);
    assert.deepEqual([...coarse.labels], [0, 1, 2, 3].map((i) => cifar100Labels(i)[0]));
  });

  it('rejects files that are not whole records, and labels out of range', () => {
    assert.throws(() => countRecords(3073 * 2 + 5, { labelClassCounts: [10], labelByte: 0 }, 'x.bin'), /x\.bin has 6151 bytes, not a whole number of 3073-byte/);
    assert.throws(() => countRecords(0, { labelClassCounts: [10], labelByte: 0 }, 'empty.bin'), DatasetError);
    const bad = makeRecords('cifar10', 0, 2);
    bad[3073] = 10;
    assert.throws(
      () => decodeCifarRecords([{ name: 'bad.bin', bytes: bad }], { labelClassCounts: [10], labelByte: 0 }),
      /bad\.bin record 1: label byte 0 is 10, outside 0\.\.9/,
    );
    // A CIFAR-10 file read as CIFAR-100 is the wrong record size (3073 vs 3074) for most counts.
    assert.throws(() => decodeCifarRecords([{ name: 'c10.bin', bytes: makeRecords('cifar10', 0, 3) }], { labelClassCounts: [20, 100], labelByte: 1 }), DatasetError);
  });
});

describe('CIFAR settings', () => {
  it('defaults to the official site, fine labels, 60 s idle timeout and 3 retries', () => {
    assert.deepEqual(readCifarSettings({}, {}), {
      mirror: OFFICIAL_CIFAR_BASE_URL,
      cifar100Labels: 'fine',
      downloadTimeoutMs: 60_000,
      downloadRetries: 3,
    });
  });

  it('takes the mirror from the options before the environment', () => {
    assert.equal(readCifarSettings({}, { [MIRROR_ENV]: 'http://proxy.local/cifar' }).mirror, 'http://proxy.local/cifar');
    assert.equal(readCifarSettings({ mirror: '/srv/cifar' }, { [MIRROR_ENV]: 'http://proxy.local/' }).mirror, '/srv/cifar');
  });

  it('rejects bad values with one-line DatasetErrors', () => {
    assert.throws(() => readCifarSettings({ cifar100Labels: 'medium' as never }, {}), /--cifar100_labels must be "fine" or "coarse", got "medium"/);
    assert.throws(() => readCifarSettings({ mirror: 'ftp://example.org/' }, {}), /--mirror .* must be an http\(s\) URL/);
    assert.throws(() => readCifarSettings({ download: { retries: -1 } }, {}), /download\.retries must be a non-negative integer/);
    assert.throws(() => readCifarSettings({ download: { idleTimeoutMs: 0 } }, {}), /download\.idleTimeoutMs must be a positive number/);
    assert.equal(readCifarSettings({ download: { retries: 2, idleTimeoutMs: 1500 } }, {}).downloadRetries, 2);
  });
});

describe('CIFAR loader with a local server', () => {
  it('downloads, verifies, extracts and parses CIFAR-10 on the first run; the second run makes no request', async () => {
    const server = await serveArchive(cifar10);
    const dataDir = await freshDir();
    const first = options(dataDir, { mirror: server.baseUrl });
    const dataset = await loadCifar(cifar10.spec, first, QUIET);
    validateDataset(dataset);
    assert.deepEqual(server.requests.map((r) => r.path), ['/cifar-10-binary.tar.gz']);
    assert.equal(dataset.name, 'cifar10');
    assert.equal(dataset.numClasses, 10);
    assert.deepEqual(dataset.classNames, CIFAR10_CLASS_NAMES);
    assert.deepEqual([dataset.height, dataset.width, dataset.channels], [32, 32, 3]);
    assert.equal(dataset.cropPadding, 'reflect');
    assert.equal(dataset.horizontalFlip, true);
    assert.deepEqual(dataset.mean, CIFAR10_SPEC.mean);
    assert.deepEqual(dataset.std, CIFAR10_SPEC.std);
    assert.equal(dataset.train.count, 15); // 5 files × 3, derived from the file sizes
    assert.equal(dataset.test.count, 2);
    assertGenerated(dataset.train.images, dataset.train.labels, 0, 15, cifar10Label);
    assertGenerated(dataset.test.images, dataset.test.labels, 15, 2, cifar10Label);
    assert.ok(first.lines.some((line) => line.includes('MD5') && line.includes('verified')), first.lines.join('\n'));

    // The cache: the verified archive and the extracted folder, and none of the temporary files.
    assert.deepEqual((await readdir(dataDir)).sort(), ['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
    assert.deepEqual(await readFile(join(dataDir, 'cifar-10-binary.tar.gz')), cifar10.bytes);

    await server.close();
    const second = await loadCifar(cifar10.spec, options(dataDir, { mirror: server.baseUrl, download: { retries: 0 } }), QUIET);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(second.train.images, dataset.train.images);
  });

  it('loads CIFAR-100 with fine labels by default and coarse labels on request', async () => {
    const server = await serveArchive(cifar100);
    const dataDir = await freshDir();
    const fine = await loadCifar(cifar100.spec, options(dataDir, { mirror: server.baseUrl }), QUIET);
    validateDataset(fine);
    assert.equal(fine.numClasses, 100);
    assert.deepEqual(fine.classNames, CIFAR100_FINE_CLASS_NAMES);
    assert.equal(fine.train.count, 4);
    assert.equal(fine.test.count, 3);
    assertGenerated(fine.train.images, fine.train.labels, 0, 4, (i) => cifar100Labels(i)[1]);
    assertGenerated(fine.test.images, fine.test.labels, 4, 3, (i) => cifar100Labels(i)[1]);
    assert.deepEqual(fine.mean, CIFAR100_SPEC.mean);

    const coarse = await loadCifar(cifar100.spec, options(dataDir, { mirror: server.baseUrl, cifar100Labels: 'coarse' }), QUIET);
    validateDataset(coarse);
    assert.equal(coarse.numClasses, 20);
    assert.deepEqual(coarse.classNames, CIFAR100_COARSE_CLASS_NAMES);
    assert.deepEqual([...coarse.test.labels], [4, 5, 6].map((i) => cifar100Labels(i)[0]));
    assert.equal(server.requests.length, 1);
  });

  it('resumes a download cut off mid-transfer and verifies the joined file', async () => {
    const half = Math.floor(cifar10.bytes.length / 2);
    const server = await serveArchive(cifar10, (req, res, index) => (index === 0 ? sendTruncated(res, cifar10.bytes, half) : sendFile(req, res, cifar10.bytes)));
    const dataDir = await freshDir();
    const dataset = await loadCifar(cifar10.spec, options(dataDir, { mirror: server.baseUrl }), QUIET);
    assert.equal(dataset.train.count, 15);
    assert.deepEqual(server.requests.map((r) => r.range), [undefined, `bytes=${half}-`]);
  });

  it('after an interrupted run (partial file and a dead process lock left behind) the next run resumes', async () => {
    const server = await serveArchive(cifar10);
    const dataDir = await freshDir();
    await writeFile(join(dataDir, 'cifar-10-binary.tar.gz.part'), cifar10.bytes.subarray(0, 100));
    await writeFile(join(dataDir, 'cifar-10-binary.tar.gz.lock'), '2147483646\n');
    await mkdir(join(dataDir, '.cifar-10-batches-bin.extracting', 'cifar-10-batches-bin'), { recursive: true });
    const dataset = await loadCifar(cifar10.spec, options(dataDir, { mirror: server.baseUrl }), QUIET);
    assert.equal(dataset.test.count, 2);
    assert.deepEqual(server.requests.map((r) => r.range), ['bytes=100-']);
    assert.deepEqual((await readdir(dataDir)).sort(), ['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
  });

  it('never keeps a corrupted archive: names the file and the expected MD5 after the bounded retries', async () => {
    const corrupt = Buffer.from(cifar10.bytes);
    corrupt[corrupt.length - 10] ^= 0x55;
    const server = await serveArchive(cifar10, (req, res) => sendFile(req, res, corrupt));
    const dataDir = await freshDir();
    await assert.rejects(loadCifar(cifar10.spec, options(dataDir, { mirror: server.baseUrl, download: { retries: 2 } }), QUIET), (error: unknown) => {
      assert.ok(error instanceof DatasetError);
      assert.ok(error.message.includes(join(dataDir, 'cifar-10-binary.tar.gz')), error.message);
      assert.ok(error.message.includes(`expected ${cifar10.md5}`), error.message);
      assert.ok(!error.message.includes('\n'));
      return true;
    });
    assert.equal(server.requests.length, 3);
    assert.deepEqual(await readdir(dataDir), []);
  });

  it('fails clearly on a server error and on a stalled server (timeout)', async () => {
    const failing = await serveArchive(cifar10, (_req, res) => {
      res.writeHead(502);
      res.end();
    });
    await assert.rejects(
      loadCifar(cifar10.spec, options(await freshDir(), { mirror: failing.baseUrl, download: { retries: 1 } }), QUIET),
      /CIFAR-10 is not in .* could not be downloaded: .*HTTP 502.*gave up after 2 attempts/,
    );
    const stalled = await serveArchive(cifar10, (_req, res) => {
      res.writeHead(200, { 'Content-Length': cifar10.bytes.length });
      res.write(cifar10.bytes.subarray(0, 10));
    });
    await assert.rejects(
      loadCifar(cifar10.spec, options(await freshDir(), { mirror: stalled.baseUrl, download: { retries: 0, idleTimeoutMs: 100 } }), QUIET),
      /could not be downloaded: no data from http:\/\/127\.0\.0\.1:\d+\/cifar-10-binary\.tar\.gz for 0\.1 s/,
    );
  });

  it('offline with no cache: one line saying where to put the files by hand and how to train offline', async () => {
    const dataDir = await freshDir();
    const mirror = await unusedBaseUrl();
    await assert.rejects(loadCifar10(options(dataDir, { mirror, download: { retries: 0 } })), (error: unknown) => {
      assert.ok(error instanceof DatasetError);
      const message = error.message;
      assert.ok(!message.includes('\n'));
      assert.match(message, /^CIFAR-10 is not in .* and could not be downloaded: cannot reach http:\/\/127\.0\.0\.1:\d+\/cifar-10-binary\.tar\.gz \(ECONNREFUSED\)/);
      assert.ok(message.includes(`put cifar-10-binary.tar.gz (MD5 ${CIFAR10_SPEC.archiveMd5}, from ${OFFICIAL_CIFAR_BASE_URL}cifar-10-binary.tar.gz)`), message);
      assert.ok(message.includes(`extracted cifar-10-batches-bin/ folder into ${dataDir}`), message);
      assert.ok(message.includes('--dataset fashion-mnist --data_dir'), message);
      return true;
    });
    assert.deepEqual(await readdir(dataDir), []);
  });

  it('takes the mirror from INFOBATCH_CIFAR_MIRROR', async () => {
    const server = await serveArchive(cifar100);
    const dataset = await loadCifar(cifar100.spec, options(await freshDir()), { ...QUIET, env: { [MIRROR_ENV]: server.baseUrl.slice(0, -1) } });
    assert.equal(dataset.train.count, 4);
    assert.deepEqual(server.requests.map((r) => r.path), ['/cifar-100-binary.tar.gz']);
  });

  it('two loads at once share one download: the second waits on the lock, then finds the cache', async () => {
    const server = await serveArchive(cifar10);
    const dataDir = await freshDir();
    const [a, b] = await Promise.all([
      loadCifar(cifar10.spec, options(dataDir, { mirror: server.baseUrl }), QUIET),
      loadCifar(cifar10.spec, options(dataDir, { mirror: server.baseUrl }), QUIET),
    ]);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(a.test.images, b.test.images);
  });

  it('copies from a mirror folder on disk', async () => {
    const dataset = await loadCifar(cifar10.spec, options(await freshDir(), { mirror: join(cifar10.archivePath, '..') }), QUIET);
    assert.equal(dataset.train.count, 15);
  });
});

describe('CIFAR loader with files already on disk (no network)', () => {
  it('extracts an archive found in --data_dir after checking its MD5', async () => {
    const dataDir = await freshDir();
    await writeFile(join(dataDir, 'cifar-100-binary.tar.gz'), cifar100.bytes);
    const offline = await unusedBaseUrl();
    const dataset = await loadCifar(cifar100.spec, options(dataDir, { mirror: offline, download: { retries: 0 } }), QUIET);
    assert.equal(dataset.train.count, 4);
    assert.ok(await exists(join(dataDir, 'cifar-100-binary', 'train.bin')));
  });

  it("refuses, and leaves alone, an archive in --data_dir whose MD5 is wrong (it is the user's file)", async () => {
    const dataDir = await freshDir();
    const damaged = Buffer.from(cifar10.bytes.subarray(0, 500));
    await writeFile(join(dataDir, 'cifar-10-binary.tar.gz'), damaged);
    await assert.rejects(
      loadCifar(cifar10.spec, options(dataDir, { mirror: await unusedBaseUrl() }), QUIET),
      new RegExp(`cifar-10-binary\\.tar\\.gz has MD5 [0-9a-f]{32}, expected ${cifar10.md5}: .*left as it is`),
    );
    assert.deepEqual(await readFile(join(dataDir, 'cifar-10-binary.tar.gz')), damaged);
  });

  it('uses --data_dir pointing at an extracted cifar-10-batches-bin/ (the published loader, no MD5, no network)', async () => {
    const parent = await freshDir();
    const { folder } = await writeExtractedFolder('cifar10', parent, 2, 3);
    const dataset = await loadCifar10(options(folder, { mirror: await unusedBaseUrl(), download: { retries: 0 } }));
    validateDataset(dataset);
    assert.equal(dataset.train.count, 10);
    assertGenerated(dataset.test.images, dataset.test.labels, 10, 3, cifar10Label);
    // …and the same data one level up, as <data_dir>/cifar-10-batches-bin/.
    assert.equal((await loadCifar10(options(parent, { mirror: await unusedBaseUrl(), download: { retries: 0 } }))).test.count, 3);
  });

  it('uses CIFAR-100 train.bin/test.bin given directly in --data_dir', async () => {
    const parent = await freshDir();
    const { folder } = await writeExtractedFolder('cifar100', parent, 5, 2);
    const dataset = await loadCifar100(options(folder, { cifar100Labels: 'coarse' }));
    assert.equal(dataset.numClasses, 20);
    assert.equal(dataset.train.count, 5);
  });

  it('reports an incomplete extracted folder without touching it', async () => {
    const parent = await freshDir();
    const { folder } = await writeExtractedFolder('cifar10', parent, 1, 1);
    await rm(join(folder, 'data_batch_3.bin'));
    await assert.rejects(loadCifar10(options(parent)), /cifar-10-batches-bin exists but lacks data_batch_3\.bin: restore those files, or move the folder away/);
    await assert.rejects(loadCifar10(options(folder)), /holds data_batch_1\.bin, .* but not data_batch_3\.bin/);
    assert.equal((await readdir(folder)).length, 7);
  });

  it('reports a --data_dir that cannot be created as a DatasetError', async () => {
    const parent = await freshDir();
    await writeFile(join(parent, 'file'), '');
    await assert.rejects(loadCifar10(options(join(parent, 'file', 'data'))), (error: unknown) => {
      assert.ok(error instanceof DatasetError && /cannot create --data_dir .*ENOTDIR/.test(error.message), String(error));
      return true;
    });
  });

  it('reports a record file that is not a whole number of records', async () => {
    const parent = await freshDir();
    const { folder } = await writeExtractedFolder('cifar10', parent, 2, 2);
    const path = join(folder, 'test_batch.bin');
    await writeFile(path, (await readFile(path)).subarray(0, 3073 + 100));
    await assert.rejects(loadCifar10(options(parent)), /test_batch\.bin has 3173 bytes, not a whole number of 3073-byte CIFAR records/);
    assert.equal((await stat(path)).size, 3173);
  });
});
