import { BullJobQueue } from './bull-job-queue';
import { InProcessJobQueue } from './in-process-job-queue';
import { JobQueue, JobQueueOptions } from './job-queue';

/** Bull when a Redis URL is configured, otherwise the in-process driver (the embedded default). */
export function createJobQueue(options: JobQueueOptions = {}): JobQueue {
  return options.redisUrl ? new BullJobQueue(options.redisUrl, options) : new InProcessJobQueue(options);
}
