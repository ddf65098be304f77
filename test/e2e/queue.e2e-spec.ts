// The job-queue contract, run against both drivers as QueueModule builds them; Bull against the real Redis with its own key prefix.
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { Process, Processor } from '@nestjs/bull';
import { Injectable, type Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import Redis from 'ioredis';
import {
  failFastOnUnrecoverable,
  JOB_QUEUE,
  JobQueue,
  JobQueueEvent,
  JobQueueOptions,
  QueueModule,
  type ProcessorJob,
  type QueueModuleOptions,
  UnrecoverableJobError,
} from '@so/queue';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `so-test-${randomUUID().slice(0, 8)}`;
const QUEUE_SRC = resolve(__dirname, '../../libs/queue/src');

const opened: TestingModule[] = [];
let queueSeq = 0;

afterEach(async () => {
  await Promise.all(opened.splice(0).map((moduleRef) => moduleRef.close()));
});

/** The JobQueue of a started module importing QueueModule, with `providers` (e.g. processor classes) beside it. */
async function openQueue(options: QueueModuleOptions, providers: Type<unknown>[] = []): Promise<JobQueue> {
  const moduleRef = await Test.createTestingModule({ imports: [QueueModule.forRoot(options)], providers }).compile();
  opened.push(moduleRef);
  await moduleRef.init();
  return moduleRef.get<JobQueue>(JOB_QUEUE);
}

afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${PREFIX}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

/** Records a JobQueue's events and resolves waits as soon as what they wait for has happened. */
class EventLog {
  readonly events: JobQueueEvent[] = [];
  private readonly checks = new Set<() => void>();

  constructor(queue: JobQueue) {
    queue.onEvent((event) => {
      this.events.push(event);
      this.checks.forEach((check) => check());
    });
  }

  until(done: (events: JobQueueEvent[]) => boolean): Promise<void> {
    return new Promise((resolveWait) => {
      const check = () => {
        if (!done(this.events)) return;
        this.checks.delete(check);
        resolveWait();
      };
      this.checks.add(check);
      check();
    });
  }

  finished(jobId: string): Promise<void> {
    return this.until((events) => events.some((e) => e.jobId === jobId && (e.type === 'completed' || e.type === 'failed')));
  }

  of(jobId: string): Array<Pick<JobQueueEvent, 'type' | 'attemptsMade' | 'error'>> {
    return this.events.filter((e) => e.jobId === jobId).map(({ type, attemptsMade, error }) => ({ type, attemptsMade, ...(error ? { error } : {}) }));
  }
}

function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolveGate) => (open = resolveGate));
  return { open, opened };
}

/**
 * A job body that counts how many run at once: the first jobs hold until two run together, so a processor
 * limited to one slot would hang (the test times out) instead of passing.
 */
function pairedWork(): { run: () => Promise<void>; peak: () => number } {
  let active = 0;
  let peak = 0;
  const pair = gate();
  return {
    run: async () => {
      active++;
      peak = Math.max(peak, active);
      if (active === 2) pair.open();
      await pair.opened;
      await new Promise((tick) => setImmediate(tick));
      active--;
    },
    peak: () => peak,
  };
}

type MakeQueue = (queues: string[], providers?: Type<unknown>[], extra?: JobQueueOptions) => Promise<JobQueue>;
const drivers: Array<[string, MakeQueue]> = [
  ['in-process', (queues, providers, extra) => openQueue({ queues, ...extra }, providers)],
  ['bull', (queues, providers, extra) => openQueue({ queues, redisUrl: REDIS_URL, prefix: PREFIX, ...extra }, providers)],
];

