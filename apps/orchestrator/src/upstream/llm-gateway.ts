import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import {
  ModelRegistry,
  UPSTREAM,
  UpstreamChatRequest,
  UpstreamChunk,
  UpstreamError,
  UpstreamPort,
  UpstreamReply,
  UpstreamTarget,
} from '@so/llm';
import { insertUsageEvent, UsageEventEntity, UsagePurpose } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import type { SpendAmount } from '@so/domain';
import { BudgetsService, type Reservation } from '../budgets/budgets.service';
import { UpstreamLimiter } from '../admission/upstream-limiter';
import { UpstreamMetrics } from './upstream-metrics';
import { UsageRecorder } from './usage-recorder';

/** A call no budget covers: nothing reserved, nothing to settle. */
const NO_RESERVATION: Reservation = { id: null, worst: { usd: 0, tokens: 0 } };

export interface CallContext {
  account: ResolvedAccount;
  sessionId: string | null;
  turnId: string | null;
  purpose: UsagePurpose;
  signal?: AbortSignal;
  /** Overrides of the default deadline and attempts for this call. */
  timeoutMs?: number;
  maxAttempts?: number;
  /**
   * false: the caller read, in its own round trip just before (the session's turn lock), that no budget
   * covers this call, so no reservation is made. A budget set in between covers the next call.
   */
  budgeted?: boolean;
  /** The caller's own estimate of the prompt's tokens (a turn's window), used instead of counting the request. */
  promptTokens?: number;
}

export interface PricedReply extends UpstreamReply {
  costUsd: number;
  /** The usage row, when the caller writes it in its own transaction (deferRecord). */
  pendingUsage?: Partial<UsageEventEntity>;
}

/** A priced reply's usage in OpenAI's shape, plus its cost. */
export function openAiUsage(r: PricedReply) {
  return {
    prompt_tokens: r.usage.promptTokens,
    completion_tokens: r.usage.completionTokens,
    total_tokens: r.usage.promptTokens + r.usage.completionTokens,
    prompt_tokens_details: { cached_tokens: r.usage.cachedTokens, cache_write_tokens: r.usage.cacheWriteTokens ?? 0 },
    cost_usd: Math.round(r.costUsd * 1e8) / 1e8,
  };
}

export interface RecordOptions {
  /** Leave the usage row of a successful call to the caller (recordIn); failures are always recorded here. */
  deferRecord?: boolean;
}

/** The one way the service calls a model: picks the account's upstream, records a usage event per call. */
@Injectable()
export class LlmGateway {
  private readonly logger = new Logger(LlmGateway.name);
  constructor(
    @Inject(UPSTREAM) private readonly upstream: UpstreamPort,
    private readonly models: ModelRegistry,
    private readonly ds: DataSource,
    private readonly metrics: UpstreamMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly budgets: BudgetsService,
    private readonly limiter: UpstreamLimiter,
    private readonly usage: UsageRecorder,
  ) {}

  target(account: ResolvedAccount): UpstreamTarget {
    if (account.upstream) {
      if (account.upstream.apiKey === null) {
        throw new ApiError('service_unavailable', "This account's upstream key cannot be decrypted with the configured ENCRYPTION_KEY or ENCRYPTION_KEYS_OLD; an operator must add the old key or set the account's upstream again. Nothing was sent or written.");
      }
      return { baseUrl: account.upstream.baseUrl, apiKey: account.upstream.apiKey };
    }
    return { baseUrl: this.config.llmBaseUrl!, apiKey: this.config.llmApiKey! };
  }

  complete(ctx: CallContext, req: Omit<UpstreamChatRequest, 'purpose'>, opts: RecordOptions = {}): Promise<PricedReply> {
    return this.call(ctx, req, (t, r) => this.upstream.complete(t, r, { signal: ctx.signal, timeoutMs: ctx.timeoutMs, maxAttempts: ctx.maxAttempts }), opts);
  }

  stream(ctx: CallContext, req: Omit<UpstreamChatRequest, 'purpose'>, onChunk: (c: UpstreamChunk) => void, opts: RecordOptions = {}): Promise<PricedReply> {
    return this.call(ctx, req, (t, r) => this.upstream.stream(t, r, onChunk, { signal: ctx.signal }), opts);
  }

  /** Writes a deferred usage row on its own, after the caller's transaction could not; a failure is logged and counted, never silent. */
  async recordAfterFailure(reply: PricedReply, ctx: Pick<CallContext, 'sessionId' | 'purpose'>): Promise<void> {
    await this.recordIn(null, reply).catch((e) => this.lostUsage(ctx, 'ok', e));
  }

  private lostUsage(ctx: Pick<CallContext, 'sessionId' | 'purpose'>, outcome: string, err: unknown): void {
    this.metrics.usageWriteFailed(outcome);
    this.logger.error({ sessionId: ctx.sessionId, purpose: ctx.purpose, outcome, err: err instanceof Error ? err.message : String(err) }, 'could not write the usage row of an upstream call');
  }

