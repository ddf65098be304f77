import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  appendToWindow,
  applyCalibration,
  assembleWindow,
  assertAppendChars,
  assertAppendSize,
  calibrate,
  decideCompaction,
  decideFallbackTruncation,
  DomainError,
  sumTokens,
  type ChatMessage,
  type PinnedPrefix,
  type StoredMessage,
  type ToolDefinition,
} from '@so/domain';
import { CACHE_TTL_MS, ModelRegistry, TokenEstimator, UpstreamChunk, UpstreamError } from '@so/llm';
import type { MessageEntity, SessionEntity } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { FragmentsService } from '../fragments/fragments.service';
import { PoolService } from '../pool/pool.service';
import { ApiError, FINAL } from '../common/api-error';
import { isUuid, uuidv7 } from '../common/ids';
import { WindowCache } from './window-cache';
import { commitThroughOutage, outageRetry } from '../common/commit-retry';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { LlmGateway, openAiUsage, PricedReply } from '../upstream/llm-gateway';
import { messageChars, parseInputMessage, ParsedMessage, toWireMessage } from './input-messages';
import type { AppendMessagesDto, InputMessageDto } from './sessions.dto';
import { messageView, sessionUsageView } from './sessions.presenter';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';
import { SessionTitleJob } from './session-title.job';
import { Compactor, eventData, pinnedTokensOf, SUMMARIZER_PROMPT_TOKENS, summarizerInContext, usableContext } from '../session-state/compactor';
import { policyFromColumn } from './sessions.service';
import { CompactionMetrics } from '../session-state/compaction-metrics';
import { Shutdown } from '../common/shutdown';

export interface TurnResponse {
  id: string;
  object: 'session.turn';
  session_id: string;
  seqs: number[];
  message: ReturnType<typeof messageView> | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details: { cached_tokens: number }; cost_usd: number } | null;
  session_usage: ReturnType<typeof sessionUsageView>;
  compaction: Record<string, unknown> | null;
  idempotent_replay: boolean;
  /** OpenAI-compatible fields of the reply, for /v1/chat/completions. */
  completion?: { id: string; created: number; model: string; finish_reason: string | null };
}

/** Where a streamed turn writes its chunks; the first call is the moment headers go out. */
export interface TurnStreamSink {
  chunk(c: UpstreamChunk): void;
  /** Called once, right before the upstream call: where the turn's messages will land. */
  begin?(info: TurnBegin): void | Promise<void>;
}

export interface TurnBegin {
  turnId: string;
  sessionId: string;
  /** Seq of the first appended message; the reply follows the appended ones. */
  firstSeq: number;
  replySeq: number;
  compaction: Record<string, unknown> | null;
}

/** Per-call options of callers other than the session routes (the Responses API). */
export interface TurnOptions {
  /** Tools for this call only, sent instead of the session's pinned ones; never stored. */
  tools?: ToolDefinition[] | null;
  /** A system message sent first in this call only (Responses `instructions`); never stored. */
  instructions?: string | null;
  /** false: no rolling policy for this turn; a window that does not fit is refused with 400. */
  roll?: boolean;
  /** trigger_tokens for this turn instead of the session's (Responses `context_management`). */
  triggerTokens?: number;
  /** The turn runs only if the session's last seq is this one (else SessionMovedError, nothing written). */
  expectLastSeq?: number;
  /** The coordinator's own turn on a session of its task (others are refused while the task runs). */
  task?: boolean;
  /**
   * The turn lock stays held after the commit and comes back as `held` (the caller goes on, e.g. to a
   * compaction, without another lock round trip, and must pass it on or release it).
   */
  holdLock?: boolean;
}

/** A turn lock still held after a committed turn, with the session row as that commit left it. */
export interface HeldTurnLock {
  lockId: string;
  session: SessionEntity;
  /** Whether any budget covered the session when the lock was taken (CallContext.budgeted). */
  budgeted: boolean;
}

/** The session's window after a committed turn (null for a replay). */
export type TurnState = Pick<SessionEntity, 'id' | 'lastSeq' | 'window' | 'windowTokens' | 'fragmentRefs'>;

/** Another turn holds the session's turn lock. */
export class SessionBusyError extends ApiError {}

/** The session moved past the expected last seq (TurnOptions.expectLastSeq). */
export class SessionMovedError extends ApiError {}

