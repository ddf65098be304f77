import { BullModule, getQueueToken } from '@nestjs/bull';
import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type Bull from 'bull';
import { BullConnections, BullJobQueue, bullQueueOptions } from './bull-job-queue';
import { InProcessExplorer } from './in-process-explorer';
import { InProcessJobQueue } from './in-process-job-queue';
import { JOB_QUEUE, JobQueue, JobQueueOptions } from './job-queue';

export interface QueueModuleOptions extends JobQueueOptions {
  /** Every queue name the app adds to or processes (Bull: one BullModule.registerQueue each). */
  queues: readonly string[];
}

@Injectable()
class JobQueueShutdown implements OnApplicationShutdown {
  constructor(@Inject(JOB_QUEUE) private readonly jobQueue: JobQueue) {}

  async onApplicationShutdown(): Promise<void> {
    await this.jobQueue.close();
  }
}

/** Holds the Redis connections the BullModule configuration and JOB_QUEUE share. */
@Module({})
class BullConnectionsModule {}

/**
 * Provides JOB_QUEUE everywhere. With `redisUrl`: BullModule.forRoot (shared connections and settings)
 * and registerQueue per queue name; @nestjs/bull's explorer wires the `@Processor` classes. Without:
 * the in-process driver, whose InProcessExplorer wires the same classes. The app lists its processor
 * classes among its providers only in roles that process jobs.
 */
@Module({})
export class QueueModule {
  static forRoot(options: QueueModuleOptions): DynamicModule {
    if (!options.redisUrl) {
      return {
        module: QueueModule,
        global: true,
        imports: [DiscoveryModule],
        providers: [{ provide: JOB_QUEUE, useFactory: () => new InProcessJobQueue(options) }, InProcessExplorer, JobQueueShutdown],
        exports: [JOB_QUEUE],
      };
    }
    const redisUrl = options.redisUrl;
    const connections: DynamicModule = {
      module: BullConnectionsModule,
      providers: [{ provide: BullConnections, useFactory: () => new BullConnections(redisUrl) }],
      exports: [BullConnections],
    };
    return {
      module: QueueModule,
      global: true,
      imports: [
        connections,
        BullModule.forRootAsync({ imports: [connections], inject: [BullConnections], useFactory: (c: BullConnections) => bullQueueOptions(c, options) }),
        BullModule.registerQueue(...options.queues.map((name) => ({ name }))),
      ],
      providers: [
        {
          provide: JOB_QUEUE,
          inject: [BullConnections, ...options.queues.map((name) => getQueueToken(name))],
          useFactory: (c: BullConnections, ...queues: Bull.Queue[]) => new BullJobQueue(c, queues, options),
        },
        JobQueueShutdown,
      ],
      exports: [JOB_QUEUE],
    };
  }
}
