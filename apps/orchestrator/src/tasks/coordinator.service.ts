import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import {
  addOutline,
  DEFAULT_ROLLING_POLICY,
  initialWindow,
  MAX_APPEND_TOKENS,
  OUTLINE_MESSAGE_HEADER,
  parseOutline,
  renderOutline,
  resolvePolicy,
  splitTask,
  splitTokenChunks,
  withProvenance,
  type TaskUnit,
} from '@so/domain';
import { ModelRegistry, TokenEstimator } from '@so/llm';
import { CompressionEntity, SessionEntity, TaskChildEntity, TaskEntity, TaskOptions } from '@so/persistence';
import { JOB_QUEUE, UnrecoverableJobError, type JobQueue } from '@so/queue';
import { DataSource } from 'typeorm';
import { AccountsService, type ResolvedAccount } from '../accounts/accounts.service';
import { BudgetsService, isBudgetExceeded } from '../budgets/budgets.service';
import { runAsBackgroundWork } from '../admission/upstream-limiter';
import { ApiError } from '../common/api-error';
import { isUuid, uuidv7 } from '../common/ids';
import { toPage } from '../common/pagination';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { PoolService } from '../pool/pool.service';
import { SessionStateService } from '../session-state/session-state.service';
import { SessionsRepository } from '../sessions/sessions.repository';
import { policyColumn } from '../sessions/sessions.service';
import { TurnService } from '../sessions/turn.service';
import type { CreateTaskDto } from './tasks.dto';
import { TasksRepository } from './tasks.repository';

export const CHILD_QUEUE = 'task-children';
export const FINAL_QUEUE = 'task-final';
const CHILD_ATTEMPTS = 3;
const FINISHED: TaskEntity['status'][] = ['succeeded', 'partial', 'failed', 'cancelled'];

const DEFAULT_CHILD_SYSTEM =
  'You are one worker of a larger task. Work only on your part. State facts, identifiers, numbers, file names and decisions (with why) explicitly; they are kept when your work is summarized.';
const DEFAULT_MASTER_SYSTEM =
  'You are the coordinator of a task split among workers. Each worker\'s result reaches you as an outline. Answer from the outlines alone.';
const DEFAULT_TEMPLATE = '{{goal}}\n\n## Part {{index}}: {{title}}\n\n{{content}}';
const DEFAULT_FOLLOWUP = 'Continue: check your answer for anything missed or wrong, and complete it.';

class TaskCancelled extends Error {}

/** The coordinator: splits a task into child sessions on the job queue and merges their outlines into a master. */
@Injectable()
export class CoordinatorService implements OnModuleInit {
  private readonly logger = new Logger(CoordinatorService.name);

  constructor(
    private readonly tasks: TasksRepository,
    private readonly sessions: SessionsRepository,
    private readonly turns: TurnService,
    private readonly state: SessionStateService,
    private readonly pool: PoolService,
    private readonly accounts: AccountsService,
    private readonly estimator: TokenEstimator,
    private readonly models: ModelRegistry,
    private readonly ds: DataSource,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly budgets: BudgetsService,
  ) {}

  onModuleInit(): void {
    if (this.config.role === 'api') return;
    this.queue.process<{ taskId: string; index: number }>(CHILD_QUEUE, 'child', (job) => runAsBackgroundWork(() => this.runChild(job.data.taskId, job.data.index, job.attemptsMade)), { concurrency: this.config.workerConcurrency });
    this.queue.process<{ taskId: string }>(FINAL_QUEUE, 'final', (job) => runAsBackgroundWork(() => this.runFinal(job.data.taskId)), { concurrency: 4 });
  }

  // ---------------------------------------------------------------- API side

