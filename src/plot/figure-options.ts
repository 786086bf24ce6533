/**
 * What figures accept, apart from figures.ts so the CLI can offer and check it without loading the canvas
 * addon.
 */
import { ConfigError } from '../config.js';

/** The x axes figures can use. */
export const X_AXES = ['epoch', 'time'] as const;
export type XAxis = (typeof X_AXES)[number];

/** Where report.md / report.<format> and the figures are written unless --figure_dir says otherwise. */
export const DEFAULT_FIGURE_DIR = 'figures';

/** Size of every figure in pixels unless --width/--height say otherwise. */
export const DEFAULT_FIGURE_SIZE = Object.freeze({ width: 1200, height: 700 });
const SIZE_RANGE = { min: 300, max: 4000 } as const;

export function validateFigureSize(size: { width: number; height: number }): void {
  for (const [flag, value] of [['width', size.width], ['height', size.height]] as const) {
    if (!Number.isInteger(value) || value < SIZE_RANGE.min || value > SIZE_RANGE.max) {
      throw new ConfigError(`--${flag} must be an integer from ${SIZE_RANGE.min} to ${SIZE_RANGE.max}, got ${value}`);
    }
  }
}
