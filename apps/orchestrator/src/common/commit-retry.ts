import { isDependencyOutage } from './error.filter';

/** How a turn's commit ended: written now, written by an attempt whose answer was lost, or refused by its guard. */
export type CommitOutcome = 'committed' | 'already' | 'moved';

export interface CommitRetryOptions {
  /** How long to keep trying after the first failure (0: one attempt). */
  retryMs: number;
  /** Whether an error means the database is out of reach (worth another attempt), not a bad statement. */
  isOutage: (err: unknown) => boolean;
  /** Called before each wait, with the attempt that failed (1-based) and its error. */
  onRetry?: (attempt: number, err: unknown) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * Commits a turn whose upstream call has already succeeded, through a short database outage: the call was
 * paid for, and failing the turn would make the client pay for it again on its retry.
 *
 * `attempt` runs the commit (one atomic statement; false when its guard refused it). After an attempt that
 * failed on an outage, the outcome is unknown: the statement may have committed with only the answer lost
 * on the way back. So every later try first asks `written` (is this turn's row there?) and answers
 * 'already' if so, instead of running the statement again, whose guard would now refuse it and report a
 * written turn as lost. Any other error, or an outage that lasts past `retryMs`, is thrown.
 */
export async function commitThroughOutage(attempt: () => Promise<boolean>, written: () => Promise<boolean>, o: CommitRetryOptions): Promise<CommitOutcome> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.retryMs;
  let inDoubt = false;
  for (let n = 1, wait = 100; ; n++, wait = Math.min(wait * 2, 1000)) {
    try {
      if (inDoubt && (await written())) return 'already';
      return (await attempt()) ? 'committed' : 'moved';
    } catch (err) {
      if (!o.isOutage(err) || now() + wait > deadline) throw err;
      inDoubt = true;
      o.onRetry?.(n, err);
      await sleep(wait);
    }
  }
}

/** The options of a write waited through a database outage for `retryMs`, each retry logged as `what`'s. */
export function outageRetry(retryMs: number, logger: { warn(message: string): unknown }, what: string): CommitRetryOptions {
  return {
    retryMs,
    isOutage: isDependencyOutage,
    onRetry: (n, err) => logger.warn(`${what}: the database is out of reach (attempt ${n}: ${err instanceof Error ? err.message : String(err)}); trying again`),
  };
}
