import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import Bull from 'bull';
import Redis, { RedisOptions } from 'ioredis';
import {
  errorMessage,
  JOB_DEFAULTS,
  JobHandler,
  JobInfo,
  JobOptions,
  JobQueue,
  JobQueueEvent,
  JobQueueOptions,
  QueueCounts,
  settlesWithin,
  UnrecoverableJobError,
  unknownQueue,
} from './job-queue';

/** Bull wants these on the connections it blocks or subscribes on. */
const BLOCKING_OPTIONS: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: false };
const HEALTH_TIMEOUT_MS = 2000;
const QUIT_TIMEOUT_MS = 1000;

/**
 * The Redis connections of all Bull queues (Bull's createClient pattern): one command connection,
 * one subscriber (created with the first processor: producers need only the command connection),
 * and one blocking connection per processing queue. Bull does not close connections it did not
 * create, so these are closed here, by BullJobQueue.close().
 */
export class BullConnections {
  private readonly logger = new Logger(BullConnections.name);
  readonly client: Redis;
  private subscriber?: Redis;
  private readonly blocking: Redis[] = [];
  private closed = false;

  constructor(private readonly redisUrl: string) {
    this.client = this.connect({});
  }

  readonly createClient = (type: 'client' | 'subscriber' | 'bclient'): Redis => {
    // A worker Bull starts while the app is already closing would otherwise hold a connection nobody closes.
    if (this.closed) return inert(this.redisUrl);
    if (type === 'client') return this.client;
    if (type === 'subscriber') return (this.subscriber ??= this.connect(BLOCKING_OPTIONS));
    const blocking = this.connect(BLOCKING_OPTIONS);
    this.blocking.push(blocking);
    return blocking;
  };

  async close(): Promise<void> {
    this.closed = true;
    const connections = [this.client, ...(this.subscriber ? [this.subscriber] : []), ...this.blocking];
    // quit() lets pending replies arrive but can hang while Redis is unreachable; disconnect() ends it regardless.
    await Promise.all(connections.map((redis) => settlesWithin(redis.quit(), QUIT_TIMEOUT_MS).then(() => redis.disconnect())));
  }

  private connect(extra: RedisOptions): Redis {
    const redis = new Redis(this.redisUrl, extra);
    // ioredis reconnects on its own; without a listener an 'error' event would crash the process.
    redis.on('error', (err) => this.logger.warn(`redis: ${errorMessage(err)}`));
    return redis;
  }
}

/** A connection that never opens: its commands fail at once with "Connection is closed". */
function inert(redisUrl: string): Redis {
  const redis = new Redis(redisUrl, { ...BLOCKING_OPTIONS, lazyConnect: true });
  redis.disconnect();
  return redis;
}

/** The shared settings of every queue: @nestjs/bull builds each queue with them (QueueModule). */
export function bullQueueOptions(connections: BullConnections, options: JobQueueOptions = {}): Bull.QueueOptions {
  return {
    prefix: options.prefix ?? JOB_DEFAULTS.prefix,
    settings: {
      lockDuration: options.lockDurationMs ?? JOB_DEFAULTS.lockDurationMs,
      stalledInterval: options.stalledIntervalMs ?? JOB_DEFAULTS.stalledIntervalMs,
      maxStalledCount: options.maxStalledCount ?? JOB_DEFAULTS.maxStalledCount,
    },
    createClient: connections.createClient,
  };
}

/**
 * The port over the Bull queues Nest built (BullModule.registerQueue, one per queue name); their
 * processors are @Processor classes wired by @nestjs/bull's explorer.
 * Bull rule: a worker that processes one job name of a queue takes that queue's jobs of every name,
 * failing those it has no handler for, and its concurrencies add up; so give each job kind its own
 * queue, or register every name of the queue in every worker.
 */
export class BullJobQueue implements JobQueue {
  readonly driver = 'bull' as const;
  private readonly logger = new Logger(BullJobQueue.name);
  private readonly queues = new Map<string, Bull.Queue>();
  private readonly listeners: Array<(e: JobQueueEvent) => void> = [];
  private readonly closeTimeoutMs: number;
  private readonly keepFinished: Bull.KeepJobsOptions;
  private closing?: Promise<void>;

