import type { EntityManager } from 'typeorm';
import type { UsageEventEntity } from './entities';

// One usage_events row per upstream call, written on every pass-through and every failed call: a plain
// parameterised INSERT (no query builder, no RETURNING), on the data source or inside a transaction.
const INSERT_USAGE_EVENT = `INSERT INTO usage_events
  (account_id, session_id, turn_id, purpose, model, prompt_tokens, cached_tokens, completion_tokens, cache_write_tokens, cost_usd, latency_ms, upstream_request_id, outcome, attempts, usage_estimated)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`;

/** Inserts one usage row; fields left out take the column defaults (0 tokens, $0, outcome ok, 1 attempt, not estimated). */
export async function insertUsageEvent(runner: Pick<EntityManager, 'query'>, e: Partial<UsageEventEntity>): Promise<void> {
  await runner.query(INSERT_USAGE_EVENT, [
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
