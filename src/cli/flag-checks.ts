/**
 * Checks yargs leaves to chance, run on the raw command line before a command starts:
 *   - a flag that takes a value but has none (`--num_epoch` at the end would otherwise train the default 100);
 *   - a flag given twice (yargs keeps one silently, or makes an array), unless it is declared as an array
 *     (`visualize --infobatch_experiment_name a --infobatch_experiment_name b` overlays two runs);
 *   - a switch given a value that is not true/false (`--use_info_batch=maybe`);
 *   - a number flag whose value is not a number (`--ratio abc` is named as "abc", not as NaN later).
 * It also records which flags were given, so `train --resume` can tell given settings from defaults.
 */
import { UsageError } from './errors.js';

/** What yargs' getOptions() says about the declared flags (the parts used here). */
export interface DeclaredOptions {
  readonly boolean: readonly string[];
  readonly number: readonly string[];
  readonly string: readonly string[];
  readonly array: readonly string[];
  readonly key: Readonly<Record<string, unknown>>;
}

const BOOLEAN_VALUE = /^(true|false)$/i;
const NOT_FLAGS = new Set(['help', 'version']);

/** Validates `raw` (the arguments after the program name) and returns the names of the flags it gives. */
export function checkFlags(raw: readonly string[], declared: DeclaredOptions): Set<string> {
  const given = new Set<string>();
  const booleans = new Set(declared.boolean);
  const numbers = new Set(declared.number);
  const repeatable = new Set(declared.array);
  const known = (name: string): boolean => Object.hasOwn(declared.key, name);
  for (let i = 0; i < raw.length; i++) {
    const token = raw[i]!;
    if (token === '--') break;
    if (!token.startsWith('--')) continue;
    const equals = token.indexOf('=');
    let name = equals < 0 ? token.slice(2) : token.slice(2, equals);
    const inline = equals < 0 ? undefined : token.slice(equals + 1);
    if (!known(name) && name.startsWith('no-') && booleans.has(name.slice(3))) name = name.slice(3);
    // Unknown flags are yargs' to reject (with its "did you mean").
    if (!known(name) || NOT_FLAGS.has(name)) continue;
    if (given.has(name) && !repeatable.has(name)) throw new UsageError(`--${name} is given twice; give it once`);
    given.add(name);
    if (booleans.has(name)) {
      if (inline !== undefined && !BOOLEAN_VALUE.test(inline)) {
        throw new UsageError(`--${name} is a switch: give it alone (or --${name}=true / --${name}=false), not "${inline}"`);
      }
      continue;
    }
    const next = raw[i + 1];
    const value = inline ?? (next === undefined || next.startsWith('--') ? undefined : next);
    if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
    if (numbers.has(name) && (value.trim() === '' || !Number.isFinite(Number(value)))) {
      throw new UsageError(`--${name} must be a number, got "${value}"`);
    }
  }
  return given;
}

const GIVEN = Symbol('flags given on the command line');

/** Attaches the given flags to yargs' parsed arguments (under a symbol: invisible to yargs' strict mode). */
export function recordGivenFlags(argv: object, given: Set<string>): void {
  Object.defineProperty(argv, GIVEN, { value: given, enumerable: false });
}

/** The flags the user typed (empty when the arguments did not come through the CLI). */
export function givenFlags(argv: object): ReadonlySet<string> {
  return (argv as { [GIVEN]?: Set<string> })[GIVEN] ?? new Set();
}
