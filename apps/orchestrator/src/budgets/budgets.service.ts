import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { remaining, worstCase, type BudgetLimits, type BudgetScope, type BudgetState, type Refusal, type SpendAmount } from '@so/domain';
import { ModelRegistry, TokenEstimator, type CacheTtl, type UpstreamChatRequest, type UpstreamUsage } from '@so/llm';
import type { EntityManager } from 'typeorm';
import { ApiError, FINAL } from '../common/api-error';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { BudgetsRepository } from './budgets.repository';

/** A budget as the API takes it (`budget` on accounts, sessions and tasks). */
export interface BudgetInput {
  usd?: number | null;
  tokens?: number | null;
  period?: 'day' | 'month' | 'none' | null;
}

export interface Reservation {
  id: string | null;
  worst: SpendAmount;
}

const round = (n: number) => Math.round(n * 1e8) / 1e8;

export function budgetView(b: BudgetState) {
  const left = remaining(b);
  return {
    scope: b.scope,
    id: b.scopeId,
    limit_usd: b.usd,
    limit_tokens: b.tokens,
    period: b.period,
    period_start: Math.floor(b.periodStart.getTime() / 1000),
    spent_usd: round(b.spentUsd),
    spent_tokens: b.spentTokens,
    reserved_usd: round(b.reservedUsd),
    reserved_tokens: b.reservedTokens,
    remaining_usd: left.usd === null ? null : round(left.usd),
    remaining_tokens: left.tokens,
  };
}

/**
 * Spend budgets: before every upstream call the worst case is reserved against each budget that covers it
 * (atomically, in Postgres); after the call it settles to the billed amount; a failed call settles to what
 * was billed (nothing, or a cut stream's partial usage). A call no budget can afford is refused with 402.
 */
