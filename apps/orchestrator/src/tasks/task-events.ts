import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Client } from 'pg';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { TASK_EVENTS_CHANNEL } from './tasks.repository';

/**
 * Task progress notifications: one LISTEN connection per instance on Postgres (`pg_notify` is sent by
 * the statements that change a task or a child, so it arrives whichever instance ran them). Event
 * streams wait on it instead of polling. The embedded database (one PGlite session) has no LISTEN:
 * there `available` stays false and streams read at a short interval.
 */
@Injectable()
export class TaskEvents implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(TaskEvents.name);
  private readonly waiters = new Map<string, Set<() => void>>();
  private client?: Client;
  private closed = false;
  private retry?: NodeJS.Timeout;
  available = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    if (this.config.databaseUrl && this.config.role !== 'worker') void this.connect();
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.available = false;
    await this.client?.end().catch(() => undefined);
    for (const set of this.waiters.values()) for (const wake of set) wake();
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

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.config.databaseUrl! });
    client.on('notification', (n) => {
      if (n.channel !== TASK_EVENTS_CHANNEL || !n.payload) return;
      for (const wake of [...(this.waiters.get(n.payload) ?? [])]) wake();
    });
    const lost = (err?: unknown) => {
      if (this.client !== client) return;
      this.available = false;
      this.client = undefined;
      if (err) this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'task events connection lost; reconnecting');
      // Streams wake now (they re-read) and fall back to their interval until the connection is back.
      for (const set of this.waiters.values()) for (const wake of [...set]) wake();
      if (!this.closed) this.retry = setTimeout(() => void this.connect(), 1000);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${TASK_EVENTS_CHANNEL}`);
      this.available = !this.closed;
    } catch (err) {
      lost(err);
      await client.end().catch(() => undefined);
    }
  }
}
