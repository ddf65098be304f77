import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface UsageRow {
  account_id: string;
  purpose: string;
  model: string;
  calls: number;
  failed_calls: number;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  cache_write_tokens: number;
  cost_usd: number;
  latency_p50_ms: number | null;
}

/** The usage ledger, summed for operators. */
@Injectable()
export class UsageRepository {
  constructor(private readonly ds: DataSource) {}

  /** Per account, purpose and model over the last `hours` (one account, or all). */
  async summary(hours: number, accountId?: string): Promise<UsageRow[]> {
    const params: unknown[] = [String(hours)];
    let filter = '';
    if (accountId !== undefined) {
      params.push(accountId);
      filter = 'AND u.account_id = $2';
    }
    const rows: Array<Record<string, unknown>> = await this.ds.query(
      `SELECT u.account_id, u.purpose, u.model, count(*)::int AS calls,
              sum(CASE WHEN u.outcome = 'ok' THEN 0 ELSE 1 END)::int AS failed_calls,
              sum(u.prompt_tokens)::bigint AS prompt_tokens, sum(u.cached_tokens)::bigint AS cached_tokens,
              sum(u.completion_tokens)::bigint AS completion_tokens, sum(u.cache_write_tokens)::bigint AS cache_write_tokens, sum(u.cost_usd) AS cost_usd,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY u.latency_ms) AS latency_p50_ms
       FROM usage_events u WHERE u.created_at > now() - ($1 || ' hours')::interval ${filter}
       GROUP BY u.account_id, u.purpose, u.model ORDER BY u.account_id, u.purpose`,
      params,
    );
    return rows.map((r) => ({
      account_id: String(r.account_id),
      purpose: String(r.purpose),
      model: String(r.model),
      calls: Number(r.calls),
      failed_calls: Number(r.failed_calls),
      prompt_tokens: Number(r.prompt_tokens),
      cached_tokens: Number(r.cached_tokens),
      completion_tokens: Number(r.completion_tokens),
      cache_write_tokens: Number(r.cache_write_tokens),
      cost_usd: Math.round(Number(r.cost_usd) * 1e8) / 1e8,
      latency_p50_ms: r.latency_p50_ms === null ? null : Math.round(Number(r.latency_p50_ms)),
    }));
  }
}
