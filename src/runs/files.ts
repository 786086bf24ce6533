import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { storageErrorOf, StorageError } from './errors.js';
import { processAlive } from './pid-lock.js';

/**
 * Writes a file so that readers see either the old content or the whole new one: write a sibling temp
 * file, then rename over the target (atomic on one file system). A crash never leaves a half-written file;
 * a failed write (disk full, say) removes its temp file and throws a StorageError naming the target.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await fs.mkdir(dirname(path), { recursive: true });
    await fs.writeFile(temp, data);
    await fs.rename(temp, path);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw storageErrorOf(error, path);
  }
}

/**
 * Replaces directory `target` with the freshly written directory `staged`: the old one is moved aside
 * first and removed only once the new one is in place, so at every instant one complete copy exists
 * (`target` or `target.old`, which readers fall back to; see resolveReplacedDir).
 */
export async function replaceDir(staged: string, target: string): Promise<void> {
  const old = `${target}.old`;
  await fs.rm(old, { recursive: true, force: true });
  if (existsSync(target)) await fs.rename(target, old);
  await fs.rename(staged, target);
  await fs.rm(old, { recursive: true, force: true });
}

/** The directory replaceDir left complete: `target`, or `target.old` if a crash came between its renames. */
export function resolveReplacedDir(target: string): string | null {
  if (existsSync(target)) return target;
  if (existsSync(`${target}.old`)) return `${target}.old`;
  return null;
}

/** What writeFileAtomic and checkpoint staging leave behind when a process dies mid-write. */
const LEFTOVER = /\.(?:tmp|staging)-(\d+)$/;

/**
 * Removes leftovers of killed writes in `dir` (`*.tmp-<pid>` files, `*.staging-<pid>` folders) whose
 * process is gone; `only` restricts it to names starting with a prefix (one experiment's files in logs/).
 * Returns the removed paths.
 */
export function removeStaleLeftovers(dir: string, only?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = LEFTOVER.exec(name);
    if (!match || (only !== undefined && !name.startsWith(only))) continue;
    const pid = Number(match[1]);
    if (pid !== process.pid && processAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

/**
 * Checks, before any work, that `dir` is (or can be created as) a writable folder: the nearest existing
 * ancestor must be a folder in which a probe folder can be made and removed. Creates nothing that stays.
 */
export function assertWritableDir(dir: string, flag: string): void {
  let existing = resolve(dir);
  for (;;) {
    let stats;
    try {
      stats = statSync(existing);
    } catch {
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
      continue;
    }
    if (!stats.isDirectory()) {
      throw new StorageError(`${flag} ${dir}: ${existing} is a file, not a folder; choose another ${flag}`);
    }
    break;
  }
  // A probe folder, not a file: making it needs write permission on `existing` and leaves no data behind.
  const probe = join(existing, `.infobatch-write-test.tmp-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (error) {
    const mapped = storageErrorOf(error, existing, `choose another ${flag} or make it writable`);
    if (mapped instanceof StorageError) throw new StorageError(`${flag} ${dir}: ${mapped.message}`);
    throw mapped;
  }
}
