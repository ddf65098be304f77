import { Inject, Injectable } from '@nestjs/common';
import { excludeFromWindow, MAX_APPEND_CHARS, MAX_APPEND_TOKENS, type StoredMessage } from '@so/domain';
import { TokenEstimator } from '@so/llm';
import type { SessionEntity } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { uuidv7 } from '../common/ids';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { SessionStateRepository } from '../session-state/session-state.repository';
import { messageChars, parseInputMessage, toWireMessage } from '../sessions/input-messages';
import type { InputMessageDto } from '../sessions/sessions.dto';
import { SessionsRepository } from '../sessions/sessions.repository';
import { SessionsService } from '../sessions/sessions.service';
import { SessionBusyError, TurnService } from '../sessions/turn.service';
import { WindowCache } from '../sessions/window-cache';
import { waitForConversation } from './conversation-lock';
import type { ConversationItemsQuery, CreateConversationDto, CreateConversationItemsDto, UpdateConversationDto } from './responses.dto';
import { conversationId, inputToMessages, Item, itemsOf, parseItemId, sessionIdOfConversation } from './items';
import { ResponsesRepository } from './responses.repository';

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

export function conversationView(s: SessionEntity) {
  return { id: conversationId(s.id), object: 'conversation' as const, created_at: unix(s.createdAt), metadata: s.metadata ?? {} };
}

/** A list page of items in OpenAI's shape. */
export function itemPage(items: Item[], limit: number, order: 'asc' | 'desc', after?: string) {
  const ordered = order === 'desc' ? [...items].reverse() : items;
  const start = after ? ordered.findIndex((i) => i.id === after) + 1 : 0;
  const data = ordered.slice(start, start + limit);
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: start + limit < ordered.length };
}

/**
 * The Conversations API: a conversation IS a session (same pool slot, policy and history); its items
 * are the messages of the session's window in OpenAI's item shapes. Deleting an item moves it out of
 * the window; the history keeps it.
 */
