import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import {
  DEFAULT_ROLLING_POLICY,
  foldHeader,
  foldOutlinesInWindow,
  planOutlineFold,
  readFoldHeader,
  type OutlineProvenance,
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
import { SessionEntity, TaskChildEntity, TaskEntity, TaskOptions } from '@so/persistence';
import { JOB_QUEUE, UnrecoverableJobError, type JobQueue } from '@so/queue';
import { BudgetsService, isBudgetExceeded } from '../budgets/budgets.service';
import { AccountsService, type ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { isUuid, uuidv7 } from '../common/ids';
import { toPage } from '../common/pagination';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { PoolService } from '../pool/pool.service';
import { Compactor, usableContext } from '../session-state/compactor';
import { SessionStateService } from '../session-state/session-state.service';
import { SessionsRepository } from '../sessions/sessions.repository';
import { policyColumn } from '../sessions/sessions.service';
import { TurnService, type HeldTurnLock } from '../sessions/turn.service';
import type { CreateTaskDto } from './tasks.dto';
import { TASK_CANCEL_CHANNEL, TasksRepository, type ChildSessionRow } from './tasks.repository';
import { PgNotifications } from '../common/pg-notifications';
import { listCursor } from '../common/pagination';
import { ModelAdmission } from '../models/model-admission';

export const CHILD_QUEUE = 'task-children';
export const FINAL_QUEUE = 'task-final';
export const CHILD_JOB = 'child';
export const FINAL_JOB = 'final';
const CHILD_ATTEMPTS = 3;
const FINAL_ATTEMPTS = 3;
const SWEEP_BATCH = 5000;
const BOUNCE_RETRY_MS = 2000;
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
export class CoordinatorService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(CoordinatorService.name);
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private readonly dispatching = new Map<string, { again: boolean; done: Promise<void> }>();
  /** Live child runs of this instance, stopped at their next step when it shuts down. */
  private readonly runs = new Map<AbortController, string>();
  private stopping = false;
  /** The fold loop of each task running in this instance (one at a time per master). */
  private readonly folding = new Map<string, Promise<void>>();

  constructor(
    private readonly tasks: TasksRepository,
    private readonly sessions: SessionsRepository,
    private readonly turns: TurnService,
    private readonly state: SessionStateService,
    private readonly compactor: Compactor,
    private readonly pool: PoolService,
    private readonly accounts: AccountsService,
    private readonly estimator: TokenEstimator,
    private readonly models: ModelRegistry,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    notifications: PgNotifications,
    private readonly modelAdmission: ModelAdmission,
    private readonly budgets: BudgetsService,
  ) {
    // A cancel (any instance) stops this instance's runs of the task at their next step; the heartbeat sees it too, later.
    notifications.on(TASK_CANCEL_CHANNEL, (taskId) => {
      for (const [run, id] of this.runs) if (id === taskId) run.abort('cancel');
    });
  }

  /** Workers rebuild the queue from Postgres at start and then periodically (TASK_SWEEP_MS). */
  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.taskSweepMs);
    this.sweepTimer.unref();
  }

  /**
   * Shutting down: child runs stop at their next step (a turn under way commits first) and give their
   * child back, unclaimed, to whichever worker sweeps next: nothing waits for a slot during shutdown.
   */
  onModuleDestroy(): void {
    this.stopping = true;
    clearInterval(this.sweepTimer);
    for (const run of this.runs.keys()) run.abort('shutdown');
  }

  /**
   * Enqueues every job Postgres says is due (deterministic job ids: a job still queued, running or done
   * is not added twice). This is what makes a lost job (Redis without its data, a restart of the
   * in-process queue, an enqueue refused while Redis was down or the queue closing) run after all.
   */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        for (const account of await this.tasks.accountsWithLiveTasks()) await this.dispatch(account);
        for (const id of await this.tasks.dueFinals(SWEEP_BATCH)) await this.enqueueFinal(id);
      } catch (err) {
        this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'task sweep failed; the next one retries');
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  /**
   * Enqueues the account's children that can take a slot now (see dueChildrenOfAccount). Called when a
   * task is created, when a child of the account gives its slot back, and by the sweep; calls for one
   * account while one runs are folded into one more pass.
   */
  dispatch(account: { id: string; sessionLimit: number }): Promise<void> {
    const running = this.dispatching.get(account.id);
    if (running) {
      running.again = true;
      return running.done;
    }
    const state = { again: false, done: Promise.resolve() };
    state.done = (async () => {
      try {
        do {
          state.again = false;
          const due = await this.tasks.dueChildrenOfAccount(account.id, account.sessionLimit, this.reservedTasksCap(account.sessionLimit));
          for (let i = 0; i < due.length; i += 25) await Promise.all(due.slice(i, i + 25).map((c) => this.enqueueChild(c.taskId, c.index, c.runs)));
        } while (state.again);
      } catch (err) {
        this.logger.warn({ accountId: account.id, err: err instanceof Error ? err.message : String(err) }, 'could not enqueue due children now; the sweep will');
      } finally {
        this.dispatching.delete(account.id);
      }
    })();
    this.dispatching.set(account.id, state);
    return state.done;
  }

  /** Run `run` of a child (runs started before it): one job id per run, so a run lost with its worker is enqueued anew. */
  private enqueueChild(taskId: string, index: number, run: number, delayMs = 0) {
    return this.queue.add(CHILD_QUEUE, CHILD_JOB, { taskId, index }, { jobId: `${taskId}:${index}:${run}`, attempts: 1, delayMs });
  }

  private enqueueFinal(taskId: string) {
    return this.queue.add(FINAL_QUEUE, FINAL_JOB, { taskId }, { jobId: `final:${taskId}`, attempts: FINAL_ATTEMPTS, backoffMs: 2000 });
  }

  // ---------------------------------------------------------------- API side

  async create(account: ResolvedAccount, dto: CreateTaskDto, idempotencyKey: string | null = null) {
    const requestHash = idempotencyKey === null ? null : createHash('sha256').update(JSON.stringify(dto)).digest('hex');
    if (idempotencyKey !== null) {
      const replay = await this.replayCreate(account, idempotencyKey, requestHash!);
      if (replay) return replay;
    }
    const split = dto.split ?? { strategy: 'per_input' as const };
    if (dto.subtasks && dto.split) throw new ApiError('invalid_request', 'split applies to inputs, not subtasks.', 'split');
    const units: TaskUnit[] = splitTask(
      { subtasks: dto.subtasks, inputs: dto.inputs, split: { strategy: split.strategy, chunkTokens: split.chunk_tokens ?? 6000 } },
      (t) => this.estimator.countText(t),
    );
    if (units.length > 10_000) throw new ApiError('invalid_request', `The split makes ${units.length} children; at most 10,000 per task.`, 'split');
    const model = this.modelAdmission.resolve(account, dto.model);
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
    const created = await this.tasks.transaction(async (m) => {
      // The master waits parked (no slot) until the final answer, so children get the whole pool.
      await this.sessions.insert({
        id: masterId, accountId: account.id, parentId: null, rootId: masterId, taskId, role: 'master', status: 'parked',
        title: `task: ${dto.goal.slice(0, 80)}`, metadata: {}, model, system: DEFAULT_MASTER_SYSTEM, systemTokens, tools: null, toolsTokens: 0,
        fragmentRefs: [], historyBases: [], policy: policyColumn(policy), window: initialWindow(), windowTokens: systemTokens, lastSeq: 0, version: 0, tokenCalibration: 1,
      }, m);
      await this.tasks.insertTask(
        m,
        { id: taskId, accountId: account.id, masterSessionId: masterId, status: 'queued', goal: dto.goal, model, options, total: units.length, result: null, error: null, finishedAt: null, idempotencyKey, requestHash },
        units.map((u) => ({ taskId, index: u.index, title: u.title, content: u.content, tokens: unitTokens(u, this.estimator), status: 'queued' as const, sessionId: null, attempts: 0, error: null })),
      );
      // The task's budget covers every call of its sessions (children, compressions, final answer).
      if (budget) await this.budgets.set(account.id, 'task', taskId, budget, m);
      return true;
    }).catch((err: unknown) => {
      // Two requests with one Idempotency-Key at once: the unique index lets one in; the other answers with its task.
      if (idempotencyKey !== null && (err as { code?: string }).code === '23505') return false;
      throw err;
    });
    if (!created) return (await this.replayCreate(account, idempotencyKey!, requestHash!))!;
    // The rows committed are the outbox: enqueueing is off the request path, and a sweep enqueues
    // whatever did not make it (Redis down, the process stopping). Deterministic job ids: twice is a no-op.
    void this.dispatch(account);
    return this.view((await this.tasks.findTask(account.id, taskId))!);
  }

  private async replayCreate(account: ResolvedAccount, key: string, requestHash: string) {
    const t = await this.tasks.findByIdempotencyKey(account.id, key);
    if (!t) return null;
    if (t.requestHash !== requestHash) throw new ApiError('conflict', 'This Idempotency-Key was already used with a different request body.', 'Idempotency-Key');
    return this.view(t);
  }

  async get(account: ResolvedAccount, id: string) {
    return this.view(await this.mustFind(account, id));
  }

  async list(account: ResolvedAccount, limit: number, after?: string) {
    const rows = await this.tasks.listTasks(account.id, limit, listCursor(after, 'task'));
    const page = toPage(rows, limit, (r) => r.id);
    return { ...page, data: await Promise.all(page.data.map((t) => this.view(t))) };
  }

  async cancel(account: ResolvedAccount, id: string) {
    const t = await this.mustFind(account, id);
    const queued = FINISHED.includes(t.status) ? [] : await this.tasks.childrenWithStatus(t.id, ['queued']);
    // One transaction: task, children, child sessions and slots. Running children's jobs stop at their next step.
    if (!(await this.tasks.cancelTask(t.id))) {
      const now = (await this.tasks.findTask(account.id, t.id))!;
      throw new ApiError('conflict', `Task '${t.id}' already ended (${now.status}).`, 'id');
    }
    // Only tidying: a queued job of a cancelled task does nothing when it runs.
    void this.queue.removeJobs?.(CHILD_QUEUE, queued.map((c) => `${t.id}:${c.index}:${c.runs}`)).catch(() => undefined);
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
   * One run of a child: claim (at most one live run per child) -> slot -> child session -> rounds
   * (idempotent, so a later run never re-infers a finished round) -> outline -> merge into the master,
   * committed with the child's completion -> free the slot. Retries are Postgres's: a failed run puts
   * the child back in line and enqueues the next run itself (the sweep would, too).
   */
  /**
   * A child job: its child, then, while a child of the same account is due, that one on the slot just
   * given back (no queue hop between two children of an account; other accounts' jobs are not behind
   * it, since each account's children only come in while it has free slots).
   */
  async runChildren(taskId: string, index: number): Promise<{ ran: number; merged: number }> {
    let next: { taskId: string; index: number } | null = { taskId, index };
    let dispatchAfterClaim: { id: string; sessionLimit: number } | null = null;
    let ran = 0;
    let merged = 0;
    while (next && !this.stopping) {
      const r = await this.runChild(next.taskId, next.index, dispatchAfterClaim);
      if (r.skipped) break;
      ran++;
      if (r.merged) merged++;
      next = r.next ?? null;
      dispatchAfterClaim = r.moreDue ?? null;
    }
    return { ran, merged };
  }

  /** `next`: the account's child that takes the slot this run gave back (see runChildren). */
  /**
   * `dispatchAfterClaim`: more of the account's children were due than the hand-over to this one fills;
   * the rest are enqueued once this run's claim is in, so the queue never gets this child a second time.
   */
  async runChild(
    taskId: string,
    index: number,
    dispatchAfterClaim: { id: string; sessionLimit: number } | null = null,
  ): Promise<{ merged: boolean; skipped?: boolean; next?: { taskId: string; index: number } | null; moreDue?: { id: string; sessionLimit: number } | null }> {
    const runId = uuidv7();
    // Longer than a slot's lease: a dead run's slot has lapsed (and is reclaimed) before its child is taken over.
    const claimMs = Math.ceil(this.config.poolLeaseTtlMs * 1.5);
    // The claim asks for the child's slot in the same round trip.
    const claimed = await this.tasks.claimChild(taskId, index, runId, claimMs, uuidv7(), { holder: this.pool.holderFor('worker'), ttlMs: this.config.poolLeaseTtlMs, reserveShare: this.config.taskPoolReserveShare })
      .finally(() => dispatchAfterClaim && void this.dispatch(dispatchAfterClaim));
    // Done, cancelled, or another live run holds it: nothing to do.
    if (!claimed) return { merged: false, skipped: true };
    const { child, task, freshSession, slot } = claimed;
    if (this.stopping) {
      if (slot) await this.pool.release(child.sessionId!);
      await this.tasks.updateChild(taskId, index, { claimId: null, claimedUntil: null }, ['queued', 'running']);
      return { merged: false, skipped: true };
    }
    const account = await this.accounts.resolveById(task.accountId);
    const sessionId = child.sessionId!;
    const cancelled = new AbortController();
    this.runs.set(cancelled, taskId);
    // Set once a look after this run's commit saw children of the task still open: no final is due yet.
    let finishChecked = false;
    // The heartbeat renews the claim and sees a cancel (or a lost claim) in the same round trip.
    const heartbeat = setInterval(() => {
      this.tasks.renewClaim(taskId, index, runId, claimMs).then((r) => {
        if (!r.owned) cancelled.abort('lost');
        else if (r.taskStatus === 'cancelled') cancelled.abort('cancel');
      }, () => undefined);
    }, Math.max(100, Math.floor(claimMs / 3)));
    // Read from the database after the slot wait, not only by the heartbeat: a slot freed by a cancel must not start a queued child.
    const stopIfCancelled = async (fresh = false) => {
      if (cancelled.signal.aborted || (fresh && (await this.tasks.findTaskById(taskId))?.status === 'cancelled')) throw new TaskCancelled();
    };
    try {
      if (!slot) {
        // No slot now: the child waits in line in Postgres, not on a worker (other accounts' jobs go ahead);
        // the next slot given back in this account, or the sweep, enqueues it again.
        await this.tasks.updateChild(taskId, index, { claimId: null, claimedUntil: null }, ['queued', 'running']);
        // Should no slot be given back in this account meanwhile (interactive sessions), it looks again shortly.
        await this.enqueueChild(taskId, index, child.runs, BOUNCE_RETRY_MS).catch(() => undefined);
        return { merged: false, skipped: true };
      }
      // A first run creates the child's session with its start (one round trip).
      if (!(await this.tasks.startChild(taskId, index, child.attempts + 1, freshSession ? this.childSessionRow(task, child, sessionId) : null))) throw new TaskCancelled();
      // An earlier run whose claim lapsed (its worker died) may have left the child's turn lock behind;
      // this run holds the claim now, so that lock is stale.
      if (child.runs > 1 && !freshSession) await this.tasks.clearStaleTurnLock(sessionId);
      if (!freshSession) await this.ensureChildSession(task, child, sessionId);
      await stopIfCancelled();
      // Between rounds the heartbeat's view of a cancel is enough (the slot wait above read it fresh).
      // A first run keeps the last round's turn lock for the compression (no second lock round trip).
      const held = await this.runRounds(account, task, child, sessionId, () => stopIfCancelled(), freshSession);
      // A session created by this run has no compression of an earlier run to reuse.
      const outline = await this.childOutline(account, task, sessionId, freshSession, held);
      // The merge, the child's completion and its session's close commit together (before the slot goes,
      // so `running` never counts more children than hold slots); a cancelled task merges nothing.
      const merged = await this.mergeIntoMaster(task, child, sessionId, outline);
      if (merged.result === 'cancelled') throw new TaskCancelled();
      if (merged.released) {
        // The merge's commit gave the slot back (the master's whole window is under the merge budget, so its
        // outlines are too: nothing to fold); a waiter of this instance is woken here, others by the notification.
        this.pool.wakeOne(account.id);
      } else {
        // Over the merge budget, the master's outlines are folded with this child's slot (folds count against the pool).
        if (!this.folding.has(taskId)) await this.foldMaster(task, account).catch((e) => this.logger.warn({ taskId, err: String(e) }, 'fold failed; the next merge or the final retries'));
        await this.pool.release(sessionId);
      }
      // One round trip says whether the task's last child just ended and which child takes the slot next.
      const after = await this.tasks.afterChild(taskId, account.id, account.sessionLimit, this.reservedTasksCap(account.sessionLimit)).catch(() => null);
      finishChecked = after !== null && after.open > 0;
      // No answer: the queue takes over. More slots free than this hand-over fills (a slot given back elsewhere):
      // the rest go through the queue once the next child is claimed (runChildren).
      if (!after) void this.dispatch(account);
      const accountRef = { id: account.id, sessionLimit: account.sessionLimit };
      // The slot goes to the account's next due child in this same job (runChildren).
      return { merged: merged.result === 'merged', next: after?.due[0] ?? null, moreDue: after && after.due.length > 1 ? accountRef : null };
    } catch (err) {
      // Another run took the child over (this one's claim lapsed): the child, its session and its slot are that run's now.
      if (cancelled.signal.reason === 'lost') return { merged: false };
      await this.pool.release(sessionId).catch(() => undefined);
      void this.dispatch(account);
      const isCancel = (await this.tasks.findTaskById(taskId))?.status === 'cancelled';
      const unclaim = { claimId: null, claimedUntil: null };
      if (!isCancel && this.stopping) {
        await this.tasks.updateChild(taskId, index, { status: 'queued', ...unclaim }, ['running', 'queued']);
        return { merged: false };
      }
      if (isCancel) {
        // A child session created after the cancel closed the others must not stay behind as active.
        await this.tasks.closeSession(sessionId);
        await this.tasks.updateChild(taskId, index, { status: 'cancelled', finishedAt: new Date(), ...unclaim }, ['running', 'queued']);
        return { merged: false };
      }
      const message = err instanceof Error ? err.message : String(err);
      const outOfBudget = isBudgetExceeded(err);
      // The task's budget ran out: no more children start (the task ends partial with what it has).
      if (outOfBudget) await this.tasks.cancelQueuedChildren(taskId, message);
      const lastAttempt = outOfBudget || child.attempts + 1 >= CHILD_ATTEMPTS || err instanceof UnrecoverableJobError;
      if (lastAttempt) {
        await this.tasks.updateChild(taskId, index, { status: 'failed', finishedAt: new Date(), error: message, ...unclaim }, ['running', 'queued']);
        await this.tasks.closeSession(sessionId);
      } else {
        // Back in line (without a slot); the next run is enqueued after a backoff.
        await this.tasks.updateChild(taskId, index, { status: 'queued', error: message, ...unclaim }, ['running', 'queued']);
        await this.enqueueChild(taskId, index, child.runs, 1000 * 2 ** child.attempts).catch(() => undefined);
      }
      this.logger.warn({ taskId, index, attempt: child.attempts + 1, err: message }, lastAttempt ? 'child failed for good' : 'child failed; will retry');
      return { merged: false };
    } finally {
      clearInterval(heartbeat);
      this.runs.delete(cancelled);
      if (!finishChecked) await this.maybeFinish(taskId).catch((e) => this.logger.warn({ taskId, err: String(e) }, 'finish check failed'));
    }
  }

  /** A child session's own columns (the rest are its master's: startChild). */
  private childSessionRow(task: TaskEntity, child: TaskChildEntity, sessionId: string): ChildSessionRow {
    const system = task.options.child.system ?? DEFAULT_CHILD_SYSTEM;
    return {
      id: sessionId, title: `${child.index}: ${child.title}`.slice(0, 500), metadata: { task_id: task.id, child_index: String(child.index) }, model: task.model,
      system, systemTokens: this.estimator.countMessage({ content: system }), window: initialWindow(),
    };
  }

  /** A later run's child session: made by an earlier run, unless that run died between its claim and its start. */
  private async ensureChildSession(task: TaskEntity, child: TaskChildEntity, sessionId: string): Promise<void> {
    if (await this.tasks.findSession(sessionId)) return;
    const master = await this.masterOf(task);
    const row = this.childSessionRow(task, child, sessionId);
    await this.sessions.insert({
      ...row, accountId: task.accountId, parentId: master.id, rootId: master.rootId, taskId: task.id, role: 'child', status: 'active',
      tools: null, toolsTokens: 0, fragmentRefs: [], historyBases: [], policy: master.policy, windowTokens: row.systemTokens, lastSeq: 0, version: 0, tokenCalibration: 1,
    });
  }

  /** `holdLast`: the last round keeps its turn lock and returns it (TurnOptions.holdLock). */
  private async runRounds(account: ResolvedAccount, task: TaskEntity, child: TaskChildEntity, sessionId: string, stopIfCancelled: () => Promise<void>, holdLast: boolean): Promise<HeldTurnLock | null> {
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
        await this.turns.append(account, sessionId, { messages: [{ role: 'user', content: `[${child.title}, part ${i + 1} of ${parts.length}]\n${part.content}` }], generate: false }, `task:${task.id}:${child.index}:part${i}`, null, { task: true });
      }
      prompt = fill(`(the content is in the ${parts.length} parts above)`);
    }
    let held: HeldTurnLock | null = null;
    for (let round = 1; round <= task.options.child.max_rounds; round++) {
      await stopIfCancelled();
      const content = round === 1 ? prompt : task.options.child.followup_prompt ?? DEFAULT_FOLLOWUP;
      const holdLock = holdLast && round === task.options.child.max_rounds;
      held = (await this.turns.appendTurn(account, sessionId, { messages: [{ role: 'user', content }] }, `task:${task.id}:${child.index}:r${round}`, null, { task: true, holdLock })).held ?? null;
    }
    return held;
  }

  /** The child's whole window compressed into one outline (reused if a previous attempt already made it). */
  private async childOutline(account: ResolvedAccount, task: TaskEntity, sessionId: string, freshSession: boolean, held: HeldTurnLock | null): Promise<{ text: string; snapshotId: string | null; fromSeq: number; toSeq: number }> {
    const last = freshSession ? null : await this.tasks.lastCompression(sessionId);
    const s = last ? (await this.tasks.findSession(sessionId))! : null;
    if (!last || last.toSeq < s!.lastSeq - 1) {
      const r = await this.state.compress(account, sessionId, { ratio: task.options.merge.compress_ratio, keep_rounds: 0 }, { allowGrowth: true, held: held ?? undefined });
      return { text: r.outline, snapshotId: r.snapshot_id, fromSeq: r.compressed_seqs[0], toSeq: r.compressed_seqs[1] };
    }
    const text = (await this.tasks.outlineContent(sessionId, last.outlineSeq)) ?? '';
    return { text, snapshotId: last.snapshotId, fromSeq: last.fromSeq, toSeq: last.toSeq };
  }

  /** Appends the child's outline (with provenance) to the master; the task_merges key makes it exactly once. */
  private async mergeIntoMaster(task: TaskEntity, child: TaskChildEntity, sessionId: string, o: { text: string; snapshotId: string | null; fromSeq: number; toSeq: number }): Promise<{ result: 'merged' | 'already' | 'cancelled'; windowTokens: number; released: boolean }> {
    const parsed = parseOutline(o.text);
    const text = parsed
      ? renderOutline(withProvenance(parsed, { sessionId, snapshotId: o.snapshotId, fromSeq: o.fromSeq, toSeq: o.toSeq }))
      : o.text;
    const content = `[part ${child.index}: ${child.title}]\n${text}`;
    const tokens = this.estimator.countMessage({ content: OUTLINE_MESSAGE_HEADER + content });
    const r = await this.tasks.mergeChild(
      { taskId: task.id, childIndex: child.index, masterSessionId: task.masterSessionId, childSessionId: sessionId, snapshotId: o.snapshotId, fromSeq: o.fromSeq, toSeq: o.toSeq },
      { content, tokens },
      this.mergeBudgetTokens(task),
    );
    if (!r || r.task === 'cancelled' || r.child === 'cancelled') return { result: 'cancelled', windowTokens: r?.windowTokens ?? 0, released: false };
    return { result: r.fresh ? 'merged' : 'already', windowTokens: r.windowTokens, released: r.released };
  }

  /** The master's outline budget (MERGE_BUDGET_SHARE of its usable window): past it, outlines are folded. */
  private mergeBudgetTokens(task: TaskEntity): number {
    return Math.floor(usableContext(this.config, this.models.get(task.model).contextWindow) * this.config.mergeBudgetShare);
  }

  /**
   * A task without max_parallel leaves TASK_POOL_RESERVE_SHARE of the account's pool to interactive
   * sessions (all such tasks of the account together); max_parallel is the client's own choice.
   * (claimChild applies the same cap when it takes a child's slot.)
   */
  private reservedTasksCap(limit: number): number {
    return Math.max(1, Math.floor(limit * (1 - this.config.taskPoolReserveShare)));
  }

  /** The master's root id and policy, which its children copy (read once per task and instance). */
  private readonly masters = new Map<string, Promise<Pick<SessionEntity, 'id' | 'rootId' | 'policy'>>>();
  private masterOf(task: TaskEntity): Promise<Pick<SessionEntity, 'id' | 'rootId' | 'policy'>> {
    let m = this.masters.get(task.id);
    if (!m) {
      m = this.tasks.findSession(task.masterSessionId).then((s) => ({ id: s!.id, rootId: s!.rootId, policy: s!.policy }));
      m.catch(() => this.masters.delete(task.id));
      if (this.masters.size > 1000) this.masters.clear();
      this.masters.set(task.id, m);
    }
    return m;
  }

  /** Runs the master's fold loop, or joins the one running in this instance. */
  private foldMaster(task: TaskEntity, account: ResolvedAccount): Promise<void> {
    const running = this.folding.get(task.id);
    if (running) return running;
    const loop = this.foldLoop(task, account).finally(() => this.folding.delete(task.id));
    this.folding.set(task.id, loop);
    return loop;
  }

  /**
   * The tree merge: while the master's outlines pass the budget (MERGE_BUDGET_SHARE of its usable window),
   * the oldest outlines of the lowest level are folded into one outline of outlines through the summarizer
   * path (fact guard included). A fold names the child indexes it covers and, as sources, the master
   * messages it folded (each keeps its children's provenance in the history; task_merges keeps it too).
   * A fold commits only if none of its outlines was folded meanwhile (another instance).
   */
  private async foldLoop(task: TaskEntity, account: ResolvedAccount): Promise<void> {
    const budgetTokens = this.mergeBudgetTokens(task);
    const opts = { budgetTokens, groupTokens: Math.max(1024, Math.floor(budgetTokens / 2)), maxGroup: 16 };
    for (;;) {
      const master = await this.tasks.findSession(task.masterSessionId);
      if (!master) return;
      const { outlines } = await this.sessions.windowMessages(master, master.window);
      const plan = planOutlineFold(outlines.map((o) => ({ seq: o.seq, tokens: o.tokens, level: readFoldHeader(o.content ?? '')?.level ?? 0 })), opts);
      if (!plan) return;
      const group = outlines.filter((o) => plan.seqs.includes(o.seq));
      const parts = group.flatMap((o) => readFoldHeader(o.content ?? '')?.parts ?? []);
      const folded = await this.compactor.foldOutlines(account, master, group, task.options.merge.compress_ratio);
      const content = `${foldHeader(parts, plan.level)}\n${renderOutline({ ...folded.outline, provenance: seqRuns(master.id, plan.seqs) })}`;
      const tokens = this.estimator.countMessage({ content: OUTLINE_MESSAGE_HEADER + content });
      if (tokens >= plan.tokens) {
        this.logger.warn({ taskId: task.id, in: plan.tokens, out: tokens }, 'a fold did not shrink the outlines; folding stops');
        return;
      }
      await this.sessions.inTurnTransaction(master.id, null, async (m, locked) => {
        if (!plan.seqs.every((seq) => locked.window.outlineSeqs.includes(seq))) return false;
        const seq = locked.lastSeq + 1;
        await this.sessions.insertMessages(m, [{ sessionId: locked.id, seq, role: 'system', content, tokens, kind: 'outline', turnId: null }]);
        await this.sessions.updateSession(m, locked.id, { lastSeq: seq, window: foldOutlinesInWindow(locked.window, plan.seqs, seq), windowTokens: locked.windowTokens - plan.tokens + tokens, version: locked.version + 1 });
        return true;
      });
    }
  }

  /** When no child is queued or running, the final answer is enqueued (once: deterministic job id). */
  private async maybeFinish(taskId: string): Promise<void> {
    const c = await this.tasks.counts(taskId);
    if (c.queued > 0 || c.running > 0) return;
    const t = await this.tasks.findTaskById(taskId);
    if (!t || FINISHED.includes(t.status)) return;
    await this.enqueueFinal(taskId);
  }

  /** The master answers the goal from the merged outlines alone. */
  async runFinal(taskId: string, attemptsMade = 0): Promise<{ status: string }> {
    const t = await this.tasks.findTaskById(taskId);
    if (!t || FINISHED.includes(t.status)) return { status: t?.status ?? 'missing' };
    const c = await this.tasks.counts(taskId);
    if (c.queued > 0 || c.running > 0) return { status: t.status };
    if (c.succeeded === 0) {
      await this.tasks.setTaskStatus(taskId, 'failed', ['queued', 'running', 'merging'], { error: `all ${c.failed} children failed`, finishedAt: new Date() });
      return { status: 'failed' };
    }
    await this.tasks.setTaskStatus(taskId, 'merging', ['queued', 'running']);
    const account = await this.accounts.resolveById(t.accountId);
    try {
      await this.pool.acquire({ accountId: account.id, limit: account.sessionLimit }, t.masterSessionId, { kind: 'worker', waitMs: 24 * 3600_000 });
      // The outlines fit the budget before the final call (a fold loop of this instance finishes first).
      await this.folding.get(taskId)?.catch(() => undefined);
      await this.foldMaster(t, account);
      const prompt = t.options.merge.final_prompt ??
        `Goal: ${t.goal}\n\nThe outlines above come from ${c.succeeded} workers, one per part${c.failed ? ` (${c.failed} part(s) failed and are missing)` : ''}. Using only them, write the final answer to the goal.`;
      let turn: Awaited<ReturnType<TurnService['append']>>;
      try {
        turn = await this.turns.append(account, t.masterSessionId, { messages: [{ role: 'user', content: prompt }] }, `task:${taskId}:final`, null, { task: true });
      } catch (err) {
        if (!isBudgetExceeded(err)) throw err;
        // No budget left for the final answer: the task ends partial; the merged outlines stay on the master session.
        await this.tasks.setTaskStatus(taskId, 'partial', ['merging'], { error: err.message, finishedAt: new Date() });
        return { status: 'partial' };
      }
      const status = c.failed > 0 || c.cancelled > 0 ? 'partial' : 'succeeded';
      await this.tasks.setTaskStatus(taskId, status, ['merging'], { result: turn.message?.content ?? null, finishedAt: new Date() });
      return { status };
    } catch (err) {
      // The last attempt ends the task: `failed` with the error (its event stream closes), never `merging` for good.
      const message = err instanceof Error ? err.message : String(err);
      if (attemptsMade + 1 >= FINAL_ATTEMPTS || err instanceof UnrecoverableJobError) {
        await this.tasks.setTaskStatus(taskId, 'failed', ['queued', 'running', 'merging'], { error: `final answer failed: ${message}`, finishedAt: new Date() });
        this.logger.warn({ taskId, err: message }, 'final answer failed for good');
        return { status: 'failed' };
      }
      throw err;
    } finally {
      await this.pool.release(t.masterSessionId).catch(() => undefined);
      await this.tasks.parkMaster(t.masterSessionId).catch(() => undefined);
    }
  }
}

/** A unit's tokens: token chunks were counted by the split already, so each input is tokenized once. */
function unitTokens(u: TaskUnit, estimator: TokenEstimator): number {
  const counted = (u as TaskUnit & { tokens?: number }).tokens;
  return typeof counted === 'number' ? counted : estimator.countText(u.content);
}

/** A fold's sources: the master messages it folded, as runs of consecutive seqs. */
function seqRuns(sessionId: string, seqs: readonly number[]): OutlineProvenance[] {
  const sorted = [...seqs].sort((a, b) => a - b);
  const out: OutlineProvenance[] = [];
  for (const seq of sorted) {
    const last = out[out.length - 1];
    if (last && last.toSeq === seq - 1) last.toSeq = seq;
    else out.push({ sessionId, snapshotId: null, fromSeq: seq, toSeq: seq });
  }
  return out;
}
