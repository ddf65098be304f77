import { Inject, Injectable } from '@nestjs/common';
import type { UpstreamChunk } from '@so/llm';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { uuidv7 } from '../common/ids';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { SessionsService } from '../sessions/sessions.service';
import { replayChunk } from '../sessions/turn-chunks';
import { TurnService } from '../sessions/turn.service';
import { LlmGateway, openAiUsage } from '../upstream/llm-gateway';
import { parseInputMessage, toWireMessage } from '../sessions/input-messages';
import type { ChatCompletionDto } from './chat-completions.dto';
import { ModelAdmission } from '../models/model-admission';

type ChunkSink = ((c: unknown) => void) | null;

const PASSTHROUGH_EXTRA = ['seed', 'presence_penalty', 'frequency_penalty', 'user', 'parallel_tool_calls'] as const;

/** /v1/chat/completions: a session append when `session_id` is given, a stateless pass-through otherwise. */
@Injectable()
export class ChatCompletionsService {
  constructor(
    private readonly turns: TurnService,
    private readonly sessions: SessionsService,
    private readonly llm: LlmGateway,
    private readonly modelAdmission: ModelAdmission,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Non-streamed: the chat.completion object. Streamed: chunks go to `sink`; returns the closing usage chunk, if asked for. */
  async complete(account: ResolvedAccount, dto: ChatCompletionDto, key: string | null, sink: ChunkSink): Promise<unknown> {
    return dto.session_id !== undefined ? this.inSession(account, dto, key, sink) : this.passthrough(account, dto, sink);
  }

  private async inSession(account: ResolvedAccount, dto: ChatCompletionDto, key: string | null, sink: ChunkSink): Promise<unknown> {
    const session = await this.sessions.mustFind(account, dto.session_id!);
    if (dto.model !== undefined && dto.model !== session.model) {
      throw new ApiError('invalid_request', `Session '${session.id}' uses model '${session.model}'; omit model or pass that one.`, 'model');
    }
    if (dto.tools !== undefined && canonicalJson(dto.tools) !== canonicalJson(session.tools ?? [])) {
      throw new ApiError('invalid_request', 'Tools are pinned on the session (set them when creating it); omit tools or pass the same ones.', 'tools');
    }
    const turn = await this.turns.append(
      account,
      session.id,
      {
        messages: dto.messages,
        max_tokens: dto.max_tokens ?? dto.max_completion_tokens,
        temperature: dto.temperature,
        top_p: dto.top_p,
        tool_choice: dto.tool_choice,
        response_format: dto.response_format,
        stream: sink !== null,
      },
      key,
      sink ? { chunk: (c: UpstreamChunk) => sink(c) } : null,
    );
    const extension = { session_id: turn.session_id, turn_id: turn.id, seqs: turn.seqs, session_usage: turn.session_usage, compaction: turn.compaction, idempotent_replay: turn.idempotent_replay };
    if (!sink) {
      const m = turn.message!;
      return completionObject(turn.completion?.id ?? turn.id, turn.completion?.created, turn.completion?.model ?? session.model, m.content, m.tool_calls, turn.completion?.finish_reason ?? 'stop', turn.usage, extension);
    }
    if (turn.idempotent_replay && turn.message) sink(replayChunk(turn, session.model));
    return dto.stream_options?.include_usage ? { ...usageChunk(turn.completion?.id ?? turn.id, turn.completion?.created, turn.completion?.model ?? session.model, turn.usage), ...extension } : null;
  }

  private async passthrough(account: ResolvedAccount, dto: ChatCompletionDto, sink: ChunkSink): Promise<unknown> {
    const model = this.modelAdmission.resolve(account, dto.model);
    const extra: Record<string, unknown> = {};
    for (const k of PASSTHROUGH_EXTRA) if (dto[k] !== undefined) extra[k] = dto[k];
    const req = {
      model,
      messages: dto.messages.map((m, i) => toWireMessage(parseInputMessage(m, i))),
      tools: dto.tools as never,
      tool_choice: dto.tool_choice,
      max_tokens: dto.max_tokens ?? dto.max_completion_tokens,
      temperature: dto.temperature,
      top_p: dto.top_p,
      stop: dto.stop,
      response_format: dto.response_format,
      extra,
    };
    const ctx = { account, sessionId: null, turnId: uuidv7(), purpose: 'passthrough' as const, signal: sink ? AbortSignal.timeout(this.config.streamMaxMs) : undefined };
    if (!sink) {
      const r = await this.llm.complete(ctx, req);
      return completionObject(r.id, r.created, r.model, r.content, r.toolCalls, r.finishReason, openAiUsage(r), {});
    }
    const r = await this.llm.stream(ctx, req, (c) => sink(c));
    return dto.stream_options?.include_usage ? usageChunk(r.id, r.created, r.model, openAiUsage(r)) : null;
  }
}

/** JSON with object keys sorted at every level: the stored tools come back from jsonb in another key order. */
function canonicalJson(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (x && typeof x === 'object') {
      return Object.fromEntries(
        Object.keys(x as Record<string, unknown>)
          .filter((k) => (x as Record<string, unknown>)[k] !== undefined)
          .sort()
          .map((k) => [k, sort((x as Record<string, unknown>)[k])]),
      );
    }
    return x;
  };
  return JSON.stringify(sort(v));
}

function completionObject(id: string, created: number | undefined, model: string, content: string | null, toolCalls: unknown[] | null | undefined, finish: string | null, usage: unknown, extension: Record<string, unknown>) {
  const message: Record<string, unknown> = { role: 'assistant', content, refusal: null };
  if (toolCalls && toolCalls.length) message.tool_calls = toolCalls;
  return {
    id,
    object: 'chat.completion',
    created: created ?? Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: finish ?? 'stop', logprobs: null }],
    usage,
    ...extension,
  };
}

function usageChunk(id: string, created: number | undefined, model: string, usage: unknown) {
  return { id, object: 'chat.completion.chunk', created: created ?? Math.floor(Date.now() / 1000), model, choices: [], usage };
}
