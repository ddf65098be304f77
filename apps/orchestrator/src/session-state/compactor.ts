import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  applyCompaction,
  assembleWindow,
  buildInContextOutlineRequest,
  buildOutlineRequest,
  cutWindowBefore,
  extractHardFacts,
  extractiveOutline,
  factPresent,
  guardOutline,
  OUTLINE_MESSAGE_HEADER,
  outlineTargetTokens,
  renderOutline,
  trimOutline,
  summarizerReplyTokens,
  sumTokens,
  type Outline,
  type StoredMessage,
  type WindowSpec,
} from '@so/domain';
import { ModelRegistry, TokenEstimator, type UsageTokens } from '@so/llm';
import type { EntityManager } from 'typeorm';
import type { SessionEntity, SnapshotReason } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { commitThroughOutage, outageRetry } from '../common/commit-retry';
import { uuidv7 } from '../common/ids';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { SessionsRepository } from '../sessions/sessions.repository';
import { CompactionMetrics } from './compaction-metrics';
import { FragmentsService } from '../fragments/fragments.service';
import { Summarizer, type SummaryFormat } from './summarizer';
import { SessionStateRepository, type CompactionWrite } from './session-state.repository';

export interface WindowContents {
  outlines: StoredMessage[];
  recent: StoredMessage[];
}

export interface CompressRequest {
  fromSeq: number;
  toSeq: number;
  /** First verbatim seq that stays in the window; null keeps none. */
  keepFromSeq: number | null;
  foldOutlines: boolean;
  ratio: number;
  trigger: 'manual' | 'rolling';
  snapshotReason: SnapshotReason;
  /** A coordinator child's outline is its result, not a space saving: it may be longer than a short input. */
  allowGrowth?: boolean;
  /** The rolling policy's ceiling for the new outline, so the window lands under its target share of the trigger. */
  maxOutlineTokens?: number;
  /** The upstream cache had gone cold (idle past its TTL): the prefix rewrite costs nothing extra. */
  cacheCold?: boolean;
  /** false: the caller's turn lock read that no budget covers the session (CallContext.budgeted). */
  budgeted?: boolean;
  /** The commit releases the caller's turn lock too (the compaction is the last step under it). */
  releaseLock?: boolean;
}

/** What the fact guard found: hard facts in the range, kept by the model, restored verbatim, and dropped (named). */
export interface FactReport {
  facts_in: number;
  kept_by_model: number;
  restored: number;
  dropped: string[];
}

export interface CompressResult {
  snapshotId: string;
  compressionId: string;
  outlineSeq: number;
  outline: string;
  inputTokens: number;
  outputTokens: number;
  achievedRatio: number;
  method: 'upstream' | 'extractive';
  fromSeq: number;
  toSeq: number;
  keepFromSeq: number | null;
  windowTokensBefore: number;
  windowTokensAfter: number;
  targetTokens: number;
  ratio: number;
  format: SummaryFormat;
  form: string;
  path: string[];
  summarizerCalls: number;
  costUsd: number;
  expectedCostUsd: { summarizer: number; prefix_rewrite: number; total: number };
  facts: FactReport;
}

/** An outline may run this far over its target before it is trimmed. */
export const OVERSHOOT_ALLOWED = 1.5;
/** Restored facts may add up to this share of the compressed range (or the target, if larger). */
export const FACT_RESTORE_SHARE = 0.35;
/** A fold of outlines (the coordinator's tree merge) comes out at most this share of what it read. */
export const FOLD_MAX_SHARE = 0.6;

/** The share of a model's context the service fills: local counts are estimates, so TOKEN_ESTIMATE_MARGIN stays free. */
export function usableContext(config: Pick<AppConfig, 'tokenEstimateMargin'>, contextWindow: number): number {
  return Math.floor(contextWindow * (1 - config.tokenEstimateMargin));
}

