import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { createJobQueue } from './create-job-queue';
import { JOB_QUEUE, JobQueue, JobQueueOptions } from './job-queue';

@Injectable()
class JobQueueShutdown implements OnApplicationShutdown {
  constructor(@Inject(JOB_QUEUE) private readonly jobQueue: JobQueue) {}

  async onApplicationShutdown(): Promise<void> {
    await this.jobQueue.close();
  }
}

/** Provides JOB_QUEUE everywhere; the driver follows `redisUrl` (see createJobQueue). */
@Module({})
export class QueueModule {
  static forRoot(options: JobQueueOptions = {}): DynamicModule {
    return {
      module: QueueModule,
      global: true,
      providers: [{ provide: JOB_QUEUE, useFactory: () => createJobQueue(options) }, JobQueueShutdown],
      exports: [JOB_QUEUE],
    };
  }
}
