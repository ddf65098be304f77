import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { TestAccount, TestHarness } from '../support/harness';
import { UsageRecorder } from '../../apps/orchestrator/src/upstream/usage-recorder';

/**
 * The service as a drop-in for existing OpenAI code: every call here goes through the official `openai`
 * SDK (its typed methods, or its generic get/post/delete for the session routes). No hand-rolled HTTP.
 */

type Params = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
type StreamParams = OpenAI.Chat.ChatCompletionCreateParamsStreaming;
/** The one field the service adds to OpenAI's body; `model` may be omitted in session mode. */
type InSession<P> = Omit<P, 'model'> & { model?: string; session_id: string };
/** The SDK's types require `model`; the service takes it as optional with session_id. */
const inSession = (p: InSession<Params>): Params => p as unknown as Params;
const inSessionStream = (p: InSession<StreamParams>): StreamParams => p as unknown as StreamParams;
/** The fields the service adds to a chat.completion (and to the closing chunk) in session mode. */
interface SessionExtras {
  session_id?: string;
  turn_id?: string;
  seqs?: number[];
  session_usage?: { window_tokens: number; total_tokens: number; prompt_tokens: number; cached_tokens: number; completion_tokens: number; cost_usd: number };
  compaction?: Record<string, unknown> | null;
  idempotent_replay?: boolean;
}

const MODEL = 'kimi-k2-0905-preview';
const ATTEMPTS = 3; // UPSTREAM_MAX_ATTEMPTS in the harness

