/**
 * Writes derived outputs (figures, report tables). They are regenerated from the logs on every call,
 * so an existing file of the same name is replaced, and the message says so: the user sees which
 * files changed and nothing is replaced without a word.
 */
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../runs/index.js';

export async function writeDerivedFile(path: string, data: string | Uint8Array, log: (line: string) => void): Promise<void> {
  const existed = existsSync(path);
  await writeFileAtomic(path, data);
  log(`${existed ? 'replaced' : 'wrote'} ${path}`);
}
