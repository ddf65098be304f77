import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  assembleWindow,
  copiedWindow,
  DEFAULT_REPLY_RESERVE,
  planTruncation,
  restoreWindow,
  safeCutFlags,
  splitRounds,
  summarizerReplyTokens,
  sumTokens,
  TRANSCRIPT_TOKENS_PER_MESSAGE,
  windowPrefixHash,
} from '@so/domain';
import type { BudgetLimits, StoredMessage } from '@so/domain';
import { ModelRegistry } from '@so/llm';
import type { HistoryBase, SessionEntity, SnapshotEntity } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { FragmentsService } from '../fragments/fragments.service';
import { PoolService } from '../pool/pool.service';
import { ApiError, FINAL } from '../common/api-error';
import { isUuid, uuidv7 } from '../common/ids';
import { listCursor, toPage } from '../common/pagination';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { sessionView } from '../sessions/sessions.presenter';
import { SessionsRepository } from '../sessions/sessions.repository';
import { WindowCache } from '../sessions/window-cache';
import type { HeldTurnLock } from '../sessions/turn.service';
import { policyFromColumn, SessionsService } from '../sessions/sessions.service';
import { Compactor, pinnedTokensOf, SUMMARIZER_PROMPT_TOKENS, summarizerInContext, usableContext } from './compactor';
import type { CompressDto, EventsQuery, ForkDto, ShareDto } from './session-state.dto';
import { LineageRow, SessionStateRepository } from './session-state.repository';
import { BudgetsService } from '../budgets/budgets.service';

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

export function snapshotView(s: SnapshotEntity) {
  return {
    id: s.id,
    object: 'session.snapshot' as const,
    session_id: s.sessionId,
    at_seq: s.atSeq,
    window_tokens: s.windowTokens,
    reason: s.reason,
    label: s.label,
    shared: s.shareTokenHash !== null && s.shareExpiresAt !== null && s.shareExpiresAt.getTime() > Date.now(),
    share_expires_at: s.shareTokenHash !== null && s.shareExpiresAt ? unix(s.shareExpiresAt) : null,
    created_at: unix(s.createdAt),
  };
}