  constructor(private readonly connections: BullConnections, queues: Bull.Queue[], options: JobQueueOptions = {}) {
    this.closeTimeoutMs = options.closeTimeoutMs ?? JOB_DEFAULTS.closeTimeoutMs;
    const keep = options.keepFinished ?? JOB_DEFAULTS.keepFinished;
    this.keepFinished = { age: keep.ageSeconds, count: keep.count };
    for (const queue of queues) {
      this.queues.set(queue.name, queue);
      this.listen(queue);
      this.guard(queue);
    }
  }

  async add<T>(queueName: string, name: string, data: T, opts: JobOptions = {}): Promise<{ id: string; duplicate: boolean }> {
    const queue = this.queue(queueName);
    const first = await this.addOnce(queue, name, data, opts);
    if (!first.existing || (await first.existing.getState()) !== 'failed') return { id: first.id, duplicate: !!first.existing };
    // A failed job keeps its id until removed; replace it so the caller's new attempt runs.
    await first.existing.remove().catch(() => undefined);
    const second = await this.addOnce(queue, name, data, opts);
    return { id: second.id, duplicate: !!second.existing };
  }

  process<T>(queueName: string, name: string, handler: JobHandler<T>, opts: { concurrency?: number } = {}): void {
    const queue = this.queue(queueName);
    const run = async (job: Bull.Job<T>): Promise<unknown> => {
      try {
        return await handler({ id: String(job.id), name: job.name, data: job.data, attemptsMade: job.attemptsMade });
      } catch (err) {
        if (err instanceof UnrecoverableJobError) void job.discard();
        throw err;
      }
    };
    // A failure to start is logged by guard().
    void queue.process(name, opts.concurrency ?? 1, run);
  }

  async counts(queueName: string): Promise<QueueCounts> {
    const counts = (await this.queue(queueName).getJobCounts()) as Bull.JobCounts & { paused?: number };
    return { waiting: counts.waiting, active: counts.active, completed: counts.completed, failed: counts.failed, delayed: counts.delayed, paused: counts.paused ?? 0 };
  }

  async getJob(queueName: string, id: string): Promise<JobInfo | null> {
    const job = await this.queue(queueName).getJob(id);
    if (!job) return null;
    return {
      id: String(job.id),
      state: await job.getState(),
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason || undefined,
      returnValue: job.returnvalue ?? undefined,
    };
  }

  async removeJobs(queueName: string, ids: string[]): Promise<void> {
    const queue = this.queue(queueName);
    for (const id of ids) {
      const job = await queue.getJob(id);
      if (!job || !['waiting', 'delayed', 'paused'].includes(await job.getState())) continue;
      // Bull refuses to remove a locked job: one that became active meanwhile runs to its end.
      await job.remove().catch(() => undefined);
    }
  }

  onEvent(listener: (e: JobQueueEvent) => void): void {
    this.listeners.push(listener);
  }

  /** The underlying Bull queue, for the queue UI. */
  bullQueue(name: string): Bull.Queue {
    return this.queue(name);
  }

  queueNames(): string[] {
    return [...this.queues.keys()];
  }

