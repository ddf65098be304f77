import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Client } from 'pg';
import { APP_CONFIG, AppConfig } from '../config/app-config';

/**
 * One LISTEN connection per instance on Postgres, shared by every channel this instance follows
 * (task progress, pool slots given back). `pg_notify` is sent by the statements that change the
 * state, so a notification arrives whichever instance made the change. The embedded database (one
 * PGlite session) has no LISTEN: there `available` stays false and callers keep a short interval.
 */
@Injectable()
export class PgNotifications implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PgNotifications.name);
  private readonly handlers = new Map<string, Array<(payload: string) => void>>();
  private readonly onLost: Array<() => void> = [];
  private client?: Client;
  private closed = false;
  private retry?: NodeJS.Timeout;
  available = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** Register before the module starts (constructors, onModuleInit): the channels are listened to at connect. */
  on(channel: string, handler: (payload: string) => void): void {
    if (!/^[a-z_]+$/.test(channel)) throw new Error(`bad channel name ${channel}`);
    this.handlers.set(channel, [...(this.handlers.get(channel) ?? []), handler]);
  }

  /** Called when the connection drops (listeners may have missed notifications meanwhile). */
  onConnectionLost(fn: () => void): void {
    this.onLost.push(fn);
  }

  onModuleInit(): void {
    if (this.config.databaseUrl) setImmediate(() => void this.connect());
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.available = false;
    await this.client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed || this.handlers.size === 0) return;
    const client = new Client({ connectionString: this.config.databaseUrl! });
    client.on('notification', (n) => {
      for (const h of this.handlers.get(n.channel) ?? []) h(n.payload ?? '');
    });
    const lost = (err?: unknown) => {
      if (this.client !== client) return;
      this.available = false;
      this.client = undefined;
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- pg emits Errors; anything else is logged as String() renders it
      if (err && !this.closed) this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'notification connection lost; reconnecting');
      for (const fn of this.onLost) fn();
      if (!this.closed) this.retry = setTimeout(() => void this.connect(), 1000);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    this.client = client;
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`);
      this.available = !this.closed;
    } catch (err) {
      lost(err);
      await client.end().catch(() => undefined);
    }
  }
}