/** Truncate, snapshots (create/list/restore/fork/share), compress, context, events, lineage. */
@Injectable()
export class SessionStateService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly repo: SessionsRepository,
    private readonly state: SessionStateRepository,
    private readonly compactor: Compactor,
    private readonly models: ModelRegistry,
    private readonly fragments: FragmentsService,
    private readonly pool: PoolService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly budgets: BudgetsService,
    private readonly windows: WindowCache,
  ) {}

  /**
   * Runs a window operation under the session's turn lock, so it never interleaves with a turn. The lock
   * statement returns the session row (one round trip); only a refused lock reads the row to say why.
   * `held`: a lock the caller already holds (a turn kept it), taken over instead of taken; either way it
   * is released at the end. `releasedBy: 'op'`: an op that succeeds released it in its own commit.
   */
  private async locked<T>(
    account: ResolvedAccount,
    id: string,
    op: (s: SessionEntity, lockId: string, budgeted: boolean) => Promise<T>,
    opts: { held?: HeldTurnLock; releasedBy?: 'op' } = {},
  ): Promise<T> {
    let got: { session: SessionEntity; lockId: string; budgeted: boolean } | null = opts.held ? { session: opts.held.session, lockId: opts.held.lockId, budgeted: opts.held.budgeted } : null;
    if (!got) {
      const lockId = uuidv7();
      const r = isUuid(id) ? await this.repo.lockForTurn(account.id, id, lockId, this.config.turnLockMs, this.config.poolIdleTtlMs) : null;
      if (!r) {
        const s0 = await this.sessions.mustFind(account, id);
        if (s0.status === 'closed') throw new ApiError('conflict', `Session '${s0.id}' is closed.`, 'session_id', FINAL);
        throw new ApiError('conflict', `Session '${s0.id}' is busy with another operation; retry when it has finished.`, 'session_id');
      }
      got = { session: r.session, lockId, budgeted: r.budgeted };
    }
    const { session: s, lockId } = got;
    const lease = this.repo.holdTurnLock(s.id, lockId, this.config.turnLockMs);
    let released = false;
    try {
      const result = await op(s, lockId, got.budgeted);
      released = opts.releasedBy === 'op';
      return result;
    } finally {
      lease.stop();
      if (!released) await this.repo.releaseTurnLock(s.id, lockId).catch(() => undefined);
    }
  }

  async truncate(account: ResolvedAccount, id: string, preserveLen: number) {
    return this.locked(account, id, async (s, lockId) => {
      const w = await this.repo.windowShape(s, s.window);
      const plan = planTruncation({ recent: w.recent, preserveLen });
      if (plan.droppedSeqs > 0) await this.compactor.truncate(s, lockId, w, plan.keepFromSeq, 'manual', { preserve_len: preserveLen });
      return this.contextOf(await this.sessions.mustFind(account, id));
    });
  }

  /** Moves the session's pinned fragments to their current versions (the prefix changes once: one cache miss). */
  async upgradeFragments(account: ResolvedAccount, id: string) {
    return this.locked(account, id, async (s, lockId) => {
      const refs = await this.fragments.resolveCurrent(account, (s.fragmentRefs ?? []).map((f) => f.id)).catch((err) => {
        throw err instanceof ApiError && err.code === 'not_found' ? new ApiError('conflict', 'A pinned fragment was deleted; it cannot be upgraded.', 'fragment_ids') : err;
      });
      const before = (s.fragmentRefs ?? []).reduce((n, f) => n + f.tokens, 0);
      const after = refs.reduce((n, f) => n + f.tokens, 0);
      const changed = refs.filter((r, i) => r.version !== s.fragmentRefs[i]?.version).map((r) => ({ id: r.id, version: r.version }));
      if (changed.length) {
        await this.compactor.snapshot(account.id, s, 'manual', 'before fragment upgrade');
        const ok = await this.repo.inTurnTransaction(s.id, lockId, async (m, cur) => {
          await this.repo.updateSession(m, s.id, { fragmentRefs: refs, windowTokens: cur.windowTokens - before + after, version: cur.version + 1 });
          await this.state.event(m, s.id, 'fragments_upgraded', { upgraded: changed });
          return true;
        });
        // The lock lapsed (this instance stalled past TURN_LOCK_MS): say so instead of claiming the upgrade.
        if (!ok) throw new ApiError('conflict', 'The session changed during the fragment upgrade; nothing was written. Retry.', 'session_id');
      }
      return { ...sessionView(await this.sessions.mustFind(account, id)), upgraded: changed };
    });
  }

  async createSnapshot(account: ResolvedAccount, id: string, label: string | null) {
    return this.locked(account, id, async (s) => {
      const snapId = await this.compactor.snapshot(account.id, s, 'manual', label);
      return snapshotView((await this.state.findSnapshot(account.id, snapId))!);
    });
  }

  async listSnapshots(account: ResolvedAccount, id: string, limit = 20, after?: string) {
    const s = await this.sessions.mustFind(account, id);
    const rows = await this.state.listSnapshots(s.id, limit, listCursor(after, 'snapshot'));
    const page = toPage(rows, limit, (r) => r.id);
    return { ...page, data: page.data.map(snapshotView) };
  }

  /** Rolls the window back to a snapshot; later messages stay in history, out of the window. O(1). */
  async restore(account: ResolvedAccount, id: string, snapshotId: string) {
    return this.locked(account, id, async (s, lockId) => {
      const snap = isUuid(snapshotId) ? await this.state.findSnapshot(account.id, snapshotId) : null;
      if (!snap || snap.sessionId !== s.id) throw new ApiError('not_found', `No snapshot '${snapshotId}' for this session.`, 'snapshot_id');
      const preRestoreId = await this.compactor.snapshot(account.id, s, 'pre-restore', null);
      const ok = await this.repo.inTurnTransaction(s.id, lockId, async (m, cur) => {
        await this.repo.updateSession(m, s.id, { window: restoreWindow(snap.window, snap.atSeq), windowTokens: snap.windowTokens, fragmentRefs: snap.fragmentRefs ?? cur.fragmentRefs, version: cur.version + 1 });
        await this.state.event(m, s.id, 'restore', { snapshot_id: snap.id, at_seq: snap.atSeq, pre_restore_snapshot_id: preRestoreId, window_tokens: snap.windowTokens });
        return true;
      });
      if (!ok) throw new ApiError('conflict', 'The session changed during the restore; nothing was written.', 'session_id');
      return { ...sessionView(await this.sessions.mustFind(account, id)), restored_snapshot_id: snap.id, pre_restore_snapshot_id: preRestoreId };
    });
  }

  /** A new session whose window equals the snapshot; it shares the source's history instead of copying it. */
  async fork(account: ResolvedAccount, snapshotId: string, dto: ForkDto) {
    let snap: SnapshotEntity | null = null;
    if (isUuid(snapshotId)) {
      snap = dto.share_token
        ? await this.state.findSnapshotByShareHash(snapshotId, hashToken(dto.share_token))
        : await this.state.findSnapshot(account.id, snapshotId);
    }
    if (!snap) throw ApiError.notFound('snapshot', snapshotId);
    const source = (await this.repo.findForAccount(snap.accountId, snap.sessionId))!;
    const id = uuidv7();
    // A fork is a live session: it takes a slot of the forking account.
    await this.pool.acquire({ accountId: account.id, limit: account.sessionLimit }, id, { kind: 'idle', waitMs: dto.wait_ms ?? 0 });
    const sameAccount = source.accountId === account.id;
    const restored = restoreWindow(snap.window, snap.atSeq);
    // Within an account a fork shares the source's history (O(1)). Through a share token it gets a copy of
    // the snapshot's window and nothing else: not what the owner cut out of it, not what follows, and
    // nothing that depends on the owner's session staying open.
    let bases: HistoryBase[] = [];
    let window = restored;
    let lastSeq = snap.atSeq;
    let copied: StoredMessage[] = [];
    if (sameAccount) {
      bases = [...(source.historyBases ?? []).filter((b) => b.fromSeq <= snap.atSeq).map((b) => ({ ...b, toSeq: Math.min(b.toSeq, snap.atSeq) }))];
      const ownFrom = bases.length ? bases[bases.length - 1].toSeq + 1 : 1;
      if (ownFrom <= snap.atSeq) bases.push({ sessionId: source.id, fromSeq: ownFrom, toSeq: snap.atSeq });
    } else {
      const { outlines, recent } = await this.repo.windowMessages(source, restored);
      const copy = copiedWindow(outlines, recent);
      copied = copy.messages;
      window = copy.spec;
      lastSeq = copy.lastSeq;
    }
    try {
      await this.repo.transaction(async (m) => {
      await this.repo.insert({
        id,
        accountId: account.id,
        parentId: sameAccount ? source.id : null,
        rootId: sameAccount ? source.rootId : id,
        taskId: null,
        role: 'standalone',
        status: 'active',
        title: dto.title ?? (source.title ? `${source.title} (fork)` : null),
        metadata: sameAccount ? source.metadata : {},
        model: source.model,
        system: source.system,
        systemTokens: source.systemTokens,
        tools: source.tools,
        toolsTokens: source.toolsTokens,
        fragmentRefs: snap.fragmentRefs ?? source.fragmentRefs,
        historyBases: bases,
        policy: source.policy,
        window,
        windowTokens: snap.windowTokens,
        lastSeq,
        version: 0,
        tokenCalibration: source.tokenCalibration,
      }, m);
      // A fork keeps its source's policy, budget included: the same limits, its own spend.
      if (source.policy.budget) await this.budgets.set(account.id, 'session', id, source.policy.budget as BudgetLimits, m);
      if (copied.length) {
        await this.repo.insertMessages(m, copied.map((c) => ({ sessionId: id, seq: c.seq, role: c.role, content: c.content, name: c.name ?? null, toolCallId: c.toolCallId ?? null, toolCalls: c.toolCalls ?? null, tokens: c.tokens, kind: c.kind, turnId: null })));
      }
      });
    } catch (err) {
      await this.pool.release(id).catch(() => undefined);
      throw err;
    }
    await this.state.event(null, id, 'fork', { from_session_id: sameAccount ? source.id : null, snapshot_id: snap.id, at_seq: snap.atSeq, shared: !sameAccount });
    if (sameAccount) await this.state.event(null, source.id, 'fork', { child_session_id: id, snapshot_id: snap.id, at_seq: snap.atSeq });
    return sessionView((await this.repo.findForAccount(account.id, id))!);
  }

  /** A token another account forks this snapshot with, for `expires_in` seconds; it replaces any earlier token. */
  async share(account: ResolvedAccount, snapshotId: string, dto: ShareDto = {}) {
    const snap = isUuid(snapshotId) ? await this.state.findSnapshot(account.id, snapshotId) : null;
    if (!snap) throw ApiError.notFound('snapshot', snapshotId);
    const token = `shr-${randomBytes(24).toString('base64url')}`;
    const expiresAt = await this.state.setShareHash(snap.id, hashToken(token), dto.expires_in ?? this.config.shareTtlS);
    return { share_token: token, snapshot_id: snap.id, expires_at: unix(expiresAt) };
  }

  /** The snapshot's token stops working at once; forks already made keep their copy. */
  async revokeShare(account: ResolvedAccount, snapshotId: string) {
    const snap = isUuid(snapshotId) ? await this.state.findSnapshot(account.id, snapshotId) : null;
    if (!snap) throw ApiError.notFound('snapshot', snapshotId);
    const wasWorking = snapshotView(snap).shared;
    await this.state.clearShare(snap.id);
    return { snapshot_id: snap.id, shared: false as const, revoked: wasWorking };
  }

  /** `opts.held`: the turn lock the caller's turn kept (TurnOptions.holdLock); the compaction's commit releases it. */
  async compress(account: ResolvedAccount, id: string, dto: CompressDto, opts: { allowGrowth?: boolean; held?: HeldTurnLock } = {}) {
    return this.locked(account, id, async (s, lockId, budgeted) => {
      const policy = policyFromColumn(s.policy);
      const ratio = dto.ratio ?? policy.compressRatio;
      const keepRounds = dto.keep_rounds ?? policy.keepRounds;
      // The turn that just ran on this session usually left its window in the cache (keyed by version).
      const w = await this.windows.get(s, () => this.repo.windowMessages(s, s.window));
      // Compress as much as one summarizer call can take (like the rolling policy); the rest stays verbatim.
      const end = capToSummarizerCall(w.recent, compressibleEnd(w.recent, keepRounds), ratio, usableContext(this.config, this.models.get(s.model).contextWindow), s.tokenCalibration,
        summarizerInContext(this.config.summarizerContext, this.config.summarizerModel ?? s.model, s.model) ? pinnedTokensOf(s) + sumTokens(w.outlines) : 0);
      if (end === 0) {
        throw w.recent.length === 0
          ? new ApiError('conflict', 'Nothing to compress: the window holds no verbatim messages.', null)
          : new ApiError('conflict', `Nothing to compress: the window's verbatim part is within the last ${keepRounds} round(s). Pass keep_rounds: 0 to compress all of it.`, 'keep_rounds');
      }
      const r = await this.compactor.compress(account, s, lockId, w, {
        fromSeq: w.recent[0].seq,
        toSeq: w.recent[end - 1].seq,
        keepFromSeq: end < w.recent.length ? w.recent[end].seq : null,
        foldOutlines: false,
        ratio,
        trigger: 'manual',
        snapshotReason: 'pre-compress',
        allowGrowth: opts.allowGrowth,
        budgeted,
        releaseLock: true,
      });
      return {
        outline: r.outline,
        input_tokens: r.inputTokens,
        output_tokens: r.outputTokens,
        achieved_ratio: r.achievedRatio,
        snapshot_id: r.snapshotId,
        outline_seq: r.outlineSeq,
        compressed_seqs: [r.fromSeq, r.toSeq],
        method: r.method,
        window_tokens: r.windowTokensAfter,
        path: r.path.join('+'),
        read_as: r.form,
        summarizer_calls: r.summarizerCalls,
        cost_usd: r.costUsd,
        facts: r.facts,
      };
    }, { held: opts.held, releasedBy: 'op' });
  }

  async context(account: ResolvedAccount, id: string) {
    return this.contextOf(await this.sessions.mustFind(account, id));
  }

  private async contextOf(s: SessionEntity) {
    const w = await this.repo.windowMessages(s, s.window);
    const pinned = await this.fragments.pinnedPrefix(s);
    const model = this.models.get(s.model);
    const p = pinnedTokensOf(s);
    const o = sumTokens(w.outlines);
    const r = sumTokens(w.recent);
    const reserve = Math.min(this.config.defaultMaxTokens, DEFAULT_REPLY_RESERVE);
    return {
      object: 'session.context' as const,
      session_id: s.id,
      model: s.model,
      messages: assembleWindow(pinned, w.outlines, w.recent),
      tools: s.tools,
      tokens: { pinned: p, outlines: o, recent: r, total: p + o + r, headroom: model.contextWindow - (p + o + r) - reserve, reply_reserve: reserve, context_window: model.contextWindow, trigger_tokens: s.policy.trigger_tokens },
      window: { outline_seqs: s.window.outlineSeqs, ranges: s.window.ranges, recent_seqs: w.recent.length ? [w.recent[0].seq, w.recent[w.recent.length - 1].seq] : null },
      prefix_hash: windowPrefixHash(pinned, w.outlines),
    };
  }

  async events(account: ResolvedAccount, id: string, q: EventsQuery) {
    const s = await this.sessions.mustFind(account, id);
    const limit = q.limit ?? 100;
    const rows = await this.state.listEvents(s.id, q.after ?? 0, limit);
    const page = toPage(rows, limit, (e) => String(e.id));
    return { ...page, data: page.data.map((e) => ({ id: Number(e.id), type: e.type, data: e.data, created_at: unix(e.createdAt) })) };
  }

  /** The session's tree: descendants (recursively), each with its snapshots and outlines (with provenance). */
  async lineage(account: ResolvedAccount, id: string) {
    const s = await this.sessions.mustFind(account, id);
    const nodes = await this.state.lineage(account.id, s.id);
    // Children grouped once, so building the tree is linear in its size.
    const byParent = new Map<string | null, LineageRow[]>();
    for (const n of nodes) {
      const list = byParent.get(n.parent_id);
      if (list) list.push(n);
      else byParent.set(n.parent_id, [n]);
    }
    const build = (n: LineageRow): Record<string, unknown> => ({
      id: n.id,
      role: n.role,
      status: n.status,
      title: n.title,
      task_id: n.task_id,
      parent_id: n.parent_id,
      usage: {
        window_tokens: Number(n.window_tokens),
        prompt_tokens: Number(n.prompt_tokens),
        cached_tokens: Number(n.cached_tokens),
        completion_tokens: Number(n.completion_tokens),
        total_tokens: Number(n.prompt_tokens) + Number(n.completion_tokens),
        cost_usd: Math.round(Number(n.cost_usd) * 1e8) / 1e8,
      },
      created_at: Number(n.created_at),
      closed_at: n.closed_at === null ? null : Number(n.closed_at),
      snapshots: n.snapshots ?? [],
      outlines: n.outlines ?? [],
      merged_outlines: n.merged_outlines ?? [],
      children: (byParent.get(n.id) ?? []).map(build),
    });
    return { object: 'session.lineage', root: build(nodes[0]), total_sessions: nodes.length };
  }
}

