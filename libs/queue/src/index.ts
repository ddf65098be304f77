export type {
  JobHandler,
  JobInfo,
  JobOptions,
  JobQueue,
  JobQueueEvent,
  JobQueueOptions,
  JobState,
  ProcessorJob,
  QueueCounts,
  QueuedJob,
} from './job-queue';
export { failFastOnUnrecoverable, JOB_QUEUE, UnrecoverableJobError } from './job-queue';
export { QueueModule, type QueueModuleOptions } from './queue.module';
export { BullConnections, BullJobQueue } from './bull-job-queue';
export { InProcessJobQueue } from './in-process-job-queue';
