import { taskChildProcessor, TaskFinalProcessor } from './task.processors';

// What both explorers (@nestjs/bull's and the in-process one) read to wire the task processors.
describe('task processors', () => {
  const processOptions = (cls: { prototype: object }) => Reflect.getMetadata('bull:module_queue_process', (cls.prototype as { run: object }).run) as unknown;
  const queueOptions = (cls: object) => Reflect.getMetadata('bull:module_queue', cls) as unknown;

  it('gives the child processor the configured WORKER_CONCURRENCY, per app', () => {
    const six = taskChildProcessor(6);
    const two = taskChildProcessor(2);
    expect(queueOptions(six)).toEqual({ name: 'task-children' });
    expect(processOptions(six)).toEqual({ name: 'child', concurrency: 6 });
    expect(processOptions(two)).toEqual({ name: 'child', concurrency: 2 });
  });

  it('runs finals four at a time', () => {
    expect(queueOptions(TaskFinalProcessor)).toEqual({ name: 'task-final' });
    expect(processOptions(TaskFinalProcessor)).toEqual({ name: 'final', concurrency: 4 });
  });
});
