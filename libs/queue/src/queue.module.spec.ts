import { Test } from '@nestjs/testing';
import { JOB_QUEUE, JobQueue } from './job-queue';
import { QueueModule } from './queue.module';

describe('QueueModule', () => {
  it('provides the in-process driver when no Redis URL is configured, and closes it with the app', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [QueueModule.forRoot({ queues: ['q'] })] }).compile();
    const jobs = moduleRef.get<JobQueue>(JOB_QUEUE);
    expect(jobs.driver).toBe('in-process');
    expect(await jobs.health()).toMatchObject({ ok: true });

    await moduleRef.close();
    await expect(jobs.add('q', 'work', {})).rejects.toThrow('closed');
  });
});
