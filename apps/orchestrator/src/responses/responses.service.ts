import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { ResponseEntity, SessionEntity } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError, FINAL } from '../common/api-error';
import { uuidv7 } from '../common/ids';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { Compactor } from '../session-state/compactor';
import { SessionStateService } from '../session-state/session-state.service';
import type { AppendMessagesDto, InputMessageDto } from '../sessions/sessions.dto';
import { SessionsRepository } from '../sessions/sessions.repository';
import { policyColumn, policyFromColumn, SessionsService } from '../sessions/sessions.service';
import { SessionMovedError, TurnBegin, TurnOptions, TurnResponse, TurnService, TurnState } from '../sessions/turn.service';
import { waitForConversation } from './conversation-lock';
import { ConversationsService, itemPage } from './conversations.service';
import { conversationId, inputToMessages, Item, itemsOf, parseItemId, responseId, responseTools, toChatToolChoice, toChatTools } from './items';
import type { CompactResponseDto, CreateResponseDto, ItemListQuery } from './responses.dto';
import { ResponsesRepository } from './responses.repository';
import type { ResponseStreamer } from './response-stream';

const unix = (d: Date = new Date()) => Math.floor(d.getTime() / 1000);

interface Target {
  session: SessionEntity;
  inConversation: boolean;
  /** The session was made for this request (closed again when the request fails or is not stored). */
  created: boolean;
  expectLastSeq?: number;
}

/**
 * POST /v1/responses on top of sessions: `conversation` appends to that session; `previous_response_id`
 * continues in place while that response is its chain's latest, and otherwise forks a new session at
 * its point (from the snapshot taken right after it), so branching works; neither starts a new session.
 */
