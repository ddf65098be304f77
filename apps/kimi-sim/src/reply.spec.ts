import { planReply } from './reply';
import { TokenCounter } from './token-counter';
import type { ChatCompletionRequest, SimTool } from './wire';

const counter = new TokenCounter();
const ctx = { counter, seed: 0, replyTokens: 48 };
const tools: SimTool[] = [
  { type: 'function', function: { name: 'search_docs' } },
  { type: 'function', function: { name: 'open_ticket' } },
];
const request = (over: Partial<ChatCompletionRequest>): ChatCompletionRequest => ({
  model: 'kimi-k2-0905-preview',
  messages: [{ role: 'user', content: 'hello there' }],
  ...over,
});

describe('planReply', () => {
  it('depends on the model, the last user message and the seed only', () => {
    const base = planReply(request({}), ctx);
    const withHistory = planReply(request({ messages: [{ role: 'system', content: 'x' }, { role: 'user', content: 'hello there' }] }), ctx);
    const otherSeed = planReply(request({}), { ...ctx, seed: 1 });

    expect(withHistory).toEqual(base);
    expect(otherSeed.kind === 'text' && base.kind === 'text' && otherSeed.content !== base.content).toBe(true);
  });

  it('produces exactly the requested number of tokens', () => {
    for (const replyTokens of [1, 7, 48, 800]) {
      const plan = planReply(request({}), { ...ctx, replyTokens });
      expect(plan.kind === 'text' && plan.tokens.length).toBe(replyTokens);
    }
  });

  it('calls the forced tool, or the first one when tool_choice is required and none is mentioned', () => {
    const forced = planReply(request({ tools, tool_choice: { type: 'function', function: { name: 'open_ticket' } } }), ctx);
    const required = planReply(request({ tools, tool_choice: 'required' }), ctx);
    const auto = planReply(request({ tools }), ctx);

    expect(forced.kind === 'tool_call' && forced.toolCall.function.name).toBe('open_ticket');
    expect(required.kind === 'tool_call' && required.toolCall.function.name).toBe('search_docs');
    expect(auto.kind).toBe('text');
  });

  it('names the tool of a tool result from the assistant call it answers', () => {
    const plan = planReply(
      request({
        messages: [
          { role: 'user', content: 'open_ticket please' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'open_ticket', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'call_9', content: 'ticket T-1 opened' },
        ],
      }),
      ctx,
    );
    expect(plan.kind === 'text' && plan.content.startsWith('Re: tool open_ticket result')).toBe(true);
  });
});

describe('TokenCounter.pieces', () => {
  it('splits text into per-token pieces that reassemble exactly, multi-byte characters included', () => {
    const text = 'Re: 你好，世界 🚀 naïve café — done';
    const pieces = counter.pieces(counter.encode(text));
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    expect(pieces.reduce((n, p) => n + p.tokens, 0)).toBe(counter.countText(text));
  });
});
