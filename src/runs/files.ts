import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes a file so that readers see either the old content or the whole new one: write a sibling temp
 * file, then rename over the target (atomic on one file system). A crash never leaves a half-written file.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, data);
  await rename(temp, path);
}

/**
 * Replaces directory `target` with the freshly written directory `staged`: the old one is moved aside
 * first and removed only once the new one is in place, so at every instant one complete copy exists
 * (`target` or `target.old`, which readers fall back to; see resolveReplacedDir).
 */
export async function replaceDir(staged: string, target: string): Promise<void> {
  const old = `${target}.old`;
  await rm(old, { recursive: true, force: true });
  if (existsSync(target)) await rename(target, old);
  await rename(staged, target);
  await rm(old, { recursive: true, force: true });
}

/** The directory replaceDir left complete: `target`, or `target.old` if a crash came between its renames. */
export function resolveReplacedDir(target: string): string | null {
  if (existsSync(target)) return target;
  if (existsSync(`${target}.old`)) return `${target}.old`;
  return null;
}