@Injectable()
export class ConversationsService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly sessionRepo: SessionsRepository,
    private readonly state: SessionStateRepository,
    private readonly turns: TurnService,
    private readonly windows: WindowCache,
    private readonly repo: ResponsesRepository,
    private readonly estimator: TokenEstimator,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(account: ResolvedAccount, dto: CreateConversationDto) {
    const messages = dto.items?.length ? inputToMessages(dto.items, 'items') : [];
    const created = await this.sessions.create(account, { metadata: dto.metadata });
    if (messages.length) {
      try {
        await this.appendInPieces(account, created.id, messages);
      } catch (err) {
        // A conversation whose items were refused is not left behind holding a slot.
        await this.sessions.close(account, created.id).catch(() => undefined);
        throw err;
      }
    }
    return conversationView(await this.sessions.mustFind(account, created.id));
  }

  fitsOneAppend(messages: InputMessageDto[]): boolean {
    const sizes = this.sizes(messages);
    return sizes.reduce((n, x) => n + x.tokens, 0) <= MAX_APPEND_TOKENS && sizes.reduce((n, x) => n + x.chars, 0) <= MAX_APPEND_CHARS;
  }

  /**
   * Stores messages without a model call, in as few appends as the per-append bounds allow (a single
   * message over them is refused, 413). For sessions made by the request only: the pieces are separate commits.
   */
  async appendInPieces(account: ResolvedAccount, sessionId: string, messages: InputMessageDto[]): Promise<void> {
    const sizes = this.sizes(messages);
    let piece: InputMessageDto[] = [];
    let tokens = 0;
    let chars = 0;
    for (let i = 0; i <= messages.length; i++) {
      if (piece.length && (i === messages.length || tokens + sizes[i].tokens > MAX_APPEND_TOKENS || chars + sizes[i].chars > MAX_APPEND_CHARS)) {
        await this.turns.append(account, sessionId, { messages: piece, generate: false }, null, null);
        piece = [];
        tokens = 0;
        chars = 0;
      }
      if (i === messages.length) break;
      piece.push(messages[i]);
      tokens += sizes[i].tokens;
      chars += sizes[i].chars;
    }
  }

  private sizes(messages: InputMessageDto[]): Array<{ tokens: number; chars: number }> {
    return messages.map((m, i) => ({ tokens: this.estimator.countMessage(toWireMessage(parseInputMessage(m, i))), chars: messageChars(m) }));
  }

  async get(account: ResolvedAccount, id: string) {
    return conversationView(await this.mustFind(account, id));
  }

  async update(account: ResolvedAccount, id: string, dto: UpdateConversationDto) {
    const s = await this.mustFind(account, id);
    await this.repo.setMetadata(account.id, s.id, dto.metadata);
    return conversationView(await this.mustFind(account, id));
  }

  /** Closes the session (slot released, history kept); the conversation is gone for this API. */
  async delete(account: ResolvedAccount, id: string) {
    const s = await this.mustFind(account, id);
    await this.sessions.close(account, s.id);
    return { id: conversationId(s.id), object: 'conversation.deleted' as const, deleted: true };
  }

  async listItems(account: ResolvedAccount, id: string, q: ConversationItemsQuery) {
    const s = await this.mustFind(account, id);
    return itemPage(await this.windowItems(s), q.limit ?? 20, q.order ?? 'desc', q.after);
  }

  async createItems(account: ResolvedAccount, id: string, dto: CreateConversationItemsDto) {
    const s = await this.mustFind(account, id);
    const messages = inputToMessages(dto.items, 'items');
    const turn = await waitForConversation(this.config.responsesLockWaitMs, id, () => this.turns.append(account, s.id, { messages, generate: false }, null, null));
    const fresh = await this.sessions.mustFind(account, s.id);
    const rows = await this.sessionRepo.listMessages(fresh, turn.seqs[0] - 1, turn.seqs.length);
    const items = rows.slice(0, turn.seqs.length).flatMap((m) => itemsOf(s.id, m));
    return { object: 'list' as const, data: items, first_id: items[0]?.id ?? null, last_id: items[items.length - 1]?.id ?? null, has_more: false };
  }

  async getItem(account: ResolvedAccount, id: string, itemId: string) {
    const s = await this.mustFind(account, id);
    const item = (await this.windowItems(s)).find((i) => i.id === itemId);
    if (!item) throw ApiError.notFound('item', itemId, 'item_id');
    return item;
  }

  /**
   * Moves the item's message out of the window (history keeps it). A function call and its outputs
   * leave together: the upstream refuses a call without its output, or an output without its call.
   */
  async deleteItem(account: ResolvedAccount, id: string, itemId: string) {
    const s0 = await this.mustFind(account, id);
    const parsed = parseItemId(itemId);
    if (!parsed || parsed.sessionId !== s0.id) throw ApiError.notFound('item', itemId, 'item_id');
    return waitForConversation(this.config.responsesLockWaitMs, id, async () => {
      const lockId = uuidv7();
      if (!(await this.sessionRepo.acquireTurnLock(s0.id, lockId, this.config.turnLockMs))) {
        throw new SessionBusyError('conflict', `Session '${s0.id}' is busy.`, 'conversation');
      }
      try {
        const s = await this.sessions.mustFind(account, s0.id);
        const w = await this.sessionRepo.windowShape(s, s.window);
        const all = [...w.outlines, ...w.recent];
        const target = all.find((m) => m.seq === parsed.seq && (parsed.prefix === 'cmp') === (m.kind === 'outline'));
        if (!target) throw ApiError.notFound('item', itemId, 'item_id');
        const drop = toolGroup(w.recent, target);
        const tokens = all.filter((m) => drop.includes(m.seq)).reduce((n, m) => n + m.tokens, 0);
        const ok = await this.sessionRepo.inTurnTransaction(s.id, lockId, async (m, cur) => {
          await this.sessionRepo.updateSession(m, s.id, { window: excludeFromWindow(cur.window, drop), windowTokens: cur.windowTokens - tokens, version: cur.version + 1 });
          await this.state.event(m, s.id, 'item_deleted', { item_id: itemId, seqs: drop, tokens });
          return true;
        });
        this.windows.drop(s.id);
        if (!ok) throw new ApiError('conflict', 'The conversation changed during the delete; nothing was written.', 'conversation');
      } finally {
        await this.sessionRepo.releaseTurnLock(s0.id, lockId).catch(() => undefined);
      }
      return conversationView(await this.sessions.mustFind(account, s0.id));
    });
  }

  /** The open session behind a conversation id; a closed one (a deleted conversation), another account's or an unknown one is 404. */
  async mustFind(account: ResolvedAccount, id: string, param: string | null = null): Promise<SessionEntity> {
    const sid = sessionIdOfConversation(id);
    const s = sid ? await this.sessionRepo.findForAccount(account.id, sid) : null;
    if (!s || s.status === 'closed') throw ApiError.notFound('conversation', id, param);
    return s;
  }

  /** The window as items, oldest first: outlines (compaction items), then the verbatim messages. */
  async windowItems(s: SessionEntity): Promise<Item[]> {
    const w = await this.sessionRepo.windowMessages(s, s.window);
    return [...w.outlines, ...w.recent].flatMap((m) => itemsOf(s.id, m));
  }
}

/** The seqs that leave the window with `target`: an assistant's tool calls and their outputs go together. */
function toolGroup(recent: StoredMessage[], target: StoredMessage): number[] {
  if (target.kind === 'outline') return [target.seq];
  let call: StoredMessage | undefined = target.toolCalls?.length ? target : undefined;
  if (!call && target.role === 'tool') call = recent.find((m) => m.toolCalls?.some((c) => c.id === target.toolCallId));
  if (!call) return [target.seq];
  const ids = new Set((call.toolCalls ?? []).map((c) => c.id));
  return [call.seq, ...recent.filter((m) => m.role === 'tool' && m.toolCallId && ids.has(m.toolCallId)).map((m) => m.seq)];
}