const rejection = (p: PromiseLike<unknown>): Promise<any> =>
  Promise.resolve(p).then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v).slice(0, 300)}`);
    },
    (e: unknown) => e,
  );

function session(client: OpenAI, body: Record<string, unknown> = {}): Promise<{ id: string; model: string; tools: unknown }> {
  return client.post('/sessions', { body: { title: 'sdk test', ...body } });
}

async function allMessages(client: OpenAI, id: string): Promise<any[]> {
  const out: any[] = [];
  let after = 0;
  for (;;) {
    const page: any = await client.get(`/sessions/${id}/messages`, { query: { limit: 100, after_seq: after } });
    out.push(...page.data);
    if (!page.has_more) return out;
    after = page.data[page.data.length - 1].seq;
  }
}

const WEATHER_TOOL: OpenAI.Chat.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('the official openai SDK against /v1/chat/completions', () => {
  let h: TestHarness;
  let a: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('sdk');
  });
  afterAll(async () => h?.stop());

  describe('stateless pass-through', () => {
    it('answers a non-streamed completion and accounts it as passthrough', async () => {
      const before = h.simRequestsFor(a.simKey).length;
      const c = await a.openai.chat.completions.create({
        model: MODEL,
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', content: 'Summarize the release notes please' },
        ],
      });
      expect(c.object).toBe('chat.completion');
      expect(c.model).toBe(MODEL);
      expect(c.choices).toHaveLength(1);
      expect(c.choices[0].message.role).toBe('assistant');
      expect(c.choices[0].message.content).toMatch(/^Re: Summarize the release notes please/);
      expect(c.choices[0].finish_reason).toBe('stop');
      expect(c.usage!.prompt_tokens).toBeGreaterThan(0);
      expect(c.usage!.completion_tokens).toBeGreaterThan(0);
      expect(c.usage!.total_tokens).toBe(c.usage!.prompt_tokens + c.usage!.completion_tokens);
      const sent = h.simRequestsFor(a.simKey).slice(before);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ purpose: 'passthrough', messages: 2, stream: false });

      // Accounted like any other upstream call: one usage_events row with purpose passthrough and no session.
      // The row is written while the answer goes out (UsageRecorder): wait for this process's writes.
      await h.handle.app.get(UsageRecorder).flush();
      const rows = await h.handle.dataSource.query(
        `SELECT purpose, session_id, prompt_tokens, completion_tokens FROM usage_events WHERE account_id = $1 ORDER BY id DESC LIMIT 1`,
        [a.id],
      );
      expect(rows[0]).toMatchObject({ purpose: 'passthrough', session_id: null, prompt_tokens: c.usage!.prompt_tokens, completion_tokens: c.usage!.completion_tokens });
    });

    it('streams chunks and, with include_usage, ends with a usage chunk', async () => {
      const stream = await a.openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Stream me a short answer' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.length).toBeGreaterThan(2);
      expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
      const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
      expect(text).toMatch(/^Re: Stream me a short answer/);
      expect(chunks.some((c) => c.choices[0]?.finish_reason === 'stop')).toBe(true);
      const last = chunks[chunks.length - 1];
      expect(last.choices).toEqual([]);
      expect(last.usage!.prompt_tokens).toBeGreaterThan(0);
      expect(last.usage!.completion_tokens).toBeGreaterThan(0);
      // Without include_usage no chunk carries usage.
      const plain = await a.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'again' }], stream: true });
      const plainChunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      for await (const chunk of plain) plainChunks.push(chunk);
      expect(plainChunks.some((c) => c.usage)).toBe(false);
    });

    it('returns a tool call when the user mentions a tool, then answers from the tool result', async () => {
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Please call get_weather for Paris' }];
      const first = await a.openai.chat.completions.create({ model: MODEL, messages, tools: [WEATHER_TOOL] });
      expect(first.choices[0].finish_reason).toBe('tool_calls');
      const call = first.choices[0].message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
      expect(call.type).toBe('function');
      expect(call.function.name).toBe('get_weather');
      expect(JSON.parse(call.function.arguments)).toEqual(expect.any(Object));
      messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"temp_c": 21, "sky": "clear"}' });
      const second = await a.openai.chat.completions.create({ model: MODEL, messages, tools: [WEATHER_TOOL] });
      expect(second.choices[0].finish_reason).toBe('stop');
      expect(second.choices[0].message.content).toMatch(/^Re: tool get_weather result/);
    });

    it('streams a tool call as tool_calls deltas', async () => {
      const stream = await a.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'use get_weather for Oslo' }], tools: [WEATHER_TOOL], stream: true });
      let name = '';
      let args = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
          name += tc.function?.name ?? '';
          args += tc.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(name).toBe('get_weather');
      expect(JSON.parse(args)).toEqual(expect.any(Object));
      expect(finish).toBe('tool_calls');
    });

    it('lists models', async () => {
      const ids: string[] = [];
      for await (const m of a.openai.models.list()) ids.push(m.id);
      expect(ids).toContain(MODEL);
      const page = await a.openai.models.list();
      expect(page.data.every((m) => m.object === 'model')).toBe(true);
    });
  });

  describe('session mode (session_id in the body)', () => {
    it('keeps the conversation server-side over 20 turns: only new messages are sent, history grows by 2, prefix caching kicks in', async () => {
      const s = await session(a.openai, { system: 'You are a patient pair programmer.' });
      const turns = 20;
      const cached: number[] = [];
      let previousPrompt = 0;
      for (let n = 1; n <= turns; n++) {
        const params = inSession({ session_id: s.id, messages: [{ role: 'user', content: `Turn ${n}: refactor module m${n} and keep the tests green` }] });
        const c = (await a.openai.chat.completions.create(params)) as OpenAI.Chat.ChatCompletion & SessionExtras;
        expect(c.object).toBe('chat.completion');
        expect(c.model).toBe(s.model);
        expect(c.choices[0].message.content).toMatch(new RegExp(`^Re: Turn ${n}: refactor module m${n}`));
        expect(c.session_id).toBe(s.id);
        expect(c.seqs).toEqual([2 * n - 1, 2 * n]);
        // The server assembled the whole window: the prompt grows turn after turn although we send one message.
        expect(c.usage!.prompt_tokens).toBeGreaterThan(previousPrompt);
        previousPrompt = c.usage!.prompt_tokens;
        cached.push(c.usage!.prompt_tokens_details?.cached_tokens ?? 0);
        const history = await allMessages(a.openai, s.id);
        expect(history).toHaveLength(2 * n);
        expect(history.slice(-2).map((m) => m.role)).toEqual(['user', 'assistant']);
        expect(history[history.length - 1].content).toBe(c.choices[0].message.content);
      }
      // The upstream saw the whole window each time (system + 2n-1 messages), and cached all but the newest part.
      const sent = h.simRequestsFor(a.simKey).slice(-turns);
      expect(sent.map((r) => r.messages)).toEqual(Array.from({ length: turns }, (_, i) => 1 + 2 * i + 1));
      expect(cached[0]).toBe(0);
      for (const c of cached.slice(1)) expect(c).toBeGreaterThan(0);
      const info: any = await a.openai.get(`/sessions/${s.id}`);
      expect(info.usage.cached_tokens).toBe(cached.reduce((x, y) => x + y, 0));
      expect(info.last_seq).toBe(2 * turns);
    });

    it('streams a session turn; with include_usage the last chunk carries usage and the session totals', async () => {
      const s = await session(a.openai);
      await a.openai.chat.completions.create(inSession({ session_id: s.id, messages: [{ role: 'user', content: 'warm up' }] }));
      const params = inSessionStream({ session_id: s.id, messages: [{ role: 'user', content: 'Stream the plan for the second step' }], stream: true, stream_options: { include_usage: true } });
      const stream = await a.openai.chat.completions.create(params);
      const chunks: Array<OpenAI.Chat.ChatCompletionChunk & SessionExtras> = [];
      for await (const chunk of stream) chunks.push(chunk);
      const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
      expect(text).toMatch(/^Re: Stream the plan for the second step/);
      const last = chunks[chunks.length - 1];
      expect(last.choices).toEqual([]);
      expect(last.usage!.prompt_tokens).toBeGreaterThan(0);
      expect(last.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThan(0);
      expect(last.session_id).toBe(s.id);
      expect(last.seqs).toEqual([3, 4]);
      expect(last.session_usage!.completion_tokens).toBeGreaterThan(last.usage!.completion_tokens);
      const history = await allMessages(a.openai, s.id);
      expect(history).toHaveLength(4);
      expect(history[3].content).toBe(text);
    });

    it('uses the tools pinned on the session: a tool call, then only the tool result is sent', async () => {
      const s = await session(a.openai, { tools: [WEATHER_TOOL] });
      const first = await a.openai.chat.completions.create(inSession({ session_id: s.id, messages: [{ role: 'user', content: 'What does get_weather say for Rome?' }] }));
      expect(first.choices[0].finish_reason).toBe('tool_calls');
      const call = first.choices[0].message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
      expect(call.function.name).toBe('get_weather');
      // The same tools again are accepted; the assistant's tool call is already in the session.
      const second = await a.openai.chat.completions.create(inSession({
        session_id: s.id,
        tools: [WEATHER_TOOL],
        messages: [{ role: 'tool', tool_call_id: call.id, content: '{"temp_c": 25}' }],
      }));
      expect(second.choices[0].message.content).toMatch(/^Re: tool get_weather result/);
      const history = await allMessages(a.openai, s.id);
      expect(history.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
      expect(history[1].tool_calls[0].id).toBe(call.id);
      // Different tools than the pinned ones: 400 on param tools.
      const other = { ...WEATHER_TOOL, function: { ...WEATHER_TOOL.function, name: 'get_time' } };
      const err = await rejection(a.openai.chat.completions.create(inSession({ session_id: s.id, tools: [other], messages: [{ role: 'user', content: 'x' }] })));
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.param).toBe('tools');
    });

    it('honours Idempotency-Key: a retried request returns the stored turn without a second upstream call', async () => {
      const s = await session(a.openai);
      const params = inSession({ session_id: s.id, messages: [{ role: 'user', content: 'exactly once please' }] });
      const first = (await a.openai.chat.completions.create(params, { headers: { 'Idempotency-Key': 'sdk-turn-1' } })) as OpenAI.Chat.ChatCompletion & SessionExtras;
      const calls = h.simRequestsFor(a.simKey).length;
      const again = (await a.openai.chat.completions.create(params, { headers: { 'Idempotency-Key': 'sdk-turn-1' } })) as OpenAI.Chat.ChatCompletion & SessionExtras;
      expect(h.simRequestsFor(a.simKey).length).toBe(calls);
      expect(again.idempotent_replay).toBe(true);
      expect(again.choices[0].message.content).toBe(first.choices[0].message.content);
      expect(again.seqs).toEqual(first.seqs);
      expect(await allMessages(a.openai, s.id)).toHaveLength(2);
    });
  });

  describe('errors map to the SDK error classes', () => {
    it('400 BadRequestError: an invalid body, a wrong model for the session', async () => {
      const empty = await rejection(a.openai.chat.completions.create({ model: MODEL, messages: [] }));
      expect(empty).toBeInstanceOf(OpenAI.BadRequestError);
      expect(empty.status).toBe(400);
      expect(empty.code).toBe('invalid_request');
      expect(empty.param).toBe('messages');

      const hot = await rejection(a.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], temperature: 7 }));
      expect(hot).toBeInstanceOf(OpenAI.BadRequestError);
      expect(hot.param).toBe('temperature');

      const s = await session(a.openai);
      const wrong = await rejection(a.openai.chat.completions.create(inSession({ session_id: s.id, model: 'moonshot-v1-8k', messages: [{ role: 'user', content: 'x' }] })));
      expect(wrong).toBeInstanceOf(OpenAI.BadRequestError);
      expect(wrong.code).toBe('invalid_request');
      expect(wrong.param).toBe('model');
      // The session's own model is accepted.
      const ok = await a.openai.chat.completions.create(inSession({ session_id: s.id, model: s.model, messages: [{ role: 'user', content: 'x' }] }));
      expect(ok.choices[0].message.content).toMatch(/^Re: x/);
    });

    it('401 AuthenticationError: an unknown key', async () => {
      const stranger = new OpenAI({ apiKey: 'sk-not-a-real-key', baseURL: `${h.url}/v1`, maxRetries: 0 });
      const err = await rejection(stranger.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }));
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err.status).toBe(401);
      expect(err.code).toBe('unauthorized');
      const models = await rejection(stranger.models.list());
      expect(models).toBeInstanceOf(OpenAI.AuthenticationError);
    });

    it("404 NotFoundError: an unknown session_id, another tenant's session_id", async () => {
      const unknown = await rejection(a.openai.chat.completions.create(inSession({ session_id: randomUUID(), messages: [{ role: 'user', content: 'x' }] })));
      expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
      expect(unknown.code).toBe('not_found');
      const garbage = await rejection(a.openai.chat.completions.create(inSession({ session_id: 'not-a-uuid', messages: [{ role: 'user', content: 'x' }] })));
      expect(garbage).toBeInstanceOf(OpenAI.NotFoundError);

      const other = await h.createAccount('sdk-other');
      const theirs = await session(other.openai);
      const foreign = await rejection(a.openai.chat.completions.create(inSession({ session_id: theirs.id, messages: [{ role: 'user', content: 'x' }] })));
      expect(foreign).toBeInstanceOf(OpenAI.NotFoundError);
      expect(foreign.status).toBe(404);
      // ... and the stream variant fails the same way before any chunk.
      const streamed = await rejection(a.openai.chat.completions.create(inSessionStream({ session_id: theirs.id, messages: [{ role: 'user', content: 'x' }], stream: true })));
      expect(streamed).toBeInstanceOf(OpenAI.NotFoundError);
      expect(await allMessages(other.openai, theirs.id)).toHaveLength(0);
    });

    it('409 ConflictError: a closed session', async () => {
      const s = await session(a.openai);
      await a.openai.delete(`/sessions/${s.id}`);
      const err = await rejection(a.openai.chat.completions.create(inSession({ session_id: s.id, messages: [{ role: 'user', content: 'still there?' }] })));
      expect(err).toBeInstanceOf(OpenAI.ConflictError);
      expect(err.status).toBe(409);
      expect(err.code).toBe('conflict');
    });

    it('413 APIError: an append over 8,192 tokens in session mode (pass-through has no such limit)', async () => {
      const s = await session(a.openai);
      const huge = Array.from({ length: 9000 }, (_, i) => `word${i % 97}`).join(' ');
      const err = await rejection(a.openai.chat.completions.create(inSession({ session_id: s.id, messages: [{ role: 'user', content: huge }] })));
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err.status).toBe(413);
      expect(err.code).toBe('append_too_large');
      expect(await allMessages(a.openai, s.id)).toHaveLength(0);
      const pass = await a.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: huge }], max_tokens: 16 });
      expect(pass.usage!.prompt_tokens).toBeGreaterThan(8192);
    });

    it('429 RateLimitError: the session pool is exhausted (session create), with Retry-After', async () => {
      const small = await h.createAccount('sdk-limit1', { session_limit: 1 });
      const first = await session(small.openai);
      const err = await rejection(session(small.openai));
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect(err.status).toBe(429);
      expect(err.code).toBe('session_pool_exhausted');
      expect(Number(err.headers.get('retry-after'))).toBeGreaterThan(0);
      // Closing the first frees the slot.
      await small.openai.delete(`/sessions/${first.id}`);
      const second = await session(small.openai);
      expect(second.id).toEqual(expect.any(String));
    });

    it('429 RateLimitError: an upstream 429 storm in pass-through, with Retry-After', async () => {
      const acct = await h.createAccount('sdk-storm');
      h.sim.injectFaults({ kind: '429', count: ATTEMPTS, key: acct.simKey });
      const err = await rejection(acct.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'storm' }] }));
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect(err.code).toBe('rate_limited');
      expect(Number(err.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(h.simRequestsFor(acct.simKey).map((r) => r.fault)).toEqual(Array(ATTEMPTS).fill('429'));
    });

    it("a transient 429 succeeds through the SDK's own retry, which honours Retry-After", async () => {
      const acct = await h.createAccount('sdk-retry');
      const statuses: number[] = [];
      const retryAfter: Array<string | null> = [];
      const client = new OpenAI({
        apiKey: acct.apiKey,
        baseURL: `${h.url}/v1`,
        maxRetries: 2,
        fetch: async (url: string | URL | Request, init?: RequestInit) => {
          const res = await fetch(url, init);
          statuses.push(res.status);
          retryAfter.push(res.headers.get('retry-after'));
          return res;
        },
      });
      // Every attempt of the service's first call is refused; its 429 carries Retry-After and the SDK retries.
      h.sim.injectFaults({ kind: '429', count: ATTEMPTS, key: acct.simKey });
      const c = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'retry me' }] });
      expect(c.choices[0].message.content).toMatch(/^Re: retry me/);
      expect(statuses).toEqual([429, 200]);
      expect(Number(retryAfter[0])).toBeGreaterThanOrEqual(1);
      expect(h.simRequestsFor(acct.simKey).map((r) => r.fault ?? null)).toEqual([...Array(ATTEMPTS).fill('429'), null]);
    });

    it('502 InternalServerError: the upstream keeps failing with 500', async () => {
      const acct = await h.createAccount('sdk-500');
      h.sim.injectFaults({ kind: '500', count: ATTEMPTS, key: acct.simKey });
      const err = await rejection(acct.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'boom' }] }));
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err.status).toBe(502);
      expect(err.code).toBe('upstream_error');

      const s = await session(acct.openai);
      h.sim.injectFaults({ kind: '500', count: ATTEMPTS, key: acct.simKey });
      const turnErr = await rejection(acct.openai.chat.completions.create(inSession({ session_id: s.id, messages: [{ role: 'user', content: 'boom' }] })));
      expect(turnErr).toBeInstanceOf(OpenAI.InternalServerError);
      expect(turnErr.status).toBe(502);
      expect(await allMessages(acct.openai, s.id)).toHaveLength(0);
    });

    it('streamed: an error before the first chunk is a typed error from create(); a cut mid-stream raises APIError while iterating', async () => {
      const acct = await h.createAccount('sdk-stream-err');
      h.sim.injectFaults({ kind: '500', count: ATTEMPTS, key: acct.simKey });
      const early = await rejection(acct.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'boom' }], stream: true }));
      expect(early).toBeInstanceOf(OpenAI.InternalServerError);
      expect(early.status).toBe(502);

      const s = await session(acct.openai);
      h.sim.injectFaults({ kind: 'cut', count: 1, key: acct.simKey, after_tokens: 6 });
      const stream = await acct.openai.chat.completions.create(inSessionStream({ session_id: s.id, messages: [{ role: 'user', content: 'cut me off mid-way please' }], stream: true }));
      let chunks = 0;
      const err = await (async () => {
        for await (const _ of stream) chunks++;
      })().then(
        () => null,
        (e: any) => e,
      );
      expect(chunks).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err.code ?? err.error?.code).toBe('upstream_error');
      expect(await allMessages(acct.openai, s.id)).toHaveLength(0);
    });
  });

  describe('504 with a short upstream timeout', () => {
    let t: TestHarness;
    beforeAll(async () => {
      t = await TestHarness.start({ env: { UPSTREAM_TIMEOUT_MS: '300', UPSTREAM_STREAM_IDLE_MS: '300' } });
    });
    afterAll(async () => t?.stop());

    it('504 InternalServerError-family: the upstream hangs, in pass-through and in a session', async () => {
      const acct = await t.createAccount('sdk-hang');
      t.sim.injectFaults({ kind: 'hang', count: ATTEMPTS, key: acct.simKey });
      const err = await rejection(acct.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hang on' }] }));
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err.status).toBe(504);
      expect(err.code).toBe('upstream_timeout');

      const s = await session(acct.openai);
      t.sim.injectFaults({ kind: 'hang', count: ATTEMPTS, key: acct.simKey });
      const turnErr = await rejection(acct.openai.chat.completions.create(inSession({ session_id: s.id, messages: [{ role: 'user', content: 'hang on' }] })));
      expect(turnErr).toBeInstanceOf(OpenAI.InternalServerError);
      expect(turnErr.status).toBe(504);
      // The session is unchanged and the next turn works.
      expect(await allMessages(acct.openai, s.id)).toHaveLength(0);
      const ok = await acct.openai.chat.completions.create(inSession({ session_id: s.id, messages: [{ role: 'user', content: 'now answer' }] }));
      expect(ok.choices[0].message.content).toMatch(/^Re: now answer/);
    });
  });
});
