import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeBody, OpenAIUpstream, SseDecoder } from './openai-upstream';
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

describe('SseDecoder', () => {
  it('splits events at blank lines across reads, joins data lines, skips comments and other fields, and accepts CRLF and CR', () => {
    const d = new SseDecoder();
    expect(d.push('data: {"a":')).toEqual([]);
    expect(d.push('1}\n\n: keep-alive\n\nevent: x\nid: 3\ndata: one\ndata: two\n\ndata:three\r\n\r')).toEqual(['{"a":1}', 'one\ntwo']);
    expect(d.push('\ndata: four\r\rdata: [DONE]\n')).toEqual(['three', 'four']);
    expect(d.end()).toEqual(['[DONE]']);
  });
});

/** An upstream that answers each request with the next scripted behaviour. */
function scripted(steps: Array<(res: ServerResponse, body: any) => void>) {
  const seen: any[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      seen.push({ body, headers: req.headers });
      (steps.shift() ?? ((r: ServerResponse) => r.writeHead(500).end()))(res, body);
    });
  });
  return {
    seen,
    start: () => new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`))),
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'kimi-k2.6', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const completion = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req-9' });
  res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'kimi-k2.6', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1 } }));
};
const retrying = (attempts: number, extra: Partial<ConstructorParameters<typeof OpenAIUpstream>[0]> = {}) =>
  new OpenAIUpstream({ timeoutMs: 2000, streamIdleTimeoutMs: 2000, retry: { maxAttempts: attempts, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 5000 }, ...extra });

describe('OpenAIUpstream: the wire, errors and retries', () => {
  it('sends the OpenAI request (bearer key, x-purpose, stream options) and reads the answer, its request id and usage', async () => {
    const up = scripted([completion]);
    const baseUrl = await up.start();
    try {
      const r = await retrying(1).complete({ baseUrl, apiKey: 'sk-1' }, { ...req, max_tokens: 7, extra: { seed: 4 } });
      expect(r).toMatchObject({ content: 'ok', finishReason: 'stop', upstreamRequestId: 'req-9', attempts: 1, usage: { promptTokens: 3, completionTokens: 1, estimated: false } });
      expect(up.seen[0].headers).toMatchObject({ authorization: 'Bearer sk-1', 'x-purpose': 'chat', 'content-type': 'application/json' });
      expect(up.seen[0].body).toEqual({ seed: 4, model: 'kimi-k2.6', messages: req.messages, max_tokens: 7 });
    } finally {
      await up.stop();
    }
  });

  it('retries a 500 and a 429 (waiting its Retry-After), refuses a 400 at once, and calls a bad key upstream_error', async () => {
    const up = scripted([
      (res) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'boom' } })),
      (res) => res.writeHead(429, { 'retry-after-ms': '30' }).end(JSON.stringify({ error: { message: 'slow down' } })),
      completion,
      (res) => res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'bad messages' } })),
      (res) => res.writeHead(401).end(),
    ]);
    const baseUrl = await up.start();
    const waits: number[] = [];
    const u = retrying(3, { sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    } });
    try {
      expect(await u.complete({ baseUrl, apiKey: 'k' }, req)).toMatchObject({ content: 'ok', attempts: 3 });
      expect(waits[1]).toBe(30);
      await expect(u.complete({ baseUrl, apiKey: 'k' }, req)).rejects.toMatchObject({ code: 'invalid_request', attempts: 1, upstreamStatus: 400, message: 'the upstream rejected the request: bad messages' });
      await expect(u.complete({ baseUrl, apiKey: 'k' }, req)).rejects.toMatchObject({ code: 'upstream_error', attempts: 1, upstreamStatus: 401 });
      expect(up.seen).toHaveLength(5);
    } finally {
      await up.stop();
    }
  });

  it('fails a rate limit whose Retry-After is beyond the wait it accepts, with the seconds to wait', async () => {
    const up = scripted([(res) => res.writeHead(429, { 'retry-after': '120' }).end()]);
    const baseUrl = await up.start();
    try {
      await expect(retrying(3).complete({ baseUrl, apiKey: 'k' }, req)).rejects.toMatchObject({ code: 'rate_limited', retryAfterSeconds: 120, attempts: 1 });
    } finally {
      await up.stop();
    }
  });

  it('times out a call that never answers, and an outer abort cancels it', async () => {
    const up = scripted([() => undefined, () => undefined]);
    const baseUrl = await up.start();
    try {
      await expect(retrying(1, { timeoutMs: 50 }).complete({ baseUrl, apiKey: 'k' }, req)).rejects.toMatchObject({ code: 'upstream_timeout' });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 30);
      await expect(retrying(3).complete({ baseUrl, apiKey: 'k' }, req, { signal: ac.signal })).rejects.toMatchObject({ code: 'upstream_error', message: 'the call was cancelled' });
    } finally {
      await up.stop();
    }
  });

  it('streams chunks as they come; an error event before any chunk is retried, after one it fails with what was received billed', async () => {
    const up = scripted([
      (res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(`data: ${JSON.stringify({ error: { message: 'overloaded' } })}\n\n`),
      (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunk({ role: 'assistant', content: 'Hel' }));
        res.end(chunk({ content: 'lo' }, 'stop') + `data: ${JSON.stringify({ id: 'c1', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })}\n\ndata: [DONE]\n\n`);
      },
      (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(chunk({ content: 'Part' }) + `data: ${JSON.stringify({ error: { message: 'overloaded' } })}\n\n`);
      },
    ]);
    const baseUrl = await up.start();
    const u = retrying(3);
    try {
      const got: string[] = [];
      const r = await u.stream({ baseUrl, apiKey: 'k' }, req, (c) => got.push((c.choices[0]?.delta as { content?: string } | undefined)?.content ?? ''));
      expect(got).toEqual(['Hel', 'lo']);
      expect(r).toMatchObject({ content: 'Hello', finishReason: 'stop', attempts: 2, usage: { promptTokens: 5, completionTokens: 2, estimated: false } });
      expect(up.seen[1].body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
      const err = await u.stream({ baseUrl, apiKey: 'k' }, req, () => undefined).catch((e) => e);
      expect(err).toMatchObject({ code: 'upstream_error', attempts: 1 });
      expect(err.message).toMatch(/interrupted: the upstream sent an error: overloaded/);
      expect(err.partialUsage).toMatchObject({ estimated: true });
      expect(err.partialUsage.completionTokens).toBeGreaterThan(0);
    } finally {
      await up.stop();
    }
  });

  it('fails a stream cut after its first chunk or ended without a finish, and times out one that goes quiet', async () => {
    const up = scripted([
      (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunk({ content: 'Half' }));
        setTimeout(() => res.socket?.destroy(), 20);
      },
      (res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(chunk({ content: 'No end' }) + 'data: [DONE]\n\n'),
      (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunk({ content: 'then nothing' }));
      },
    ]);
    const baseUrl = await up.start();
    try {
      const cut = await retrying(3).stream({ baseUrl, apiKey: 'k' }, req, () => undefined).catch((e) => e);
      expect(cut).toMatchObject({ code: 'upstream_error', attempts: 1 });
      expect(cut.message).toMatch(/interrupted/);
      const unfinished = await retrying(1).stream({ baseUrl, apiKey: 'k' }, req, () => undefined).catch((e) => e);
      expect(unfinished).toMatchObject({ code: 'upstream_error', message: 'the upstream stream ended before the reply was complete' });
      const quiet = await retrying(1, { streamIdleTimeoutMs: 60 }).stream({ baseUrl, apiKey: 'k' }, req, () => undefined).catch((e) => e);
      expect(quiet).toMatchObject({ code: 'upstream_timeout', message: 'the upstream sent nothing for 60 ms' });
      expect(quiet.partialUsage).toBeDefined();
    } finally {
      await up.stop();
    }
  });
});

describe('encodeBody', () => {
  const frozen = <T extends object>(o: T): T => Object.freeze(o);
  const bodies: Array<[string, Record<string, unknown>]> = [
    ['no frozen message', { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }],
    ['frozen and plain messages, unicode', { seed: 7, model: 'm', messages: [frozen({ role: 'system', content: 'é — 你好 😀 "quoted" \\ \n' }), { role: 'user', content: 'next', name: undefined }], tools: [{ type: 'function', function: { name: 'f' } }], temperature: undefined, stream: true, stream_options: { include_usage: true } }],
    ['messages first, nothing after', { messages: [frozen({ role: 'user', content: 'a' }), frozen({ role: 'assistant', content: null, tool_calls: frozen([frozen({ id: 'c', type: 'function', function: frozen({ name: 'n', arguments: '{}' }) })]) })] }],
    ['an empty message list', { model: 'm', messages: [] }],
  ];

  it.each(bodies)('%s: the bytes of JSON.stringify(body)', (_name, body) => {
    expect(encodeBody(body).equals(Buffer.from(JSON.stringify(body)))).toBe(true);
  });

  it('encodes a frozen message once and reuses it; a plain message every time', () => {
    const kept = frozen({ role: 'user' as const, content: 'x'.repeat(10_000) });
    const spy = jest.spyOn(JSON, 'stringify');
    try {
      encodeBody({ model: 'm', messages: [kept, { role: 'user', content: 'new' }] });
      const calls = spy.mock.calls.filter(([v]) => v === kept).length;
      encodeBody({ model: 'm', messages: [kept, { role: 'user', content: 'newer' }] });
      expect(spy.mock.calls.filter(([v]) => v === kept).length).toBe(calls);
      expect(calls).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(encodeBody({ model: 'm', messages: [kept] }).equals(Buffer.from(JSON.stringify({ model: 'm', messages: [kept] })))).toBe(true);
  });
});
