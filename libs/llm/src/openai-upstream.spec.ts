import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenAIUpstream } from './openai-upstream';
import { fetchServedModels } from './served-models';

/** A tiny OpenAI-shaped upstream that records request bodies and answers with the given usage. */
function fakeUpstream(usage: Record<string, unknown> | null) {
  const bodies: any[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify({ object: 'list', data: [{ id: 'kimi-k2.6', object: 'model' }, { id: 'kimi-k3', object: 'model' }] }));
      }
      const body = JSON.parse(raw);
      bodies.push(body);
      const base = { id: 'cmpl-1', created: 1, model: body.model };
      if (body.stream) {
        res.setHeader('content-type', 'text/event-stream');
        res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: 'hi' }, finish_reason: null }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
        if (usage) res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
        return res.end('data: [DONE]\n\n');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], ...(usage ? { usage } : {}) }));
    });
  });
  return {
    bodies,
    start: () => new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`))),
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const upstream = () => new OpenAIUpstream({ timeoutMs: 2000, streamIdleTimeoutMs: 2000, retry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, maxRetryAfterMs: 0 } });
const req = { model: 'kimi-k2.6', messages: [{ role: 'user' as const, content: 'hello' }], purpose: 'chat' };

describe('OpenAIUpstream: cache TTL and cache-write usage', () => {
  const withWrites = { prompt_tokens: 100, completion_tokens: 5, total_tokens: 105, prompt_tokens_details: { cached_tokens: 40, cache_write_tokens: 60 } };

  it('sends cache_ttl and reads prompt_tokens_details.cache_write_tokens (non-streamed and streamed)', async () => {
    const fake = fakeUpstream(withWrites);
    const baseUrl = await fake.start();
    try {
      const u = upstream();
      const r = await u.complete({ baseUrl, apiKey: 'k' }, { ...req, cacheTtl: '1h' });
      expect(r.usage).toEqual({ promptTokens: 100, cachedTokens: 40, completionTokens: 5, cacheWriteTokens: 60, estimated: false });
      const s = await u.stream({ baseUrl, apiKey: 'k' }, { ...req, cacheTtl: '5m' }, () => undefined);
      expect(s.usage).toEqual({ promptTokens: 100, cachedTokens: 40, completionTokens: 5, cacheWriteTokens: 60, estimated: false });
      expect(fake.bodies.map((b) => b.cache_ttl)).toEqual(['1h', '5m']);
    } finally {
      await fake.stop();
    }
  });

  it('reads 0 cache writes when the upstream does not report them, and sends no cache_ttl when none is set', async () => {
    const fake = fakeUpstream({ prompt_tokens: 10, completion_tokens: 1, total_tokens: 11, prompt_tokens_details: { cached_tokens: 0 } });
    const baseUrl = await fake.start();
    try {
      const r = await upstream().complete({ baseUrl, apiKey: 'k' }, req);
      expect(r.usage.cacheWriteTokens).toBe(0);
      expect('cache_ttl' in fake.bodies[0]).toBe(false);
    } finally {
      await fake.stop();
    }
  });

  it('estimates usage with 0 cache writes when the upstream sends no usage', async () => {
    const fake = fakeUpstream(null);
    const baseUrl = await fake.start();
    try {
      const r = await upstream().stream({ baseUrl, apiKey: 'k' }, req, () => undefined);
      expect(r.usage).toMatchObject({ cacheWriteTokens: 0, cachedTokens: 0, estimated: true });
    } finally {
      await fake.stop();
    }
  });
});

describe('fetchServedModels', () => {
  it('lists the ids the upstream serves', async () => {
    const fake = fakeUpstream(null);
    const baseUrl = await fake.start();
    try {
      expect(await fetchServedModels({ baseUrl, apiKey: 'k' }, 1000)).toEqual({ ok: true, ids: ['kimi-k2.6', 'kimi-k3'] });
    } finally {
      await fake.stop();
    }
  });

  it('reports, without throwing, an upstream it cannot reach', async () => {
    const r = await fetchServedModels({ baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'k' }, 1000);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.status).toBeNull();
  });
});
