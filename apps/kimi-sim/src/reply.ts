import { createHash } from 'node:crypto';
import { seededRandom } from './random';
import { isInContextCompression, readInContextCompression } from './in-context';
import { OUTLINE_MARKER } from './outline';
import { chooseStyle, writeSummary, type SummarizerStyle, type SummarizerStyleOption } from './summarizer';
import { digestOf, skewFactor, textOfContent, type TokenCounter } from './token-counter';
import type { ChatCompletionRequest, SimMessage, SimTool, SimToolCall } from './wire';

/** Role markers and call framing a tool call costs on top of its name and arguments. */
const TOOL_CALL_OVERHEAD_TOKENS = 3;

/** Common words that are one o200k token each with a leading space, so length tracks word count. */
const PSEUDO_WORDS = [
  'the', 'session', 'window', 'token', 'cache', 'model', 'reply', 'context', 'prefix', 'stream', 'value',
  'state', 'record', 'event', 'policy', 'round', 'budget', 'outline', 'signal', 'result', 'answer', 'simple',
  'stable', 'quick', 'data', 'node', 'queue', 'pool', 'task', 'child', 'merge', 'final', 'check', 'note', 'plan',
  'step', 'order', 'level', 'point', 'light', 'river', 'stone', 'green', 'paper', 'table', 'water', 'north',
  'field', 'clear', 'small', 'large', 'early', 'later', 'every', 'other', 'about', 'under', 'after', 'first',
  'second', 'third', 'with', 'from', 'into',
];

export type FinishReason = 'stop' | 'length' | 'tool_calls';

/**
 * `tokens` are o200k tokens (what is streamed); `completionTokens` is what usage reports, which the
 * tokenizer skew makes differ from `tokens.length`. `rawTokens` is the o200k size of what is sent.
 */
export type ReplyPlan =
  | {
      kind: 'text';
      tokens: number[];
      content: string;
      rawTokens: number;
      completionTokens: number;
      finishReason: 'stop' | 'length';
      streamSeed: number;
      /** Set for compression (outline) requests: the style the outline was written in. */
      summarizerStyle: SummarizerStyle | null;
    }
  | { kind: 'tool_call'; toolCall: SimToolCall; rawTokens: number; completionTokens: number; finishReason: 'tool_calls'; streamSeed: number; summarizerStyle: null };

export interface ReplyContext {
  counter: TokenCounter;
  seed: number;
  /** Natural reply length for this request (option or `x-sim-reply-tokens`). */
  replyTokens: number;
  /** Option or header; resolved per request when `mix`. Default `mix`. */
  summarizerStyle?: SummarizerStyleOption;
  /** Share of facts the `lossy` style drops. Default 0.3. */
  lossyDropShare?: number;
}

/** The completion cap a request asked for, if any. */
export function requestedMaxTokens(req: ChatCompletionRequest): number | undefined {
  return req.max_tokens ?? req.max_completion_tokens ?? undefined;
}

export function lastUserText(messages: SimMessage[]): string | null {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user') return textOfContent(messages[i].content);
  }
  return null;
}

/**
 * A compression request: a system message carries the marker (transcript form), or the last message is an
 * in-context compression instruction (a trailing partial assistant message must be removed first).
 */
export function isOutlineRequest(messages: SimMessage[]): boolean {
  return messages.some((m) => m.role === 'system' && textOfContent(m.content).includes(OUTLINE_MARKER)) || isInContextCompression(messages);
}

function hashSeeds(...parts: (string | number)[]): [number, number] {
  const h = createHash('sha1');
  for (const p of parts) h.update(String(p)).update('\u0000');
  const digest = h.digest();
  return [digest.readUInt32BE(0), digest.readUInt32BE(4)];
}

function firstWords(text: string, count: number): string {
  return text.slice(0, 2000).trim().split(/\s+/).slice(0, count).join(' ');
}