  async create(account: ResolvedAccount, dto: CreateTaskDto) {
    const split = dto.split ?? { strategy: 'per_input' as const };
    if (dto.subtasks && dto.split) throw new ApiError('invalid_request', 'split applies to inputs, not subtasks.', 'split');
    const units: TaskUnit[] = splitTask(
      { subtasks: dto.subtasks, inputs: dto.inputs, split: { strategy: split.strategy, chunkTokens: split.chunk_tokens ?? 6000 } },
      (t) => this.estimator.countText(t),
    );
    if (units.length > 10_000) throw new ApiError('invalid_request', `The split makes ${units.length} children; at most 10,000 per task.`, 'split');
    const model = dto.model ?? account.upstream?.model ?? this.config.llmModel;
    const contextWindow = this.models.get(model).contextWindow;
    const options: TaskOptions = {
      child: { system: dto.child?.system ?? null, prompt_template: dto.child?.prompt_template ?? null, max_rounds: dto.child?.max_rounds ?? 1, followup_prompt: dto.child?.followup_prompt ?? null },
      merge: { compress_ratio: dto.merge?.compress_ratio ?? 4, final_prompt: dto.merge?.final_prompt ?? null },
      split: { strategy: dto.subtasks ? 'subtasks' : split.strategy, chunk_tokens: split.strategy === 'token_chunks' ? split.chunk_tokens ?? 6000 : null },
      max_parallel: dto.max_parallel ?? null,
    };
    const budget = this.budgets.limits(dto.budget, 'budget', false);
    const taskId = uuidv7();
    const masterId = uuidv7();
    const systemTokens = this.estimator.countMessage({ content: DEFAULT_MASTER_SYSTEM });
    const policy = resolvePolicy({}, DEFAULT_ROLLING_POLICY, contextWindow, Math.min(this.config.defaultMaxTokens, Math.floor(contextWindow / 4)));
    await this.tasks.transaction(async (m) => {
      // The master waits parked (no slot) until the final answer, so children get the whole pool.
      await m.getRepository(SessionEntity).insert({
        id: masterId, accountId: account.id, parentId: null, rootId: masterId, taskId, role: 'master', status: 'parked',
        title: `task: ${dto.goal.slice(0, 80)}`, metadata: {}, model, system: DEFAULT_MASTER_SYSTEM, systemTokens, tools: null, toolsTokens: 0,
        fragmentRefs: [], historyBases: [], policy: policyColumn(policy), window: initialWindow(), windowTokens: systemTokens, lastSeq: 0, version: 0, tokenCalibration: 1,
      } as never);
      await this.tasks.insertTask(
        m,
        { id: taskId, accountId: account.id, masterSessionId: masterId, status: 'queued', goal: dto.goal, model, options, total: units.length, result: null, error: null, finishedAt: null },
        units.map((u) => ({ taskId, index: u.index, title: u.title, content: u.content, tokens: unitTokens(u, this.estimator), status: 'queued' as const, sessionId: null, attempts: 0, error: null })),
      );
      // The task's budget covers every call of its sessions (children, compressions, final answer).
      if (budget) await this.budgets.set(account.id, 'task', taskId, budget, m);
    });
    // Deterministic job ids (task, index): enqueueing twice is a no-op.
    for (let i = 0; i < units.length; i += 50) {
      await Promise.all(
        units.slice(i, i + 50).map((u) => this.queue.add(CHILD_QUEUE, 'child', { taskId, index: u.index }, { jobId: `${taskId}:${u.index}`, attempts: CHILD_ATTEMPTS, backoffMs: 1000 })),
      );
    }
    return this.view((await this.tasks.findTask(account.id, taskId))!);
  }

  async get(account: ResolvedAccount, id: string) {
    return this.view(await this.mustFind(account, id));
  }

  async list(account: ResolvedAccount, limit: number, after?: string) {
    const rows = await this.tasks.listTasks(account.id, limit, after && isUuid(after) ? after : undefined);
    const page = toPage(rows, limit, (r) => r.id);
    return { ...page, data: await Promise.all(page.data.map((t) => this.view(t))) };
  }

