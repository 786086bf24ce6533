import type { ImageDataset, ImageSplit } from './dataset.js';
import type { Random } from '../infobatch/index.js';

/**
 * Builds one model-ready batch from a split: gather, random crop with padding, horizontal flip and
 * per-channel normalization in one pass over the batch's pixels, straight from the NHWC uint8 store into a
 * float32 NHWC buffer. No per-image objects, no padded copies: the crop offset is applied while reading
 * (an offset in [−pad, pad] on each axis is the same as cropping H×W out of the padded image), and
 * normalization is a 256-entry lookup table per channel.
 */
export interface BatchOptions {
  /** Random crop with this padding and random horizontal flip (training); none when false (evaluation). */
  readonly augment: boolean;
  /** Crop padding in pixels (4 in the official recipe). */
  readonly cropPadding: number;
  /** Source of randomness for crop offsets and flips; unused without augmentation. */
  readonly random?: Random;
}

export interface PixelBatch {
  /** NHWC float32, normalized. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly shape: [number, number, number, number];
}

/** lut[c * 256 + v] = (v / 255 − mean_c) / std_c */
export function normalizationTable(dataset: Pick<ImageDataset, 'channels' | 'mean' | 'std'>): Float32Array {
  const table = new Float32Array(dataset.channels * 256);
  for (let c = 0; c < dataset.channels; c++) {
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (v / 255 - dataset.mean[c]!) / dataset.std[c]!;
  }
  return table;
}

/** Maps a coordinate that fell outside [0, size) back inside by reflection without repeating the edge (numpy/torch 'reflect'). */
function reflect(i: number, size: number): number {
  if (i < 0) return -i;
  if (i >= size) return 2 * size - 2 - i;
  return i;
}

export class BatchMaker {
  private readonly table: Float32Array;

  constructor(private readonly dataset: ImageDataset) {
    this.table = normalizationTable(dataset);
    if (dataset.cropPadding === 'reflect' && (dataset.height < 2 || dataset.width < 2)) {
      throw new RangeError('reflect padding needs images of at least 2×2 pixels');
    }
  }

  make(split: ImageSplit, indices: ArrayLike<number>, options: BatchOptions): PixelBatch {
    const { height: h, width: w, channels: c } = this.dataset;
    const pad = options.augment ? options.cropPadding : 0;
    if (pad >= h || pad >= w) throw new RangeError(`crop padding ${pad} must be smaller than the image (${h}×${w})`);
    const random = options.random;
    if (options.augment && !random) throw new Error('augmentation needs a random source');
    const n = indices.length;
    const imageSize = h * w * c;
    const out = new Float32Array(n * imageSize);
    const labels = new Int32Array(n);
    const zeroPadding = this.dataset.cropPadding === 'zero';
    const flipAllowed = this.dataset.horizontalFlip;
    const { images } = split;
    const table = this.table;

    for (let b = 0; b < n; b++) {
      const src = indices[b]! * imageSize;
      labels[b] = split.labels[indices[b]!]!;
      let dy = 0;
      let dx = 0;
      let flip = false;
      if (options.augment) {
        dy = Math.floor(random!() * (2 * pad + 1)) - pad;
        dx = Math.floor(random!() * (2 * pad + 1)) - pad;
        flip = flipAllowed && random!() < 0.5;
      }
      let o = b * imageSize;
      for (let y = 0; y < h; y++) {
        const sy = y + dy;
        const rowOutside = sy < 0 || sy >= h;
        const srcRow = src + reflect(sy, h) * w * c;
        for (let x = 0; x < w; x++) {
          // Crop, then flip (torchvision's order): output column x shows cropped column w−1−x when flipped.
          const sx = (flip ? w - 1 - x : x) + dx;
          const outside = rowOutside || sx < 0 || sx >= w;
          const srcPixel = srcRow + reflect(sx, w) * c;
          for (let ch = 0; ch < c; ch++) {
            const value = zeroPadding && outside ? 0 : images[srcPixel + ch]!;
            out[o++] = table[ch * 256 + value]!;
          }
        }
      }
    }
    return { images: out, labels, shape: [n, h, w, c] };
  }
}