interface NewMessage extends ParsedMessage {
  tokens: number;
}

/**
 * One append: validate, lock the session's turn, call the upstream (streamed or not), then write the
 * appended messages, the reply, the turn and the session totals in ONE transaction. Anything that
 * fails before that commit leaves the session exactly as it was.
 */
@Injectable()
export class TurnService {
  private readonly logger = new Logger(TurnService.name);

  constructor(
    private readonly sessions: SessionsService,
    private readonly repo: SessionsRepository,
    private readonly estimator: TokenEstimator,
    private readonly models: ModelRegistry,
    private readonly llm: LlmGateway,
    private readonly titles: SessionTitleJob,
    private readonly compactor: Compactor,
    private readonly fragments: FragmentsService,
    private readonly pool: PoolService,
    private readonly windows: WindowCache,
    private readonly compactionMetrics: CompactionMetrics,
    private readonly shutdown: Shutdown,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** `opts.task`: the coordinator's own turn on a session of its task (others are refused while the task runs). */
  async append(account: ResolvedAccount, sessionId: string, dto: AppendMessagesDto, idempotencyKey: string | null, sink: TurnStreamSink | null, opts: TurnOptions = {}): Promise<TurnResponse> {
    return (await this.appendTurn(account, sessionId, dto, idempotencyKey, sink, opts)).response;
  }

  /** append, also returning the session's window after the commit (null for a replay). */
  async appendTurn(account: ResolvedAccount, sessionId: string, dto: AppendMessagesDto, idempotencyKey: string | null, sink: TurnStreamSink | null, opts: TurnOptions = {}): Promise<{ response: TurnResponse; state: TurnState | null; held?: HeldTurnLock }> {
    // A character bound first (cheap), then the token count (linear, but not free).
    assertAppendChars(dto.messages.reduce((n, m) => n + messageChars(m), 0) + (opts.instructions?.length ?? 0));
    const requestHash = hashRequest(dto, opts);
    const incoming = this.normalize(dto.messages);
    assertAppendSize(incoming.reduce((n, m) => n + m.tokens, 0));

    // One round trip: turn lock + idle lease renewal + the session row + whether the Idempotency-Key was used.
    const lockId = uuidv7();
    const locked = isUuid(sessionId) ? await this.repo.lockForTurn(account.id, sessionId, lockId, this.config.turnLockMs, this.config.poolIdleTtlMs, idempotencyKey) : null;
    if (!locked) {
      const fresh = await this.sessions.mustFind(account, sessionId);
      if (idempotencyKey !== null) {
        const replay = await this.replay(fresh.id, idempotencyKey, requestHash);
        if (replay) return { response: replay, state: null };
      }
      if (fresh.status === 'closed') throw new ApiError('conflict', `Session '${fresh.id}' is closed.`, 'session_id', FINAL);
      throw new SessionBusyError('conflict', `Session '${fresh.id}' is busy with another turn; retry when it has finished.`, 'session_id');
    }
    const session = locked.session;
    let committed = false;
    const lease = this.repo.holdTurnLock(session.id, lockId, this.config.turnLockMs);
    try {
      let s = session;
      // The lock statement said whether the key was used: a new key costs no extra round trip.
      if (idempotencyKey !== null && locked.keyUsed) {
        const replay = await this.replay(s.id, idempotencyKey, requestHash);
        if (replay) return { response: replay, state: null };
      }
      if (opts.expectLastSeq !== undefined && s.lastSeq !== opts.expectLastSeq) {
        throw new SessionMovedError('conflict', `Session '${s.id}' moved on past seq ${opts.expectLastSeq}.`, 'session_id');
      }
      // A task's master and children are the task's while it runs: read-only to everyone else.
      if (s.taskId && !opts.task && (await this.repo.taskIsLive(s.taskId))) {
        throw new ApiError('conflict', `Session '${s.id}' belongs to task '${s.taskId}', which is still running; it is read-only until the task ends.`, 'session_id');
      }
      // A parked session (its slot was released while idle) takes a slot again, or the turn is refused with 429.
      if (!locked.hasLease) await this.pool.acquire({ accountId: account.id, limit: account.sessionLimit }, s.id, { kind: 'idle', waitMs: 0 });
      let { outlines, recent } = await this.windows.get(s, () => this.repo.windowMessages(s, s.window));
      this.checkToolResults(recent, incoming);
      const turnId = uuidv7();
      const generate = dto.generate ?? true;
      const model = this.models.get(s.model);
      // Local counts are estimates (the upstream's tokenizer differs per message, even after calibration): keep a margin.
      const usable = usableContext(this.config, model.contextWindow);
      // Instructions and per-call tools are sent with this call only: counted for the fit, never stored.
      const callExtraTokens =
        (opts.instructions ? this.estimator.countMessage({ content: opts.instructions }) : 0) +
        (opts.tools !== undefined ? this.estimator.countTools((opts.tools ?? undefined)) - s.toolsTokens : 0);
      const incomingTokens = incoming.reduce((n, m) => n + m.tokens, 0) + callExtraTokens;

      let compaction: Record<string, unknown> | null = null;
      if (generate) {
        // A turn refused for its own input is refused before any housekeeping is done (or paid for).
        const minimumWindow = applyCalibration(pinnedTokensOf(s) + incomingTokens, s.tokenCalibration);
        if (dto.max_tokens !== undefined && minimumWindow + dto.max_tokens > usable) {
          throw new ApiError(
            'invalid_request',
            `max_tokens (${dto.max_tokens}) cannot fit: the pinned prefix and the new messages alone take ${minimumWindow} of the ${usable} tokens usable in the model's ${model.contextWindow}-token context.`,
            'max_tokens',
          );
        }
        compaction = opts.roll === false ? null : await this.roll(account, s, lockId, { outlines, recent }, incomingTokens, dto.max_tokens ?? this.config.defaultMaxTokens, usable, opts.triggerTokens, locked.budgeted);
        if (compaction) {
          s = await this.sessions.mustFind(account, sessionId);
          ({ outlines, recent } = await this.windows.get(s, () => this.repo.windowMessages(s, s.window)));
        }
      }
      const windowEstimate = s.windowTokens + incomingTokens;

      let reply: PricedReply | null = null;
      if (generate) {
        const headroom = usable - applyCalibration(windowEstimate, s.tokenCalibration);
        const maxTokens = dto.max_tokens ?? Math.min(this.config.defaultMaxTokens, headroom);
        if (maxTokens < 1 || applyCalibration(windowEstimate, s.tokenCalibration) + maxTokens > usable) {
          throw new ApiError(
            'invalid_request',
            `The window (${windowEstimate} tokens) plus max_tokens (${maxTokens}) would exceed the ${usable} tokens usable in the model's ${model.contextWindow}-token context. Truncate or compress the session first.`,
            'max_tokens',
          );
        }
        const messages: ChatMessage[] = [
          ...(opts.instructions ? [{ role: 'system' as const, content: opts.instructions }] : []),
          ...assembleWindow(await this.pinned(s), outlines, recent),
          ...incoming.map(toWireMessage),
        ];
        const req = {
          model: s.model,
          messages,
          tools: opts.tools !== undefined ? opts.tools : s.tools,
          tool_choice: dto.tool_choice,
          max_tokens: maxTokens,
          temperature: dto.temperature,
          top_p: dto.top_p,
          response_format: dto.response_format,
        };
        // A stream is bounded in total (STREAM_MAX_MS); a plain call has the upstream deadline.
        // A stream is bounded by STREAM_MAX_MS; any turn is aborted (writing nothing) when a shutdown's grace period ends.
        const ctx = { account, sessionId: s.id, turnId, purpose: 'chat' as const, budgeted: locked.budgeted, promptTokens: applyCalibration(windowEstimate, s.tokenCalibration), signal: sink ? AbortSignal.any([AbortSignal.timeout(this.config.streamMaxMs), this.shutdown.signal]) : this.shutdown.signal };
        // The usage row of a successful call is written inside the turn's transaction (one round trip less).
        await sink?.begin?.({ turnId, sessionId: s.id, firstSeq: s.lastSeq + 1, replySeq: s.lastSeq + incoming.length + 1, compaction });
        reply = sink ? await this.llm.stream(ctx, req, (c) => sink.chunk(c), { deferRecord: true }) : await this.llm.complete(ctx, req, { deferRecord: true });
      }

      // Everything the commit writes, computed from a session row (the one read under the turn lock, or a re-read).
      const build = (base: SessionEntity) => {
        const firstSeq = base.lastSeq + 1;
        const rows: Partial<MessageEntity>[] = incoming.map((msg, i) => ({
          sessionId: s.id,
          seq: firstSeq + i,
          role: msg.role,
          content: msg.content,
          name: msg.name,
          toolCallId: msg.toolCallId,
          toolCalls: msg.toolCalls,
          tokens: msg.tokens,
          kind: 'message' as const,
          turnId,
        }));
        let replyRow: Partial<MessageEntity> | null = null;
        if (reply) {
          replyRow = {
            sessionId: s.id,
            seq: firstSeq + rows.length,
            role: 'assistant',
            content: reply.content,
            name: null,
            toolCallId: null,
            toolCalls: reply.toolCalls,
            tokens: this.estimator.countMessage({ content: reply.content, tool_calls: reply.toolCalls ?? undefined }),
            kind: 'message',
            turnId,
          };
          rows.push(replyRow);
        }
        const lastSeq = firstSeq + rows.length - 1;
        const addedTokens = rows.reduce((n, r) => n + (r.tokens ?? 0), 0);
        const patch: Partial<SessionEntity> = {
          lastSeq,
          window: appendToWindow(base.window, firstSeq),
          windowTokens: base.windowTokens + addedTokens,
          version: base.version + 1,
          // A held lock stays as it is (its holder renews it); otherwise the commit releases it.
          ...(opts.holdLock ? {} : { turnLockId: null, turnLockUntil: null }),
          status: base.status === 'parked' ? 'active' : base.status,
          promptTokens: base.promptTokens,
          cachedTokens: base.cachedTokens,
          cacheWriteTokens: base.cacheWriteTokens,
          completionTokens: base.completionTokens,
          costUsd: base.costUsd,
          tokenCalibration: base.tokenCalibration,
        };
        if (reply) {
          patch.promptTokens = String(Number(base.promptTokens) + reply.usage.promptTokens);
          patch.cachedTokens = String(Number(base.cachedTokens) + reply.usage.cachedTokens);
          patch.cacheWriteTokens = String(Number(base.cacheWriteTokens) + reply.usage.cacheWriteTokens);
          patch.completionTokens = String(Number(base.completionTokens) + reply.usage.completionTokens);
          patch.costUsd = (Number(base.costUsd) + reply.costUsd).toFixed(8);
          if (!reply.usage.estimated) patch.tokenCalibration = calibrate(windowEstimate, reply.usage.promptTokens, base.tokenCalibration);
        }
        const after = { ...base, ...patch };
        const response: TurnResponse = {
          id: turnId,
          object: 'session.turn',
          session_id: s.id,
          seqs: rows.map((r) => r.seq!),
          message: replyRow ? messageView(s.id, replyRow as MessageEntity, after.window) : null,
          usage: reply ? openAiUsage(reply) : null,
          session_usage: sessionUsageView(after),
          compaction,
          idempotent_replay: false,
          completion: reply ? { id: reply.id, created: reply.created, model: reply.model, finish_reason: reply.finishReason } : undefined,
        };
        const turn = { id: turnId, sessionId: s.id, idempotencyKey, requestHash, firstSeq, lastSeq, response: response as unknown as Record<string, unknown> };
        return { rows, patch, response, turn, after };
      };

      let result: TurnResponse | null = null;
      let state: TurnState | null = null;
      try {
        // Fast path, one statement: valid while nothing but this turn touched the row since it was read.
        const fast = build(s);
        // A turn with a reply was paid for: a database outage at this moment is waited out (TURN_COMMIT_RETRY_MS), not passed on.
        const outcome = await commitThroughOutage(
          () => this.repo.commitTurn(s.id, lockId, s.version, fast.rows, fast.patch, fast.turn, reply?.pendingUsage ?? null, opts.holdLock === true),
          () => this.repo.turnExists(turnId),
          outageRetry(reply ? this.config.turnCommitRetryMs : 0, this.logger, `turn ${turnId} of session ${s.id}`),
        );
        if (outcome !== 'moved') {
          if (reply) reply.pendingUsage = undefined;
          // Written by an attempt whose answer was lost: the cached window is not known to match; it is read again.
          if (outcome === 'committed') this.windows.appended(s.id, s.version, s.version + 1, fast.rows.map(toStored));
          else this.windows.drop(s.id);
          result = fast.response;
          state = fast.after;
        } else {
          // Something else moved the row (a coordinator merge into a master): recompute under the row lock.
          result = await this.repo.inTurnTransaction(s.id, lockId, async (m, locked) => {
            const b = build(locked);
            await this.repo.insertMessages(m, b.rows);
            await this.repo.updateSession(m, s.id, b.patch);
            await this.repo.insertTurn(m, b.turn);
            if (reply) await this.llm.recordIn(m, reply);
            this.windows.drop(s.id);
            state = b.after;
            return b.response;
          });
        }
      } catch (err) {
        // The commit rolled back with the usage row in it: the call was still paid for. (Unless a commit whose
        // answer was lost did write it, usage row included: then a second row would count the call twice.)
        if (reply && !(await this.repo.turnExists(turnId).catch(() => false))) await this.llm.recordAfterFailure(reply, { sessionId: s.id, purpose: 'chat' });
        throw err;
      }
      if (!result && reply) await this.llm.recordAfterFailure(reply, { sessionId: s.id, purpose: 'chat' });
      if (!result) throw new ApiError('conflict', `Session '${s.id}' changed during the turn (closed or its turn lock expired); nothing was written.`, 'session_id');
      committed = true;
      // Not awaited: Redis is never on a turn's path (the job runs here if it cannot be enqueued).
      if (s.title === null && s.lastSeq === 0 && incoming.some((m) => m.role === 'user')) void this.titles.enqueue(s.id);
      const after = state as SessionEntity | null;
      return {
        response: result,
        state: after && { id: s.id, lastSeq: after.lastSeq, window: after.window, windowTokens: after.windowTokens, fragmentRefs: after.fragmentRefs },
        held: opts.holdLock && after ? { lockId, session: after, budgeted: locked.budgeted } : undefined,
      };
    } finally {
      lease.stop();
      if (!committed) await this.repo.releaseTurnLock(session.id, lockId).catch(() => undefined);
    }
  }

  /**
   * The rolling policy, before the turn's upstream call: snapshot, compress everything older than the
   * last keep_rounds rounds into one outline, move the window. If compression fails, plain truncation
   * to preserve_len: the user's turn never fails because of housekeeping. Returns what it did, or null.
   */
  private async roll(
    account: ResolvedAccount,
    s: SessionEntity,
    lockId: string,
    w: { outlines: StoredMessage[]; recent: StoredMessage[] },
    incomingTokens: number,
    reserveTokens: number,
    contextWindow: number,
    triggerTokens?: number,
    budgeted?: boolean,
  ): Promise<Record<string, unknown> | null> {
    const policy = policyFromColumn(s.policy);
    if (triggerTokens !== undefined) policy.triggerTokens = triggerTokens;
    // Local estimates are scaled by the session's calibration against the upstream's real counts.
    const factor = s.tokenCalibration > 0 ? s.tokenCalibration : 1;
    const scaled = { ...policy, triggerTokens: Math.floor(policy.triggerTokens / factor) };
    const input = {
      policy: scaled,
      pinnedTokens: pinnedTokensOf(s),
      outlineTokens: sumTokens(w.outlines),
      recent: w.recent,
      incomingTokens,
      reserveTokens,
      contextWindow: Math.floor(contextWindow / factor),
      summarizerPromptTokens: SUMMARIZER_PROMPT_TOKENS,
      // The upstream's prefix cache has expired when the session sat idle past its TTL: compacting now costs no extra rewrite.
      cacheCold: Date.now() - new Date(s.updatedAt).getTime() > CACHE_TTL_MS[this.config.cacheTtl],
      targetShare: this.config.compactTargetShare,
      earlyShare: this.config.compactEarlyShare,
      summarizerSeesWindow: summarizerInContext(this.config.summarizerContext, this.config.summarizerModel ?? s.model, s.model),
    };
    const decision = decideCompaction(input);
    if (!decision) return null;
    const before = s.windowTokens;
    if (decision.compressFromSeq !== null && decision.compressToSeq !== null) {
      try {
        const r = await this.compactor.compress(account, s, lockId, w, {
          fromSeq: decision.compressFromSeq,
          toSeq: decision.compressToSeq,
          keepFromSeq: decision.keepFromSeq,
          foldOutlines: decision.foldOutlines,
          ratio: decision.ratio,
          trigger: 'rolling',
          snapshotReason: 'rolling',
          maxOutlineTokens: Math.max(decision.targetOutlineTokens, 1),
          cacheCold: input.cacheCold,
          budgeted,
        });
        return { action: 'compressed', reason: 'rolling', trigger: decision.trigger, capped: decision.capped, folded_outlines: decision.foldOutlines, target_window_tokens: decision.targetWindowTokens, ...eventData(r) };
      } catch (err) {
        // Only the upstream failing or refusing, or a compression that would not shrink, takes the fallback; a bug is a bug.
        if (!(err instanceof UpstreamError || err instanceof ApiError || err instanceof DomainError)) throw err;
        const message = err instanceof Error ? err.message : String(err);
        this.logger.warn({ sessionId: s.id, err: message }, 'compaction failed; falling back to truncation');
        this.compactionMetrics.fellBack(s.accountId);
        const fresh = await this.sessions.mustFind(account, s.id);
        const fw = await this.repo.windowMessages(fresh, fresh.window);
        const plan = decideFallbackTruncation({ ...input, outlineTokens: sumTokens(fw.outlines), recent: fw.recent });
        const data = await this.compactor.truncate(fresh, lockId, fw, plan.keepFromSeq, 'fallback', { error: message, preserve_len: policy.preserveLen }, { accountId: account.id, reason: 'rolling' });
        return { ...data, action: 'truncated', reason: 'compression_failed', window_tokens_before: before };
      }
    }
    const plan = decideFallbackTruncation(input);
    const data = await this.compactor.truncate(s, lockId, w, plan.keepFromSeq, 'fallback', { preserve_len: policy.preserveLen, reason_detail: 'nothing compressible' }, { accountId: account.id, reason: 'rolling' });
    return { ...data, action: 'truncated', reason: 'rolling' };
  }

  private async replay(sessionId: string, key: string, requestHash: string): Promise<TurnResponse | null> {
    const turn = await this.repo.findTurnByKey(sessionId, key);
    if (!turn) return null;
    if (turn.requestHash !== requestHash) {
      throw new ApiError('conflict', 'This Idempotency-Key was already used with a different request body.', 'Idempotency-Key', FINAL);
    }
    return { ...(turn.response as unknown as TurnResponse), idempotent_replay: true };
  }

  private pinned(s: SessionEntity): Promise<PinnedPrefix> {
    return this.fragments.pinnedPrefix(s);
  }

  private normalize(input: InputMessageDto[]): NewMessage[] {
    return input.map((m, i) => {
      const parsed = parseInputMessage(m, i);
      return { ...parsed, tokens: this.estimator.countMessage(toWireMessage(parsed)) };
    });
  }

  /** A tool result must answer a tool call the session (or this append) made. */
  private checkToolResults(recent: StoredMessage[], incoming: NewMessage[]): void {
    const known = new Set<string>();
    for (const m of recent) for (const c of m.toolCalls ?? []) known.add(c.id);
    incoming.forEach((m, i) => {
      for (const c of m.toolCalls ?? []) known.add(c.id);
      if (m.role === 'tool' && !known.has(m.toolCallId!)) {
        throw new ApiError('invalid_request', `tool_call_id '${m.toolCallId}' does not answer any tool call in the session's window.`, `messages[${i}].tool_call_id`);
      }
    });
  }
}


function toStored(r: Partial<MessageEntity>): StoredMessage {
  return { seq: r.seq!, role: r.role!, content: r.content ?? null, name: r.name ?? null, toolCallId: r.toolCallId ?? null, toolCalls: r.toolCalls ?? null, tokens: r.tokens!, kind: 'message' };
}

/** The request's identity for Idempotency-Key; `stream` is left out so a replay may use either mode. */
function hashRequest(dto: AppendMessagesDto, opts: TurnOptions = {}): string {
  const { stream: _stream, ...rest } = dto;
  // How the caller handles the lock and the session's position are not the request: a retry that differs
  // only there (a coordinator's run after a worker died holds no lock) is the same turn.
  const { expectLastSeq: _expect, holdLock: _hold, ...call } = opts;
  return createHash('sha256').update(JSON.stringify(Object.keys(call).length ? { ...rest, call } : rest)).digest('hex');
}
