import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  applyCompaction,
  buildOutlineRequest,
  cutWindowBefore,
  extractiveOutline,
  OUTLINE_MESSAGE_HEADER,
  outlineTargetTokens,
  parseOutline,
  renderOutline,
  summarizerReplyTokens,
  sumTokens,
  type Outline,
  type StoredMessage,
  type WindowSpec,
} from '@so/domain';
import { TokenEstimator } from '@so/llm';
import type { SessionEntity, SnapshotReason } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { uuidv7 } from '../common/ids';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { SessionsRepository } from '../sessions/sessions.repository';
import { LlmGateway } from '../upstream/llm-gateway';
import { SessionStateRepository } from './session-state.repository';

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
}

/** Compression into outlines and plain truncation: the two ways the window moves without losing history. */
@Injectable()
export class Compactor {
  private readonly logger = new Logger(Compactor.name);

  constructor(
    private readonly sessions: SessionsRepository,
    private readonly state: SessionStateRepository,
    private readonly llm: LlmGateway,
    private readonly estimator: TokenEstimator,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Snapshot, summarize the range upstream (validated, retried once, extractive fallback), then move the window. Caller holds the turn lock. */
  async compress(account: ResolvedAccount, s: SessionEntity, lockId: string, w: WindowContents, req: CompressRequest): Promise<CompressResult> {
    const range = w.recent.filter((m) => m.seq >= req.fromSeq && m.seq <= req.toSeq);
    const folded = req.foldOutlines ? w.outlines : [];
    const inputTokens = sumTokens(range) + sumTokens(folded);
    const snapshotId = await this.snapshot(account.id, s, req.snapshotReason, null);
    const previousOutline = folded.length ? folded.map((o) => o.content ?? '').join('\n\n') : null;
    const messages = buildOutlineRequest({ messages: range, ratio: req.ratio, inputTokens, previousOutline });
    const targetTokens = outlineTargetTokens(inputTokens, req.ratio);
    let outline: Outline | null = null;
    let method: 'upstream' | 'extractive' = 'upstream';
    // Summarizer calls are billed to the session like its turns.
    const spent = { prompt: 0, cached: 0, completion: 0, cost: 0 };
    for (let attempt = 1; attempt <= 2 && !outline; attempt++) {
      const reply = await this.llm.complete(
        { account, sessionId: s.id, turnId: null, purpose: 'compress', timeoutMs: this.config.summarizerTimeoutMs, maxAttempts: this.config.summarizerMaxAttempts },
        { model: this.config.summarizerModel ?? s.model, messages, max_tokens: summarizerReplyTokens(inputTokens, req.ratio), temperature: 0 },
      );
      spent.prompt += reply.usage.promptTokens;
      spent.cached += reply.usage.cachedTokens;
      spent.completion += reply.usage.completionTokens;
      spent.cost += reply.costUsd;
      outline = reply.content ? parseOutline(reply.content) : null;
      if (!outline) this.logger.warn({ sessionId: s.id, attempt }, 'summarizer returned a malformed outline');
    }
    if (!outline) {
      method = 'extractive';
      outline = extractiveOutline([...folded, ...range], { targetTokens, countTokens: (t) => this.estimator.countText(t) });
    }
    const text = renderOutline(outline);
    const outlineTokens = this.estimator.countMessage({ content: OUTLINE_MESSAGE_HEADER + text });
    if (outlineTokens >= inputTokens && !req.allowGrowth) {
      // A "compression" that grows the window is refused; the rolling policy then truncates instead.
      throw new ApiError('conflict', `The outline (${outlineTokens} tokens, ${method}) would not be smaller than the ${inputTokens} tokens it replaces; nothing was changed.`, 'ratio');
    }
    const compressionId = uuidv7();

    const result = await this.sessions.inTurnTransaction(s.id, lockId, async (m, locked) => {
      const outlineSeq = locked.lastSeq + 1;
      const keepFromSeq = req.keepFromSeq ?? outlineSeq + 1;
      const window = applyCompaction(locked.window, { keepFromSeq, outlineSeq, foldOutlines: req.foldOutlines });
      const kept = w.recent.filter((msg) => msg.seq >= keepFromSeq);
      const windowTokensAfter = pinnedTokensOf(locked) + (req.foldOutlines ? 0 : sumTokens(w.outlines)) + outlineTokens + sumTokens(kept);
      await this.sessions.insertMessages(m, [{ sessionId: s.id, seq: outlineSeq, role: 'system', content: text, tokens: outlineTokens, kind: 'outline', turnId: null }]);
      await this.sessions.updateSession(m, s.id, {
        lastSeq: outlineSeq,
        window,
        windowTokens: windowTokensAfter,
        version: locked.version + 1,
        promptTokens: String(Number(locked.promptTokens) + spent.prompt),
        cachedTokens: String(Number(locked.cachedTokens) + spent.cached),
        completionTokens: String(Number(locked.completionTokens) + spent.completion),
        costUsd: (Number(locked.costUsd) + spent.cost).toFixed(8),
      });
      const achievedRatio = Math.round((inputTokens / Math.max(1, outlineTokens)) * 100) / 100;
      await this.state.insertCompression(m, {
        id: compressionId, sessionId: s.id, snapshotId, fromSeq: req.fromSeq, toSeq: req.toSeq, outlineSeq,
        inputTokens, outputTokens: outlineTokens, achievedRatio, targetRatio: req.ratio, method, trigger: req.trigger,
      });
      const res: CompressResult = {
        snapshotId, compressionId, outlineSeq, outline: text, inputTokens, outputTokens: outlineTokens, achievedRatio, method,
        fromSeq: req.fromSeq, toSeq: req.toSeq, keepFromSeq: req.keepFromSeq, windowTokensBefore: locked.windowTokens, windowTokensAfter,
      };
      await this.state.event(m, s.id, req.trigger === 'rolling' ? 'compaction' : 'compression', eventData(res));
      return res;
    });
    if (!result) throw new Error('the session changed while it was being compressed');
    return result;
  }

  /** Moves the window start to keepFromSeq (messages stay in history). Caller holds the turn lock. */
  async truncate(s: SessionEntity, lockId: string, w: WindowContents, keepFromSeq: number | null, reason: 'manual' | 'fallback', extra: Record<string, unknown> = {}) {
    const cut = keepFromSeq ?? s.lastSeq + 1;
    const result = await this.sessions.inTurnTransaction(s.id, lockId, async (m, locked) => {
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
      await this.state.insertSnapshot({ id, sessionId: s.id, accountId, atSeq: s.lastSeq, window: s.window, windowTokens: s.windowTokens, fragmentRefs: s.fragmentRefs ?? [], reason, label, shareTokenHash: null }, m);
      await this.state.event(m, s.id, 'snapshot', { snapshot_id: id, reason, at_seq: s.lastSeq, window_tokens: s.windowTokens, label });
    });
    return id;
  }
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
  };
}