describe.each(drivers)('JobQueue contract: %s driver', (driver, make) => {
  let jobs: JobQueue;
  let log: EventLog;
  let queue: string;

  beforeEach(async () => {
    queue = `contract-${++queueSeq}`;
    jobs = await make([queue]);
    log = new EventLog(jobs);
  });

  it('uses the driver its options ask for', () => {
    expect(jobs.driver).toBe(driver);
  });

  it('runs a job and keeps its return value', async () => {
    jobs.process<{ n: number }>(queue, 'double', (job) => Promise.resolve({ doubled: job.data.n * 2 }));
    const { id, duplicate } = await jobs.add(queue, 'double', { n: 21 }, { jobId: 'double-21' });

    await log.finished(id);
    expect({ id, duplicate }).toEqual({ id: 'double-21', duplicate: false });
    expect(log.of(id)).toEqual([{ type: 'completed', attemptsMade: 0 }]);
    expect(await jobs.getJob(queue, id)).toMatchObject({ id, state: 'completed', attemptsMade: 0, returnValue: { doubled: 42 } });
    expect(jobs.queueNames()).toContain(queue);
  });

  it('treats a known jobId as a no-op, while waiting and after completion', async () => {
    expect(await jobs.add(queue, 'work', { v: 1 }, { jobId: 'child-0' })).toEqual({ id: 'child-0', duplicate: false });
    expect(await jobs.add(queue, 'work', { v: 2 }, { jobId: 'child-0' })).toEqual({ id: 'child-0', duplicate: true });
    expect((await jobs.counts(queue)).waiting).toBe(1);

    const runs: Array<[string, unknown]> = [];
    jobs.process<{ v: number }>(queue, 'work', (job) => Promise.resolve(void runs.push([job.id, job.data.v])));
    await log.finished('child-0');
    expect(await jobs.add(queue, 'work', { v: 3 }, { jobId: 'child-0' })).toEqual({ id: 'child-0', duplicate: true });

    // FIFO with one slot: had the duplicate been queued, it would run before this one.
    await jobs.add(queue, 'work', { v: 4 }, { jobId: 'child-1' });
    await log.finished('child-1');
    expect(runs).toEqual([['child-0', 1], ['child-1', 4]]);
  });

  it('runs a failed job again when its jobId is added anew', async () => {
    let calls = 0;
    // eslint-disable-next-line @typescript-eslint/require-await -- a handler that rejects is what this test exercises
    jobs.process(queue, 'work', async () => {
      if (++calls === 1) throw new Error('first run fails');
      return 'second run';
    });
    await jobs.add(queue, 'work', {}, { jobId: 'again', attempts: 1 });
    await log.finished('again');
    expect((await jobs.getJob(queue, 'again'))?.state).toBe('failed');

    expect(await jobs.add(queue, 'work', {}, { jobId: 'again', attempts: 1 })).toEqual({ id: 'again', duplicate: false });
    await log.until((events) => events.some((e) => e.jobId === 'again' && e.type === 'completed'));
    expect(await jobs.getJob(queue, 'again')).toMatchObject({ state: 'completed', returnValue: 'second run' });
  });

  it('retries with exponential backoff until the third attempt succeeds', async () => {
    const seen: number[] = [];
    // eslint-disable-next-line @typescript-eslint/require-await -- a handler that rejects is what this test exercises
    jobs.process(queue, 'flaky', async (job) => {
      seen.push(job.attemptsMade);
      if (job.attemptsMade < 2) throw new Error(`attempt ${job.attemptsMade + 1} failed`);
      return 'ok';
    });
    const { id } = await jobs.add(queue, 'flaky', {}, { attempts: 3, backoffMs: 20 });

    await log.finished(id);
    expect(seen).toEqual([0, 1, 2]);
    expect(log.of(id)).toEqual([
      { type: 'retrying', attemptsMade: 1, error: 'attempt 1 failed' },
      { type: 'retrying', attemptsMade: 2, error: 'attempt 2 failed' },
      { type: 'completed', attemptsMade: 2 },
    ]);
    expect(await jobs.getJob(queue, id)).toMatchObject({ state: 'completed', attemptsMade: 2, returnValue: 'ok' });
  });

  it('fails at once on UnrecoverableJobError, attempts left or not', async () => {
    let calls = 0;
    // eslint-disable-next-line @typescript-eslint/require-await -- a handler that rejects is what this test exercises
    jobs.process(queue, 'doomed', async () => {
      calls++;
      throw new UnrecoverableJobError('parent session is gone');
    });
    const { id } = await jobs.add(queue, 'doomed', {}, { attempts: 5, backoffMs: 10 });

    await log.finished(id);
    expect(calls).toBe(1);
    expect(log.of(id)).toEqual([{ type: 'failed', attemptsMade: 1, error: 'parent session is gone' }]);
    expect(await jobs.getJob(queue, id)).toMatchObject({ state: 'failed', attemptsMade: 1, failedReason: 'parent session is gone' });
  });

  it('fails with the last reason once the attempts are used up', async () => {
    // eslint-disable-next-line @typescript-eslint/require-await -- a handler that rejects is what this test exercises
    jobs.process(queue, 'broken', async (job) => {
      throw new Error(`boom ${job.attemptsMade + 1}`);
    });
    const { id } = await jobs.add(queue, 'broken', {}, { attempts: 2, backoffMs: 10 });

    await log.finished(id);
    expect(log.of(id)).toEqual([
      { type: 'retrying', attemptsMade: 1, error: 'boom 1' },
      { type: 'failed', attemptsMade: 2, error: 'boom 2' },
    ]);
    expect(await jobs.getJob(queue, id)).toMatchObject({ state: 'failed', attemptsMade: 2, failedReason: 'boom 2' });
    expect(await jobs.counts(queue)).toMatchObject({ failed: 1, waiting: 0, active: 0, delayed: 0 });
  });

  it('never runs more jobs of a processor at once than its concurrency', async () => {
    const work = pairedWork();
    jobs.process(queue, 'slot', () => work.run(), { concurrency: 2 });
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push((await jobs.add(queue, 'slot', { i })).id);

    await log.until((events) => events.filter((e) => e.type === 'completed').length === 6);
    expect(work.peak()).toBe(2);
  });

  it('counts jobs by state; jobs wait for a processor; removeJobs drops waiting and delayed ones', async () => {
    await jobs.add(queue, 'work', { ok: true }, { jobId: 'a' });
    await jobs.add(queue, 'work', { ok: false }, { jobId: 'b', attempts: 1 });
    await jobs.add(queue, 'work', { ok: true }, { jobId: 'later', delayMs: 3_600_000 });
    await jobs.add(queue, 'work', { ok: true }, { jobId: 'cancelled', delayMs: 3_600_000 });
    await jobs.add(queue, 'work', { ok: true }, { jobId: 'cancelled-too' });
    expect(await jobs.counts(queue)).toMatchObject({ waiting: 3, delayed: 2, active: 0, completed: 0, failed: 0 });

    await jobs.removeJobs!(queue, ['cancelled', 'cancelled-too', 'unknown']);
    expect(await jobs.getJob(queue, 'cancelled')).toBeNull();
    expect(await jobs.counts(queue)).toMatchObject({ waiting: 2, delayed: 1 });

    // eslint-disable-next-line @typescript-eslint/require-await -- a handler that rejects is what this test exercises
    jobs.process<{ ok: boolean }>(queue, 'work', async (job) => {
      if (!job.data.ok) throw new Error('not ok');
    });
    await Promise.all([log.finished('a'), log.finished('b')]);
    expect(await jobs.counts(queue)).toMatchObject({ waiting: 0, active: 0, completed: 1, failed: 1, delayed: 1 });
    expect((await jobs.getJob(queue, 'later'))?.state).toBe('delayed');
  });

  it('runs a delayed job once its delay has passed', async () => {
    jobs.process(queue, 'later', () => Promise.resolve('done'));
    const { id } = await jobs.add(queue, 'later', {}, { delayMs: 50 });
    expect((await jobs.getJob(queue, id))?.state).toBe('delayed');
    await log.finished(id);
    expect((await jobs.getJob(queue, id))?.state).toBe('completed');
  });

  it('close waits for the active job and starts no other', async () => {
    const order: string[] = [];
    const started = gate();
    const release = gate();
    jobs.process<{ name: string }>(queue, 'work', async (job) => {
      order.push(`start ${job.data.name}`);
      started.open();
      await release.opened;
      order.push(`end ${job.data.name}`);
    });
    await jobs.add(queue, 'work', { name: 'first' });
    await jobs.add(queue, 'work', { name: 'second' });
    await started.opened;

    const closed = jobs.close().then(() => order.push('closed'));
    await new Promise((later) => setTimeout(later, 100));
    order.push('released');
    release.open();
    await closed;
    expect(order).toEqual(['start first', 'released', 'end first', 'closed']);
    expect(log.events.map((e) => e.type)).toEqual(['completed']);
    await expect(jobs.add(queue, 'work', {})).rejects.toThrow('closed');
  });

  it('reports itself healthy while open', async () => {
    expect((await jobs.health()).ok).toBe(true);
  });

  it('refuses a queue name the module was not given, saying which ones it knows', async () => {
    await expect(jobs.add('no-such-queue', 'work', {})).rejects.toThrow(`Unknown queue "no-such-queue": the queues are "${queue}"`);
  });
});

