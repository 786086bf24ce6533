import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';

/**
 * Lock files that hold their owner's process id, so a lock left by a process that is gone (Ctrl-C, crash,
 * kill -9, power loss) is recognised as stale and taken over, and a live holder can be named to the user.
 *
 * Why not proper-lockfile: it decides staleness by the lock's age (its owner must keep touching it on a
 * timer) and does not record who holds it, so it cannot tell a dead owner from a slow one at once, nor
 * name the holder's pid in the refusal message.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file with no readable pid younger than this may still be being written by its owner. */
const UNREADABLE_LOCK_GRACE_MS = 10_000;

/** Locks this process holds now: its own pid in a lock file is stale unless listed here. */
const heldHere = new Set<string>();

/** The pid holding `lockPath`; undefined when there is no lock or it is stale; -1 when it is being written. */
export function liveLockOwner(lockPath: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    let age = Infinity;
    try {
      age = Date.now() - statSync(lockPath).mtimeMs;
    } catch {
      // gone meanwhile
    }
    return age < UNREADABLE_LOCK_GRACE_MS ? -1 : undefined;
  }
  if (pid === process.pid) return heldHere.has(lockPath) ? pid : undefined;
  return processAlive(pid) ? pid : undefined;
}

/** Records that this process holds `lockPath` (its own pid in it is then live); returns the undo. */
export function markHeld(lockPath: string): () => boolean {
  heldHere.add(lockPath);
  return () => heldHere.delete(lockPath);
}

export type LockAttempt = { readonly acquired: true; readonly release: () => void } | { readonly acquired: false; readonly holder: number };

/**
 * Takes `lockPath` if nobody alive holds it (removing a stale one). Never waits. The lock is also removed
 * when the process exits normally without release() (an exception, process.exit).
 */
export function tryLock(lockPath: string): LockAttempt {
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx');
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = liveLockOwner(lockPath);
    if (owner !== undefined) return { acquired: false, holder: owner };
    rmSync(lockPath, { force: true });
  }
  const unmark = markHeld(lockPath);
  const onExit = (): void => rmSync(lockPath, { force: true });
  process.once('exit', onExit);
  return {
    acquired: true,
    release: () => {
      if (!unmark()) return;
      process.off('exit', onExit);
      rmSync(lockPath, { force: true });
    },
  };
}
