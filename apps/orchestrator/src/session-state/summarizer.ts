import { Injectable, Logger } from '@nestjs/common';
import { OUTLINE_JSON_SCHEMA, readOutlineTolerant, type ChatMessage, type Outline, type ToolDefinition } from '@so/domain';
import { UpstreamError } from '@so/llm';
import { CallContext, LlmGateway, PricedReply } from '../upstream/llm-gateway';

export type SummaryFormat = 'json' | 'markdown';

/** What the summarizer calls cost, added to the session's totals and reported in the compaction event. */
export interface SummarizerSpend {
  calls: number;
  prompt: number;
  cached: number;
  completion: number;
  cacheWrite: number;
  cost: number;
}

export interface SummaryResult {
  /** null when nothing readable came back, even after the one repair call. */
  outline: Outline | null;
  /** How the reply was read: canonical, markdown (a variant), json, prose, or empty. */
  form: string;
  /** The steps taken: `model`, then `continued` (cut at max_tokens, resumed in partial mode), `salvaged`, `repaired`. */
  path: string[];
  problems: string[];
  spend: SummarizerSpend;
  /**
   * With `deferRecord`: the usage rows of the calls made, for the caller to write with its commit (or with
   * LlmGateway.recordAfterFailure if it does not commit). Without it they were written already.
   */
  pending: PricedReply[];
}

/** A JSON-mode request, in OpenAI's (and Kimi's) shape. */
const JSON_MODE = { type: 'json_object' } as const;
/** A repair call answers at most this many tokens more than the broken reply had. */
const REPAIR_SLACK_TOKENS = 256;

/**
 * One compaction's conversation with the summarizer: one call, then never a second full call over a
 * format problem. A reply cut at max_tokens is salvaged when it already reaches the target length,
 * else continued once in Kimi's partial mode (the prompt is the same, so its prefix is a cache hit); a
 * reply that cannot be read at all is sent back once with the problems found, without the transcript,
 * to be rewritten as JSON. What is read is kept.
 */
@Injectable()
export class Summarizer {
  private readonly logger = new Logger(Summarizer.name);

  constructor(private readonly llm: LlmGateway) {}

  async summarize(
    ctx: CallContext,
    model: string,
    messages: ChatMessage[],
    opts: { format: SummaryFormat; maxTokens: number; targetTokens: number; tools?: ToolDefinition[] | null; deferRecord?: boolean },
  ): Promise<SummaryResult> {
    const pending: PricedReply[] = [];
    try {
      return await this.run(ctx, model, messages, opts, pending);
    } catch (err) {
      // Calls made before the failure were paid for: their rows are written now.
      await this.recordUnwritten(pending, ctx);
      throw err;
    }
  }

  /** Writes the usage rows a deferred summary left (its caller did not commit them). Never throws. */
  async recordUnwritten(pending: PricedReply[], ctx: Pick<CallContext, 'sessionId' | 'purpose'>): Promise<void> {
    for (const reply of pending) await this.llm.recordAfterFailure(reply, ctx);
  }

  private async run(
    ctx: CallContext,
    model: string,
    messages: ChatMessage[],
    opts: { format: SummaryFormat; maxTokens: number; targetTokens: number; tools?: ToolDefinition[] | null; deferRecord?: boolean },
    pending: PricedReply[],
  ): Promise<SummaryResult> {
    // In context, the request carries the session's tools so its prefix matches the chat turns' (a cache hit); none may be called.
    const toolFields = opts.tools?.length ? { tools: opts.tools, tool_choice: 'none' as const } : {};
    const spend: SummarizerSpend = { calls: 0, prompt: 0, cached: 0, completion: 0, cacheWrite: 0, cost: 0 };
    const path = ['model'];
    const responseFormat = opts.format === 'json' ? JSON_MODE : undefined;
    const first = await this.call(ctx, spend, pending, opts.deferRecord === true, { model, messages, max_tokens: opts.maxTokens, temperature: 0, response_format: responseFormat, ...toolFields });
    let text = first.content ?? '';
    // Cut at max_tokens: a reply already as long as the target is salvaged (it would be trimmed anyway);
    // a shorter one is continued, since what is missing may be the facts.
    if (first.finishReason === 'length' && text !== '' && first.usage.completionTokens < opts.targetTokens) {
      try {
        const rest = await this.call(ctx, spend, pending, opts.deferRecord === true, {
          model,
          messages: [...messages, { role: 'assistant', content: text, partial: true }],
          max_tokens: Math.max(256, Math.ceil(opts.maxTokens / 2)),
          temperature: 0,
          response_format: responseFormat,
          ...toolFields,
        });
        text += rest.content ?? '';
        path.push('continued');
      } catch (err) {
        // An upstream without partial mode: read what arrived.
        if (!(err instanceof UpstreamError)) throw err;
        this.logger.warn({ sessionId: ctx.sessionId, err: err.message }, 'summary cut at max_tokens could not be continued; salvaging what arrived');
      }
    }
    let read = readOutlineTolerant(text);
    if (read.outline && read.salvaged) path.push('salvaged');
    if (!read.outline) {
      this.logger.warn({ sessionId: ctx.sessionId, problems: read.problems.slice(0, 5) }, 'summary unreadable; one repair call');
      const repaired = await this.call(ctx, spend, pending, opts.deferRecord === true, {
        model,
        messages: repairRequest(text, read.problems),
        max_tokens: Math.max(opts.maxTokens, Math.ceil(text.length / 3) + REPAIR_SLACK_TOKENS),
        temperature: 0,
        response_format: JSON_MODE,
      });
      read = readOutlineTolerant(repaired.content ?? '');
      path.push('repaired');
    }
    return { outline: read.outline, form: read.form, path, problems: read.problems, spend, pending };
  }

  private async call(ctx: CallContext, spend: SummarizerSpend, pending: PricedReply[], deferRecord: boolean, req: Parameters<LlmGateway['complete']>[1]): Promise<PricedReply> {
    const reply = await this.llm.complete(ctx, req, { deferRecord });
    if (reply.pendingUsage) pending.push(reply);
    spend.calls += 1;
    spend.prompt += reply.usage.promptTokens;
    spend.cached += reply.usage.cachedTokens;
    spend.completion += reply.usage.completionTokens;
    spend.cacheWrite += reply.usage.cacheWriteTokens;
    spend.cost += reply.costUsd;
    return reply;
  }
}

/** The repair call: the broken reply and what is wrong with it; not the transcript again. */
export function repairRequest(reply: string, problems: string[]): ChatMessage[] {
  return [
    {
      role: 'system',
      content: [
        'You fix the format of a conversation outline. Rewrite the text you are given as ONE JSON object that follows this JSON Schema, keeping every item and every exact value (names, numbers, dates, identifiers, paths) as written. Add nothing that is not in the text.',
        JSON.stringify(OUTLINE_JSON_SCHEMA),
      ].join('\n'),
    },
    {
      role: 'user',
      content: `Problems found: ${problems.slice(0, 10).join('; ') || 'unreadable'}\n\nText:\n${reply}`,
    },
  ];
}
