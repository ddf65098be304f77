import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomUUID } from 'crypto';

// PGlite itself does not stop two processes from opening the same data directory (two instances
// open it happily and then corrupt it), so the embedded server guards it with a pid lock file.

export const LOCK_FILE_NAME = 'embedded-postgres.lock';

interface LockContent {
  pid: number;
  hostname: string;
  token: string;
  startedAt: string;
  url?: string;
}

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly lockFile: string,
    readonly pid: number,
    detail: string,
  ) {
    super(detail);
    this.name = 'DataDirInUseError';
  }
}

/** Lock files held by this module instance, so "same pid" can be told apart from a stale lock. */
const heldHere = new Set<string>();

export interface DataDirLock {
  readonly file: string;
  /** Records the server URL in the lock file, for the error a second starter sees. */
  annotate(url: string): void;
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process that nobody has reaped yet still answers signal 0; on Linux, look closer.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return true;
  }
}

function readLock(file: string): { content?: LockContent; mtimeMs: number } | undefined {
  try {
    const stat = fs.statSync(file);
    const text = fs.readFileSync(file, 'utf8');
    try {
      const parsed = JSON.parse(text) as LockContent;
      return { content: typeof parsed?.pid === 'number' ? parsed : undefined, mtimeMs: stat.mtimeMs };
    } catch {
      return { mtimeMs: stat.mtimeMs };
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Creates `dataDir` if needed and takes `dataDir/embedded-postgres.lock` (O_EXCL create, holding
 * our pid). A lock whose pid is dead, or is our own pid but not held by this process (a container
 * restarting as pid 1, say), is stale and taken over. A live one raises DataDirInUseError.
 */
export function acquireDataDirLock(dataDir: string, warn: (msg: string) => void): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE_NAME);
  const key = path.resolve(file);
  const content: LockContent = { pid: process.pid, hostname: os.hostname(), token: randomUUID(), startedAt: new Date().toISOString() };

  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      try {
        fs.writeSync(fd, JSON.stringify(content));
      } finally {
        fs.closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const existing = readLock(file);
    if (!existing) continue; // released meanwhile: try again
    const holder = existing.content;
    let stale: boolean;
    if (!holder) {
      // Unreadable: another starter may be between create and write. Only old garbage is stale.
      stale = Date.now() - existing.mtimeMs > 10_000;
    } else if (holder.pid === process.pid) {
      stale = !heldHere.has(key);
    } else {
      // The pid is checked on this machine only (hostnames are not stable enough to go by).
      stale = !pidAlive(holder.pid);
    }
    if (!stale || attempt >= 3) {
      const who = !holder
        ? 'another process'
        : holder.pid === process.pid
          ? `this process (${holder.pid})`
          : `process ${holder.pid}${holder.hostname && holder.hostname !== os.hostname() ? ` on host ${holder.hostname}` : ''}`;
      const where = holder?.url ? ` (serving ${holder.url})` : '';
      throw new DataDirInUseError(
        dataDir,
        file,
        holder?.pid ?? 0,
        `Embedded Postgres data directory ${path.resolve(dataDir)} is already in use by ${who}${where}. ` +
          `Stop that process or use another data directory. If no such process exists, delete the lock file ${path.resolve(file)}.`,
      );
    }
    warn(`Embedded Postgres: taking over stale lock ${file}${holder ? ` left by process ${holder.pid}, which is no longer running` : ''}`);
    try {
      fs.unlinkSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  heldHere.add(key);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    heldHere.delete(key);
    process.removeListener('exit', release);
    // Remove it only if it is still ours (a stale-lock takeover elsewhere must not be undone).
    const current = readLock(file)?.content;
    if (current && current.token !== content.token) return;
    try {
      fs.unlinkSync(file);
    } catch {
      /* already gone */
    }
  };
  process.once('exit', release);
  return {
    file,
    annotate(url: string) {
      if (released) return;
      try {
        fs.writeFileSync(file, JSON.stringify({ ...content, url }));
      } catch {
        /* informational only */
      }
    },
    release,
  };
}
