import { Logger } from '@nestjs/common';
import {
  backoffDelay,
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

type MemoryState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';

interface MemoryJob {
  id: string;
  name: string;
  data: unknown;
  attempts: number;
  backoffMs: number;
  state: MemoryState;
  attemptsMade: number;
  failedReason?: string;
  returnValue?: unknown;
  finishedOn?: number;
  timer?: NodeJS.Timeout;
}

interface Processor {
  handler: JobHandler<unknown>;
  concurrency: number;
  active: number;
}

interface MemoryQueue {
  name: string;
  jobs: Map<string, MemoryJob>;
  /** Waiting jobs in FIFO order. */
  waiting: MemoryJob[];
  /** Completed and failed jobs in finishing order, for bounded retention. */
  finished: MemoryJob[];
  processors: Map<string, Processor>;
  nextId: number;
}

/** Bull's semantics in memory, for the embedded default: nothing survives the process. */
export class InProcessJobQueue implements JobQueue {
  readonly driver = 'in-process' as const;
  private readonly logger = new Logger(InProcessJobQueue.name);
  private readonly queues = new Map<string, MemoryQueue>();
  private readonly listeners: Array<(e: JobQueueEvent) => void> = [];
  private readonly running = new Set<Promise<void>>();
  private readonly closeTimeoutMs: number;
  private readonly keepFinished: { ageSeconds: number; count: number };
  private closed = false;
  private closing?: Promise<void>;
  private readonly known?: readonly string[];

  constructor(options: JobQueueOptions = {}) {
    this.known = options.queues;
    for (const name of this.known ?? []) this.queue(name);
    this.closeTimeoutMs = options.closeTimeoutMs ?? JOB_DEFAULTS.closeTimeoutMs;
    this.keepFinished = options.keepFinished ?? JOB_DEFAULTS.keepFinished;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- JobQueue contract: a payload jsonCopy cannot copy must reject, not throw
  async add<T>(queueName: string, name: string, data: T, opts: JobOptions = {}): Promise<{ id: string; duplicate: boolean }> {
    const queue = this.queue(queueName);
    this.forgetExpired(queue);
    const id = opts.jobId ?? String(queue.nextId++);
    const existing = queue.jobs.get(id);
    if (existing && existing.state !== 'failed') return { id, duplicate: true };
    if (existing) this.forget(queue, existing);

    const job: MemoryJob = {
      id,
      name,
      data: jsonCopy(data),
      attempts: opts.attempts ?? JOB_DEFAULTS.attempts,
      backoffMs: opts.backoffMs ?? JOB_DEFAULTS.backoffMs,
      state: 'waiting',
      attemptsMade: 0,
    };
    queue.jobs.set(id, job);
    if (opts.delayMs && opts.delayMs > 0) this.delay(queue, job, opts.delayMs);
    else this.enqueue(queue, job);
    return { id, duplicate: false };
  }

  process<T>(queueName: string, name: string, handler: JobHandler<T>, opts: { concurrency?: number } = {}): void {
    const queue = this.queue(queueName);
    if (queue.processors.has(name)) throw new Error(`A handler for ${queueName}/${name} is already registered`);
    queue.processors.set(name, { handler: handler as JobHandler<unknown>, concurrency: opts.concurrency ?? 1, active: 0 });
    this.dispatch(queue);
  }

  counts(queueName: string): Promise<QueueCounts> {
    const counts: QueueCounts = { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0, paused: 0 };
    const queue = this.queues.get(queueName);
    if (!queue) return Promise.resolve(counts);
    this.forgetExpired(queue);
    for (const job of queue.jobs.values()) counts[job.state]++;
    return Promise.resolve(counts);
  }

  getJob(queueName: string, id: string): Promise<JobInfo | null> {
    const queue = this.queues.get(queueName);
    if (queue) this.forgetExpired(queue);
    const job = queue?.jobs.get(id);
    if (!job) return Promise.resolve(null);
    return Promise.resolve({ id: job.id, state: job.state, attemptsMade: job.attemptsMade, failedReason: job.failedReason, returnValue: job.returnValue });
  }

  removeJobs(queueName: string, ids: string[]): Promise<void> {
    const queue = this.queues.get(queueName);
    if (!queue) return Promise.resolve();
    for (const id of ids) {
      const job = queue.jobs.get(id);
      if (!job || (job.state !== 'waiting' && job.state !== 'delayed')) continue;
      clearTimeout(job.timer);
      queue.waiting = queue.waiting.filter((waiting) => waiting !== job);
      queue.jobs.delete(id);
    }
    return Promise.resolve();
  }

  onEvent(listener: (e: JobQueueEvent) => void): void {
    this.listeners.push(listener);
  }

  queueNames(): string[] {
    return [...this.queues.keys()];
  }

  /** The in-process driver's worker is this process. */
  workers(): Promise<number | null> {
    return Promise.resolve(null);
  }

  health(): Promise<{ ok: boolean; detail?: string }> {
    return Promise.resolve(this.closed ? { ok: false, detail: 'closed' } : { ok: true, detail: 'in-process' });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      for (const queue of this.queues.values()) for (const job of queue.jobs.values()) clearTimeout(job.timer);
      const settled = await settlesWithin(Promise.all(this.running), this.closeTimeoutMs);
      if (!settled) this.logger.warn(`close: ${this.running.size} job(s) still active after ${this.closeTimeoutMs}ms; not waiting any longer`);
    })();
    return this.closing;
  }

  private queue(name: string): MemoryQueue {
    if (this.closed) throw new Error('JobQueue is closed');
    let queue = this.queues.get(name);
    if (!queue) {
      if (this.known && !this.known.includes(name)) throw unknownQueue(name, this.known);
      queue = { name, jobs: new Map(), waiting: [], finished: [], processors: new Map(), nextId: 1 };
      this.queues.set(name, queue);
    }
    return queue;
  }

  private enqueue(queue: MemoryQueue, job: MemoryJob): void {
    job.state = 'waiting';
    job.timer = undefined;
    queue.waiting.push(job);
    this.dispatch(queue);
  }

  private delay(queue: MemoryQueue, job: MemoryJob, ms: number): void {
    job.state = 'delayed';
    job.timer = setTimeout(() => this.enqueue(queue, job), ms);
  }

  /** Starts every waiting job whose processor has a free slot, oldest first. */
  private dispatch(queue: MemoryQueue): void {
    if (this.closed) return;
    for (const job of [...queue.waiting]) {
      const processor = queue.processors.get(job.name);
      if (!processor || processor.active >= processor.concurrency) continue;
      queue.waiting.splice(queue.waiting.indexOf(job), 1);
      job.state = 'active';
      processor.active++;
      const run = this.run(queue, job, processor);
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
    }
  }

  private async run(queue: MemoryQueue, job: MemoryJob, processor: Processor): Promise<void> {
    try {
      // The handler starts on a later tick, so whatever it adds never re-enters dispatch() mid-loop.
      const view = { id: job.id, name: job.name, data: jsonCopy(job.data), attemptsMade: job.attemptsMade };
      const result = await Promise.resolve().then(() => processor.handler(view));
      job.returnValue = jsonCopy(result);
      this.finish(queue, job, 'completed');
      this.emit(queue, job, 'completed');
    } catch (err) {
      job.attemptsMade++;
      job.failedReason = errorMessage(err);
      if (err instanceof UnrecoverableJobError || job.attemptsMade >= job.attempts) {
        this.finish(queue, job, 'failed');
        this.emit(queue, job, 'failed', job.failedReason);
      } else {
        const wait = backoffDelay(job.backoffMs, job.attemptsMade);
        if (wait > 0 && !this.closed) this.delay(queue, job, wait);
        else this.enqueue(queue, job);
        this.emit(queue, job, 'retrying', job.failedReason);
      }
    } finally {
      processor.active--;
      this.dispatch(queue);
    }
  }

  private finish(queue: MemoryQueue, job: MemoryJob, state: 'completed' | 'failed'): void {
    job.state = state;
    job.finishedOn = Date.now();
    queue.finished.push(job);
    this.forgetExpired(queue);
  }

  /** Finished jobs are remembered, for getJob and duplicate detection, within `keepFinished` only. */
  private forgetExpired(queue: MemoryQueue): void {
    const oldest = Date.now() - this.keepFinished.ageSeconds * 1000;
    while (queue.finished.length > this.keepFinished.count || (queue.finished[0]?.finishedOn ?? Infinity) < oldest) {
      const job = queue.finished.shift()!;
      if (queue.jobs.get(job.id) === job) queue.jobs.delete(job.id);
    }
  }

  private forget(queue: MemoryQueue, job: MemoryJob): void {
    queue.jobs.delete(job.id);
    queue.finished = queue.finished.filter((finished) => finished !== job);
  }

  private emit(queue: MemoryQueue, job: MemoryJob, type: JobQueueEvent['type'], error?: string): void {
    const event: JobQueueEvent = { queue: queue.name, jobId: job.id, name: job.name, type, error, attemptsMade: job.attemptsMade };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error(`event listener failed: ${errorMessage(err)}`);
      }
    }
  }
}

/** Jobs cross a JSON boundary in Bull; copying the same way keeps both drivers alike. */
function jsonCopy<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
