import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DataSource } from 'typeorm';
import { POOL_RELEASE_CHANNEL, SessionPool } from '@so/pool';
import { PgNotifications } from '../common/pg-notifications';
import { APP_CONFIG, AppConfig } from '../config/app-config';

/** The shared session pool plus this instance's timers: worker-lease heartbeat and the expired-lease reaper. */
@Injectable()
export class PoolService extends SessionPool implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PoolService.name);
  private timers: NodeJS.Timeout[] = [];
  readonly instanceId: string;

  constructor(ds: DataSource, @Inject(APP_CONFIG) private readonly config: AppConfig, notifications: PgNotifications) {
    const instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    super(ds, { instanceId, idleTtlMs: config.poolIdleTtlMs, workerTtlMs: config.poolLeaseTtlMs, maxWaiters: config.poolMaxWaiters });
    this.instanceId = instanceId;
    // A slot given back on another instance wakes a waiter here at once (the poll interval stays as the safety net).
    notifications.on(POOL_RELEASE_CHANNEL, (accountId) => this.wakeOne(accountId));
  }

  onModuleInit(): void {
    const every = (ms: number, what: string, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch((err) => this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, `${what} failed`)), ms);
      t.unref();
      this.timers.push(t);
    };
    every(Math.max(250, Math.floor(this.config.poolLeaseTtlMs / 3)), 'lease heartbeat', () => this.heartbeat());
    every(this.config.poolReapIntervalMs, 'lease reaper', () => this.reapExpired());
  }

  onModuleDestroy(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