/** `window` (default) summarizes in context, sharing the chat turns' cached prefix, unless the summarizer is another model. */
export function summarizerInContext(setting: 'window' | 'transcript', summarizerModel: string, sessionModel: string): boolean {
  return setting === 'window' && summarizerModel === sessionModel;
}

/** `auto` asks for JSON where the model is known to support JSON mode (Kimi and Moonshot models do). */
export function summarizerFormatFor(setting: 'json' | 'markdown' | 'auto', model: string): SummaryFormat {
  if (setting !== 'auto') return setting;
  return /^(kimi-|moonshot-)/i.test(model) ? 'json' : 'markdown';
}

/** Compression into outlines and plain truncation: the two ways the window moves without losing history. */
@Injectable()
export class Compactor {
  private readonly logger = new Logger(Compactor.name);

  constructor(
    private readonly sessions: SessionsRepository,
    private readonly state: SessionStateRepository,
    private readonly summarizer: Summarizer,
    private readonly estimator: TokenEstimator,
    private readonly models: ModelRegistry,
    private readonly metrics: CompactionMetrics,
    private readonly fragments: FragmentsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Summarize the range (one upstream call; a cut reply continued, an unreadable one repaired once,
   * the extractive outline as the last resort), trim an outline far over its target, restore the hard
   * facts it dropped (the fact guard), then snapshot and move the window in one transaction. Caller
   * holds the turn lock. A compression refused (it would not shrink the window) leaves nothing behind.
   */
  async compress(account: ResolvedAccount, s: SessionEntity, lockId: string, w: WindowContents, req: CompressRequest): Promise<CompressResult> {
    const range = w.recent.filter((m) => m.seq >= req.fromSeq && m.seq <= req.toSeq);
    const folded = req.foldOutlines ? w.outlines : [];
    const inputTokens = sumTokens(range) + sumTokens(folded);
    const model = this.config.summarizerModel ?? s.model;
    const format = summarizerFormatFor(this.config.summarizerFormat, model);
    // In context: the conversation as the chat turns sent it (a cached prefix upstream) plus the instruction;
    // else a transcript of the range. The cache only carries over when the summarizer is the session's model.
    const inContext = summarizerInContext(this.config.summarizerContext, model, s.model);
    const messages = inContext
      ? buildInContextOutlineRequest({
          conversation: assembleWindow(await this.fragments.pinnedPrefix(s), w.outlines, range),
          ratio: req.ratio,
          inputTokens,
          mergeOutlines: req.foldOutlines,
          format,
        })
      : buildOutlineRequest({ messages: range, ratio: req.ratio, inputTokens, previousOutline: folded.length ? folded.map((o) => o.content ?? '').join('\n\n') : null, format });
    const targetTokens = outlineTargetTokens(inputTokens, req.ratio);
    const count = (t: string) => this.estimator.countText(t);

    // Summarizer calls are billed to the session like its turns.
    const summary = await this.summarizer.summarize(
      { account, sessionId: s.id, turnId: null, purpose: 'compress', timeoutMs: this.config.summarizerTimeoutMs, maxAttempts: this.config.summarizerMaxAttempts, budgeted: req.budgeted },
      model,
      messages,
      { format, maxTokens: summarizerReplyTokens(inputTokens, req.ratio), targetTokens, tools: inContext ? s.tools : null, deferRecord: true },
    );
    // The summarizer calls' usage rows are written with the compaction; without a commit, on their own.
    let committed = false;
    // Its row says whether a commit whose answer was lost took place (once a commit was attempted).
    const compressionId = uuidv7();
    let attempted = false;
    try {
      let method: 'upstream' | 'extractive' = 'upstream';
      let outline: Outline;
      const path = [...summary.path];
      if (summary.outline) {
        outline = summary.outline;
      } else {
        method = 'extractive';
        path.push('extractive');
        outline = extractiveOutline([...folded, ...range], { targetTokens, countTokens: count });
      }
      // A model that ignored the target length is cut by the fallback's rules: decisions, open items and artifacts go; facts stay.
      if (count(renderOutline(outline)) > targetTokens * OVERSHOOT_ALLOWED) {
        outline = trimOutline(outline, targetTokens, count, { keepFacts: true });
        path.push('trimmed');
      }
      // The fact guard: every hard fact of the range is in the outline, restored verbatim, or named as dropped.
      const facts = extractHardFacts([...folded.map((o) => ({ seq: o.seq, content: o.content })), ...range]);
      const guarded = guardOutline(outline, facts, { budgetTokens: Math.max(targetTokens, Math.floor(inputTokens * FACT_RESTORE_SHARE)), countTokens: count });
      outline = guarded.outline;
      if (guarded.report.restored > 0) path.push('facts_restored');
      // The rolling policy's ceiling for the new outline (the window lands under its target share of the trigger):
      // condensed by the same rules, never at the cost of an exact fact.
      if (req.maxOutlineTokens !== undefined && count(renderOutline(outline)) > req.maxOutlineTokens) {
        outline = trimOutline(outline, req.maxOutlineTokens, count, { keepFacts: true });
        path.push('condensed');
      }
      const text = renderOutline(outline);
      const dropped = facts.filter((f) => !factPresent(f, text)).map((f) => f.value);
      const factReport: FactReport = { facts_in: facts.length, kept_by_model: guarded.report.kept_by_model, restored: guarded.report.restored, dropped };
      if (dropped.length > 0) this.logger.warn({ sessionId: s.id, dropped: dropped.length }, 'compaction dropped exact facts (named in its event)');

      const outlineTokens = this.estimator.countMessage({ content: OUTLINE_MESSAGE_HEADER + text });
      if (outlineTokens >= inputTokens && !req.allowGrowth) {
        // A "compression" that grows the window is refused; the rolling policy then truncates instead.
        throw new ApiError('conflict', `The outline (${outlineTokens} tokens, ${method}) would not be smaller than the ${inputTokens} tokens it replaces; nothing was changed.`, 'ratio');
      }
      const snapshotId = uuidv7();
      const spend = summary.spend;

      // Everything the commit writes follows from the session row it applies to (`base`).
      const plan = (base: SessionEntity): CompactionWrite & { res: CompressResult } => {
        const outlineSeq = base.lastSeq + 1;
        const keepFromSeq = req.keepFromSeq ?? outlineSeq + 1;
        const window = applyCompaction(base.window, { keepFromSeq, outlineSeq, foldOutlines: req.foldOutlines });
        const kept = w.recent.filter((msg) => msg.seq >= keepFromSeq);
        const windowTokensAfter = pinnedTokensOf(base) + (req.foldOutlines ? 0 : sumTokens(w.outlines)) + outlineTokens + sumTokens(kept);
        const achievedRatio = Math.round((inputTokens / Math.max(1, outlineTokens)) * 100) / 100;
        const expectedCostUsd = this.expectedCost(model, s.model, inputTokens, targetTokens, windowTokensAfter, req.cacheCold ?? false, inContext);
        const res: CompressResult = {
          snapshotId, compressionId, outlineSeq, outline: text, inputTokens, outputTokens: outlineTokens, achievedRatio, method,
          fromSeq: req.fromSeq, toSeq: req.toSeq, keepFromSeq: req.keepFromSeq, windowTokensBefore: base.windowTokens, windowTokensAfter,
          targetTokens, ratio: req.ratio, format, form: summary.form, path, summarizerCalls: spend.calls, costUsd: Math.round(spend.cost * 1e8) / 1e8,
          expectedCostUsd, facts: factReport,
        };
        // The snapshot of the window before the compaction is part of the compaction's commit.
        const snapshot = snapshotRow(account.id, base, snapshotId, req.snapshotReason, null);
        return {
          res,
          usage: summary.pending.map((r) => r.pendingUsage!),
          snapshot,
          outline: { seq: outlineSeq, content: text, tokens: outlineTokens },
          session: {
            lastSeq: outlineSeq,
            window,
            windowTokens: windowTokensAfter,
            promptTokens: String(Number(base.promptTokens) + spend.prompt),
            cachedTokens: String(Number(base.cachedTokens) + spend.cached),
            cacheWriteTokens: String(Number(base.cacheWriteTokens) + spend.cacheWrite),
            completionTokens: String(Number(base.completionTokens) + spend.completion),
            costUsd: (Number(base.costUsd) + spend.cost).toFixed(8),
          },
          compression: {
            id: compressionId, sessionId: s.id, snapshotId, fromSeq: req.fromSeq, toSeq: req.toSeq, outlineSeq,
            inputTokens, outputTokens: outlineTokens, achievedRatio, targetRatio: req.ratio, method, trigger: req.trigger,
          },
          events: [snapshot.event, { type: req.trigger === 'rolling' ? 'compaction' : 'compression', data: eventData(res) }],
        };
      };
      // One statement, guarded by the turn lock and the version of the row the caller read under that lock;
      // should the row have moved on (nothing changes it under a held lock but a merge into a master),
      // the commit is planned again from the row locked in a transaction.
      const fast = plan(s);
      // The summarizer was paid for: a database outage at this moment is waited out, as a turn's commit does.
      attempted = true;
      const outcome = await commitThroughOutage(
        () => this.state.commitCompaction(null, s.id, lockId, s.version, fast, req.releaseLock),
        () => this.state.compressionExists(compressionId),
        outageRetry(this.config.turnCommitRetryMs, this.logger, `compaction of session ${s.id}`),
      );
      let result: CompressResult | null = outcome !== 'moved' ? fast.res : null;
      result ??= await this.sessions.inTurnTransaction(s.id, lockId, async (m, locked) => {
        const again = plan(locked);
        return (await this.state.commitCompaction(m, s.id, lockId, locked.version, again, req.releaseLock)) ? again.res : null;
      });
      if (!result) throw new Error('the session changed while it was being compressed');
      committed = true;
      this.metrics.compacted(s.accountId, req.trigger, method, path, spend.cost, factReport);
      return result;
    } finally {
      // (Unless a commit whose answer was lost wrote them after all: then a second row would count the calls twice.)
      if (!committed && !(attempted && (await this.state.compressionExists(compressionId).catch(() => false)))) await this.summarizer.recordUnwritten(summary.pending, { sessionId: s.id, purpose: 'compress' });
    }
  }

  /**
   * A tree merge's step: outlines folded into one outline of outlines by the same summarizer path as a
   * compression (one call, continued or repaired, the extractive outline as the last resort, trimmed
   * when far over its target) and the same fact guard over the outlines it reads. Nothing is written:
   * the caller commits it. Each outline's `## Sources` is left out of what is read (the fold's own
   * sources point at the folded outlines, which keep theirs in the history).
   */
  async foldOutlines(account: ResolvedAccount, s: SessionEntity, group: readonly StoredMessage[], ratio: number): Promise<{ outline: Outline; method: 'upstream' | 'extractive'; path: string[]; facts: FactReport }> {
    const read = group.map((o) => ({ ...o, content: withoutSources(o.content ?? '') }));
    const inputTokens = sumTokens(group);
    const model = this.config.summarizerModel ?? s.model;
    const format = summarizerFormatFor(this.config.summarizerFormat, model);
    const targetTokens = outlineTargetTokens(inputTokens, ratio);
    const count = (t: string) => this.estimator.countText(t);
    const summary = await this.summarizer.summarize(
      { account, sessionId: s.id, turnId: null, purpose: 'compress', timeoutMs: this.config.summarizerTimeoutMs, maxAttempts: this.config.summarizerMaxAttempts },
      model,
      buildOutlineRequest({ messages: read, ratio, inputTokens, format }),
      { format, maxTokens: summarizerReplyTokens(inputTokens, ratio), targetTokens },
    );
    let method: 'upstream' | 'extractive' = 'upstream';
    const path = [...summary.path];
    let outline: Outline;
    if (summary.outline) {
      outline = { ...summary.outline, provenance: undefined };
    } else {
      method = 'extractive';
      path.push('extractive');
      outline = extractiveOutline(read, { targetTokens, countTokens: count });
    }
    if (count(renderOutline(outline)) > targetTokens * OVERSHOOT_ALLOWED) {
      outline = trimOutline(outline, targetTokens, count, { keepFacts: true });
      path.push('trimmed');
    }
    const facts = extractHardFacts(read.map((o) => ({ seq: o.seq, content: o.content })));
    // A fold must shrink what it reads, or the tree would not converge: what is restored stops at FOLD_MAX_SHARE of the input
    // (the facts left out are reported as dropped; each stays in the folded outlines in the master's history).
    const restoreBudget = Math.min(Math.max(targetTokens, Math.floor(inputTokens * FACT_RESTORE_SHARE)), Math.max(0, Math.floor(inputTokens * FOLD_MAX_SHARE) - count(renderOutline(outline))));
    const guarded = guardOutline(outline, facts, { budgetTokens: restoreBudget, countTokens: count });
    outline = guarded.outline;
    if (guarded.report.restored > 0) path.push('facts_restored');
    const text = renderOutline(outline);
    const dropped = facts.filter((f) => !factPresent(f, text)).map((f) => f.value);
    const report: FactReport = { facts_in: facts.length, kept_by_model: guarded.report.kept_by_model, restored: guarded.report.restored, dropped };
    this.metrics.compacted(s.accountId, 'fold', method, path, summary.spend.cost, report);
    return { outline, method, path, facts: report };
  }

  /**
   * What a compaction is expected to cost: the summarizer call (its input at the miss price, the target
   * outline at the output price) plus, when the cache was warm, rewriting the prefix (the new window read
   * at the miss instead of the hit price, and written to the cache). A cold cache pays that anyway.
   */
  private expectedCost(summarizerModel: string, sessionModel: string, inputTokens: number, targetTokens: number, windowAfter: number, cacheCold: boolean, inContext: boolean): { summarizer: number; prefix_rewrite: number; total: number } {
    const usage = (prompt: number, cached: number, completion: number, cacheWrite: number): UsageTokens => ({ promptTokens: prompt, cachedTokens: cached, completionTokens: completion, ...{ cacheWriteTokens: cacheWrite } });
    // In context, the range is the chat turns' cached prefix (a hit, unless the cache went cold); only the instruction is new.
    const cachedRange = inContext && !cacheCold ? inputTokens : 0;
    const prompt = inputTokens + SUMMARIZER_PROMPT_TOKENS;
    const summarizer = this.models.costUsd(summarizerModel, usage(prompt, cachedRange, targetTokens, prompt - cachedRange));
    const rewrite = cacheCold ? 0 : this.models.costUsd(sessionModel, usage(windowAfter, 0, 0, windowAfter)) - this.models.costUsd(sessionModel, usage(windowAfter, windowAfter, 0, 0));
    const r = (x: number) => Math.round(x * 1e8) / 1e8;
    return { summarizer: r(summarizer), prefix_rewrite: r(rewrite), total: r(summarizer + rewrite) };
  }

  /** Moves the window start to keepFromSeq (messages stay in history). Caller holds the turn lock. */
  async truncate(s: SessionEntity, lockId: string, w: WindowContents, keepFromSeq: number | null, reason: 'manual' | 'fallback', extra: Record<string, unknown> = {}, snapshot?: { accountId: string; reason: SnapshotReason }) {
    const cut = keepFromSeq ?? s.lastSeq + 1;
    const result = await this.sessions.inTurnTransaction(s.id, lockId, async (m, locked) => {
      if (snapshot) {
        // The snapshot of the window before the cut commits (or not) with the cut.
        const id = uuidv7();
        await this.recordSnapshot(m, snapshot.accountId, locked, id, snapshot.reason, null);
        extra = { ...extra, snapshot_id: id };
      }
      const window: WindowSpec = cutWindowBefore(locked.window, cut);
      const kept = w.recent.filter((msg) => msg.seq >= cut);
      const windowTokens = pinnedTokensOf(locked) + sumTokens(w.outlines) + sumTokens(kept);
      await this.sessions.updateSession(m, s.id, { window, windowTokens, version: locked.version + 1 });
      const data = { reason, keep_from_seq: keepFromSeq, dropped_messages: w.recent.length - kept.length, window_tokens_before: locked.windowTokens, window_tokens_after: windowTokens, ...extra };
      await this.state.event(m, s.id, reason === 'fallback' ? 'compaction_fallback' : 'truncation', data);
      return data;
    });
    if (!result) throw new Error('the session changed while it was being truncated');
    return result;
  }

  async snapshot(accountId: string, s: SessionEntity, reason: SnapshotReason, label: string | null): Promise<string> {
    const id = uuidv7();
    await this.sessions.transaction(async (m) => {
      await this.recordSnapshot(m, accountId, s, id, reason, label);
    });
    return id;
  }

  /** The snapshot row of the session's window as it is, and its event, in the caller's transaction. */
  private async recordSnapshot(m: EntityManager, accountId: string, s: SessionEntity, id: string, reason: SnapshotReason, label: string | null): Promise<void> {
    const { event, ...row } = snapshotRow(accountId, s, id, reason, label);
    await this.state.insertSnapshot(row, m);
    await this.state.event(m, s.id, event.type, event.data);
  }
}

/** The snapshot of the session's window as it is, and the event that records it. */
function snapshotRow(accountId: string, s: SessionEntity, id: string, reason: SnapshotReason, label: string | null) {
  return {
    id, sessionId: s.id, accountId, atSeq: s.lastSeq, window: s.window, windowTokens: s.windowTokens, fragmentRefs: s.fragmentRefs ?? [], reason, label, shareTokenHash: null,
    event: { type: 'snapshot' as const, data: { snapshot_id: id, reason, at_seq: s.lastSeq, window_tokens: s.windowTokens, label } as Record<string, unknown> },
  };
}

/** Rough size of the summarizer's fixed system prompt, so the compression call itself always fits. */
export const SUMMARIZER_PROMPT_TOKENS = 600;

export function pinnedTokensOf(s: Pick<SessionEntity, 'systemTokens' | 'toolsTokens' | 'fragmentRefs'>): number {
  return s.systemTokens + s.toolsTokens + (s.fragmentRefs ?? []).reduce((n, f) => n + f.tokens, 0);
}

export function eventData(r: CompressResult): Record<string, unknown> {
  return {
    snapshot_id: r.snapshotId,
    compression_id: r.compressionId,
    compressed_seqs: [r.fromSeq, r.toSeq],
    outline_seq: r.outlineSeq,
    keep_from_seq: r.keepFromSeq,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    achieved_ratio: r.achievedRatio,
    method: r.method,
    window_tokens_before: r.windowTokensBefore,
    window_tokens_after: r.windowTokensAfter,
    target_tokens: r.targetTokens,
    ratio: r.ratio,
    summarizer_format: r.format,
    read_as: r.form,
    path: r.path.join('+'),
    summarizer_calls: r.summarizerCalls,
    cost_usd: r.costUsd,
    expected_cost_usd: r.expectedCostUsd,
    facts: r.facts,
  };
}

/** An outline's text without its trailing `## Sources` section. */
function withoutSources(text: string): string {
  const at = text.indexOf('\n## Sources');
  return at < 0 ? text : text.slice(0, at);
}
