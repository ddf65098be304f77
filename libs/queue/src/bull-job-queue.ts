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
} from './job-queue';

/** Bull wants these on the connections it blocks or subscribes on. */
const BLOCKING_OPTIONS: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: false };
const HEALTH_TIMEOUT_MS = 2000;
const QUIT_TIMEOUT_MS = 1000;

/**
 * One Bull queue per queue name, created on first use. All queues share one command connection and
 * one subscriber; each processing queue adds its own blocking connection (Bull's createClient pattern).
 * Bull rule: a worker that processes one job name of a queue takes that queue's jobs of every name,
 * failing those it has no handler for, and its concurrencies add up; so give each job kind its own
 * queue, or register every name of the queue in every worker.
 */
export class BullJobQueue implements JobQueue {
  readonly driver = 'bull' as const;
  private readonly logger = new Logger(BullJobQueue.name);
  private readonly queues = new Map<string, Bull.Queue>();
  private readonly listeners: Array<(e: JobQueueEvent) => void> = [];
  private readonly client: Redis;
  /** Created with the first processor: producers (API instances) need only the command connection. */
  private subscriber?: Redis;
  private readonly blockingClients: Redis[] = [];
  private readonly queueOptions: Bull.QueueOptions;
  private readonly closeTimeoutMs: number;
  private readonly keepFinished: Bull.KeepJobsOptions;
  private closing?: Promise<void>;

  constructor(private readonly redisUrl: string, options: JobQueueOptions = {}) {
    this.client = this.connect({});
    this.closeTimeoutMs = options.closeTimeoutMs ?? JOB_DEFAULTS.closeTimeoutMs;
    const keep = options.keepFinished ?? JOB_DEFAULTS.keepFinished;
    this.keepFinished = { age: keep.ageSeconds, count: keep.count };
    this.queueOptions = {
      prefix: options.prefix ?? JOB_DEFAULTS.prefix,
      settings: {
        lockDuration: options.lockDurationMs ?? JOB_DEFAULTS.lockDurationMs,
        stalledInterval: options.stalledIntervalMs ?? JOB_DEFAULTS.stalledIntervalMs,
        maxStalledCount: options.maxStalledCount ?? JOB_DEFAULTS.maxStalledCount,
      },
      createClient: (type) => {
        if (type === 'client') return this.client;
        if (type === 'subscriber') return (this.subscriber ??= this.connect(BLOCKING_OPTIONS));
        const blocking = this.connect(BLOCKING_OPTIONS);
        this.blockingClients.push(blocking);
        return blocking;
      },
    };
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
    // Bull's promise settles only when the queue closes; a failure to start shows up here.
    queue.process(name, opts.concurrency ?? 1, run).catch((err) => this.logger.error(`${queueName}/${name}: processor stopped: ${errorMessage(err)}`));
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

  /** The underlying Bull queue (created if needed), for the queue UI. */
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
    const ping = this.client.ping();
    try {
      const answered = await settlesWithin(ping, HEALTH_TIMEOUT_MS);
      if (!answered) return { ok: false, detail: `redis did not answer within ${HEALTH_TIMEOUT_MS}ms (${this.client.status})` };
      await ping;
      return { ok: true, detail: `redis ${this.client.status}` };
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
      const connections = [this.client, ...(this.subscriber ? [this.subscriber] : []), ...this.blockingClients];
      // quit() lets pending replies arrive but can hang while Redis is unreachable; disconnect() ends it regardless.
      await Promise.all(connections.map((redis) => settlesWithin(redis.quit(), QUIT_TIMEOUT_MS).then(() => redis.disconnect())));
    })();
    return this.closing;
  }

  private queue(name: string): Bull.Queue {
    if (this.closing) throw new Error('JobQueue is closed');
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Bull(name, this.queueOptions);
      this.listen(queue);
      this.queues.set(name, queue);
    }
    return queue;
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

  private connect(extra: RedisOptions): Redis {
    const redis = new Redis(this.redisUrl, extra);
    // ioredis reconnects on its own; without a listener an 'error' event would crash the process.
    redis.on('error', (err) => this.logger.warn(`redis: ${errorMessage(err)}`));
    return redis;
  }
}
