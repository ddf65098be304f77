import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { TestHarness, TestAccount, parseSse } from '../support/harness';

/** The error a promise rejects with (fails the test if it resolves). */
const rejection = (p: PromiseLike<unknown>): Promise<any> =>
  Promise.resolve(p).then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );

// The default model (LLM_MODEL unset) and its list prices, USD per 1M tokens; cache writes at the
// default 5-minute TTL cost 1x the miss price.
const MODEL = 'kimi-k2.6';
const PRICE = { miss: 0.95, hit: 0.16, out: 4.0, write5m: 0.95 };

const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('sessions', () => {
  let h: TestHarness;
  let a: TestAccount;

  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('sessions-main');
  });
  afterAll(async () => h?.stop());

  const create = async (body: Record<string, unknown> = {}, key = a.apiKey) => {
    const r = await h.api(key, 'POST', '/v1/sessions', body);
    expect(r.status).toBe(201);
    return r.body;
  };
  const append = (id: string, body: Record<string, unknown>, headers: Record<string, string> = {}, key = a.apiKey) =>
    h.api(key, 'POST', `/v1/sessions/${id}/messages`, body, headers);
  const user = (content: string) => ({ messages: [{ role: 'user', content }] });
  const allMessages = async (id: string, key = a.apiKey) => {
    const r = await h.api(key, 'GET', `/v1/sessions/${id}/messages?limit=100`);
    expect(r.status).toBe(200);
    return r.body.data as any[];
  };
  const getSession = async (id: string, key = a.apiKey) => {
    const r = await h.api(key, 'GET', `/v1/sessions/${id}`);
    expect(r.status).toBe(200);
    return r.body;
  };

  describe('create', () => {
    it('creates an active standalone session with the default model, policy and zero usage', async () => {
      const s = await create();
      expect(s).toMatchObject({
        object: 'session',
        status: 'active',
        role: 'standalone',
        model: MODEL,
        title: null,
        metadata: {},
        parent_id: null,
        root_id: s.id,
        task_id: null,
        last_seq: 0,
        closed_at: null,
        policy: { auto_compact: true, trigger_tokens: 180000, preserve_len: 16384, keep_rounds: 3, compress_ratio: 4 },
        usage: { window_tokens: 0, total_tokens: 0, prompt_tokens: 0, cached_tokens: 0, completion_tokens: 0, cache_write_tokens: 0, cost_usd: 0 },
      });
      expect(s.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(typeof s.created_at).toBe('number');
    });

    it('echoes the given policy, title and metadata', async () => {
      const policy = { auto_compact: false, trigger_tokens: 50000, preserve_len: 8192, keep_rounds: 5, compress_ratio: 6 };
      const s = await create({ policy, title: 'My session', metadata: { project: 'apollo', owner: 'kim' } });
      expect(s.policy).toEqual(policy);
      expect(s.title).toBe('My session');
      expect(s.metadata).toEqual({ project: 'apollo', owner: 'kim' });
      const again = await getSession(s.id);
      expect(again.policy).toEqual(policy);
      expect(again.metadata).toEqual({ project: 'apollo', owner: 'kim' });
    });

    it('fills unspecified policy fields with the defaults', async () => {
      const s = await create({ policy: { keep_rounds: 7 } });
      expect(s.policy).toEqual({ auto_compact: true, trigger_tokens: 180000, preserve_len: 16384, keep_rounds: 7, compress_ratio: 4 });
    });

    it('counts the pinned system prompt and tools in window_tokens', async () => {
      const plain = await create();
      const withSystem = await create({ system: 'You are a careful assistant who answers in French.' });
      const withTools = await create({ system: 'You are a careful assistant who answers in French.', tools: [WEATHER_TOOL] });
      expect(plain.usage.window_tokens).toBe(0);
      expect(withSystem.usage.window_tokens).toBeGreaterThan(0);
      expect(withTools.usage.window_tokens).toBeGreaterThan(withSystem.usage.window_tokens);
    });

    it('rejects a policy below the documented minimums', async () => {
      const low = await h.api(a.apiKey, 'POST', '/v1/sessions', { policy: { preserve_len: 4095 } });
      expect(low.status).toBe(400);
      expect(low.body.error).toMatchObject({ code: 'invalid_request', param: 'policy.preserve_len' });
      const ratio = await h.api(a.apiKey, 'POST', '/v1/sessions', { policy: { compress_ratio: 11 } });
      expect(ratio.status).toBe(400);
      expect(ratio.body.error.param).toBe('policy.compress_ratio');
    });
  });

  describe('usage and cost', () => {
    it('reports tokens and a cost equal to Kimi prices applied to the upstream usage', async () => {
      const acct = await h.createAccount('usage');
      const s = await create({ system: 'You are terse.' }, acct.apiKey);
      const t1 = await append(s.id, user('What is a rolling window?'), {}, acct.apiKey);
      const t2 = await append(s.id, user('And what is prefix caching?'), {}, acct.apiKey);
      expect(t1.status).toBe(200);
      expect(t2.status).toBe(200);

      const got = await getSession(s.id, acct.apiKey);
      const sim = h.sim.stats().keys[acct.simKey];
      expect(sim.requests).toBe(2);
      expect(got.usage.prompt_tokens).toBe(sim.prompt_tokens);
      expect(got.usage.cached_tokens).toBe(sim.cached_tokens);
      expect(got.usage.completion_tokens).toBe(sim.completion_tokens);
      expect(got.usage.total_tokens).toBe(sim.prompt_tokens + sim.completion_tokens);
      expect(got.usage.prompt_tokens).toBeGreaterThan(0);
      expect(got.usage.completion_tokens).toBeGreaterThan(0);
      expect(got.usage.cost_usd).toBeGreaterThan(0);

      const { prompt_tokens: p, cached_tokens: c, completion_tokens: o, cache_write_tokens: w } = got.usage;
      const expected = ((p - c) * PRICE.miss + c * PRICE.hit + o * PRICE.out + w * PRICE.write5m) / 1e6;
      expect(got.usage.cost_usd).toBeCloseTo(expected, 8);
      expect(got.usage.cost_usd).toBeCloseTo(sim.cost_usd, 8);
      // Each turn's own usage adds up to the session totals.
      expect(t1.body.usage.cost_usd + t2.body.usage.cost_usd).toBeCloseTo(got.usage.cost_usd, 8);
      expect(t1.body.usage.prompt_tokens + t2.body.usage.prompt_tokens).toBe(p);
      expect(t2.body.session_usage).toEqual(got.usage);
    });
  });

  describe('list', () => {
    let acct: TestAccount;
    let ids: string[];

    beforeAll(async () => {
      acct = await h.createAccount('lister');
      ids = [];
      for (let i = 0; i < 5; i++) ids.push((await create({ title: `s${i}` }, acct.apiKey)).id);
    });

    it('pages through every session with limit and after, newest first, without duplicates or gaps', async () => {
      const seen: string[] = [];
      const pages: any[] = [];
      let after: string | null = null;
      for (let i = 0; i < 10; i++) {
        const q: string = `/v1/sessions?limit=2${after ? `&after=${after}` : ''}`;
        const r = await h.api(acct.apiKey, 'GET', q);
        expect(r.status).toBe(200);
        expect(r.body.object).toBe('list');
        pages.push(r.body);
        seen.push(...r.body.data.map((s: any) => s.id));
        if (r.body.data.length) expect(r.body.last_id).toBe(r.body.data[r.body.data.length - 1].id);
        if (!r.body.has_more) break;
        after = r.body.last_id;
      }
      expect(pages.map((p) => p.data.length)).toEqual([2, 2, 1]);
      expect(pages.map((p) => p.has_more)).toEqual([true, true, false]);
      expect(new Set(seen).size).toBe(5);
      expect(seen).toEqual([...ids].reverse());
    });

    it('defaults to 20 per page and only lists the caller\'s own sessions', async () => {
      const r = await h.api(acct.apiKey, 'GET', '/v1/sessions');
      expect(r.status).toBe(200);
      expect(r.body.data.map((s: any) => s.id).sort()).toEqual([...ids].sort());
      expect(r.body.has_more).toBe(false);
    });

    it('filters by status', async () => {
      const closed = await h.api(acct.apiKey, 'DELETE', `/v1/sessions/${ids[1]}`);
      expect(closed.status).toBe(200);
      const onlyClosed = await h.api(acct.apiKey, 'GET', '/v1/sessions?status=closed');
      expect(onlyClosed.body.data.map((s: any) => s.id)).toEqual([ids[1]]);
      const active = await h.api(acct.apiKey, 'GET', '/v1/sessions?status=active');
      expect(active.body.data.map((s: any) => s.id).sort()).toEqual(ids.filter((_, i) => i !== 1).sort());
      expect(active.body.data.every((s: any) => s.status === 'active')).toBe(true);
      const bad = await h.api(acct.apiKey, 'GET', '/v1/sessions?status=sleeping');
      expect(bad.status).toBe(400);
      expect(bad.body.error.param).toBe('status');
    });

    it('filters by parent_id', async () => {
      // No public route makes children yet (forks come later): insert one child row directly.
      const parent = ids[0];
      const childId = randomUUID();
      await h.handle.dataSource.query(
        // A copy of the parent row with a new id: robust to columns added by later migrations.
        `INSERT INTO sessions SELECT (jsonb_populate_record(s, jsonb_build_object('id', $1::uuid, 'parent_id', s.id, 'role', 'child'))).* FROM sessions s WHERE s.id = $2`,
        [childId, parent],
      );
      const children = await h.api(acct.apiKey, 'GET', `/v1/sessions?parent_id=${parent}`);
      expect(children.status).toBe(200);
      expect(children.body.data.map((s: any) => s.id)).toEqual([childId]);
      expect(children.body.data[0]).toMatchObject({ parent_id: parent, root_id: parent, role: 'child' });
      const none = await h.api(acct.apiKey, 'GET', `/v1/sessions?parent_id=${ids[2]}`);
      expect(none.body.data).toEqual([]);
      const malformed = await h.api(acct.apiKey, 'GET', '/v1/sessions?parent_id=not-a-uuid');
      expect(malformed.status).toBe(200);
      expect(malformed.body.data).toEqual([]);
    });
  });

  describe('close', () => {
    it('closes the session, refuses appends with 409 and keeps its data readable', async () => {
      const s = await create();
      expect((await append(s.id, user('remember the number 42'))).status).toBe(200);
      const closed = await h.api(a.apiKey, 'DELETE', `/v1/sessions/${s.id}`);
      expect(closed.status).toBe(200);
      expect(closed.body.status).toBe('closed');
      expect(typeof closed.body.closed_at).toBe('number');

      const after = await append(s.id, user('are you still there?'));
      expect(after.status).toBe(409);
      expect(after.body.error.code).toBe('conflict');

      const got = await getSession(s.id);
      expect(got.status).toBe('closed');
      expect(got.last_seq).toBe(2);
      const msgs = await allMessages(s.id);
      expect(msgs.map((m) => m.seq)).toEqual([1, 2]);
      expect(msgs[0].content).toBe('remember the number 42');
    });

    it('keeps the first closed_at when closed twice', async () => {
      const s = await create();
      const first = await h.api(a.apiKey, 'DELETE', `/v1/sessions/${s.id}`);
      const second = await h.api(a.apiKey, 'DELETE', `/v1/sessions/${s.id}`);
      expect(second.status).toBe(200);
      expect(second.body.status).toBe('closed');
      expect(second.body.closed_at).toBe(first.body.closed_at);
    });
  });

  describe('append', () => {
    it('stores the user message and the reply with consecutive seqs and reports this call and the session totals', async () => {
      const s = await create({ system: 'You are terse.' });
      const r = await append(s.id, user('hello there, how are you'));
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ object: 'session.turn', session_id: s.id, seqs: [1, 2], idempotent_replay: false, compaction: null });
      expect(r.body.message).toMatchObject({ object: 'session.message', seq: 2, role: 'assistant', kind: 'message', in_window: true });
      expect(r.body.message.content).toMatch(/^Re: hello there, how are you/);
      expect(r.body.usage.prompt_tokens).toBeGreaterThan(0);
      expect(r.body.usage.completion_tokens).toBeGreaterThan(0);
      expect(r.body.usage.total_tokens).toBe(r.body.usage.prompt_tokens + r.body.usage.completion_tokens);
      expect(r.body.session_usage.prompt_tokens).toBe(r.body.usage.prompt_tokens);
      expect(r.body.session_usage.window_tokens).toBeGreaterThan(s.usage.window_tokens);

      const msgs = await allMessages(s.id);
      expect(msgs.map((m) => [m.seq, m.role, m.in_window])).toEqual([
        [1, 'user', true],
        [2, 'assistant', true],
      ]);
      expect(msgs[0].content).toBe('hello there, how are you');
      expect(msgs[1].content).toBe(r.body.message.content);
      expect(msgs[1].id).toBe(r.body.message.id);

      const r2 = await append(s.id, user('second question'));
      expect(r2.body.seqs).toEqual([3, 4]);
      expect((await getSession(s.id)).last_seq).toBe(4);
    });

    it('accepts several messages and OpenAI text parts in one append', async () => {
      const s = await create();
      const r = await append(s.id, {
        messages: [
          { role: 'user', content: 'first part' },
          { role: 'assistant', content: 'noted' },
          { role: 'user', content: [{ type: 'text', text: 'joined ' }, { type: 'text', text: 'text parts' }] },
        ],
      });
      expect(r.status).toBe(200);
      expect(r.body.seqs).toEqual([1, 2, 3, 4]);
      const msgs = await allMessages(s.id);
      expect(msgs.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
      expect(msgs[2].content).toBe('joined text parts');
    });

    it('pages history with after_seq and limit', async () => {
      const s = await create();
      for (let i = 0; i < 3; i++) await append(s.id, user(`question ${i}`));
      const page1 = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.id}/messages?limit=4`);
      expect(page1.body.data.map((m: any) => m.seq)).toEqual([1, 2, 3, 4]);
      expect(page1.body.has_more).toBe(true);
      const page2 = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.id}/messages?limit=4&after_seq=4`);
      expect(page2.body.data.map((m: any) => m.seq)).toEqual([5, 6]);
      expect(page2.body.has_more).toBe(false);
      const tail = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.id}/messages?after_seq=6`);
      expect(tail.body.data).toEqual([]);
      expect(tail.body.has_more).toBe(false);
    });

    it('stores messages without calling the model when generate is false', async () => {
      const acct = await h.createAccount('nogen');
      const s = await create({}, acct.apiKey);
      const r = await append(s.id, { messages: [{ role: 'user', content: 'just store this' }, { role: 'assistant', content: 'stored' }], generate: false }, {}, acct.apiKey);
      expect(r.status).toBe(200);
      expect(r.body.seqs).toEqual([1, 2]);
      expect(r.body.message).toBeNull();
      expect(r.body.usage).toBeNull();
      expect(h.simStatsFor(acct.simKey).requests).toBe(0);
      expect(h.simRequestsFor(acct.simKey)).toHaveLength(0);
      const got = await getSession(s.id, acct.apiKey);
      expect(got.last_seq).toBe(2);
      expect(got.usage).toMatchObject({ prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 });
      expect(got.usage.window_tokens).toBeGreaterThan(0);
      expect((await allMessages(s.id, acct.apiKey)).map((m) => m.content)).toEqual(['just store this', 'stored']);
    });

    it('sends the earlier turns upstream on the next turn and gets the prefix cached', async () => {
      const acct = await h.createAccount('multiturn');
      const s = await create({ system: 'You are a patient tutor.' }, acct.apiKey);
      const t1 = await append(s.id, user('Explain recursion in one paragraph.'), {}, acct.apiKey);
      const t2 = await append(s.id, user('Now give an example in TypeScript.'), {}, acct.apiKey);
      expect(t1.status).toBe(200);
      expect(t2.status).toBe(200);

      const reqs = h.simRequestsFor(acct.simKey);
      expect(reqs).toHaveLength(2);
      // system + user, then system + user + assistant + user
      expect(reqs[0].messages).toBe(2);
      expect(reqs[1].messages).toBe(4);
      expect(reqs[0].last_user).toBe('Explain recursion in one paragraph.');
      expect(reqs[1].last_user).toBe('Now give an example in TypeScript.');
      expect(reqs[1].prompt_tokens).toBeGreaterThan(reqs[0].prompt_tokens + t1.body.usage.completion_tokens);

      // The whole first request is a byte-identical prefix of the second, so all of it is a cache hit.
      expect(t1.body.usage.prompt_tokens_details.cached_tokens).toBe(0);
      expect(t2.body.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
      expect(t2.body.usage.prompt_tokens_details.cached_tokens).toBe(reqs[0].prompt_tokens);
      expect((await getSession(s.id, acct.apiKey)).usage.cached_tokens).toBe(t2.body.usage.prompt_tokens_details.cached_tokens);
    });
  });

  describe('streaming', () => {
    it('streams OpenAI chunks that assemble to the stored reply, then a usage chunk, then [DONE]', async () => {
      const s = await create({ system: 'You are terse.' });
      const r = await h.apiStream(a.apiKey, `/v1/sessions/${s.id}/messages`, { ...user('stream me a short answer'), stream: true });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(r.done).toBe(true);
      expect(r.raw.trimEnd().endsWith('data: [DONE]')).toBe(true);
      expect(r.events.length).toBeGreaterThan(2);
      expect(r.events.every((e) => e && e.object === 'chat.completion.chunk')).toBe(true);
      expect(r.events.some((e) => 'error' in e)).toBe(false);

      const content = r.events.flatMap((e) => e.choices ?? []).map((c: any) => c.delta?.content ?? '').join('');
      expect(content).toMatch(/^Re: stream me a short answer/);
      const finish = r.events.flatMap((e) => e.choices ?? []).find((c: any) => c.finish_reason);
      expect(finish.finish_reason).toBe('stop');

      const last = r.events[r.events.length - 1];
      expect(last.choices).toEqual([]);
      expect(last.usage.prompt_tokens).toBeGreaterThan(0);
      expect(last.usage.completion_tokens).toBeGreaterThan(0);
      expect(last.session_usage.prompt_tokens).toBe(last.usage.prompt_tokens);
      expect(last.seqs).toEqual([1, 2]);

      const msgs = await allMessages(s.id);
      expect(msgs.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(msgs[1].content).toBe(content);
      const got = await getSession(s.id);
      expect(got.usage).toEqual(last.session_usage);
    });

    it('works with the official SDK reading the stream', async () => {
      const s = await create();
      const stream = await a.openai.post<AsyncIterable<any>>(`/sessions/${s.id}/messages`, { body: { ...user('sdk streaming check'), stream: true }, stream: true });
      let content = '';
      let final: any = null;
      for await (const chunk of stream) {
        for (const c of chunk.choices ?? []) content += c.delta?.content ?? '';
        if (chunk.usage) final = chunk;
      }
      expect(content).toMatch(/^Re: sdk streaming check/);
      expect(final.session_usage.completion_tokens).toBe(final.usage.completion_tokens);
      expect((await allMessages(s.id))[1].content).toBe(content);
    });
  });

  describe('tool calls', () => {
    it('returns a tool call, accepts its result and answers it', async () => {
      const s = await create({ tools: [WEATHER_TOOL] });
      const r1 = await append(s.id, user('Please call get_weather for Paris'));
      expect(r1.status).toBe(200);
      const calls = r1.body.message.tool_calls;
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
      expect(typeof calls[0].id).toBe('string');
      expect(() => JSON.parse(calls[0].function.arguments)).not.toThrow();

      const r2 = await append(s.id, { messages: [{ role: 'tool', tool_call_id: calls[0].id, content: '{"temp_c": 21}' }] });
      expect(r2.status).toBe(200);
      expect(r2.body.seqs).toEqual([3, 4]);
      expect(r2.body.message.content).toMatch(/^Re: tool get_weather result/);
      expect(r2.body.message.tool_calls).toBeNull();

      const msgs = await allMessages(s.id);
      expect(msgs.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
      expect(msgs[1].tool_calls[0].id).toBe(calls[0].id);
      expect(msgs[2].tool_call_id).toBe(calls[0].id);
    });

    it('streams a tool call that is stored whole', async () => {
      const s = await create({ tools: [WEATHER_TOOL] });
      const r = await h.apiStream(a.apiKey, `/v1/sessions/${s.id}/messages`, { ...user('use get_weather on Oslo'), stream: true });
      expect(r.status).toBe(200);
      expect(r.done).toBe(true);
      const deltas = r.events.flatMap((e) => e.choices ?? []).flatMap((c: any) => c.delta?.tool_calls ?? []);
      const args = deltas.map((d: any) => d.function?.arguments ?? '').join('');
      const msgs = await allMessages(s.id);
      expect(msgs[1].tool_calls).toHaveLength(1);
      expect(msgs[1].tool_calls[0].function.name).toBe('get_weather');
      expect(msgs[1].tool_calls[0].function.arguments).toBe(args);
      expect(msgs[1].tool_calls[0].id).toBe(deltas[0].id);
    });

    it('rejects a tool result whose tool_call_id answers no call, and writes nothing', async () => {
      const acct = await h.createAccount('badtool');
      const s = await create({ tools: [WEATHER_TOOL] }, acct.apiKey);
      await append(s.id, user('call get_weather for Rome'), {}, acct.apiKey);
      const before = h.simStatsFor(acct.simKey).requests;
      const r = await append(s.id, { messages: [{ role: 'tool', tool_call_id: 'call_does_not_exist', content: 'sunny' }] }, {}, acct.apiKey);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', param: 'messages[0].tool_call_id' });
      expect(h.simStatsFor(acct.simKey).requests).toBe(before);
      expect((await getSession(s.id, acct.apiKey)).last_seq).toBe(2);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the stored turn for a repeated key without a second upstream call', async () => {
      const acct = await h.createAccount('idem');
      const s = await create({}, acct.apiKey);
      const key = `idem-${randomUUID()}`;
      const first = await append(s.id, user('do this exactly once'), { 'Idempotency-Key': key }, acct.apiKey);
      const second = await append(s.id, user('do this exactly once'), { 'Idempotency-Key': key }, acct.apiKey);
      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(first.body.idempotent_replay).toBe(false);
      expect(second.body.idempotent_replay).toBe(true);
      expect({ ...second.body, idempotent_replay: false }).toEqual(first.body);
      expect(h.simStatsFor(acct.simKey).requests).toBe(1);
      expect((await getSession(s.id, acct.apiKey)).last_seq).toBe(2);
      expect(await allMessages(s.id, acct.apiKey)).toHaveLength(2);
    });

    it('answers 409 when the key is reused with a different body', async () => {
      const acct = await h.createAccount('idem2');
      const s = await create({}, acct.apiKey);
      const key = `idem-${randomUUID()}`;
      expect((await append(s.id, user('original body'), { 'Idempotency-Key': key }, acct.apiKey)).status).toBe(200);
      const clash = await append(s.id, user('a different body'), { 'Idempotency-Key': key }, acct.apiKey);
      expect(clash.status).toBe(409);
      expect(clash.body.error).toMatchObject({ code: 'conflict', param: 'Idempotency-Key' });
      expect(h.simStatsFor(acct.simKey).requests).toBe(1);
      expect((await getSession(s.id, acct.apiKey)).last_seq).toBe(2);
    });

    it('scopes keys to the session', async () => {
      const acct = await h.createAccount('idem3');
      const s1 = await create({}, acct.apiKey);
      const s2 = await create({}, acct.apiKey);
      const key = `idem-${randomUUID()}`;
      await append(s1.id, user('same words'), { 'Idempotency-Key': key }, acct.apiKey);
      const other = await append(s2.id, user('same words'), { 'Idempotency-Key': key }, acct.apiKey);
      expect(other.status).toBe(200);
      expect(other.body.idempotent_replay).toBe(false);
      expect(h.simStatsFor(acct.simKey).requests).toBe(2);
    });

    it('replays a streamed turn as a stream with the same content', async () => {
      const acct = await h.createAccount('idem4');
      const s = await create({}, acct.apiKey);
      const key = `idem-${randomUUID()}`;
      const body = { ...user('stream once only'), stream: true };
      const first = await h.apiStream(acct.apiKey, `/v1/sessions/${s.id}/messages`, body, { 'Idempotency-Key': key });
      const second = await h.apiStream(acct.apiKey, `/v1/sessions/${s.id}/messages`, body, { 'Idempotency-Key': key });
      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(second.done).toBe(true);
      const text = (r: typeof first) => r.events.flatMap((e) => e.choices ?? []).map((c: any) => c.delta?.content ?? '').join('');
      expect(text(second)).toBe(text(first));
      expect(text(second)).toMatch(/^Re: stream once only/);
      const lastOf = (r: typeof first) => r.events[r.events.length - 1];
      expect(lastOf(first).idempotent_replay).toBe(false);
      expect(lastOf(second).idempotent_replay).toBe(true);
      expect(lastOf(second).usage).toEqual(lastOf(first).usage);
      expect(lastOf(second).seqs).toEqual([1, 2]);
      expect(h.simStatsFor(acct.simKey).requests).toBe(1);
      expect(await allMessages(s.id, acct.apiKey)).toHaveLength(2);
    });

    it('rejects an Idempotency-Key longer than 255 characters', async () => {
      const s = await create();
      const r = await append(s.id, user('x'), { 'Idempotency-Key': 'k'.repeat(256) });
      expect(r.status).toBe(400);
      expect(r.body.error.param).toBe('Idempotency-Key');
    });
  });

  describe('concurrency', () => {
    afterEach(() => h.sim.configure({ firstTokenMs: 0 }));

    it('lets exactly one of two concurrent appends win; the other gets 409 and history has no duplicates', async () => {
      const acct = await h.createAccount('race');
      const s = await create({}, acct.apiKey);
      h.sim.configure({ firstTokenMs: 300 });
      const results = await Promise.all([
        append(s.id, user('racer one'), {}, acct.apiKey),
        append(s.id, user('racer two'), {}, acct.apiKey),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
      const loser = results.find((r) => r.status === 409)!;
      expect(loser.body.error.code).toBe('conflict');
      const winner = results.find((r) => r.status === 200)!;
      expect(winner.body.seqs).toEqual([1, 2]);

      const msgs = await allMessages(s.id, acct.apiKey);
      expect(msgs.map((m) => m.seq)).toEqual([1, 2]);
      expect(msgs.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(h.simStatsFor(acct.simKey).requests).toBe(1);

      // The lock is released: the next turn goes through and continues the seqs.
      h.sim.configure({ firstTokenMs: 0 });
      const next = await append(s.id, user('after the race'), {}, acct.apiKey);
      expect(next.status).toBe(200);
      expect(next.body.seqs).toEqual([3, 4]);
    });

    it('keeps seqs unique under many concurrent appends', async () => {
      const s = await create();
      h.sim.configure({ firstTokenMs: 200 });
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => append(s.id, user(`burst ${i}`))));
      const ok = results.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(5);
      const msgs = await allMessages(s.id);
      expect(msgs.map((m) => m.seq)).toEqual([1, 2]);
    });
  });

  describe('title', () => {
    it('sets the title from the first user message in the background', async () => {
      const s = await create();
      await append(s.id, user('Plan the migration of billing to Postgres\nwith all the details you need'));
      const deadline = Date.now() + 15_000;
      let title: string | null = null;
      while (Date.now() < deadline) {
        title = (await getSession(s.id)).title;
        if (title !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(title).toBe('Plan the migration of billing to Postgres');
    });

    it('keeps a title given at creation', async () => {
      const s = await create({ title: 'Chosen by the user' });
      await append(s.id, user('Something completely different'));
      await new Promise((r) => setTimeout(r, 500));
      expect((await getSession(s.id)).title).toBe('Chosen by the user');
    });
  });

  it('maps session errors to the SDK\'s typed errors', async () => {
    const missing = await rejection(a.openai.get(`/sessions/${randomUUID()}`));
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.status).toBe(404);
    expect(missing.code).toBe('not_found');

    const s = await create();
    await a.openai.delete(`/sessions/${s.id}`);
    const closed = await rejection(a.openai.post(`/sessions/${s.id}/messages`, { body: user('hi') }));
    expect(closed).toBeInstanceOf(OpenAI.ConflictError);
    expect(closed.code).toBe('conflict');

    const bad = await rejection(a.openai.post('/sessions', { body: { policy: { keep_rounds: 0 } } }));
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.param).toBe('policy.keep_rounds');
  });

  it('parses the SSE helper input the way the SDK does', () => {
    // Guards the test helper itself: multi-line data and [DONE] handling.
    const parsed = parseSse('data: {"a":1}\n\ndata: [DONE]\n\n');
    expect(parsed).toEqual({ events: [{ a: 1 }], done: true });
  });
});
