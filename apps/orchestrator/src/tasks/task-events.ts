import { Injectable } from '@nestjs/common';
import { PgNotifications } from '../common/pg-notifications';
import { TASK_EVENTS_CHANNEL } from './tasks.repository';

/**
 * Task progress notifications (`pg_notify` from the statements that change a task or a child):
 * event streams wait on them instead of polling. Without LISTEN (the embedded database) `available`
 * is false and streams read at a short interval.
 */
@Injectable()
export class TaskEvents {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly pg: PgNotifications) {
    pg.on(TASK_EVENTS_CHANNEL, (taskId) => this.wake(taskId));
    // Missed notifications: every stream reads again.
    pg.onConnectionLost(() => {
      for (const id of [...this.waiters.keys()]) this.wake(id);
    });
  }

  get available(): boolean {
    return this.pg.available;
  }

  /** Resolves on the task's next notification, or after `maxMs` (a safety net, not the mechanism). */
  next(taskId: string, maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(taskId) ?? new Set();
      this.waiters.set(taskId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (!set.size && this.waiters.get(taskId) === set) this.waiters.delete(taskId);
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      set.add(done);
    });
  }

  private wake(taskId: string): void {
    for (const done of [...(this.waiters.get(taskId) ?? [])]) done();
  }
}
