// The job-queue port: one interface, a Bull driver (Redis) and an in-process driver with the same semantics.

export interface JobOptions {
  /** Deterministic id: adding a job whose id is still known (not failed) is a no-op. */
  jobId?: string;
  /** Total tries, the first included (default 3). */
  attempts?: number;
  /** Exponential backoff base: the n-th retry waits (2^n - 1) * backoffMs (default 1000). */
  backoffMs?: number;
  delayMs?: number;
}

export interface QueuedJob<T> {
  id: string;
  name: string;
  data: T;
  /** Failed attempts so far: 0 while the first attempt runs. */
  attemptsMade: number;
}

export type JobHandler<T> = (job: QueuedJob<T>) => Promise<unknown>;

/**
 * What a `@Process` method receives: a Bull.Job from @nestjs/bull's explorer, a QueuedJob from the
 * in-process one. Only these fields are common to both.
 */
export interface ProcessorJob<T> {
  id: string | number;
  name: string;
  data: T;
  attemptsMade: number;
  discard?(): void;
}

/** Thrown by a handler for an error that retrying cannot fix: the job fails now, attempts left or not. */
export class UnrecoverableJobError extends Error {
  override readonly name = 'UnrecoverableJobError';
}

/**
 * Wraps the work of a `@Process` method: on UnrecoverableJobError the job fails now on both drivers
 * (Bull retries a rejected job unless it was discarded first; the in-process driver checks the error).
 */
export async function failFastOnUnrecoverable<R>(job: ProcessorJob<unknown>, work: () => Promise<R>): Promise<R> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UnrecoverableJobError) job.discard?.();
    throw err;
  }
}

export interface QueueCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
  paused?: number;
}

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'paused' | 'stuck';

export interface JobInfo {
  id: string;
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- names the known states; a Bull job may report others
  state: JobState | string;
  attemptsMade: number;
  failedReason?: string;
  returnValue?: unknown;
}

export interface JobQueueEvent {
  queue: string;
  jobId: string;
  name: string;
  /** `retrying`: an attempt failed and another one is scheduled; `failed`: no attempt is left. */
  type: 'completed' | 'failed' | 'retrying';
  error?: string;
  attemptsMade: number;
}

export interface JobQueue {
  readonly driver: 'bull' | 'in-process';
  /**
   * Adding a job whose jobId exists (waiting, active, delayed or completed) is a no-op and returns
   * `duplicate: true`; a failed job with that id is replaced by the new one.
   */
  add<T>(queue: string, name: string, data: T, opts?: JobOptions): Promise<{ id: string; duplicate: boolean }>;
  /**
   * One handler per (queue, name) per instance; jobs added earlier wait for it. Bull: see BullJobQueue on job names.
   * The app declares handlers as `@Processor`/`@Process` classes instead (see QueueModule).
   */
  process<T>(queue: string, name: string, handler: JobHandler<T>, opts?: { concurrency?: number }): void;
  counts(queue: string): Promise<QueueCounts>;
  getJob(queue: string, id: string): Promise<JobInfo | null>;
  /** Removes the jobs that are still waiting or delayed; active and finished ones are left alone. */
  removeJobs?(queue: string, ids: string[]): Promise<void>;
  /** Events of the jobs this instance processes. */
  onEvent(listener: (e: JobQueueEvent) => void): void;
  queueNames(): string[];
  /** Processes (any instance) taking jobs of `queue` now; null when the driver cannot tell (in-process: this process). */
  workers(queue: string): Promise<number | null>;
  health(): Promise<{ ok: boolean; detail?: string }>;
  /** Stops taking jobs, waits for active ones (up to `closeTimeoutMs`), closes connections. */
  close(): Promise<void>;
}

export const JOB_QUEUE = Symbol('JOB_QUEUE');

export interface JobQueueOptions {
  /** Set: the Bull driver on this Redis. Unset: the in-process driver. */
  redisUrl?: string;
  /** The queue names in use; add() and process() on any other name throw. Unset (in-process driver only): any name. */
  queues?: readonly string[];
  /** Redis key prefix of the Bull driver (default `so`). */
  prefix?: string;
  /**
   * Bull: how long a worker's lock on an active job lasts (ms, default 30000; renewed every half
   * of it while the handler runs). A killed worker's job goes back to waiting once its lock has
   * expired and two stalled checks have seen it unlocked: within lockDuration + 2 * stalledInterval.
   * Keep it well above the longest event-loop block, or live jobs get taken twice.
   */
  lockDurationMs?: number;
  /** Bull: how often workers look for active jobs whose lock expired (ms, default 30000; 0 disables, don't). */
  stalledIntervalMs?: number;
  /** Bull: how many times a job may be recovered from a dead worker before it fails (default 1). */
  maxStalledCount?: number;
  /** How long close() waits for active jobs before it lets go of them (ms, default 30000). */
  closeTimeoutMs?: number;
  /** How long finished jobs are kept, per queue: this is also the window of duplicate detection. */
  keepFinished?: { ageSeconds: number; count: number };
}

export const JOB_DEFAULTS = {
  attempts: 3,
  backoffMs: 1000,
  prefix: 'so',
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  maxStalledCount: 1,
  closeTimeoutMs: 30_000,
  keepFinished: { ageSeconds: 86_400, count: 10_000 },
} as const;

/** Bull's exponential strategy, so both drivers wait the same before retry `attemptsMade`. */
export function backoffDelay(backoffMs: number, attemptsMade: number): number {
  return Math.round((2 ** attemptsMade - 1) * backoffMs);
}

/** Resolves true if `promise` settles within `ms`, false otherwise. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function unknownQueue(name: string, known: readonly string[]): Error {
  return new Error(`Unknown queue "${name}": the queues are ${known.map((q) => `"${q}"`).join(', ') || 'none'} (QueueModule.forRoot({ queues }))`);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
