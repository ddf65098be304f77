import { Injectable } from '@nestjs/common';
import { periodStart, refusal, rollOver, type BudgetLimits, type BudgetScope, type BudgetState, type Refusal, type SpendAmount } from '@so/domain';
import { BudgetEntity, BudgetReservationEntity, firstResultRows } from '@so/persistence';
import { DataSource, EntityManager } from 'typeorm';
import { uuidv7 } from '../common/ids';

function toState(r: BudgetEntity): BudgetState {
  return {
    id: r.id,
    scope: r.scope as BudgetScope,
    scopeId: r.scopeId,
    usd: r.limitUsd === null ? null : Number(r.limitUsd),
    tokens: r.limitTokens === null ? null : Number(r.limitTokens),
    period: r.period as BudgetState['period'],
    periodStart: r.periodStart,
    spentUsd: Number(r.spentUsd),
    spentTokens: Number(r.spentTokens),
    reservedUsd: Number(r.reservedUsd),
    reservedTokens: Number(r.reservedTokens),
  };
}

const usd = (n: number) => n.toFixed(8);

/** Budgets and reservations in Postgres: every change of a budget's counters happens under its row lock. */
/** The amount of a call no budget covers: nothing reserved. */
const NOTHING: SpendAmount = { usd: 0, tokens: 0 };

@Injectable()
export class BudgetsRepository {
  constructor(private readonly ds: DataSource) {}

  /** Sets (or with null removes) the budget of one scope; spend so far in the period is kept. */
  async set(m: EntityManager | null, accountId: string, scope: BudgetScope, scopeId: string, limits: BudgetLimits | null): Promise<void> {
    const em = m ?? this.ds.manager;
    if (!limits) {
      await em.query('DELETE FROM budgets WHERE scope = $1 AND scope_id = $2', [scope, scopeId]);
      return;
    }
    await em.query(
      `INSERT INTO budgets (id, account_id, scope, scope_id, limit_usd, limit_tokens, period, period_start)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (scope, scope_id) DO UPDATE SET limit_usd = EXCLUDED.limit_usd, limit_tokens = EXCLUDED.limit_tokens,
         period = EXCLUDED.period,
         period_start = CASE WHEN budgets.period = EXCLUDED.period THEN budgets.period_start ELSE EXCLUDED.period_start END,
         spent_usd = CASE WHEN budgets.period = EXCLUDED.period THEN budgets.spent_usd ELSE 0 END,
         spent_tokens = CASE WHEN budgets.period = EXCLUDED.period THEN budgets.spent_tokens ELSE 0 END,
         updated_at = now()`,
      [uuidv7(), accountId, scope, scopeId, limits.usd === null ? null : usd(limits.usd), limits.tokens, limits.period, periodStart(limits.period, new Date())],
    );
  }

  async find(scope: BudgetScope, scopeId: string): Promise<BudgetState | null> {
    const r = await this.ds.getRepository(BudgetEntity).findOne({ where: { scope, scopeId } });
    return r ? rollOver(toState(r), new Date()) : null;
  }

  /** An account's budgets and reservations read in one snapshot (a settle in between never shows half done). */
  async accountSnapshot(accountId: string): Promise<{ budgets: BudgetState[]; reservations: { count: number; usd: number; tokens: number } }> {
    return this.ds.transaction('REPEATABLE READ', async (m) => {
      const rows = await m.getRepository(BudgetEntity).find({ where: { accountId }, order: { scope: 'ASC', createdAt: 'ASC' } });
      const [r]: Array<{ n: number; usd: string; tokens: string }> = await m.query('SELECT count(*)::int AS n, coalesce(sum(usd), 0) AS usd, coalesce(sum(tokens), 0) AS tokens FROM budget_reservations WHERE account_id = $1', [accountId]);
      const now = new Date();
      return { budgets: rows.map((b) => rollOver(toState(b), now)), reservations: { count: r.n, usd: Number(r.usd), tokens: Number(r.tokens) } };
    });
  }

  /** What a task's sessions were billed (every upstream call of its children, compressions and final answer). */
  async taskCost(taskId: string): Promise<number> {
    const [r]: Array<{ usd: string }> = await this.ds.query('SELECT coalesce(sum(u.cost_usd), 0) AS usd FROM usage_events u JOIN sessions s ON s.id = u.session_id WHERE s.task_id = $1', [taskId]);
    return Number(r?.usd ?? 0);
  }

  /** Reservations of calls in flight per account (one account, or all). */
  async reservationsByAccount(accountId?: string): Promise<Array<{ account_id: string; count: number; usd: number; tokens: number }>> {
    const rows: Array<{ account_id: string; n: number; usd: string; tokens: string }> = await this.ds.query(
      `SELECT account_id, count(*)::int AS n, sum(usd) AS usd, sum(tokens) AS tokens FROM budget_reservations WHERE ($1::uuid IS NULL OR account_id = $1) GROUP BY account_id ORDER BY account_id`,
      [accountId ?? null],
    );
    return rows.map((r) => ({ account_id: r.account_id, count: r.n, usd: Math.round(Number(r.usd) * 1e8) / 1e8, tokens: Number(r.tokens) }));
  }

