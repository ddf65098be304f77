import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { insertUsageEvent, UsageEventEntity, usageEventExists } from '@so/persistence';
import { commitThroughOutage, outageRetry } from '../common/commit-retry';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { UpstreamMetrics } from './upstream-metrics';

/**
 * Writes the usage row of a call that no budget covers while its answer goes to the client, instead of
 * before. Exactly as durable as writing it first: in both orders a crash between the upstream's answer
 * and the row's commit loses the row, and nothing else waits on it. A pass-through's row is written
 * through a database outage of up to TURN_COMMIT_RETRY_MS (its call id tells, after a write whose answer
 * was lost, whether it is already there: never written twice); another row is retried once. A row still
 * not written is logged and counted (so_usage_write_failures_total), never silent; before, the same
 * failure turned a paid answer into an error for the client. Reads of usage from this process (the admin usage
 * route, the dashboard) first wait for its writes in flight (`flush`), and so does shutdown.
 */
@Injectable()
export class UsageRecorder implements OnApplicationShutdown {
  private readonly logger = new Logger(UsageRecorder.name);
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly ds: DataSource,
    private readonly metrics: UpstreamMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Writes `row` once the current turn of the event loop is over (setImmediate): the answer, written in
   * this turn, leaves before the row's statement, so the client does not wait for that socket write either.
   */
  writeBehind(row: Partial<UsageEventEntity>): void {
    const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      // A row that cannot be recognised afterwards gets one more plain try (its first may have been a blip).
      .then(() => (recognisable(row) ? this.write(row) : this.write(row).catch(() => insertUsageEvent(this.ds, row))))
      .catch((err: unknown) => {
        this.metrics.usageWriteFailed(row.outcome ?? 'ok');
        this.logger.error({ sessionId: row.sessionId ?? null, purpose: row.purpose, err: err instanceof Error ? err.message : String(err) }, 'could not write the usage row of an upstream call');
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /**
   * Writes `row` now. A pass-through's row goes through a database outage of up to TURN_COMMIT_RETRY_MS:
   * its call id tells, after a write whose answer was lost, whether it is already there, so it is never
   * written twice. Any other row gets one attempt (a turn's calls share their id: a retry could not tell).
   */
  async write(row: Partial<UsageEventEntity>): Promise<void> {
    if (!recognisable(row)) {
      await insertUsageEvent(this.ds, row);
      return;
    }
    const { accountId, turnId, purpose } = row;
    await commitThroughOutage(
      async () => {
        await insertUsageEvent(this.ds, row);
        return true;
      },
      () => usageEventExists(this.ds, { accountId, turnId, purpose }),
      outageRetry(this.config.turnCommitRetryMs, this.logger, `usage row of call ${turnId}`),
    );
  }

  /** Resolves when every row this process started writing so far is written (or given up on). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}

/** Only a pass-through's call id names one row (a turn's calls share theirs). */
function recognisable(row: Partial<UsageEventEntity>): row is Partial<UsageEventEntity> & { accountId: string; turnId: string; purpose: 'passthrough' } {
  return row.purpose === 'passthrough' && typeof row.accountId === 'string' && typeof row.turnId === 'string';
}