  /** Writes a deferred usage row, inside the caller's transaction (or on its own with null). */
  async recordIn(m: EntityManager | null, reply: PricedReply): Promise<void> {
    if (!reply.pendingUsage) return;
    await insertUsageEvent(m ?? this.ds.manager, reply.pendingUsage);
    reply.pendingUsage = undefined;
  }

  private async call(ctx: CallContext, req: Omit<UpstreamChatRequest, 'purpose'>, run: (t: UpstreamTarget, r: UpstreamChatRequest) => Promise<UpstreamReply>, opts: RecordOptions): Promise<PricedReply> {
    const target = this.target(ctx.account);
    // The cache TTL goes upstream on every call and prices the writes that call reports.
    const cacheTtl = req.cacheTtl ?? this.config.cacheTtl;
    // Budgets first: the worst case is reserved (or the call refused, 402) before anything is sent.
    // Counting a large prompt is not free: the worst case is worked out once, and only if a budget or a limit needs it.
    let worst: SpendAmount | undefined;
    const worstOf = () => (worst ??= this.budgets.worstCase(req, cacheTtl, ctx.promptTokens));
    // A call outside a session is covered by the account's budget alone, known with the account.
    const budgeted = ctx.budgeted ?? (ctx.sessionId === null && ctx.account.accountBudget === false ? false : undefined);
    const reservation = budgeted === false ? NO_RESERVATION : await this.budgets.reserve(ctx.account.id, ctx.sessionId, worstOf);
    // Then upstream admission (concurrency, RPM, TPM charged prompt + max_tokens): refused (429) or waited for, never sent to draw the upstream's 429.
    let lease: Awaited<ReturnType<UpstreamLimiter['admit']>>;
    try {
      lease = await this.limiter.admit(ctx.account, target, () => worstOf().tokens, ctx.signal);
    } catch (err) {
      await this.budgets.settle(reservation, req.model, null, cacheTtl);
      throw err;
    }
    const started = Date.now();
    try {
      const reply = await run(target, { ...req, cacheTtl, purpose: ctx.purpose });
      await this.budgets.settle(reservation, req.model, reply.usage, cacheTtl);
      await this.limiter.correct(ctx.account, target, reply.rateLimit);
      const costUsd = this.models.costUsd(req.model, reply.usage, cacheTtl);
      this.metrics.observe(ctx.purpose, 'ok', reply.latencyMs, reply.usage, costUsd, ctx.account.id);
      const row: Partial<UsageEventEntity> = {
        accountId: ctx.account.id,
        sessionId: ctx.sessionId,
        turnId: ctx.turnId,
        purpose: ctx.purpose,
        model: req.model,
        promptTokens: reply.usage.promptTokens,
        cachedTokens: reply.usage.cachedTokens,
        completionTokens: reply.usage.completionTokens,
        cacheWriteTokens: reply.usage.cacheWriteTokens ?? 0,
        usageEstimated: reply.usage.estimated,
        costUsd: costUsd.toFixed(8),
        latencyMs: reply.latencyMs,
        upstreamRequestId: reply.upstreamRequestId,
        outcome: 'ok',
        attempts: reply.attempts,
      };
      if (opts.deferRecord) return { ...reply, costUsd, pendingUsage: row };
      // Nothing reserved, nothing to settle against it: the answer need not wait for the row (see UsageRecorder).
      if (reservation.id === null) this.usage.writeBehind(row);
      else await this.usage.write(row);
      return { ...reply, costUsd };
    } catch (err) {
      const code = err instanceof UpstreamError ? err.code : 'upstream_error';
      // A stream cut after it started was billed for what it delivered: record that, not zero.
      const partial = err instanceof UpstreamError ? err.partialUsage : undefined;
      await this.budgets.settle(reservation, req.model, partial, cacheTtl);
      const partialCost = partial ? this.models.costUsd(req.model, partial, req.cacheTtl ?? this.config.cacheTtl) : 0;
      this.metrics.observe(ctx.purpose, code, Date.now() - started, partial ?? null, partialCost, ctx.account.id);
      const billed: Partial<UsageEventEntity> = partial
        ? {
            promptTokens: partial.promptTokens,
            cachedTokens: partial.cachedTokens,
            completionTokens: partial.completionTokens,
            cacheWriteTokens: partial.cacheWriteTokens,
            usageEstimated: partial.estimated,
            costUsd: partialCost.toFixed(8),
          }
        : {};
      await this.record(ctx, req.model, { latencyMs: Date.now() - started, outcome: code, attempts: err instanceof UpstreamError ? err.attempts : 1, ...billed }).catch((e) => this.lostUsage(ctx, code, e));
      throw err;
    } finally {
      await this.limiter.release(lease);
    }
  }

  private async record(ctx: CallContext, model: string, e: Partial<UsageEventEntity>): Promise<void> {
    await insertUsageEvent(this.ds.manager, {
      accountId: ctx.account.id,
      sessionId: ctx.sessionId,
      turnId: ctx.turnId,
      purpose: ctx.purpose,
      model,
      ...e,
    });
  }
}