  /** Bull names each worker's blocking connection after its queue: counted from Redis's CLIENT LIST. */
  async workers(name: string): Promise<number | null> {
    const list = (await this.queue(name).getWorkers()) as unknown[] | undefined;
    return Array.isArray(list) ? list.length : null;
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    const client = this.connections.client;
    const ping = client.ping();
    try {
      const answered = await settlesWithin(ping, HEALTH_TIMEOUT_MS);
      if (!answered) return { ok: false, detail: `redis did not answer within ${HEALTH_TIMEOUT_MS}ms (${client.status})` };
      await ping;
      return { ok: true, detail: `redis ${client.status}` };
    } catch (err) {
      return { ok: false, detail: errorMessage(err) };
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const graceful = Promise.all([...this.queues.values()].map((queue) => queue.close()));
      if (!(await settlesWithin(graceful, this.closeTimeoutMs))) {
        // Their locks expire and another worker's stalled check takes them over.
        this.logger.warn(`close: jobs still active after ${this.closeTimeoutMs}ms; disconnecting anyway`);
      }
      await this.connections.close();
    })();
    return this.closing;
  }

  private queue(name: string): Bull.Queue {
    if (this.closing) throw new Error('JobQueue is closed');
    const queue = this.queues.get(name);
    if (!queue) throw unknownQueue(name, [...this.queues.keys()]);
    return queue;
  }

  /**
   * Hooks on each queue Nest built. Its shutdown hook (from @nestjs/bull, called before ours) closes the
   * whole port, with closeTimeoutMs, instead of waiting for its active jobs without a bound. And Bull's
   * promises nobody awaits may not reject unhandled when the app closes before Redis answered: the
   * naming of a new worker's connection (Queue#setHandler; a TypeError at bull/lib/worker.js:21) and
   * process() itself (@nestjs/bull's explorer drops its promise; it settles only when the queue closes).
   */
  private guard(queue: Bull.Queue): void {
    const hooks = queue as unknown as {
      onApplicationShutdown?: () => Promise<void>;
      setWorkerName: () => Promise<void>;
      process: (...args: unknown[]) => Promise<void>;
    };
    hooks.onApplicationShutdown = () => this.close();
    const setWorkerName = hooks.setWorkerName.bind(queue);
    hooks.setWorkerName = () =>
      setWorkerName().catch((err: unknown) => {
        if (!this.closing) this.logger.warn(`${queue.name}: could not name the worker connection: ${errorMessage(err)}`);
      });
    const process = hooks.process.bind(queue);
    hooks.process = (...args: unknown[]) => {
      const started = process(...args);
      started.catch((err: unknown) => {
        if (!this.closing) this.logger.error(`${queue.name}: processor stopped: ${errorMessage(err)}`);
      });
      return started;
    };
  }

  /**
   * Bull answers a known jobId with the existing id and no sign of it; a nonce in the options tells
   * whether the stored job is the one this call wrote.
   */
  private async addOnce<T>(queue: Bull.Queue, name: string, data: T, opts: JobOptions): Promise<{ id: string; existing?: Bull.Job }> {
    const addToken = randomUUID();
    const job = await queue.add(name, data, { ...this.jobOptions(opts), addToken } as Bull.JobOptions);
    const id = String(job.id);
    if (opts.jobId === undefined) return { id };
    const stored = await queue.getJob(id);
    const mine = !stored || (stored.opts as { addToken?: string }).addToken === addToken;
    return mine ? { id } : { id, existing: stored };
  }

  private jobOptions(opts: JobOptions): Bull.JobOptions {
    return {
      jobId: opts.jobId,
      attempts: opts.attempts ?? JOB_DEFAULTS.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs ?? JOB_DEFAULTS.backoffMs },
      delay: opts.delayMs,
      removeOnComplete: this.keepFinished,
      removeOnFail: this.keepFinished,
    };
  }

  private listen(queue: Bull.Queue): void {
    queue.on('completed', (job: Bull.Job) => this.emit(queue, job, 'completed'));
    // Bull reports every failed attempt; finishedOn is set only when no attempt is left.
    queue.on('failed', (job: Bull.Job | null, err: Error) => job && this.emit(queue, job, job.finishedOn ? 'failed' : 'retrying', errorMessage(err)));
    queue.on('stalled', (job: Bull.Job) => this.logger.warn(`${queue.name}/${job.name} ${job.id}: stalled (its worker died?), back to waiting`));
    queue.on('error', (err: Error) => this.logger.error(`${queue.name}: ${errorMessage(err)}`));
  }

  private emit(queue: Bull.Queue, job: Bull.Job, type: JobQueueEvent['type'], error?: string): void {
    const event: JobQueueEvent = { queue: queue.name, jobId: String(job.id), name: job.name, type, error, attemptsMade: job.attemptsMade };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error(`event listener failed: ${errorMessage(err)}`);
      }
    }
  }
}
