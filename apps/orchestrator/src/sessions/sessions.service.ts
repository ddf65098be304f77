import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_ROLLING_POLICY, initialWindow, resolvePolicy, type RollingPolicy } from '@so/domain';
import { ModelRegistry, TokenEstimator } from '@so/llm';
import type { SessionEntity, SessionPolicyColumn } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { FragmentsService } from '../fragments/fragments.service';
import { PoolService } from '../pool/pool.service';
import { ApiError } from '../common/api-error';
import { isUuid, uuidv7 } from '../common/ids';
import { listCursor, toPage } from '../common/pagination';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import type { CreateSessionDto, ListMessagesQuery, ListSessionsQuery, PolicyDto } from './sessions.dto';
import { messageView, sessionView } from './sessions.presenter';
import { SessionsRepository } from './sessions.repository';
import { ModelAdmission } from '../models/model-admission';
import { TasksRepository } from '../tasks/tasks.repository';
import { BudgetsService } from '../budgets/budgets.service';

export function policyColumn(p: RollingPolicy): SessionPolicyColumn {
  return { auto_compact: p.autoCompact, trigger_tokens: p.triggerTokens, preserve_len: p.preserveLen, keep_rounds: p.keepRounds, compress_ratio: p.compressRatio };
}

export function policyFromColumn(c: SessionPolicyColumn): RollingPolicy {
  return { autoCompact: c.auto_compact, triggerTokens: c.trigger_tokens, preserveLen: c.preserve_len, keepRounds: c.keep_rounds, compressRatio: c.compress_ratio };
}

/** Session lifecycle and reads. Turns (appends) live in TurnService. */
@Injectable()
export class SessionsService {
  constructor(
    private readonly repo: SessionsRepository,
    private readonly estimator: TokenEstimator,
    private readonly models: ModelRegistry,
    private readonly fragments: FragmentsService,
    private readonly pool: PoolService,
    private readonly modelAdmission: ModelAdmission,
    private readonly tasks: TasksRepository,
    private readonly budgets: BudgetsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(account: ResolvedAccount, dto: CreateSessionDto) {
    const model = this.modelAdmission.resolve(account, dto.model);
    const contextWindow = this.models.get(model).contextWindow;
    const policy = resolvePolicy(this.policyInput(dto.policy), DEFAULT_ROLLING_POLICY, contextWindow, Math.min(this.config.defaultMaxTokens, Math.floor(contextWindow / 4)));
    const systemTokens = dto.system ? this.estimator.countMessage({ content: dto.system }) : 0;
    const toolsTokens = this.estimator.countTools(dto.tools);
    const fragmentRefs = await this.fragments.resolveCurrent(account, dto.fragment_ids ?? []);
    const pinnedTokens = systemTokens + toolsTokens + fragmentRefs.reduce((n, f) => n + f.tokens, 0);
    if (pinnedTokens > policy.triggerTokens / 2) {
      throw new ApiError('invalid_request', `The system prompt, fragments and tools take ${pinnedTokens} tokens; pinned content must stay under half of trigger_tokens (${policy.triggerTokens}).`, 'system');
    }
    const budget = this.budgets.limits(dto.policy?.budget, 'policy.budget', false);
    const id = uuidv7();
    // The slot first: a session that could not be live is never created.
    await this.pool.acquire({ accountId: account.id, limit: account.sessionLimit }, id, { kind: 'idle', waitMs: dto.wait_ms ?? 0 });
    const row: Partial<SessionEntity> = {
      id,
      accountId: account.id,
      parentId: null,
      rootId: id,
      taskId: null,
      role: 'standalone',
      status: 'active',
      title: dto.title ?? null,
      metadata: dto.metadata ?? {},
      model,
      system: dto.system ?? null,
      systemTokens,
      tools: (dto.tools) ?? null,
      toolsTokens,
      fragmentRefs,
      historyBases: [],
      policy: budget ? { ...policyColumn(policy), budget } : policyColumn(policy),
      window: initialWindow(),
      windowTokens: pinnedTokens,
      lastSeq: 0,
      version: 0,
      tokenCalibration: 1,
    };
    try {
      if (budget) await this.budgets.set(account.id, 'session', id, budget);
      await this.repo.insert(row);
    } catch (err) {
      await this.pool.release(id).catch(() => undefined);
      throw err;
    }
    return sessionView((await this.repo.findForAccount(account.id, id))!);
  }

  async get(account: ResolvedAccount, id: string) {
    return sessionView(await this.mustFind(account, id));
  }

  async list(account: ResolvedAccount, q: ListSessionsQuery) {
    const limit = q.limit ?? 20;
    if (q.parent_id !== undefined && !isUuid(q.parent_id)) return toPage([], limit, () => '');
    const rows = await this.repo.list(account.id, { status: q.status, parentId: q.parent_id, after: listCursor(q.after, 'session'), limit });
    const page = toPage(rows, limit, (r) => r.id);
    return { ...page, data: page.data.map(sessionView) };
  }

  async close(account: ResolvedAccount, id: string) {
    const s = await this.mustFind(account, id);
    // Closing a running task's master cancels the task (in one transaction), instead of stranding it.
    if (s.role === 'master' && s.taskId && s.status !== 'closed') await this.tasks.cancelTask(s.taskId);
    const closed = (await this.repo.close(account.id, id))!;
    await this.pool.release(id);
    return sessionView(closed);
  }

  async messages(account: ResolvedAccount, id: string, q: ListMessagesQuery) {
    const s = await this.mustFind(account, id);
    const limit = q.limit ?? 20;
    const rows = await this.repo.listMessages(s, q.after_seq ?? 0, limit);
    const has_more = rows.length > limit;
    const data = (has_more ? rows.slice(0, limit) : rows).map((m) => messageView(s.id, m, s.window));
    return { object: 'list' as const, data, has_more, last_id: data.length ? data[data.length - 1].id : null, last_seq: data.length ? data[data.length - 1].seq : null };
  }

  async mustFind(account: ResolvedAccount, id: string): Promise<SessionEntity> {
    const s = isUuid(id) ? await this.repo.findForAccount(account.id, id) : null;
    if (!s) throw ApiError.notFound('session', id);
    return s;
  }

  private policyInput(p: PolicyDto | undefined): Partial<RollingPolicy> {
    if (!p) return {};
    const out: Partial<RollingPolicy> = {};
    if (p.auto_compact !== undefined) out.autoCompact = p.auto_compact;
    if (p.trigger_tokens !== undefined) out.triggerTokens = p.trigger_tokens;
    if (p.preserve_len !== undefined) out.preserveLen = p.preserve_len;
    if (p.keep_rounds !== undefined) out.keepRounds = p.keep_rounds;
    if (p.compress_ratio !== undefined) out.compressRatio = p.compress_ratio;
    return out;
  }
}
