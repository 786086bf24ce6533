/**
 * A lock file beside a download, so two runs started at once (a sweep, two terminals) do not write
 * the same partial file: the second waits for the first, then finds the finished cache.
 *
 * The lock holds the owner's process id. A lock whose process is gone (Ctrl-C, crash, power loss) is
 * stale and taken over, so an interrupted run never blocks the next one.
 */
import { open, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { liveLockOwner, markHeld } from '../../runs/pid-lock.js';

const POLL_MS = 250;

/** Runs `work` while holding the lock file `lockPath`; waits (logging once) while another process holds it. */
export async function withFileLock<T>(
  lockPath: string,
  what: string,
  log: (line: string) => void,
  work: () => Promise<T>,
): Promise<T> {
  let announced = false;
  let unmark: (() => boolean) | undefined;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx');
      // Held from the moment the file exists: a concurrent load in this process must not see its own pid as stale.
      unmark = markHeld(lockPath);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = liveLockOwner(lockPath);
    if (owner === undefined) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (!announced) {
      log(`waiting for another process${owner > 0 ? ` (pid ${owner})` : ''} that is ${what} (lock ${lockPath})`);
      announced = true;
    }
    await sleep(POLL_MS);
  }
  try {
    return await work();
  } finally {
    unmark?.();
    await rm(lockPath, { force: true });
  }
}
