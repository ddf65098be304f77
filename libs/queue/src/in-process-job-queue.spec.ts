import { InProcessJobQueue } from './in-process-job-queue';
import { JobQueueEvent } from './job-queue';

// The shared contract runs in test/e2e/queue.e2e-spec.ts; these are the in-process driver's own edges.
describe('InProcessJobQueue', () => {
  const opened: InProcessJobQueue[] = [];
  const make = (options?: ConstructorParameters<typeof InProcessJobQueue>[0]) => {
    const jobs = new InProcessJobQueue(options);
    opened.push(jobs);
    return jobs;
  };
  const finished = (jobs: InProcessJobQueue, jobId: string) =>
    new Promise<JobQueueEvent>((resolve) => jobs.onEvent((e) => e.jobId === jobId && e.type !== 'retrying' && resolve(e)));

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((jobs) => jobs.close()));
  });

  it('forgets finished jobs beyond keepFinished.count, so their ids can run again', async () => {
    const jobs = make({ keepFinished: { ageSeconds: 3600, count: 1 } });
    const runs: string[] = [];
    jobs.process('q', 'work', (job) => Promise.resolve(void runs.push(job.id)));

    const first = finished(jobs, 'a');
    await jobs.add('q', 'work', {}, { jobId: 'a' });
    await first;
    expect(await jobs.add('q', 'work', {}, { jobId: 'a' })).toMatchObject({ duplicate: true });

    const second = finished(jobs, 'b');
    await jobs.add('q', 'work', {}, { jobId: 'b' });
    await second;
    expect(await jobs.getJob('q', 'a')).toBeNull();
    expect(await jobs.add('q', 'work', {}, { jobId: 'a' })).toMatchObject({ duplicate: false });
    await finished(jobs, 'a');
    expect(runs).toEqual(['a', 'b', 'a']);
  });

  it('leaves jobs of a name without a processor waiting while other names run', async () => {
    const jobs = make();
    jobs.process('q', 'known', () => Promise.resolve('done'));
    await jobs.add('q', 'unknown', {}, { jobId: 'u' });
    const known = finished(jobs, 'k');
    await jobs.add('q', 'known', {}, { jobId: 'k' });
    await known;
    expect(await jobs.getJob('q', 'u')).toMatchObject({ state: 'waiting' });
  });

  it('rejects a second handler for the same queue and name', () => {
    const jobs = make();
    jobs.process('q', 'work', () => Promise.resolve(undefined));
    expect(() => jobs.process('q', 'work', () => Promise.resolve(undefined))).toThrow('already registered');
  });

  it('hands the handler a copy of the data, as Bull would after JSON', async () => {
    const jobs = make();
    const data = { list: [1], when: new Date(0) };
    let seen: unknown;
    jobs.process('q', 'work', (job) => Promise.resolve(void (seen = job.data)));
    const done = finished(jobs, 'c');
    await jobs.add('q', 'work', data, { jobId: 'c' });
    data.list.push(2);
    await done;
    expect(seen).toEqual({ list: [1], when: '1970-01-01T00:00:00.000Z' });
  });

  it('keeps running when an event listener throws', async () => {
    const jobs = make();
    jobs.onEvent(() => {
      throw new Error('listener bug');
    });
    jobs.process('q', 'work', () => Promise.resolve('ok'));
    const done = finished(jobs, 'x');
    await jobs.add('q', 'work', {}, { jobId: 'x' });
    expect(await done).toMatchObject({ type: 'completed' });
  });

  it('stops waiting for a hung job after closeTimeoutMs', async () => {
    const jobs = make({ closeTimeoutMs: 20 });
    const started = gate();
    jobs.process('q', 'hang', async () => {
      started.open();
      return new Promise(() => undefined);
    });
    await jobs.add('q', 'hang', {});
    await started.opened;
    await jobs.close();
    expect(await jobs.health()).toMatchObject({ ok: false });
    expect(() => jobs.process('q', 'other', () => Promise.resolve(undefined))).toThrow('closed');
  });

  it('starts no retry once closing', async () => {
    const jobs = make();
    const started = gate();
    const release = gate();
    let calls = 0;
    jobs.process('q', 'flaky', async () => {
      calls++;
      started.open();
      await release.opened;
      throw new Error('fails while closing');
    });
    const { id } = await jobs.add('q', 'flaky', {}, { attempts: 3, backoffMs: 0 });
    await started.opened;
    const closed = jobs.close();
    release.open();
    await closed;
    expect(calls).toBe(1);
    expect(await jobs.getJob('q', id)).toMatchObject({ state: 'waiting', attemptsMade: 1 });
  });
});

function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}