  async cancel(account: ResolvedAccount, id: string) {
    const t = await this.mustFind(account, id);
    if (FINISHED.includes(t.status)) throw new ApiError('conflict', `Task '${t.id}' already ended (${t.status}).`, 'id');
    await this.tasks.setTaskStatus(t.id, 'cancelled', ['queued', 'running', 'merging'], { finishedAt: new Date() });
    const queued = await this.tasks.childrenWithStatus(t.id, ['queued']);
    await this.queue.removeJobs?.(CHILD_QUEUE, queued.map((c) => `${t.id}:${c.index}`));
    await this.ds.query(`UPDATE task_children SET status = 'cancelled', finished_at = now() WHERE task_id = $1 AND status IN ('queued', 'running')`, [t.id]);
    // Running children: close their sessions and free their slots now; their jobs stop at the next step.
    await this.ds.query(`UPDATE sessions SET status = 'closed', closed_at = now() WHERE task_id = $1 AND role = 'child' AND status <> 'closed'`, [t.id]);
    await this.ds.query('DELETE FROM session_leases WHERE task_id = $1', [t.id]);
    return this.view((await this.tasks.findTask(account.id, t.id))!);
  }

  async mustFind(account: ResolvedAccount, id: string): Promise<TaskEntity> {
    const t = isUuid(id) ? await this.tasks.findTask(account.id, id) : null;
    if (!t) throw ApiError.notFound('task', id);
    return t;
  }

  async view(t: TaskEntity) {
    const counts = await this.tasks.counts(t.id);
    const failures = counts.failed ? (await this.tasks.childrenWithStatus(t.id, ['failed'])).map((c) => ({ index: c.index, title: c.title, error: c.error, attempts: c.attempts, session_id: c.sessionId })) : [];
    return {
      id: t.id,
      object: 'task' as const,
      status: t.status,
      goal: t.goal,
      model: t.model,
      master_session_id: t.masterSessionId,
      progress: { total: t.total, queued: counts.queued, running: counts.running, succeeded: counts.succeeded, failed: counts.failed, cancelled: counts.cancelled },
      result: t.result,
      error: t.error,
      failures,
      max_parallel: t.options.max_parallel,
      ...(await this.budgets.taskUsage(t.id)),
      created_at: Math.floor(t.createdAt.getTime() / 1000),
      finished_at: t.finishedAt ? Math.floor(t.finishedAt.getTime() / 1000) : null,
    };
  }

  // ---------------------------------------------------------------- worker side