/** A @Processor class for `queue`, defined per test: the decorators take their queue name and concurrency when it is defined. */
function processorClass<T>(queue: string, name: string, concurrency: number, work: (job: ProcessorJob<T>) => Promise<unknown>): Type<unknown> {
  @Injectable()
  @Processor(queue)
  class TestProcessor {
    @Process({ name, concurrency })
    run(job: ProcessorJob<T>): Promise<unknown> {
      return failFastOnUnrecoverable(job, () => work(job));
    }
  }
  return TestProcessor;
}

describe.each(drivers)('@Processor classes: %s driver', (_driver, make) => {
  let queue: string;

  beforeEach(() => {
    queue = `processor-${++queueSeq}`;
  });

  it('runs the jobs added through JOB_QUEUE in the @Process method, two at once with concurrency 2', async () => {
    const work = pairedWork();
    const processor = processorClass<{ i: number }>(queue, 'slot', 2, async (job) => {
      await work.run();
      return { tenfold: job.data.i * 10 };
    });
    const jobs = await make([queue], [processor]);
    const log = new EventLog(jobs);
    for (let i = 0; i < 4; i++) await jobs.add(queue, 'slot', { i }, { jobId: `slot-${i}` });

    await log.until((events) => events.filter((e) => e.type === 'completed').length === 4);
    expect(work.peak()).toBe(2);
    expect(await jobs.getJob(queue, 'slot-3')).toMatchObject({ state: 'completed', returnValue: { tenfold: 30 } });
  });

  it('runs one job at a time with concurrency 1', async () => {
    const order: string[] = [];
    const added = gate();
    const started: { jobs?: JobQueue } = {};
    const processor = processorClass<{ i: number }>(queue, 'one', 1, async (job) => {
      order.push(`start ${job.data.i}`);
      // By now the other jobs are queued: a second slot would have taken one while this one holds.
      await added.opened;
      await started.jobs?.counts(queue);
      order.push(`end ${job.data.i}`);
    });
    const jobs = (started.jobs = await make([queue], [processor]));
    const log = new EventLog(jobs);
    for (let i = 0; i < 3; i++) await jobs.add(queue, 'one', { i });
    added.open();

    await log.until((events) => events.filter((e) => e.type === 'completed').length === 3);
    expect(order).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('fails the job at once when the method throws UnrecoverableJobError, attempts left or not', async () => {
    let calls = 0;
    const processor = processorClass(queue, 'doomed', 1, () => {
      calls++;
      return Promise.reject(new UnrecoverableJobError('parent session is gone'));
    });
    const jobs = await make([queue], [processor]);
    const log = new EventLog(jobs);
    const { id } = await jobs.add(queue, 'doomed', {}, { attempts: 5, backoffMs: 10 });

    await log.finished(id);
    expect(calls).toBe(1);
    expect(await jobs.getJob(queue, id)).toMatchObject({ state: 'failed', attemptsMade: 1, failedReason: 'parent session is gone' });
  });

  it('processes nothing of a queue without a processor class (an api instance): its job stays waiting', async () => {
    const other = `other-${queueSeq}`;
    const jobs = await make([queue, other], [processorClass(other, 'work', 1, () => Promise.resolve('done'))]);
    const log = new EventLog(jobs);
    const { id } = await jobs.add(queue, 'work', {});
    const { id: otherId } = await jobs.add(other, 'work', {});

    // The processor of the other queue has taken its job: this instance processes what it has classes for.
    await log.finished(otherId);
    expect(await jobs.getJob(queue, id)).toMatchObject({ state: 'waiting' });
    // Bull: no worker of this queue anywhere in Redis; in-process: null (this process).
    expect([0, null]).toContain(await jobs.workers(queue));
  });
});

describe('Bull driver across processes', () => {
  const make = (queue: string, extra?: JobQueueOptions) => openQueue({ queues: [queue], redisUrl: REDIS_URL, prefix: PREFIX, ...extra });

  it('processes, in a second instance with the same prefix, jobs the first one added', async () => {
    const queue = `shared-${++queueSeq}`;
    const producer = await make(queue);
    const worker = await make(queue);
    const log = new EventLog(worker);
    const { id } = await producer.add(queue, 'work', { from: 'producer' }, { jobId: 'handover' });
    worker.process<{ from: string }>(queue, 'work', (job) => Promise.resolve(`seen ${job.data.from}`));

    await log.finished(id);
    expect(await producer.getJob(queue, id)).toMatchObject({ state: 'completed', returnValue: 'seen producer' });
    expect(await producer.add(queue, 'work', {}, { jobId: 'handover' })).toEqual({ id, duplicate: true });
  });

  it('hands the job of a worker killed with SIGKILL to another worker', async () => {
    const queue = `stalled-${++queueSeq}`;
    const fastRecovery = { lockDurationMs: 1000, stalledIntervalMs: 500 };
    const producer = await make(queue, fastRecovery);
    const { id } = await producer.add(queue, 'work', { n: 1 }, { jobId: 'survivor' });

    const child = startHangingWorker(queue, fastRecovery);
    await child.started;
    child.process.kill('SIGKILL');
    await child.exited;
    expect((await producer.getJob(queue, id))?.state).toBe('active');

    const survivor = await make(queue, fastRecovery);
    const log = new EventLog(survivor);
    survivor.process(queue, 'work', (job) => Promise.resolve(`recovered at attempt ${job.attemptsMade + 1}`));
    await log.finished(id);
    expect(await producer.getJob(queue, id)).toMatchObject({ state: 'completed', returnValue: 'recovered at attempt 1' });
  });

  it('starts and stops at once without an unhandled rejection', async () => {
    // Bull names a new worker's connection, and starts processing, in promises nobody awaits: closing
    // before Redis answered rejected them unhandled (a TypeError at bull/lib/worker.js:21 among them).
    const rejections: unknown[] = [];
    const record = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', record);
    try {
      for (let i = 0; i < 8; i++) {
        const queue = `blink-${++queueSeq}`;
        const processor = processorClass(queue, 'work', 1, () => Promise.resolve());
        const moduleRef = await Test.createTestingModule({ imports: [QueueModule.forRoot({ queues: [queue], redisUrl: REDIS_URL, prefix: PREFIX })], providers: [processor] }).compile();
        await moduleRef.init();
        await moduleRef.close();
      }
      // Those rejections come with the connections' close events, after close() has returned.
      await new Promise((later) => setTimeout(later, 300));
    } finally {
      process.off('unhandledRejection', record);
    }
    expect(rejections).toEqual([]);
  });

  it('QueueModule picks Bull when a Redis URL is configured and closes it with the app', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [QueueModule.forRoot({ queues: ['module'], redisUrl: REDIS_URL, prefix: PREFIX })] }).compile();
    const jobs = moduleRef.get<JobQueue>(JOB_QUEUE);
    expect(jobs.driver).toBe('bull');
    expect(await jobs.health()).toMatchObject({ ok: true });
    await moduleRef.close();
    await expect(jobs.add('module', 'work', {})).rejects.toThrow('closed');
  });
});

