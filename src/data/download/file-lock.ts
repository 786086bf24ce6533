/**
 * A lock file beside a download, so two runs started at once (a sweep, two terminals) do not write
 * the same partial file: the second waits for the first, then finds the finished cache.
 *
 * The lock holds the owner's process id. A lock whose process is gone (Ctrl-C, crash, power loss) is
 * stale and taken over, so an interrupted run never blocks the next one.
 */
import { open, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 250;
/** A lock file with no readable pid younger than this may still be being written by its owner. */
const UNREADABLE_LOCK_GRACE_MS = 10_000;

/** Locks this process holds now: its own pid in a lock file is stale unless listed here. */
const heldHere = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid holding `lockPath`, or undefined when the lock is stale (and may be removed). */
async function liveOwner(lockPath: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    const age = Date.now() - (await stat(lockPath).catch(() => ({ mtimeMs: 0 }))).mtimeMs;
    return age < UNREADABLE_LOCK_GRACE_MS ? -1 : undefined;
  }
  if (pid === process.pid) return heldHere.has(lockPath) ? pid : undefined;
  return processAlive(pid) ? pid : undefined;
}

/** Runs `work` while holding the lock file `lockPath`; waits (logging once) while another process holds it. */
export async function withFileLock<T>(
  lockPath: string,
  what: string,
  log: (line: string) => void,
  work: () => Promise<T>,
): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx');
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await liveOwner(lockPath);
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
  heldHere.add(lockPath);
  try {
    return await work();
  } finally {
    heldHere.delete(lockPath);
    await rm(lockPath, { force: true });
  }
}