/** `prefix` followed by seeded pseudo-words, exactly `targetTokens` tokens long (cut at a token). */
function generatedTokens(prefix: string, wordSeed: number, targetTokens: number, counter: TokenCounter): number[] {
  const random = seededRandom(wordSeed);
  let text = prefix;
  let tokens = counter.encode(text);
  let wordsSinceStop = 0;
  while (tokens.length < targetTokens) {
    for (let estimate = tokens.length; estimate < targetTokens + 2; estimate++) {
      text += ` ${PSEUDO_WORDS[Math.floor(random() * PSEUDO_WORDS.length)]}`;
      if (++wordsSinceStop >= 8 && random() < 0.25) {
        text += '.';
        wordsSinceStop = 0;
      }
    }
    tokens = counter.encode(text);
  }
  return tokens.slice(0, targetTokens);
}

/** The trailing assistant message's text when it asks for a continuation (Kimi partial mode). */
export function partialPrefix(messages: SimMessage[]): string | null {
  const last = messages[messages.length - 1];
  return last?.role === 'assistant' && last.partial === true ? textOfContent(last.content) : null;
}

/**
 * The rest of `full` after `prefix`. When the prefix is not exactly the start of `full` (edited, or cut
 * mid-character), the reply resumes after the prefix's last line if `full` has it, else after the line
 * where the two part ways.
 */
export function continuation(full: string, prefix: string): string {
  if (full.startsWith(prefix)) return full.slice(prefix.length);
  const lastLine = prefix.trimEnd().split('\n').pop()?.trim() ?? '';
  if (lastLine.length >= 8) {
    const at = full.lastIndexOf(lastLine);
    if (at >= 0) return full.slice(at + lastLine.length);
  }
  let common = 0;
  const n = Math.min(full.length, prefix.length);
  while (common < n && full.charCodeAt(common) === prefix.charCodeAt(common)) common++;
  const nextLine = full.indexOf('\n', common);
  return nextLine >= 0 ? full.slice(nextLine) : '';
}

/**
 * A text reply of `all` o200k tokens, counted at `factor` sim tokens each (rounded up), cut at
 * `maxTokens` sim tokens with finish_reason length when it is longer.
 */
function sizedTextPlan(
  all: number[],
  factor: number,
  maxTokens: number | undefined,
  streamSeed: number,
  counter: TokenCounter,
  summarizerStyle: SummarizerStyle | null,
  naturalTokens = Math.ceil(all.length * factor - 1e-9),
): ReplyPlan {
  const cut = maxTokens !== undefined && naturalTokens > maxTokens;
  const tokens = cut ? all.slice(0, Math.max(0, Math.min(all.length, Math.floor(maxTokens / factor + 1e-9)))) : all;
  return {
    kind: 'text',
    tokens,
    content: counter.decode(tokens),
    rawTokens: tokens.length,
    completionTokens: cut ? maxTokens : naturalTokens,
    finishReason: cut ? 'length' : 'stop',
    streamSeed,
    summarizerStyle,
  };
}

/** What identifies a compression request for `mix`: the model and every message's role and text. */
function requestDigest(model: string, messages: SimMessage[]): string {
  return digestOf(JSON.stringify([model, messages.map((m) => [m.role, textOfContent(m.content)])]));
}

function chosenTool(req: ChatCompletionRequest, userText: string): SimTool | undefined {
  const tools = req.tools ?? [];
  const choice = req.tool_choice;
  if (tools.length === 0 || choice === 'none') return undefined;
  if (choice && typeof choice === 'object') return tools.find((t) => t.function.name === choice.function?.name);
  const mentioned = tools.find((t) => userText.includes(t.function.name));
  return mentioned ?? (choice === 'required' ? tools[0] : undefined);
}

function toolNameOfResult(messages: SimMessage[], result: SimMessage): string {
  if (result.name) return result.name;
  for (let i = messages.length - 2; i >= 0; i--) {
    const call = messages[i].tool_calls?.find((c) => c.id === result.tool_call_id);
    if (call) return call.function.name;
  }
  return 'unknown';
}