  /**
   * One child: slot -> child session -> rounds (idempotent, so a retry never re-infers a finished round)
   * -> outline -> merge into the master exactly once -> close and free the slot.
   */
  async runChild(taskId: string, index: number, attemptsMade: number): Promise<{ merged: boolean }> {
    const task = await this.tasks.findTaskById(taskId);
    const child = await this.tasks.findChild(taskId, index);
    if (!task || !child || FINISHED.includes(task.status) || ['succeeded', 'failed', 'cancelled'].includes(child.status)) return { merged: false };
    const account = await this.accounts.resolveById(task.accountId);
    const sessionId = child.sessionId ?? (await this.tasks.claimChildSession(taskId, index, uuidv7()));
    const cancelled = new AbortController();
    const watch = setInterval(() => {
      this.tasks.findTaskById(taskId).then((t) => t?.status === 'cancelled' && cancelled.abort(), () => undefined);
    }, 1000);
    // Read from the database at each step, not only by the watch: a slot freed by a cancel must not start a queued child.
    const stopIfCancelled = async () => {
      if (cancelled.signal.aborted || (await this.tasks.findTaskById(taskId))?.status === 'cancelled') throw new TaskCancelled();
    };
    try {
      // Waits in line for a slot (counted as waiting in the pool stats) instead of failing; the child stays queued meanwhile.
      await this.pool.acquire({ accountId: account.id, limit: account.sessionLimit }, sessionId, {
        kind: 'worker', waitMs: 24 * 3600_000, taskId, taskLimit: task.options.max_parallel, signal: cancelled.signal,
      });
      await stopIfCancelled();
      await this.tasks.updateChild(taskId, index, { status: 'running', attempts: attemptsMade + 1, startedAt: child.startedAt ?? new Date() }, ['queued', 'running']);
      await this.tasks.setTaskStatus(taskId, 'running', ['queued']);
      // A run of this job on a worker that died may have left the child's turn lock behind (held for TURN_LOCK_MS);
      // this job is the child session's only user, so the lock is stale.
      if (child.sessionId) await this.ds.query('UPDATE sessions SET turn_lock_id = NULL, turn_lock_until = NULL WHERE id = $1 AND turn_lock_id IS NOT NULL', [sessionId]);
      await this.ensureChildSession(task, child, sessionId);
      await stopIfCancelled();
      await this.runRounds(account, task, child, sessionId, stopIfCancelled);
      const outline = await this.childOutline(account, task, sessionId);
      const merged = await this.mergeIntoMaster(task, child, sessionId, outline);
      await this.ds.query(`UPDATE sessions SET status = 'closed', closed_at = now() WHERE id = $1 AND status <> 'closed'`, [sessionId]);
      // Done before the slot goes, so `running` never counts more children than hold slots.
      await this.tasks.updateChild(taskId, index, { status: 'succeeded', finishedAt: new Date(), error: null }, ['running', 'queued']);
      await this.pool.release(sessionId);
      return { merged };
    } catch (err) {
      await this.pool.release(sessionId).catch(() => undefined);
      const isCancel = err instanceof TaskCancelled || (await this.tasks.findTaskById(taskId))?.status === 'cancelled';
      if (isCancel) {
        // A child session created after the cancel closed the others must not stay behind as active.
        await this.ds.query(`UPDATE sessions SET status = 'closed', closed_at = now() WHERE id = $1 AND status <> 'closed'`, [sessionId]);
        await this.tasks.updateChild(taskId, index, { status: 'cancelled', finishedAt: new Date() }, ['running', 'queued']);
        return { merged: false };
      }
      const message = err instanceof Error ? err.message : String(err);
      const outOfBudget = isBudgetExceeded(err);
      const lastAttempt = outOfBudget || attemptsMade + 1 >= CHILD_ATTEMPTS || err instanceof UnrecoverableJobError;
      if (outOfBudget) {
        // The task's budget ran out: no more children start (the task ends partial with what it has).
        await this.ds.query(`UPDATE task_children SET status = 'cancelled', error = $2, finished_at = now() WHERE task_id = $1 AND status = 'queued'`, [taskId, message]);
      }
      if (lastAttempt) {
        await this.tasks.updateChild(taskId, index, { status: 'failed', finishedAt: new Date(), error: message }, ['running', 'queued']);
        await this.ds.query(`UPDATE sessions SET status = 'closed', closed_at = now() WHERE id = $1 AND status <> 'closed'`, [sessionId]);
      } else {
        // Back in line (without a slot) until the queue retries it.
        await this.tasks.updateChild(taskId, index, { status: 'queued', error: message }, ['running']);
      }
      this.logger.warn({ taskId, index, attempt: attemptsMade + 1, err: message }, lastAttempt ? 'child failed for good' : 'child failed; will retry');
      throw outOfBudget ? new UnrecoverableJobError(message) : err;
    } finally {
      clearInterval(watch);
      await this.maybeFinish(taskId).catch((e) => this.logger.warn({ taskId, err: String(e) }, 'finish check failed'));
    }
  }

  private async ensureChildSession(task: TaskEntity, child: TaskChildEntity, sessionId: string): Promise<void> {
    const existing = await this.ds.getRepository(SessionEntity).findOne({ where: { id: sessionId } });
    if (existing) return;
    const master = (await this.ds.getRepository(SessionEntity).findOne({ where: { id: task.masterSessionId } }))!;
    const system = task.options.child.system ?? DEFAULT_CHILD_SYSTEM;
    const systemTokens = this.estimator.countMessage({ content: system });
    await this.sessions.insert({
      id: sessionId, accountId: task.accountId, parentId: master.id, rootId: master.rootId, taskId: task.id, role: 'child', status: 'active',
      title: `${child.index}: ${child.title}`.slice(0, 500), metadata: { task_id: task.id, child_index: String(child.index) }, model: task.model,
      system, systemTokens, tools: null, toolsTokens: 0, fragmentRefs: [], historyBases: [], policy: master.policy, window: initialWindow(),
      windowTokens: systemTokens, lastSeq: 0, version: 0, tokenCalibration: 1,
    });
  }

