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

  it('produces exactly the requested number of tokens, as the skewed tokenizer counts them', () => {
    const skewed = new TokenCounter(1000, 0.15);
    for (const replyTokens of [1, 7, 48, 800]) {
      const plan = planReply(request({}), { ...ctx, replyTokens });
      expect(plan.kind === 'text' && plan.tokens.length).toBe(replyTokens);
      expect(plan.completionTokens).toBe(replyTokens);
      const skewedPlan = planReply(request({}), { ...ctx, counter: skewed, replyTokens });
      expect(skewedPlan.completionTokens).toBe(replyTokens);
      expect(skewedPlan.finishReason).toBe('stop');
    }
  });

  it('cuts at max_tokens with finish_reason length, the cut reply being a prefix of the whole one', () => {
    const skewed = new TokenCounter(1000, 0.15);
    const whole = planReply(request({}), { ...ctx, counter: skewed, replyTokens: 200 });
    const cut = planReply(request({ max_tokens: 50 }), { ...ctx, counter: skewed, replyTokens: 200 });
    expect([cut.finishReason, cut.completionTokens]).toEqual(['length', 50]);
    expect(whole.kind === 'text' && cut.kind === 'text' && whole.content.startsWith(cut.content)).toBe(true);
    const json = planReply(request({ max_tokens: 10, response_format: { type: 'json_object' } }), { ...ctx, replyTokens: 200 });
    expect([json.finishReason, json.completionTokens]).toEqual(['length', 10]);
  });

  it('continues a reply from a partial assistant prefix', () => {
    const whole = planReply(request({}), ctx);
    const text = whole.kind === 'text' ? whole.content : '';
    const rest = planReply(request({ messages: [{ role: 'user', content: 'hello there' }, { role: 'assistant', content: text.slice(0, 20), partial: true }] }), ctx);
    expect(rest.kind === 'text' && text.slice(0, 20) + rest.content).toBe(text);
    expect(rest.completionTokens).toBeLessThan(whole.completionTokens);
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