@Injectable()
export class ResponsesService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly sessionRepo: SessionsRepository,
    private readonly sessionState: SessionStateService,
    private readonly turns: TurnService,
    private readonly compactor: Compactor,
    private readonly conversations: ConversationsService,
    private readonly repo: ResponsesRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(account: ResolvedAccount, dto: CreateResponseDto, key: string | null, stream: ResponseStreamer | null): Promise<Record<string, unknown>> {
    // Everything checkable is checked before any state changes.
    if (dto.background) throw new ApiError('invalid_request', 'background responses are not supported.', 'background');
    if (dto.conversation !== undefined && dto.previous_response_id !== undefined) {
      throw new ApiError('invalid_request', 'Pass either conversation or previous_response_id, not both.', 'previous_response_id');
    }
    const messages = inputToMessages(await this.resolveReferences(account, dto.input));
    const tools = dto.tools !== undefined ? toChatTools(dto.tools) : undefined;
    const toolChoice = toChatToolChoice(dto.tool_choice, tools ?? null);
    const threshold = dto.context_management?.find((c) => c.type === 'compaction')?.compact_threshold;
    const format = (dto.text?.format as { type?: unknown } | undefined)?.type;
    if (format !== undefined && format !== 'text' && format !== 'json_object') throw new ApiError('invalid_request', 'text.format.type must be "text" or "json_object".', 'text.format.type');
    const { stream: _s, ...hashed } = dto;
    const requestHash = createHash('sha256').update(JSON.stringify(hashed)).digest('hex');

    if (key !== null) {
      const prior = await this.repo.findByKey(account.id, key);
      if (prior) return this.replay(prior, requestHash, stream);
    }

    const target = await this.target(account, dto, threshold);
    const convId = target.inConversation ? conversationId(target.session.id) : null;
    const strict = new Map<string, boolean | null>(((dto.tools ?? []) as Array<{ name?: string; strict?: boolean | null }>).map((t) => [String(t.name), t.strict ?? null]));
    const id = responseId(uuidv7());
    const createdAt = unix();
    const shape = (s: SessionEntity, extra: Record<string, unknown>) => ({
      id,
      object: 'response',
      created_at: createdAt,
      completed_at: null,
      status: 'in_progress',
      error: null,
      incomplete_details: null,
      instructions: dto.instructions ?? null,
      max_output_tokens: dto.max_output_tokens ?? null,
      model: s.model,
      output: [] as Item[],
      parallel_tool_calls: dto.parallel_tool_calls ?? true,
      previous_response_id: dto.previous_response_id ?? null,
      conversation: convId ? { id: convId } : null,
      reasoning: { effort: null, summary: null },
      store: dto.store ?? true,
      temperature: dto.temperature ?? null,
      top_p: dto.top_p ?? null,
      text: { format: { type: format ?? 'text' } },
      tool_choice: dto.tool_choice ?? 'auto',
      tools: responseTools(tools ?? s.tools, strict),
      truncation: dto.truncation ?? 'auto',
      ...(dto.user !== undefined ? { user: dto.user } : {}),
      metadata: dto.metadata ?? {},
      session_id: s.id,
      ...extra,
    });

    const append: AppendMessagesDto = {
      messages,
      max_tokens: dto.max_output_tokens,
      temperature: dto.temperature,
      top_p: dto.top_p,
      tool_choice: toolChoice,
      response_format: format === 'json_object' ? { type: 'json_object' } : undefined,
      stream: stream !== null,
    };
    const opts: TurnOptions = { instructions: dto.instructions ?? null, roll: dto.truncation !== 'disabled', triggerTokens: threshold, expectLastSeq: target.expectLastSeq };
    if (tools !== undefined) opts.tools = tools;
    if (stream) {
      stream.configure(() => shape(target.session, {}), (info: TurnBegin) => this.compactionItems(target.session, info.compaction));
    }

    let turn: { response: TurnResponse; state: TurnState | null };
    let session = target.session;
    try {
      // A session made for this request may start with a long history (a client resending it all):
      // it goes in as appends of at most MAX_APPEND_TOKENS each, before the turn (the session is closed if anything fails).
      if (target.created) append.messages = await this.preload(account, session.id, messages);
      try {
        turn = await waitForConversation(this.config.responsesLockWaitMs, convId ?? session.id, () => this.turns.appendTurn(account, session.id, append, key, stream, opts));
      } catch (err) {
        // The chain moved on between the look-up and the lock: branch from the response's point instead.
        if (!(err instanceof SessionMovedError)) throw err;
        session = await this.fork(account, dto.previous_response_id!);
        target.created = true;
        turn = await this.turns.appendTurn(account, session.id, append, key, stream, { ...opts, expectLastSeq: undefined });
      }
    } catch (err) {
      if (target.created) await this.sessions.close(account, session.id).catch(() => undefined);
      throw err;
    }
    const t = turn.response;
    if (threshold !== undefined && !target.created) {
      await this.repo.setPolicy(account.id, session.id, policyColumn({ ...policyFromColumn(session.policy), triggerTokens: threshold, autoCompact: true }));
    }
    const reply = t.message;
    const replySeq = reply ? reply.seq : t.seqs[t.seqs.length - 1];
    const incomplete = t.completion?.finish_reason === 'length';
    const output = [
      ...(await this.compactionItems(session, t.compaction)),
      ...(reply ? itemsOf(session.id, { seq: reply.seq, role: 'assistant', content: reply.content, toolCalls: reply.tool_calls, kind: 'message' }, incomplete ? 'incomplete' : 'completed') : []),
    ];
    const u = t.usage;
    const body = shape(session, {
      status: incomplete ? 'incomplete' : 'completed',
      completed_at: unix(),
      incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
      output,
      ...(u
        ? { usage: {
            input_tokens: u.prompt_tokens,
            input_tokens_details: { cached_tokens: u.prompt_tokens_details.cached_tokens, cache_write_tokens: (u.prompt_tokens_details as { cache_write_tokens?: number }).cache_write_tokens ?? 0 },
            output_tokens: u.completion_tokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: u.total_tokens,
          } }
        : {}),
      session_id: session.id,
    });

    if (dto.store === false) {
      // Not stored: nothing can continue from it, so a session made for it gives its slot back (its history stays).
      if (target.created) await this.sessions.close(account, session.id).catch(() => undefined);
    } else {
      let snapshotId: string | null = null;
      if (turn.state) {
        const fresh = (await this.sessionRepo.findForAccount(account.id, session.id))!;
        snapshotId = await this.compactor.snapshot(account.id, { ...fresh, ...turn.state }, 'response', id);
      }
      const inserted = await this.repo.insert({
        id,
        accountId: account.id,
        sessionId: session.id,
        turnId: t.id,
        inConversation: target.inConversation,
        previousResponseId: dto.previous_response_id ?? null,
        snapshotId,
        inputFirstSeq: t.seqs[0],
        inputLastSeq: reply ? replySeq - 1 : replySeq,
        lastSeq: replySeq,
        status: incomplete ? 'incomplete' : 'completed',
        idempotencyKey: key,
        requestHash,
        body,
      });
      if (!inserted && key !== null) {
        const prior = await this.repo.findByKey(account.id, key);
        if (prior) return this.replay(prior, requestHash, stream);
      }
    }
    // A chain (not a conversation) holds a pool slot only while its turn runs: the next response of the
    // chain takes one again, as any parked session does. Stateless-style clients then never fill the pool.
    if (!target.inConversation && dto.store !== false) await this.repo.park(account.id, session.id);
    stream?.finish(body);
    return body;
  }

  async get(account: ResolvedAccount, id: string) {
    return (await this.mustFind(account, id)).body;
  }

  async delete(account: ResolvedAccount, id: string) {
    await this.mustFind(account, id);
    await this.repo.markDeleted(account.id, id);
    return { id, object: 'response' as const, deleted: true };
  }

  /** The items this response's request appended (its input), from the session's history. */
  async inputItems(account: ResolvedAccount, id: string, q: ItemListQuery) {
    const r = await this.mustFind(account, id);
    const s = (await this.sessionRepo.findForAccount(account.id, r.sessionId))!;
    const count = r.inputLastSeq - r.inputFirstSeq + 1;
    const rows = (await this.sessionRepo.listMessages(s, r.inputFirstSeq - 1, count)).filter((m) => m.seq <= r.inputLastSeq && m.kind === 'message');
    return itemPage(rows.flatMap((m) => itemsOf(s.id, m)), q.limit ?? 20, q.order ?? 'desc', q.after);
  }

  /**
   * Compacts a conversation's window (its items afterwards are returned: a compaction item with the
   * readable outline, then what stayed verbatim), or a given input in a session made for it.
   */
  async compact(account: ResolvedAccount, dto: CompactResponseDto) {
    if (dto.conversation === undefined && dto.input === undefined) throw new ApiError('invalid_request', 'Pass conversation or input.', 'input');
    if (dto.conversation !== undefined && dto.input !== undefined) throw new ApiError('invalid_request', 'Pass either conversation or input, not both.', 'input');
    let s: SessionEntity;
    let temporary = false;
    if (dto.conversation !== undefined) {
      s = await this.conversations.mustFind(account, conversationRef(dto.conversation), 'conversation');
    } else {
      const messages = inputToMessages(dto.input);
      const created = await this.sessions.create(account, { model: dto.model, system: dto.instructions ?? undefined });
      temporary = true;
      try {
        await this.turns.append(account, created.id, { messages, generate: false }, null, null);
      } catch (err) {
        await this.sessions.close(account, created.id).catch(() => undefined);
        throw err;
      }
      s = await this.sessions.mustFind(account, created.id);
    }
    try {
      if (dto.model !== undefined && dto.model !== s.model) throw new ApiError('invalid_request', `model '${dto.model}' is not this conversation's model ('${s.model}').`, 'model');
      const r = await this.sessionState.compress(account, s.id, { keep_rounds: dto.keep_rounds ?? (temporary ? 0 : undefined) });
      const fresh = await this.sessions.mustFind(account, s.id);
      return {
        id: responseId(uuidv7()),
        object: 'response.compaction' as const,
        output: await this.conversations.windowItems(fresh),
        created_at: unix(),
        usage: { input_tokens: r.input_tokens, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: r.output_tokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: r.input_tokens + r.output_tokens },
        ...(temporary ? {} : { conversation: { id: conversationId(s.id) } }),
      };
    } finally {
      if (temporary) await this.sessions.close(account, s.id).catch(() => undefined);
    }
  }

  /**
   * When `messages` do not fit one append, all but the last round go in first (no model call, in
   * pieces within the per-append bounds); returns what the turn itself appends.
   */
  private async preload(account: ResolvedAccount, sessionId: string, messages: InputMessageDto[]): Promise<InputMessageDto[]> {
    if (this.conversations.fitsOneAppend(messages)) return messages;
    // The turn appends the last round: from the last user message (or the whole input when there is none).
    const start = Math.max(messages.map((m) => m.role).lastIndexOf('user'), 0);
    await this.conversations.appendInPieces(account, sessionId, messages.slice(0, start));
    return messages.slice(start);
  }

  /**
   * `item_reference` input items (clients that resend earlier output by id, as the AI SDK does) become
   * the items they name, from this account's sessions; an unknown or foreign id is 404.
   */
  private async resolveReferences(account: ResolvedAccount, input: unknown): Promise<unknown> {
    if (!Array.isArray(input) || !input.some((i) => i && typeof i === 'object' && (i as { type?: unknown }).type === 'item_reference')) return input;
    const sessions = new Map<string, SessionEntity | null>();
    return Promise.all(
      input.map(async (raw: unknown, i) => {
        const ref = raw as { type?: unknown; id?: unknown };
        if (!ref || typeof ref !== 'object' || ref.type !== 'item_reference') return raw;
        const id = typeof ref.id === 'string' ? ref.id : '';
        const parsed = parseItemId(id);
        if (parsed && !sessions.has(parsed.sessionId)) sessions.set(parsed.sessionId, await this.sessionRepo.findForAccount(account.id, parsed.sessionId));
        const s = parsed ? sessions.get(parsed.sessionId) : null;
        const rows = s && parsed ? await this.sessionRepo.listMessages(s, parsed.seq - 1, 1) : [];
        const row = rows.find((m) => m.seq === parsed?.seq);
        const item = row && s ? itemsOf(s.id, row).find((x) => x.id === id) : undefined;
        if (!item) throw ApiError.notFound('item', id, `input[${i}].id`);
        return item;
      }),
    );
  }

  private async mustFind(account: ResolvedAccount, id: string, param: string | null = null): Promise<ResponseEntity> {
    const r = /^resp_[0-9a-f]{32}$/.test(id) ? await this.repo.find(account.id, id) : null;
    if (!r) throw ApiError.notFound('response', id, param);
    return r;
  }

  private replay(prior: ResponseEntity, requestHash: string, stream: ResponseStreamer | null): Record<string, unknown> {
    if (prior.requestHash !== requestHash) throw new ApiError('conflict', 'This Idempotency-Key was already used with a different request body.', 'Idempotency-Key', FINAL);
    if (stream) {
      stream.configure(() => {
        const { usage: _u, ...rest } = prior.body;
        return { ...rest, status: 'in_progress', output: [], completed_at: null };
      });
      stream.finish(prior.body as never);
    }
    return prior.body;
  }

  /** Where the response goes: the conversation, the previous response's chain (in place or forked), or a new session. */
  private async target(account: ResolvedAccount, dto: CreateResponseDto, threshold: number | undefined): Promise<Target> {
    let t: Target;
    if (dto.conversation !== undefined) {
      t = { session: await this.conversations.mustFind(account, conversationRef(dto.conversation), 'conversation'), inConversation: true, created: false };
    } else if (dto.previous_response_id !== undefined) {
      const prev = await this.mustFind(account, dto.previous_response_id, 'previous_response_id');
      const s = await this.sessionRepo.findForAccount(account.id, prev.sessionId);
      if (s && s.status !== 'closed' && !prev.inConversation && s.lastSeq === prev.lastSeq) t = { session: s, inConversation: false, created: false, expectLastSeq: prev.lastSeq };
      else t = { session: await this.fork(account, prev.id), inConversation: false, created: true };
    } else {
      const created = await this.sessions.create(account, { model: dto.model, policy: threshold !== undefined ? { trigger_tokens: threshold } : undefined, metadata: dto.metadata });
      t = { session: await this.sessions.mustFind(account, created.id), inConversation: false, created: true };
    }
    if (dto.model !== undefined && dto.model !== t.session.model) {
      if (t.created) await this.sessions.close(account, t.session.id).catch(() => undefined);
      throw new ApiError('invalid_request', `model '${dto.model}' is not this conversation's model ('${t.session.model}').`, 'model');
    }
    return t;
  }

  /** A new session whose window is the previous response's (from the snapshot taken right after it). */
  private async fork(account: ResolvedAccount, previousId: string): Promise<SessionEntity> {
    const prev = await this.mustFind(account, previousId, 'previous_response_id');
    if (!prev.snapshotId) throw new ApiError('invalid_request', `Response '${previousId}' cannot be continued.`, 'previous_response_id');
    const forked = await this.sessionState.fork(account, prev.snapshotId, {});
    return this.sessions.mustFind(account, forked.id);
  }

  /** The compaction a turn's rolling policy did, as an output item whose content is the readable outline. */
  private async compactionItems(s: SessionEntity, compaction: Record<string, unknown> | null): Promise<Item[]> {
    const seq = compaction?.action === 'compressed' ? Number(compaction.outline_seq) : NaN;
    if (!Number.isInteger(seq)) return [];
    const fresh = (await this.sessionRepo.findForAccount(s.accountId, s.id))!;
    const rows = await this.sessionRepo.listMessages(fresh, seq - 1, 1);
    const outline = rows.find((m) => m.seq === seq && m.kind === 'outline');
    return outline ? itemsOf(s.id, outline) : [];
  }
}

/** `conversation` is an id or {id}. */
export function conversationRef(c: unknown): string {
  if (typeof c === 'string') return c;
  if (c && typeof c === 'object' && typeof (c as { id?: unknown }).id === 'string') return (c as { id: string }).id;
  throw new ApiError('invalid_request', 'conversation must be a conversation id or {id}.', 'conversation');
}