  private async runRounds(account: ResolvedAccount, task: TaskEntity, child: TaskChildEntity, sessionId: string, stopIfCancelled: () => Promise<void>): Promise<void> {
    const template = task.options.child.prompt_template ?? DEFAULT_TEMPLATE;
    const fill = (content: string) =>
      template.replace(/\{\{goal\}\}/g, task.goal).replace(/\{\{title\}\}/g, child.title).replace(/\{\{index\}\}/g, String(child.index)).replace(/\{\{content\}\}/g, content);
    // Content over one append's limit goes in first as context-only appends.
    const budget = MAX_APPEND_TOKENS - this.estimator.countText(fill('')) - 64;
    let prompt = fill(child.content);
    if (this.estimator.countMessage({ content: prompt }) > MAX_APPEND_TOKENS) {
      const parts = splitTokenChunks(child.content, { chunkTokens: Math.max(256, Math.min(6000, budget)), countTokens: (t) => this.estimator.countText(t) });
      for (const [i, part] of parts.entries()) {
        await stopIfCancelled();
        await this.turns.append(account, sessionId, { messages: [{ role: 'user', content: `[${child.title}, part ${i + 1} of ${parts.length}]\n${part.content}` }], generate: false }, `task:${task.id}:${child.index}:part${i}`, null);
      }
      prompt = fill(`(the content is in the ${parts.length} parts above)`);
    }
    for (let round = 1; round <= task.options.child.max_rounds; round++) {
      await stopIfCancelled();
      const content = round === 1 ? prompt : task.options.child.followup_prompt ?? DEFAULT_FOLLOWUP;
      await this.turns.append(account, sessionId, { messages: [{ role: 'user', content }] }, `task:${task.id}:${child.index}:r${round}`, null);
    }
  }

  /** The child's whole window compressed into one outline (reused if a previous attempt already made it). */
  private async childOutline(account: ResolvedAccount, task: TaskEntity, sessionId: string): Promise<{ text: string; snapshotId: string | null; fromSeq: number; toSeq: number }> {
    const last = await this.ds.getRepository(CompressionEntity).findOne({ where: { sessionId }, order: { createdAt: 'DESC' } });
    const s = (await this.ds.getRepository(SessionEntity).findOne({ where: { id: sessionId } }))!;
    if (!last || last.toSeq < s.lastSeq - 1) {
      const r = await this.state.compress(account, sessionId, { ratio: task.options.merge.compress_ratio, keep_rounds: 0 }, { allowGrowth: true });
      return { text: r.outline, snapshotId: r.snapshot_id, fromSeq: r.compressed_seqs[0], toSeq: r.compressed_seqs[1] };
    }
    const msg = await this.ds.query('SELECT content FROM messages WHERE session_id = $1 AND seq = $2', [sessionId, last.outlineSeq]);
    return { text: msg[0].content, snapshotId: last.snapshotId, fromSeq: last.fromSeq, toSeq: last.toSeq };
  }

