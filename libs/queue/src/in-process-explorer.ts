import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { ProcessOptions, ProcessorOptions } from '@nestjs/bull';
// @nestjs/bull keeps its metadata keys out of its index; the version is pinned (~11.0.5), see STACK.md.
import { BULL_MODULE_ON_QUEUE_EVENT, BULL_MODULE_QUEUE, BULL_MODULE_QUEUE_PROCESS } from '@nestjs/bull/dist/bull.constants';
import { JOB_QUEUE, JobQueue } from './job-queue';

/**
 * The in-process driver's counterpart of @nestjs/bull's explorer: finds the providers decorated with
 * `@Processor(queue)` and hands each `@Process({ name, concurrency })` method to JobQueue.process,
 * so the same classes run on both drivers.
 */
@Injectable()
export class InProcessExplorer implements OnModuleInit {
  private readonly logger = new Logger(InProcessExplorer.name);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    @Inject(JOB_QUEUE) private readonly jobs: JobQueue,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object') continue;
      const processor = this.reflector.get<ProcessorOptions | undefined>(BULL_MODULE_QUEUE, instance.constructor);
      if (!processor) continue;
      const className = instance.constructor.name;
      if (!processor.name) throw new Error(`${className}: @Processor needs a queue name`);
      // Bull's explorer builds a request-scoped processor per job; nothing here needs that.
      if (!wrapper.isDependencyTreeStatic()) throw new Error(`${className}: request-scoped processors are not supported by the in-process driver`);
      for (const key of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance) as object)) {
        const method = instance[key] as (...args: unknown[]) => Promise<unknown>;
        if (this.reflector.get<unknown>(BULL_MODULE_ON_QUEUE_EVENT, method)) {
          throw new Error(`${className}.${key}: queue event listeners are not supported by the in-process driver; use JobQueue.onEvent`);
        }
        const process = this.reflector.get<ProcessOptions | undefined>(BULL_MODULE_QUEUE_PROCESS, method);
        if (!process) continue;
        if (!process.name) throw new Error(`${className}.${key}: @Process needs a job name`);
        this.jobs.process(processor.name, process.name, (job) => method.call(instance, job), { concurrency: process.concurrency });
        this.logger.log(`${processor.name}/${process.name} -> ${className}.${key} (concurrency ${process.concurrency ?? 1})`);
      }
    }
  }
}
