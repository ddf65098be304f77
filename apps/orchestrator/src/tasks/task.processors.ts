import { Injectable, type Type } from '@nestjs/common';
import { Process, Processor } from '@nestjs/bull';
import { failFastOnUnrecoverable, type ProcessorJob } from '@so/queue';
import { runAsBackgroundWork } from '../admission/upstream-limiter';
import { CHILD_JOB, CHILD_QUEUE, CoordinatorService, FINAL_JOB, FINAL_QUEUE } from './coordinator.service';

const FINAL_CONCURRENCY = 4;

/** Merges a task's outlines into its final answer; job.attemptsMade tells runFinal whether this is the last try. */
@Injectable()
@Processor(FINAL_QUEUE)
export class TaskFinalProcessor {
  constructor(private readonly coordinator: CoordinatorService) {}

  @Process({ name: FINAL_JOB, concurrency: FINAL_CONCURRENCY })
  run(job: ProcessorJob<{ taskId: string }>): Promise<{ status: string }> {
    return failFastOnUnrecoverable(job, () => runAsBackgroundWork(() => this.coordinator.runFinal(job.data.taskId, job.attemptsMade)));
  }
}

/**
 * The child processor, whose concurrency is WORKER_CONCURRENCY: both explorers read it from the
 * @Process metadata, fixed when the class is defined, so the class is defined per app with its config.
 */
export function taskChildProcessor(workerConcurrency: number): Type<unknown> {
  @Injectable()
  @Processor(CHILD_QUEUE)
  class TaskChildProcessor {
    constructor(private readonly coordinator: CoordinatorService) {}

    @Process({ name: CHILD_JOB, concurrency: workerConcurrency })
    run(job: ProcessorJob<{ taskId: string; index: number }>): Promise<{ ran: number; merged: number }> {
      return failFastOnUnrecoverable(job, () => runAsBackgroundWork(() => this.coordinator.runChildren(job.data.taskId, job.data.index)));
    }
  }
  return TaskChildProcessor;
}