/** A separate Node process running the Bull driver whose handler never returns; it says when it took the job. */
function startHangingWorker(queue: string, options: JobQueueOptions): { process: ChildProcess; started: Promise<void>; exited: Promise<void> } {
  // Compiles the TypeScript sources on require with swc, as Jest does.
  const script = `
    const fs = require('node:fs');
    const swc = require('@swc/core');
    require.extensions['.ts'] = (module, filename) => module._compile(swc.transformSync(fs.readFileSync(filename, 'utf8'), {
      filename, module: { type: 'commonjs' },
      jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' },
    }).code, filename);
    const { NestFactory } = require('@nestjs/core');
    const { JOB_QUEUE, QueueModule } = require(${JSON.stringify(QUEUE_SRC)});
    NestFactory.createApplicationContext(QueueModule.forRoot(${JSON.stringify({ queues: [queue], redisUrl: REDIS_URL, prefix: PREFIX, ...options })}), { logger: false }).then((app) => {
      app.get(JOB_QUEUE).process(${JSON.stringify(queue)}, 'work', () => { console.log('started'); return new Promise(() => {}); });
    });
  `;
  const child = spawn(process.execPath, ['-e', script], { cwd: resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
  const started = new Promise<void>((resolveStart, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('started') && resolveStart());
    child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  return { process: child, started, exited };
}