/** Index in `recent` where the last keepRounds rounds start, at a cut that keeps tool pairs whole. */
export function compressibleEnd(recent: Parameters<typeof splitRounds>[0], keepRounds: number): number {
  if (keepRounds === 0) return recent.length;
  const rounds = splitRounds(recent);
  if (rounds.length <= keepRounds) return 0;
  const flags = safeCutFlags(recent);
  let index = recent.findIndex((m) => m.seq === rounds[rounds.length - keepRounds].fromSeq);
  while (index > 0 && !flags[index]) index--;
  return index;
}

/** The largest safe cut at or below `end` whose summarizer call (prompt, transcript, reply) fits the model's context. */
export function capToSummarizerCall(recent: Parameters<typeof splitRounds>[0], end: number, ratio: number, contextWindow: number, calibration = 1, contextTokens = 0): number {
  const flags = safeCutFlags(recent);
  // contextTokens: what the call reads besides the range (the pinned prefix and outlines, when summarizing in context).
  const limit = Math.floor(contextWindow / (calibration > 0 ? calibration : 1)) - contextTokens;
  let input = 0;
  for (let i = 0; i < end; i++) input += recent[i].tokens + TRANSCRIPT_TOKENS_PER_MESSAGE;
  for (let c = end; c > 0; c--) {
    if ((c === recent.length || flags[c]) && input + SUMMARIZER_PROMPT_TOKENS + summarizerReplyTokens(input, ratio) <= limit) return c;
    input -= recent[c - 1].tokens + TRANSCRIPT_TOKENS_PER_MESSAGE;
  }
  return 0;
}

function hashToken(t: string): string {
  return createHash('sha256').update(t).digest('hex');
}
