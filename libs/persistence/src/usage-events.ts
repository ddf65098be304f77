import type { DataSource, EntityManager } from 'typeorm';
import type { UsageEventEntity } from './entities';
import { runStatement, Statement } from './prepared';

// One usage_events row per upstream call, written on every pass-through and every failed call: a plain
// parameterised INSERT (no query builder, no RETURNING), prepared, on the data source or inside a transaction.
const INSERT_USAGE_EVENT = new Statement(`INSERT INTO usage_events
  (account_id, session_id, turn_id, purpose, model, prompt_tokens, cached_tokens, completion_tokens, cache_write_tokens, cost_usd, latency_ms, upstream_request_id, outcome, attempts, usage_estimated)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`);

/** Inserts one usage row; fields left out take the column defaults (0 tokens, $0, outcome ok, 1 attempt, not estimated). */
export async function insertUsageEvent(runner: DataSource | EntityManager, e: Partial<UsageEventEntity>): Promise<void> {
  await runStatement(runner, INSERT_USAGE_EVENT, [
    e.accountId,
    e.sessionId ?? null,
    e.turnId ?? null,
    e.purpose,
    e.model,
    e.promptTokens ?? 0,
    e.cachedTokens ?? 0,
    e.completionTokens ?? 0,
    e.cacheWriteTokens ?? 0,
    e.costUsd ?? '0',
    e.latencyMs,
    e.upstreamRequestId ?? null,
    e.outcome ?? 'ok',
    e.attempts ?? 1,
    e.usageEstimated ?? false,
  ]);
}

/**
 * Whether the usage row of call `turnId` (one upstream call: a pass-through's own id) was written in the
 * last hour: after a write whose answer was lost, so a retry does not write it twice. Served by the
 * (account_id, created_at) index, however large the table.
 */
export async function usageEventExists(runner: DataSource | EntityManager, e: { accountId: string; turnId: string; purpose: string }): Promise<boolean> {
  const rows = await runStatement(runner, USAGE_EVENT_EXISTS, [e.accountId, e.turnId, e.purpose]);
  return rows.length > 0;
}

const USAGE_EVENT_EXISTS = new Statement(
  `SELECT 1 AS found FROM usage_events WHERE account_id = $1 AND created_at > now() - interval '1 hour' AND turn_id = $2 AND purpose = $3 LIMIT 1`,
);

/**
 * Usage rows written inside a larger statement (a turn's or a compaction's commit): `insertUsageRowsSql(p, from)`
 * is an INSERT ... SELECT of the rows passed as JSON in parameter `p` (usageRowsJson), one per row of `from`
 * (the statement's guard CTE: no guard row, nothing written).
 */
export function usageRowsJson(rows: Array<Partial<UsageEventEntity>>): string {
  return JSON.stringify(
    rows.map((u) => ({
      account_id: u.accountId, session_id: u.sessionId ?? null, turn_id: u.turnId ?? null, purpose: u.purpose, model: u.model,
      prompt_tokens: u.promptTokens ?? 0, cached_tokens: u.cachedTokens ?? 0, completion_tokens: u.completionTokens ?? 0, cache_write_tokens: u.cacheWriteTokens ?? 0,
      cost_usd: u.costUsd ?? '0', latency_ms: u.latencyMs, upstream_request_id: u.upstreamRequestId ?? null, outcome: u.outcome ?? 'ok', attempts: u.attempts ?? 1,
      usage_estimated: u.usageEstimated ?? false,
    })),
  );
}

export function insertUsageRowsSql(param: string, from: string): string {
  return `INSERT INTO usage_events (account_id, session_id, turn_id, purpose, model, prompt_tokens, cached_tokens, completion_tokens, cache_write_tokens, cost_usd, latency_ms, upstream_request_id, outcome, attempts, usage_estimated)
         SELECT x.account_id, x.session_id, x.turn_id, x.purpose, x.model, x.prompt_tokens, x.cached_tokens, x.completion_tokens, x.cache_write_tokens, x.cost_usd, x.latency_ms, x.upstream_request_id, x.outcome, x.attempts, x.usage_estimated
         FROM ${from} CROSS JOIN jsonb_to_recordset(${param}::jsonb)
           AS x(account_id uuid, session_id uuid, turn_id uuid, purpose text, model text, prompt_tokens int, cached_tokens int, completion_tokens int, cache_write_tokens int, cost_usd numeric, latency_ms int, upstream_request_id text, outcome text, attempts int, usage_estimated boolean)`;
}
