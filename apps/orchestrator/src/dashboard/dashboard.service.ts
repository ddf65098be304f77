import { Injectable } from '@nestjs/common';
import { isUuid } from '../common/ids';
import { PoolService } from '../pool/pool.service';
import { DashboardRepository } from './dashboard.repository';
import { UsageRecorder } from '../upstream/usage-recorder';

export interface UsageBucketView {
  account_id: string;
  /** Unix seconds at the bucket's start. */
  bucket_start: number;
  purpose: string;
  calls: number;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: number;
}

/** What the dashboard reads beyond the existing routes: the caller's pool and usage over time. */
@Injectable()
export class DashboardService {
  constructor(
    private readonly repo: DashboardRepository,
    private readonly pools: PoolService,
    private readonly usageWrites: UsageRecorder,
  ) {}

  /** Pool figures of one account, or of every account (admin) when `accountId` is undefined. */
  async pool(accountId: string | undefined) {
    const data = accountId !== undefined && !isUuid(accountId) ? [] : await this.pools.stats(accountId);
    return { object: 'list' as const, data };
  }

  /** Usage in buckets of `bucketMinutes` over the last `hours`; `accountId` null means every account. */
  async usageTimeline(hours: number, bucketMinutes: number, accountId: string | null) {
    const base = { object: 'list' as const, hours, bucket_minutes: bucketMinutes };
    if (accountId !== null && !isUuid(accountId)) return { ...base, data: [] as UsageBucketView[] };
    await this.usageWrites.flush();
    const rows = await this.repo.usageBuckets(hours, bucketMinutes, accountId);
    const data: UsageBucketView[] = rows.map((r) => {
      const prompt = Number(r.prompt_tokens);
      const completion = Number(r.completion_tokens);
      return {
        account_id: String(r.account_id),
        bucket_start: Math.floor(new Date(r.bucket).getTime() / 1000),
        purpose: String(r.purpose),
        calls: Number(r.calls),
        prompt_tokens: prompt,
        cached_tokens: Number(r.cached_tokens),
        completion_tokens: completion,
        total_tokens: prompt + completion,
        cost_usd: Math.round(Number(r.cost_usd ?? 0) * 1e8) / 1e8,
      };
    });
    return { ...base, data };
  }
}
