import { Injectable } from '@nestjs/common';
import { Process, Processor } from '@nestjs/bull';
import { failFastOnUnrecoverable, type ProcessorJob } from '@so/queue';
import { SESSIONS_QUEUE, SessionTitleJob, TITLE_JOB } from './session-title.job';

@Injectable()
@Processor(SESSIONS_QUEUE)
export class SessionTitleProcessor {
  constructor(private readonly titles: SessionTitleJob) {}

  @Process({ name: TITLE_JOB, concurrency: 2 })
  run(job: ProcessorJob<{ sessionId: string }>): Promise<{ title: string | null }> {
    return failFastOnUnrecoverable(job, () => this.titles.run(job.data.sessionId));
  }
}