  /** Appends the child's outline (with provenance) to the master; the task_merges key makes it exactly once. */
  private async mergeIntoMaster(task: TaskEntity, child: TaskChildEntity, sessionId: string, o: { text: string; snapshotId: string | null; fromSeq: number; toSeq: number }): Promise<boolean> {
    const parsed = parseOutline(o.text);
    const text = parsed
      ? renderOutline(withProvenance(parsed, { sessionId, snapshotId: o.snapshotId, fromSeq: o.fromSeq, toSeq: o.toSeq }))
      : o.text;
    const content = `[part ${child.index}: ${child.title}]\n${text}`;
    const tokens = this.estimator.countMessage({ content: OUTLINE_MESSAGE_HEADER + content });
    const merged = await this.sessions.inTurnTransaction(task.masterSessionId, null, async (m, master) => {
      const seq = master.lastSeq + 1;
      const fresh = await this.tasks.insertMerge(m, { taskId: task.id, childIndex: child.index, masterSessionId: master.id, masterSeq: seq, childSessionId: sessionId, snapshotId: o.snapshotId, fromSeq: o.fromSeq, toSeq: o.toSeq });
      if (!fresh) return false;
      await this.sessions.insertMessages(m, [{ sessionId: master.id, seq, role: 'system', content, tokens, kind: 'outline', turnId: null }]);
      await this.sessions.updateSession(m, master.id, { lastSeq: seq, window: addOutline(master.window, seq), windowTokens: master.windowTokens + tokens, version: master.version + 1 });
      return true;
    });
    return merged === true;
  }

  /** When no child is queued or running, the final answer is enqueued (once: deterministic job id). */
  private async maybeFinish(taskId: string): Promise<void> {
    const c = await this.tasks.counts(taskId);
    if (c.queued > 0 || c.running > 0) return;
    const t = await this.tasks.findTaskById(taskId);
    if (!t || FINISHED.includes(t.status)) return;
    await this.queue.add(FINAL_QUEUE, 'final', { taskId }, { jobId: `final:${taskId}`, attempts: 3, backoffMs: 2000 });
  }

  /** The master answers the goal from the merged outlines alone. */
  async runFinal(taskId: string): Promise<{ status: string }> {
    const t = await this.tasks.findTaskById(taskId);
    if (!t || FINISHED.includes(t.status)) return { status: t?.status ?? 'missing' };
    const c = await this.tasks.counts(taskId);
    if (c.succeeded === 0) {
      await this.tasks.setTaskStatus(taskId, 'failed', ['queued', 'running', 'merging'], { error: `all ${c.failed} children failed`, finishedAt: new Date() });
      return { status: 'failed' };
    }
    await this.tasks.setTaskStatus(taskId, 'merging', ['queued', 'running']);
    const account = await this.accounts.resolveById(t.accountId);
    await this.pool.acquire({ accountId: account.id, limit: account.sessionLimit }, t.masterSessionId, { kind: 'worker', waitMs: 24 * 3600_000 });
    try {
      const prompt = t.options.merge.final_prompt ??
        `Goal: ${t.goal}\n\nThe outlines above come from ${c.succeeded} workers, one per part${c.failed ? ` (${c.failed} part(s) failed and are missing)` : ''}. Using only them, write the final answer to the goal.`;
      let turn: Awaited<ReturnType<TurnService['append']>>;
      try {
        turn = await this.turns.append(account, t.masterSessionId, { messages: [{ role: 'user', content: prompt }] }, `task:${taskId}:final`, null);
      } catch (err) {
        if (!isBudgetExceeded(err)) throw err;
        // No budget left for the final answer: the task ends partial; the merged outlines stay on the master session.
        await this.tasks.setTaskStatus(taskId, 'partial', ['merging'], { error: err.message, finishedAt: new Date() });
        return { status: 'partial' };
      }
      const status = c.failed > 0 || c.cancelled > 0 ? 'partial' : 'succeeded';
      await this.tasks.setTaskStatus(taskId, status, ['merging'], { result: turn.message?.content ?? null, finishedAt: new Date() });
      return { status };
    } finally {
      await this.pool.release(t.masterSessionId);
      await this.ds.query(`UPDATE sessions SET status = 'parked' WHERE id = $1 AND status = 'active'`, [t.masterSessionId]);
    }
  }
}

/** A unit's tokens: token chunks were counted by the split already, so each input is tokenized once. */
function unitTokens(u: TaskUnit, estimator: TokenEstimator): number {
  const counted = (u as TaskUnit & { tokens?: number }).tokens;
  return typeof counted === 'number' ? counted : estimator.countText(u.content);
}