@Injectable()
export class BudgetsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(BudgetsService.name);
  private reaper: NodeJS.Timeout | null = null;

  constructor(
    private readonly repo: BudgetsRepository,
    private readonly models: ModelRegistry,
    private readonly estimator: TokenEstimator,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    // A process that died mid-call leaves its reservation behind: released once no call can still be running.
    const staleMs = Math.max(this.config.streamMaxMs, this.config.upstreamTimeoutMs * this.config.upstreamMaxAttempts) + 60_000;
    const reap = () =>
      this.repo.releaseStale(staleMs).then(
        (n) => n && this.logger.warn(`released ${n} budget reservation(s) left by calls that never settled`),
        () => undefined,
      );
    void reap(); // at start too: a restart after a crash frees what the dead process held
    this.reaper = setInterval(() => void reap(), 60_000);
    this.reaper.unref();
  }

  onModuleDestroy(): void {
    if (this.reaper) clearInterval(this.reaper);
  }

  /** Validates a budget input; null when it sets nothing (no usd and no tokens). */
  limits(input: BudgetInput | null | undefined, param: string, periods = true): BudgetLimits | null {
    if (!input) return null;
    const usd = input.usd ?? null;
    const tokens = input.tokens ?? null;
    if (!periods && input.period && input.period !== 'none') throw new ApiError('invalid_request', `${param}.period applies to account budgets only.`, `${param}.period`);
    if (usd === null && tokens === null) return null;
    return { usd, tokens, period: input.period ?? 'none' };
  }

  async set(accountId: string, scope: BudgetScope, scopeId: string, limits: BudgetLimits | null, m: EntityManager | null = null): Promise<void> {
    await this.repo.set(m, accountId, scope, scopeId, limits);
  }

  find(scope: BudgetScope, scopeId: string) {
    return this.repo.find(scope, scopeId);
  }

  /**
   * The worst case of a request: the estimated prompt at the miss price plus a cache write, and max_tokens at
   * the output price. `promptTokens`: the caller's own estimate of the prompt (a turn knows its window's), so
   * a large prompt is not counted again.
   */
  worstCase(req: Pick<UpstreamChatRequest, 'model' | 'messages' | 'tools' | 'max_tokens'>, cacheTtl: CacheTtl, promptTokens?: number): SpendAmount {
    const m = this.models.get(req.model);
    const prompt = promptTokens ?? this.estimator.countMessages(req.messages) + this.estimator.countTools(req.tools ?? null);
    const maxTokens = req.max_tokens ?? Math.max(1, Math.min(this.config.defaultMaxTokens, m.contextWindow - prompt));
    return worstCase(prompt, maxTokens, { inputCacheMissPerM: m.inputCacheMissPerM, outputPerM: m.outputPerM, cacheWritePerM: m.cacheWritePerM[cacheTtl] }, this.config.tokenEstimateMargin);
  }

  /** Reserves the worst case against every budget covering the call, or refuses it (402 budget_exceeded); `worst` is worked out only if a budget covers it. */
  async reserve(accountId: string, sessionId: string | null, worstOf: SpendAmount | (() => SpendAmount)): Promise<Reservation> {
    const r = await this.repo.reserve(accountId, sessionId, worstOf);
    const worst = r.worst;
    if (r.refused) throw refusedError(r.refused);
    return { id: r.reservationId, worst };
  }

  /** Settles to the billed usage (null: nothing billed). Never throws: a settle that fails is logged, the reaper releases it. */
  async settle(reservation: Reservation, model: string, usage: UpstreamUsage | null | undefined, cacheTtl: CacheTtl): Promise<void> {
    if (!reservation.id) return;
    const billed: SpendAmount = usage ? { usd: this.models.costUsd(model, usage, cacheTtl), tokens: usage.promptTokens + usage.completionTokens } : { usd: 0, tokens: 0 };
    await this.repo.settle(reservation.id, billed).catch((err) => this.logger.error({ reservation: reservation.id, err: err instanceof Error ? err.message : String(err) }, 'could not settle a budget reservation'));
  }

  /** A task's bill so far and its budget (null: none), for the task object and its events. */
  async taskUsage(taskId: string) {
    const [cost, budget] = await Promise.all([this.repo.taskCost(taskId), this.repo.find('task', taskId)]);
    return { cost_usd: round(cost), budget: budget ? budgetView(budget) : null };
  }

  async usage(accountId: string) {
    const { budgets, reservations } = await this.repo.accountSnapshot(accountId);
    const own = budgets.find((b) => b.scope === 'account') ?? null;
    return {
      object: 'usage' as const,
      account_id: accountId,
      budget: own ? budgetView(own) : null,
      reservations: { count: reservations.count, usd: round(reservations.usd), tokens: reservations.tokens },
      budgets: budgets.map(budgetView),
    };
  }
}

export function refusedError(r: Refusal): ApiError {
  const b = r.budget;
  const what = r.kind === 'usd' ? `$${round(r.remaining)} of $${b.usd} left${b.period !== 'none' ? ` this ${b.period}` : ''}; this call may cost up to $${round(r.needed)}` : `${r.remaining} of ${b.tokens} tokens left${b.period !== 'none' ? ` this ${b.period}` : ''}; this call may use up to ${r.needed}`;
  return new ApiError(
    'budget_exceeded',
    `Budget exceeded: the ${b.scope} budget of ${b.scope} '${b.scopeId}' has ${what}. Nothing was sent upstream.`,
    'budget',
    FINAL,
    { budget: { scope: b.scope, id: b.scopeId, limit_usd: b.usd, limit_tokens: b.tokens, period: b.period, remaining_usd: remaining(b).usd === null ? null : round(remaining(b).usd!), remaining_tokens: remaining(b).tokens, needed_usd: round(r.kind === 'usd' ? r.needed : 0) || null, needed_tokens: r.kind === 'tokens' ? r.needed : null } },
  );
}

/** True for the refusal of a call no budget could afford (the coordinator stops a task's spending on it). */
export function isBudgetExceeded(err: unknown): err is ApiError {
  return err instanceof ApiError && err.code === 'budget_exceeded';
}
