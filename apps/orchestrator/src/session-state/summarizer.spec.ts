import { buildOutlineRequest, type ChatMessage } from '@so/domain';
import { UpstreamError } from '@so/llm';
import type { CallContext, LlmGateway, PricedReply } from '../upstream/llm-gateway';
import { Summarizer } from './summarizer';

// The summarizer's conversation with the upstream, with the gateway (the port) replaced by a script.

type Req = Parameters<LlmGateway['complete']>[1];

function reply(content: string, finishReason = 'stop', promptTokens = 1000): PricedReply {
  return {
    id: 'r', model: 'kimi-k2.6', created: 0, content, toolCalls: null, finishReason,
    usage: { promptTokens, cachedTokens: 0, completionTokens: Math.ceil(content.length / 4), cacheWriteTokens: promptTokens, estimated: false },
    upstreamRequestId: null, latencyMs: 1, attempts: 1, costUsd: 0.001,
  };
}

function scripted(replies: Array<PricedReply | Error>) {
  const requests: Req[] = [];
  const gateway = {
    // eslint-disable-next-line @typescript-eslint/require-await -- the scripted gateway must reject (not throw) like the real one
    complete: jest.fn(async (_ctx: CallContext, req: Req) => {
      requests.push(req);
      const next = replies.shift();
      if (!next) throw new Error('no more scripted replies');
      if (next instanceof Error) throw next;
      return next;
    }),
  } as unknown as LlmGateway;
  return { summarizer: new Summarizer(gateway), requests };
}

const ctx = { account: { id: 'acct' }, sessionId: 's1', turnId: null, purpose: 'compress' } as unknown as CallContext;
const TRANSCRIPT_MARK = 'the deploy token for service s5 is K5X';
const messages: ChatMessage[] = buildOutlineRequest({
  messages: [{ seq: 1, role: 'user', content: `Deploy s5 please. ${TRANSCRIPT_MARK}.`, tokens: 20, kind: 'message', name: null, toolCallId: null, toolCalls: null } as never],
  ratio: 4,
  inputTokens: 400,
  format: 'json',
});

const LOOSE = ['Here is a summary of the conversation:', '', '**Goal:** deploy s5', '', '**Key facts:**', '• The deploy token for service s5 is K5X', '', 'Let me know if you need more detail.'].join('\n');

describe('Summarizer', () => {
  it('reads a loosely formatted reply with one call and asks for JSON mode when the format is json', async () => {
    const { summarizer, requests } = scripted([reply(LOOSE)]);
    const r = await summarizer.summarize(ctx, 'kimi-k2.6', messages, { format: 'json', maxTokens: 300, targetTokens: 100 });
    expect(requests).toHaveLength(1);
    expect(requests[0].response_format).toEqual({ type: 'json_object' });
    expect(r.outline?.goal).toMatch(/deploy s5/);
    expect(r.outline?.facts.join(' ')).toContain('K5X');
    expect(r.spend).toMatchObject({ calls: 1, prompt: 1000, cacheWrite: 1000 });
    expect(r.path[0]).toBe('model');
  });

  it('asks in markdown without JSON mode when the format is markdown', async () => {
    const { summarizer, requests } = scripted([reply(LOOSE)]);
    await summarizer.summarize(ctx, 'other-model', messages, { format: 'markdown', maxTokens: 300, targetTokens: 100 });
    expect(requests[0].response_format).toBeUndefined();
  });

  it('continues a reply cut at max_tokens once, in partial mode, from where it stopped', async () => {
    const head = '{"goal": "deploy s5", "facts": ["The deploy token for ';
    const { summarizer, requests } = scripted([reply(head, 'length'), reply('service s5 is K5X"], "decisions": []}')]);
    const r = await summarizer.summarize(ctx, 'kimi-k2.6', messages, { format: 'json', maxTokens: 300, targetTokens: 100 });
    expect(requests).toHaveLength(2);
    const last = requests[1].messages[requests[1].messages.length - 1];
    expect(last).toEqual({ role: 'assistant', content: head, partial: true });
    expect(requests[1].messages.slice(0, -1)).toEqual(messages);
    expect(r.path.slice(0, 2)).toEqual(['model', 'continued']);
    expect(r.outline?.facts).toEqual(['The deploy token for service s5 is K5X']);
    expect(r.spend.calls).toBe(2);
  });

  it('salvages a cut reply that already reaches the target length, with no second call', async () => {
    const long = ['## Goal', 'deploy s5', '## Facts', ...Array.from({ length: 60 }, (_, i) => `- The deploy token for service s${i} is K${i}X`), '- cut mid'].join('\n');
    const { summarizer, requests } = scripted([reply(long, 'length')]);
    const r = await summarizer.summarize(ctx, 'kimi-k2.6', messages, { format: 'markdown', maxTokens: 300, targetTokens: 100 });
    expect(requests).toHaveLength(1);
    expect(r.outline?.facts.length).toBeGreaterThan(50);
    expect(r.path).not.toContain('continued');
  });

  it('salvages what arrived when the upstream has no partial mode', async () => {
    const head = '## Goal\ndeploy s5\n## Facts\n- The deploy token for service s5 is K5X\n- Another fact that was cut mid';
    const { summarizer, requests } = scripted([reply(head, 'length'), new UpstreamError('invalid_request', 'unknown field partial', 1)]);
    const r = await summarizer.summarize(ctx, 'kimi-k2.6', messages, { format: 'markdown', maxTokens: 300, targetTokens: 100 });
    expect(requests).toHaveLength(2);
    expect(r.outline?.facts[0]).toContain('K5X');
    expect(r.spend.calls).toBe(1);
  });

  it('repairs an unreadable reply with one small call that sends the reply and its problems, not the transcript', async () => {
    const { summarizer, requests } = scripted([reply(''), reply(JSON.stringify({ goal: 'deploy s5', facts: ['K5X is the token'], decisions: [], open_items: [], artifacts: [] }))]);
    const r = await summarizer.summarize(ctx, 'kimi-k2.6', messages, { format: 'markdown', maxTokens: 300, targetTokens: 100 });
    expect(requests).toHaveLength(2);
    expect(JSON.stringify(requests[1].messages)).not.toContain(TRANSCRIPT_MARK);
    expect(requests[1].response_format).toEqual({ type: 'json_object' });
    expect(r.path).toEqual(['model', 'repaired']);
    expect(r.outline?.facts).toEqual(['K5X is the token']);
  });

  it('gives up (outline null) after the one repair, never a third call', async () => {
    const { summarizer, requests } = scripted([reply(''), reply('')]);
    const r = await summarizer.summarize(ctx, 'kimi-k2.6', messages, { format: 'json', maxTokens: 300, targetTokens: 100 });
    expect(requests).toHaveLength(2);
    expect(r.outline).toBeNull();
  });

  it('lets an upstream failure of the first call through (the rolling policy then truncates)', async () => {
    const { summarizer } = scripted([new UpstreamError('upstream_timeout', 'slow', 2)]);
    await expect(summarizer.summarize(ctx, 'kimi-k2.6', messages, { format: 'json', maxTokens: 300, targetTokens: 100 })).rejects.toBeInstanceOf(UpstreamError);
  });
});
