export type {
  JobHandler,
  JobInfo,
  JobOptions,
  JobQueue,
  JobQueueEvent,
  JobQueueOptions,
  JobState,
  QueueCounts,
  QueuedJob,
} from './job-queue';
export { JOB_QUEUE, UnrecoverableJobError } from './job-queue';
export { createJobQueue } from './create-job-queue';
export { QueueModule } from './queue.module';
export { BullJobQueue } from './bull-job-queue';
export { InProcessJobQueue } from './in-process-job-queue';