/** Decides the whole reply up front; streamed and non-streamed answers are cut from the same plan. */
export function planReply(req: ChatCompletionRequest, ctx: ReplyContext): ReplyPlan {
  const { counter, seed } = ctx;
  const maxTokens = requestedMaxTokens(req);
  const prefix = partialPrefix(req.messages);
  // In partial mode the reply is the one the request without the prefix would get, minus the prefix.
  const messages = prefix === null ? req.messages : req.messages.slice(0, -1);

  // Checked before tools: a compression request is answered with an outline, never with a tool call.
  const inContext = readInContextCompression(messages);
  if (inContext !== null || isOutlineRequest(messages)) {
    const system = inContext ? inContext.instruction : messages.filter((m) => m.role === 'system').map((m) => textOfContent(m.content)).join('\n');
    const userText = inContext ? '' : messages.filter((m) => m.role === 'user').map((m) => textOfContent(m.content)).join('\n');
    const digest = requestDigest(req.model, messages);
    const style = chooseStyle(ctx.summarizerStyle ?? 'mix', seed, digest);
    const summary = writeSummary({
      systemText: system,
      userText,
      conversation: inContext ? { transcript: inContext.transcript, previousOutlines: inContext.previousOutlines } : undefined,
      jsonMode: req.response_format?.type === 'json_object',
      maxTokens,
      style,
      variantSeed: hashSeeds('variant', seed, digest)[0],
      lossyDropShare: ctx.lossyDropShare ?? 0.3,
      counter,
    });
    const text = prefix === null ? summary.text : continuation(summary.text, prefix);
    const limit = summary.cutAt === null ? maxTokens : Math.min(summary.cutAt, maxTokens ?? Infinity);
    return sizedTextPlan(counter.encode(text), skewFactor(digestOf(text), counter.skew), limit, hashSeeds(req.model, text, seed)[1], counter, style);
  }

  const last = messages[messages.length - 1];
  const natural = ctx.replyTokens;

  if (last.role === 'user' && prefix === null) {
    const userText = textOfContent(last.content);
    const tool = chosenTool(req, userText);
    if (tool) {
      const name = tool.function.name;
      const [idSeed, streamSeed] = hashSeeds(req.model, userText, seed, name);
      const args = JSON.stringify({ input: Array.from(userText.slice(0, 80)).slice(0, 40).join('') });
      const id = `call_${idSeed.toString(16).padStart(8, '0')}${streamSeed.toString(16).padStart(8, '0')}`;
      const rawTokens = counter.countText(name) + counter.countText(args) + TOOL_CALL_OVERHEAD_TOKENS;
      return {
        kind: 'tool_call',
        toolCall: { id, type: 'function', function: { name, arguments: args } },
        rawTokens,
        completionTokens: Math.ceil(rawTokens * skewFactor(digestOf(args), counter.skew) - 1e-9),
        finishReason: 'tool_calls',
        streamSeed,
        summarizerStyle: null,
      };
    }
  }

  let head: string;
  let source: string;
  if (last.role === 'tool') {
    source = textOfContent(last.content);
    head = `Re: tool ${toolNameOfResult(messages, last)} result`;
  } else {
    source = lastUserText(messages) ?? '';
    head = `Re: ${firstWords(source, 8)}`.trimEnd();
  }
  const [wordSeed, streamSeed] = hashSeeds(req.model, last.role, source, seed);
  // The natural reply is `natural` sim tokens: that many o200k tokens divided by this reply's skew.
  const factor = skewFactor(String(wordSeed), counter.skew);
  const rawLength = Math.max(1, Math.round(natural / factor));

  let all: number[];
  if (req.response_format?.type === 'json_object') {
    const wrapperTokens = counter.countText(JSON.stringify({ reply: '' }));
    const inner = generatedTokens(head, wordSeed, Math.max(1, rawLength - wrapperTokens), counter);
    all = counter.encode(JSON.stringify({ reply: counter.decode(inner) }));
  } else {
    all = generatedTokens(head, wordSeed, rawLength, counter);
  }
  if (prefix !== null) {
    all = counter.encode(continuation(counter.decode(all), prefix));
    return sizedTextPlan(all, factor, maxTokens, streamSeed, counter, null);
  }
  return sizedTextPlan(all, factor, maxTokens, streamSeed, counter, null, natural);
}
