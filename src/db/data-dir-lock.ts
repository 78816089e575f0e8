import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';

/** The file beside DATA_DIR that names the process using it (PGlite wants the directory itself to itself). */
export function lockFileOf(dir: string): string {
  return `${resolve(dir)}.lock`;
}

/** Raised when another live process holds the data directory; its message is the one line an operator reads. */
export class DataDirLockedError extends Error {}

export interface DataDirLock {
  release(): void;
}

function holderOf(path: string): number | null {
  try {
    const pid = Number((JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown }).pid);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whether `pid` is a live process that could be us: on Linux a reused pid of another program does not count. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return true;
  }
}

/**
 * Takes the data directory for this process: PGlite's files must never be opened by two processes,
 * which would each see only their own writes and lose the other's. A lock left by a process that
 * died (kill -9, power loss) is taken over.
 */
export function lockDataDir(dir: string): DataDirLock {
  const path = lockFileOf(dir);
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = holderOf(path);
      if (holder !== null && holder !== process.pid && isAlive(holder)) {
        throw new DataDirLockedError(
          `The data directory ${resolve(dir)} is in use by another Discovery Flow process (pid ${holder}); stop that one first, or give this one another DATA_DIR.`,
        );
      }
      try {
        unlinkSync(path);
      } catch (unlinkError) {
        if ((unlinkError as NodeJS.ErrnoException).code !== 'ENOENT') throw unlinkError;
      }
      continue;
    }
    writeSync(fd, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
    closeSync(fd);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      process.removeListener('exit', release);
      if (holderOf(path) === process.pid) unlinkSync(path);
    };
    process.on('exit', release);
    return { release };
  }
  throw new DataDirLockedError(`The data directory ${resolve(dir)} could not be locked: another process keeps taking it.`);
}
