import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface UsageBucketRow {
  account_id: string;
  bucket: Date | string;
  purpose: string;
  calls: number | string;
  prompt_tokens: number | string;
  cached_tokens: number | string;
  completion_tokens: number | string;
  cost_usd: number | string | null;
}

/** Read-only queries behind the dashboard: upstream usage in time buckets. */
@Injectable()
export class DashboardRepository {
  constructor(private readonly ds: DataSource) {}

  /** Usage per account, time bucket and purpose over the last `hours`, oldest bucket first. */
  usageBuckets(hours: number, bucketMinutes: number, accountId: string | null): Promise<UsageBucketRow[]> {
    const params: unknown[] = [String(hours), bucketMinutes * 60];
    let filter = '';
    if (accountId !== null) {
      params.push(accountId);
      filter = 'AND u.account_id = $3';
    }
    return this.ds.query(
      `SELECT u.account_id, to_timestamp(floor(extract(epoch FROM u.created_at) / $2) * $2) AS bucket, u.purpose,
              count(*)::int AS calls, sum(u.prompt_tokens)::bigint AS prompt_tokens, sum(u.cached_tokens)::bigint AS cached_tokens,
              sum(u.completion_tokens)::bigint AS completion_tokens, sum(u.cost_usd) AS cost_usd
       FROM usage_events u WHERE u.created_at > now() - ($1 || ' hours')::interval ${filter}
       GROUP BY 1, 2, 3 ORDER BY 2, 1, 3`,
      params,
    );
  }
}