  /**
   * Reserves `amount` against every budget covering a call of this account (and session, and the session's
   * task), in one transaction holding the budgets' row locks (taken in id order, so two calls never deadlock):
   * either all take it, or none does and the first that cannot is returned.
   */
  async reserve(accountId: string, sessionId: string | null, amountOf: SpendAmount | (() => SpendAmount)): Promise<{ reservationId: string | null; refused: Refusal | null; worst: SpendAmount }> {
    // Most calls are covered by no budget: one plain look settles that without a transaction. A budget
    // created right after the look covers the next call, as if it had been created a moment later.
    const [any] = await this.ds.query<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM budgets b WHERE (b.scope = 'account' AND b.scope_id = $1) OR (b.scope = 'session' AND b.scope_id = $2)
         OR (b.scope = 'task' AND b.scope_id = (SELECT s.task_id FROM sessions s WHERE s.id = $2))`,
      [accountId, sessionId],
    );
    if (!any || any.n === 0) return { reservationId: null, refused: null, worst: NOTHING };
    const amount = typeof amountOf === 'function' ? amountOf() : amountOf;
    return this.ds.transaction(async (m) => {
      const rows: BudgetEntity[] = await m
        .getRepository(BudgetEntity)
        .createQueryBuilder('b')
        .where(`(b.scope = 'account' AND b.scope_id = :accountId)`, { accountId })
        .orWhere(`(b.scope = 'session' AND b.scope_id = :sessionId)`, { sessionId })
        .orWhere(`(b.scope = 'task' AND b.scope_id = (SELECT s.task_id FROM sessions s WHERE s.id = :sessionId))`, { sessionId })
        .orderBy('b.id')
        .setLock('pessimistic_write')
        .getMany();
      if (rows.length === 0) return { reservationId: null, refused: null, worst: amount };
      const now = new Date();
      const states = rows.map((r) => rollOver(toState(r), now));
      const refused = refusal(states, amount);
      if (refused) return { reservationId: null, refused, worst: amount };
      for (const b of states) {
        await m.query(
          `UPDATE budgets SET period_start = $2, spent_usd = $3, spent_tokens = $4, reserved_usd = reserved_usd + $5, reserved_tokens = reserved_tokens + $6, updated_at = now() WHERE id = $1`,
          [b.id, b.periodStart, usd(b.spentUsd), b.spentTokens, usd(amount.usd), amount.tokens],
        );
      }
      const id = uuidv7();
      await m.getRepository(BudgetReservationEntity).insert({ id, accountId, budgetIds: states.map((b) => b.id), usd: usd(amount.usd), tokens: String(amount.tokens) });
      return { reservationId: id, refused: null, worst: amount };
    });
  }

  /** Ends a reservation: its worst case leaves `reserved`, the billed amount (zero for a failed call) joins `spent`. Once only. */
  async settle(reservationId: string, billed: SpendAmount): Promise<void> {
    await this.ds.transaction(async (m) => {
      // TypeORM answers a DELETE ... RETURNING with [rows, affected].
      const r = firstResultRows(await m.query('DELETE FROM budget_reservations WHERE id = $1 RETURNING budget_ids, usd, tokens', [reservationId]))[0] as { budget_ids: string[] | string; usd: string; tokens: string } | undefined;
      if (!r) return;
      const ids = typeof r.budget_ids === 'string' ? r.budget_ids.replace(/[{}]/g, '').split(',').filter(Boolean) : r.budget_ids;
      const rows = await m.getRepository(BudgetEntity).createQueryBuilder('b').where('b.id IN (:...ids)', { ids: ids.length ? ids : ['00000000-0000-0000-0000-000000000000'] }).orderBy('b.id').setLock('pessimistic_write').getMany();
      const now = new Date();
      for (const row of rows) {
        // A period that rolled over since the reservation starts from zero before the bill joins it.
        const b = rollOver(toState(row), now);
        await m.query(
          `UPDATE budgets SET period_start = $2, spent_usd = $3, spent_tokens = $4, reserved_usd = GREATEST(0, reserved_usd - $5), reserved_tokens = GREATEST(0, reserved_tokens - $6), updated_at = now() WHERE id = $1`,
          [b.id, b.periodStart, usd(b.spentUsd + billed.usd), b.spentTokens + billed.tokens, r.usd, r.tokens],
        );
      }
    });
  }

  /** Releases reservations left behind by a process that died mid-call (older than `olderThanMs`). */
  async releaseStale(olderThanMs: number): Promise<number> {
    const rows: Array<{ id: string }> = await this.ds.query(`SELECT id FROM budget_reservations WHERE created_at < now() - make_interval(secs => $1) LIMIT 1000`, [olderThanMs / 1000]);
    for (const r of rows) await this.settle(r.id, { usd: 0, tokens: 0 });
    return rows.length;
  }
}
