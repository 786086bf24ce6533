/**
 * Decoding of CIFAR binary record files straight into one NHWC uint8 array per split.
 *
 * A record is its label byte(s) followed by 3072 pixel bytes: the 1024 red values of the 32×32 image
 * row by row, then the 1024 green, then the 1024 blue (channel-planar). The image count is not
 * assumed: it comes from the file size, which must be a whole number of records.
 */
import { DatasetError, type ImageSplit } from './dataset.js';

export const CIFAR_SIDE = 32;
export const CIFAR_CHANNELS = 3;
const PLANE = CIFAR_SIDE * CIFAR_SIDE;
const IMAGE_BYTES = PLANE * CIFAR_CHANNELS;

export interface CifarRecordFormat {
  /** One entry per label byte at the start of a record: the number of classes that byte may name. */
  readonly labelClassCounts: readonly number[];
  /** Which of those label bytes becomes the image's label (CIFAR-100: 0 coarse, 1 fine). */
  readonly labelByte: number;
}

export function recordBytes(format: CifarRecordFormat): number {
  return format.labelClassCounts.length + IMAGE_BYTES;
}

/** Records in a file of `byteLength` bytes; throws DatasetError unless it is a positive whole number. */
export function countRecords(byteLength: number, format: CifarRecordFormat, fileName: string): number {
  const size = recordBytes(format);
  if (byteLength === 0 || byteLength % size !== 0) {
    throw new DatasetError(
      `${fileName} has ${byteLength} bytes, not a whole number of ${size}-byte CIFAR records: the file is truncated or not a CIFAR binary file`,
    );
  }
  return byteLength / size;
}

export interface RecordFile {
  /** Shown in error messages. */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Destination of decoded records: NHWC pixels and labels of a whole split. */
export interface DecodeTarget {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
}

/**
 * Decodes every record of `file` into `target`, starting at image index `firstImage`; returns the
 * number of records. Checks every label byte against its class count.
 */
export function decodeRecordsInto(target: DecodeTarget, firstImage: number, file: RecordFile, format: CifarRecordFormat): number {
  const count = countRecords(file.bytes.length, format, file.name);
  if ((firstImage + count) * IMAGE_BYTES > target.images.length || firstImage + count > target.labels.length) {
    throw new RangeError(`${file.name}: ${count} records do not fit at image ${firstImage}`);
  }
  const { images, labels } = target;
  const bytes = file.bytes;
  const labelCount = format.labelClassCounts.length;
  const size = labelCount + IMAGE_BYTES;
  for (let record = 0; record < count; record++) {
    const start = record * size;
    for (let k = 0; k < labelCount; k++) {
      const value = bytes[start + k]!;
      if (value >= format.labelClassCounts[k]!) {
        throw new DatasetError(
          `${file.name} record ${record}: label byte ${k} is ${value}, outside 0..${format.labelClassCounts[k]! - 1}: not a ${labelCount === 1 ? 'CIFAR-10' : 'CIFAR-100'} binary file`,
        );
      }
    }
    const image = firstImage + record;
    labels[image] = bytes[start + format.labelByte]!;
    // Channel-planar → interleaved: pixel p of the red, green and blue planes becomes bytes 3p, 3p+1, 3p+2.
    const red = start + labelCount;
    const green = red + PLANE;
    const blue = green + PLANE;
    let out = image * IMAGE_BYTES;
    for (let p = 0; p < PLANE; p++, out += 3) {
      images[out] = bytes[red + p]!;
      images[out + 1] = bytes[green + p]!;
      images[out + 2] = bytes[blue + p]!;
    }
  }
  return count;
}

/** Bytes of one decoded image (32 × 32 × 3). */
export const CIFAR_IMAGE_BYTES = IMAGE_BYTES;
