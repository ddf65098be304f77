import { createHash } from 'node:crypto';
import { seededRandom } from './random';
import { buildOutline, OUTLINE_MARKER, outlineTargetTokens } from './outline';
import { textOfContent, type TokenCounter } from './token-counter';
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

export type ReplyPlan =
  | { kind: 'text'; tokens: number[]; content: string; finishReason: 'stop' | 'length'; streamSeed: number }
  | { kind: 'tool_call'; toolCall: SimToolCall; completionTokens: number; finishReason: 'tool_calls'; streamSeed: number };

export interface ReplyContext {
  counter: TokenCounter;
  seed: number;
  /** Natural reply length for this request (option or `x-sim-reply-tokens`). */
  replyTokens: number;
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

export function isOutlineRequest(messages: SimMessage[]): boolean {
  return messages.some((m) => m.role === 'system' && textOfContent(m.content).includes(OUTLINE_MARKER));
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

function textPlan(tokens: number[], cut: boolean, streamSeed: number, counter: TokenCounter): ReplyPlan {
  return { kind: 'text', tokens, content: counter.decode(tokens), finishReason: cut ? 'length' : 'stop', streamSeed };
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
  const messages = req.messages;

  if (isOutlineRequest(messages)) {
    const system = messages.filter((m) => m.role === 'system').map((m) => textOfContent(m.content)).join('\n');
    const transcript = messages.filter((m) => m.role === 'user').map((m) => textOfContent(m.content)).join('\n');
    const outline = buildOutline(transcript, outlineTargetTokens(system), counter);
    const all = counter.encode(outline);
    const cut = maxTokens !== undefined && all.length > maxTokens;
    return textPlan(cut ? all.slice(0, maxTokens) : all, cut, hashSeeds(req.model, outline, seed)[1], counter);
  }

  const last = messages[messages.length - 1];
  const natural = ctx.replyTokens;
  const limit = maxTokens !== undefined ? Math.min(maxTokens, natural) : natural;
  const cut = limit < natural;

  if (last.role === 'user') {
    const userText = textOfContent(last.content);
    const tool = chosenTool(req, userText);
    if (tool) {
      const name = tool.function.name;
      const [idSeed, streamSeed] = hashSeeds(req.model, userText, seed, name);
      const args = JSON.stringify({ input: Array.from(userText.slice(0, 80)).slice(0, 40).join('') });
      const id = `call_${idSeed.toString(16).padStart(8, '0')}${streamSeed.toString(16).padStart(8, '0')}`;
      return {
        kind: 'tool_call',
        toolCall: { id, type: 'function', function: { name, arguments: args } },
        completionTokens: counter.countText(name) + counter.countText(args) + TOOL_CALL_OVERHEAD_TOKENS,
        finishReason: 'tool_calls',
        streamSeed,
      };
    }
  }

  let prefix: string;
  let source: string;
  if (last.role === 'tool') {
    source = textOfContent(last.content);
    prefix = `Re: tool ${toolNameOfResult(messages, last)} result`;
  } else {
    source = lastUserText(messages) ?? '';
    prefix = `Re: ${firstWords(source, 8)}`.trimEnd();
  }
  const [wordSeed, streamSeed] = hashSeeds(req.model, last.role, source, seed);

  if (req.response_format?.type === 'json_object') {
    const wrapperTokens = counter.countText(JSON.stringify({ reply: '' }));
    const inner = generatedTokens(prefix, wordSeed, Math.max(1, limit - wrapperTokens), counter);
    const json = JSON.stringify({ reply: counter.decode(inner) });
    const tokens = counter.encode(json);
    return textPlan(tokens.length > limit ? tokens.slice(0, limit) : tokens, cut || tokens.length > limit, streamSeed, counter);
  }
  return textPlan(generatedTokens(prefix, wordSeed, limit, counter), cut, streamSeed, counter);
}
