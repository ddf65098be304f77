import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { ADMIN_KEY, TestHarness, TestAccount } from '../support/harness';

/** Every response this file sees, to check that none is a 500 or leaks a stack trace. */
const seen: Array<{ what: string; status: number; text: string }> = [];

async function raw(url: string, init: RequestInit = {}, what = `${init.method ?? 'GET'} ${url}`) {
  const res = await fetch(url, init);
  const text = await res.text();
  seen.push({ what, status: res.status, text });
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, text, headers: res.headers };
}

function expectErrorShape(body: any, code: string): void {
  expect(body && typeof body === 'object' ? Object.keys(body) : body).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.type).toBe('string');
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.param === null || typeof body.error.param === 'string').toBe(true);
}

describe('auth and errors', () => {
  let h: TestHarness;
  let a: TestAccount;
  let b: TestAccount;

  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('tenant-a');
    b = await h.createAccount('tenant-b');
  });
  afterAll(async () => h?.stop());

  const api = async (key: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    };
    return raw(`${h.url}${path}`, init, `${method} ${path}`);
  };
  const newSession = async (key: string) => {
    const r = await api(key, 'POST', '/v1/sessions', { system: 'You are terse.', title: 'fixed title' });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };

  describe('account keys on /v1', () => {
    it.each([
      ['GET', '/v1/sessions'],
      ['POST', '/v1/sessions'],
      ['GET', '/v1/models'],
      ['GET', `/v1/sessions/${randomUUID()}`],
      ['POST', `/v1/sessions/${randomUUID()}/messages`],
    ])('answers 401 on %s %s without a key, with a wrong key and with a malformed header', async (method, path) => {
      const body = method === 'POST' ? {} : undefined;
      for (const headers of [{} as Record<string, string>, { authorization: 'Bearer sk-so-not-a-real-key' }, { authorization: 'Basic Zm9vOmJhcg==' }, { authorization: 'Bearer' }]) {
        const r = await api(null, method, path, body, headers);
        expect(r.status).toBe(401);
        expectErrorShape(r.body, 'unauthorized');
        expect(r.body.error.type).toBe('authentication_error');
      }
    });

    it('answers 401 to an admin key on /v1 routes', async () => {
      const r = await api(ADMIN_KEY, 'GET', '/v1/sessions');
      expect(r.status).toBe(401);
    });

    it('raises the SDK\'s AuthenticationError for a wrong key', async () => {
      const client = new OpenAI({ apiKey: 'sk-so-wrong', baseURL: `${h.url}/v1`, maxRetries: 0 });
      const err = await client.models.list().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    });
  });

  describe('admin routes', () => {
    it('answers 401 without a key or with an unknown key, and 403 with an account key', async () => {
      for (const [method, path, body] of [
        ['GET', '/admin/accounts', undefined],
        ['POST', '/admin/accounts', { name: 'intruder' }],
        ['PATCH', `/admin/accounts/${a.id}`, { session_limit: 1 }],
      ] as const) {
        const none = await api(null, method, path, body);
        expect(none.status).toBe(401);
        expectErrorShape(none.body, 'unauthorized');
        const wrong = await api('not-the-admin-key-at-all', method, path, body);
        expect(wrong.status).toBe(401);
        const account = await api(a.apiKey, method, path, body);
        expect(account.status).toBe(403);
        expectErrorShape(account.body, 'forbidden');
        expect(account.body.error.type).toBe('permission_error');
      }
      // Nothing was changed by the refused calls.
      const acc = await api(ADMIN_KEY, 'GET', `/admin/accounts/${a.id}`);
      expect(acc.body.session_limit).toBe(100);
      const list = await api(ADMIN_KEY, 'GET', '/admin/accounts?limit=100');
      expect(list.body.data.some((x: any) => x.name === 'intruder')).toBe(false);
    });
  });

  describe('tenant isolation', () => {
    it('answers 404 (never 403) for another tenant\'s session on get, append, messages and delete, and changes nothing', async () => {
      const id = await newSession(a.apiKey);
      expect((await api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'private' }] })).status).toBe(200);
      const before = await api(a.apiKey, 'GET', `/v1/sessions/${id}`);
      const beforeMsgs = await api(a.apiKey, 'GET', `/v1/sessions/${id}/messages`);
      const requestsBefore = h.simStatsFor(b.simKey).requests;

      const attempts = [
        await api(b.apiKey, 'GET', `/v1/sessions/${id}`),
        await api(b.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'let me in' }] }),
        await api(b.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'let me in' }], stream: true }),
        await api(b.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'quietly' }], generate: false }),
        await api(b.apiKey, 'GET', `/v1/sessions/${id}/messages`),
        await api(b.apiKey, 'DELETE', `/v1/sessions/${id}`),
      ];
      for (const r of attempts) {
        expect(r.status).toBe(404);
        expectErrorShape(r.body, 'not_found');
      }
      // The answer is the same as for an id that does not exist at all.
      const ghost = await api(b.apiKey, 'GET', `/v1/sessions/${randomUUID()}`);
      expect(ghost.status).toBe(404);
      expect(Object.keys(ghost.body.error).sort()).toEqual(Object.keys(attempts[0].body.error).sort());

      const listB = await api(b.apiKey, 'GET', '/v1/sessions?limit=100');
      expect(listB.body.data.map((s: any) => s.id)).not.toContain(id);

      const after = await api(a.apiKey, 'GET', `/v1/sessions/${id}`);
      expect(after.body).toEqual(before.body);
      expect((await api(a.apiKey, 'GET', `/v1/sessions/${id}/messages`)).body).toEqual(beforeMsgs.body);
      expect(h.simStatsFor(b.simKey).requests).toBe(requestsBefore);
    });

    it('does not replay another tenant\'s turn through a shared Idempotency-Key', async () => {
      const id = await newSession(a.apiKey);
      const key = `shared-${randomUUID()}`;
      expect((await api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'mine' }] }, { 'Idempotency-Key': key })).status).toBe(200);
      const r = await api(b.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'mine' }] }, { 'Idempotency-Key': key });
      expect(r.status).toBe(404);
      expect(r.text).not.toContain('Re: mine');
    });
  });

  describe('validation', () => {
    let sid: string;
    beforeAll(async () => {
      sid = await newSession(a.apiKey);
    });

    it('answers 400 invalid_request to malformed JSON', async () => {
      for (const path of ['/v1/sessions', `/v1/sessions/${sid}/messages`]) {
        const r = await api(a.apiKey, 'POST', path, '{"messages": [');
        expect(r.status).toBe(400);
        expectErrorShape(r.body, 'invalid_request');
        // Says what is wrong, with the parser's detail (Nest used to replace the message with the bare detail).
        expect(r.body.error.message).toMatch(/^The request body is not valid JSON \(.+\)\.$/);
      }
      const admin = await api(ADMIN_KEY, 'POST', '/admin/accounts', '{name:');
      expect(admin.status).toBe(400);
      expectErrorShape(admin.body, 'invalid_request');
      expect(admin.body.error.message).toMatch(/^The request body is not valid JSON \(.*position 1.*\)\.$/);
      // A chunked body goes through body-parser rather than the plain read: the same answer.
      const chunked = await raw(`${h.url}/v1/sessions/${sid}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.apiKey}`, 'content-type': 'application/json' },
        body: new ReadableStream({ start: (c) => { c.enqueue(new TextEncoder().encode('{"messages": [')); c.close(); } }),
        duplex: 'half',
      });
      expect(chunked.status).toBe(400);
      expectErrorShape(chunked.body, 'invalid_request');
      expect(chunked.body.error.message).toMatch(/^The request body is not valid JSON \(.+\)\.$/);
    });

    it('answers 400 to a JSON body that is not an object', async () => {
      for (const body of ['null', '[]', '"text"', '42', '[{"role":"user","content":"hi"}]']) {
        const r = await api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, body);
        expect(r.status).toBe(400);
        expectErrorShape(r.body, 'invalid_request');
        if (['null', '"text"', '42'].includes(body)) expect(r.body.error.message).toBe('The request body is not valid JSON (the body must be a JSON object or array).');
      }
    });

    it.each([
      ['content is a number', { messages: [{ role: 'user', content: 5 }] }, /^messages\.0\.content|^messages\[0\]\.content/],
      ['messages is a string', { messages: 'x' }, /^messages$/],
      ['messages is empty', { messages: [] }, /^messages$/],
      ['messages is missing', {}, /^messages$/],
      ['max_tokens is negative', { messages: [{ role: 'user', content: 'hi' }], max_tokens: -1 }, /^max_tokens$/],
      ['max_tokens is a string', { messages: [{ role: 'user', content: 'hi' }], max_tokens: '10' }, /^max_tokens$/],
      ['temperature is out of range', { messages: [{ role: 'user', content: 'hi' }], temperature: 3 }, /^temperature$/],
      ['role is unknown', { messages: [{ role: 'wizard', content: 'hi' }] }, /role/],
      ['a message is null', { messages: [null] }, /^messages/],
      ['stream is a string', { messages: [{ role: 'user', content: 'hi' }], stream: 'yes' }, /^stream$/],
      ['generate is a number', { messages: [{ role: 'user', content: 'hi' }], generate: 0 }, /^generate$/],
      ['user content is missing', { messages: [{ role: 'user' }] }, /content/],
      ['a tool message has no tool_call_id', { messages: [{ role: 'tool', content: 'x' }] }, /tool_call_id/],
      ['a user message carries tool_calls', { messages: [{ role: 'user', content: 'x', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }] }, /tool_calls/],
      ['tool_calls is malformed', { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c1' }] }], generate: false }, /tool_calls/],
    ])('answers 400 with param when %s', async (_case, body, param) => {
      const r = await api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, body);
      expect(r.status).toBe(400);
      expectErrorShape(r.body, 'invalid_request');
      expect(r.body.error.param).toMatch(param);
      expect(r.body.error.type).toBe('invalid_request_error');
    });

    it.each([
      ['policy.preserve_len below 4096', { policy: { preserve_len: 1000 } }, /^policy\.preserve_len$/],
      ['metadata with a non-string value', { metadata: { n: 1 } }, /^metadata$/],
      ['tools that are not functions', { tools: [{ type: 'retrieval' }] }, /^tools/],
      ['system as a number', { system: 7 }, /^system$/],
      ['wait_ms negative', { wait_ms: -5 }, /^wait_ms$/],
    ])('answers 400 with param on create when %s', async (_case, body, param) => {
      const r = await api(a.apiKey, 'POST', '/v1/sessions', body);
      expect(r.status).toBe(400);
      expectErrorShape(r.body, 'invalid_request');
      expect(r.body.error.param).toMatch(param);
    });

    it('answers 400 to unknown fields, at the top level and nested', async () => {
      const top = await api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'hi' }], frobnicate: true });
      expect(top.status).toBe(400);
      expect(top.body.error.param).toBe('frobnicate');
      const nested = await api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'hi', mood: 'happy' }] });
      expect(nested.status).toBe(400);
      expect(nested.body.error.param).toMatch(/mood/);
      const create = await api(a.apiKey, 'POST', '/v1/sessions', { policy: { auto_compact: true, turbo: 1 } });
      expect(create.status).toBe(400);
      expect(create.body.error.param).toMatch(/turbo/);
      expect((await api(a.apiKey, 'GET', `/v1/sessions/${sid}`)).body.last_seq).toBe(0);
    });

    it('answers 400 to invalid query parameters', async () => {
      for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5']) {
        const r = await api(a.apiKey, 'GET', `/v1/sessions?${q}`);
        expect(r.status).toBe(400);
        expect(r.body.error.param).toBe('limit');
      }
      for (const q of ['after_seq=-1', 'after_seq=x', 'limit=500']) {
        const r = await api(a.apiKey, 'GET', `/v1/sessions/${sid}/messages?${q}`);
        expect(r.status).toBe(400);
        expectErrorShape(r.body, 'invalid_request');
      }
      const unknown = await api(a.apiKey, 'GET', '/v1/sessions?colour=blue');
      expect(unknown.status).toBe(400);
    });

    it('answers 400 to an after_seq beyond the seq column\'s range', async () => {
      for (const v of ['2147483648', '99999999999999999999']) {
        const r = await api(a.apiKey, 'GET', `/v1/sessions/${sid}/messages?after_seq=${v}`);
        expect(r.status).toBe(400);
        expect(r.body.error.param).toBe('after_seq');
      }
    });

    it('answers 400 to text Postgres cannot store (a NUL character), and writes nothing', async () => {
      const acct = await h.createAccount('nul');
      const create = await api(acct.apiKey, 'POST', '/v1/sessions', { title: 'a\u0000b' });
      expect(create.status).toBe(400);
      expectErrorShape(create.body, 'invalid_request');
      const meta = await api(acct.apiKey, 'POST', '/v1/sessions', { metadata: { k: 'v\u0000' } });
      expect(meta.status).toBe(400);
      expect((await api(acct.apiKey, 'GET', '/v1/sessions')).body.data).toEqual([]);

      const id = await newSession(acct.apiKey);
      for (const generate of [false, true]) {
        const r = await api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'nul\u0000here' }], generate });
        expect(r.status).toBe(400);
        expectErrorShape(r.body, 'invalid_request');
      }
      const s = await api(acct.apiKey, 'GET', `/v1/sessions/${id}`);
      expect(s.body.last_seq).toBe(0);
      expect(s.body.usage.prompt_tokens).toBe(0);
      expect((await api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'clean' }] })).status).toBe(200);

      const account = await api(ADMIN_KEY, 'POST', '/admin/accounts', { name: 'bad\u0000name' });
      expect(account.status).toBe(400);
    });

    it('answers 4xx, not 500, to bodies it cannot decode', async () => {
      const post = (headers: Record<string, string>, body: string | Buffer) =>
        raw(`${h.url}/v1/sessions/${sid}/messages`, { method: 'POST', headers: { authorization: `Bearer ${a.apiKey}`, ...headers }, body }, `POST messages ${JSON.stringify(headers)}`);
      const garbageBrotli = await post({ 'content-type': 'application/json', 'content-encoding': 'br' }, '{"messages":[]}');
      expect(garbageBrotli.status).toBe(400);
      expectErrorShape(garbageBrotli.body, 'invalid_request');
      const unknownEncoding = await post({ 'content-type': 'application/json', 'content-encoding': 'x-compress-9000' }, '{}');
      expect([400, 415]).toContain(unknownEncoding.status);
      expectErrorShape(unknownEncoding.body, 'invalid_request');
      const charset = await post({ 'content-type': 'application/json; charset=latin7' }, '{}');
      expect([400, 415]).toContain(charset.status);
      expectErrorShape(charset.body, 'invalid_request');
      const tooBig = await post({ 'content-type': 'application/json' }, JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(17 * 1024 * 1024) }] }));
      expect(tooBig.status).toBe(413);
      expectErrorShape(tooBig.body, 'request_too_large');
      expect((await api(a.apiKey, 'GET', `/v1/sessions/${sid}`)).body.last_seq).toBe(0);
    });

    it('answers 413 append_too_large over 8,192 tokens and writes nothing', async () => {
      const acct = await h.createAccount('big');
      const id = await newSession(acct.apiKey);
      const huge = Array.from({ length: 9000 }, (_, i) => `word${i % 50}`).join(' ');
      const r = await api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: huge }] });
      expect(r.status).toBe(413);
      expectErrorShape(r.body, 'append_too_large');
      // Split over several messages it is still one append.
      const third = huge.slice(0, Math.ceil(huge.length / 3));
      const split = await api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [third, third, third, third].map((c) => ({ role: 'user', content: c })), generate: false });
      expect(split.status).toBe(413);
      const streamed = await api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: huge }], stream: true });
      expect(streamed.status).toBe(413);
      expect(streamed.headers.get('content-type')).toMatch(/^application\/json/);

      const s = await api(acct.apiKey, 'GET', `/v1/sessions/${id}`);
      expect(s.body.last_seq).toBe(0);
      expect(s.body.usage.window_tokens).toBeGreaterThan(0);
      expect((await api(acct.apiKey, 'GET', `/v1/sessions/${id}/messages`)).body.data).toEqual([]);
      expect(h.simStatsFor(acct.simKey).requests).toBe(0);
      // A normal append still works afterwards.
      expect((await api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'small' }] })).status).toBe(200);
    });
  });

  describe('not found', () => {
    it.each([
      ['GET', '/v1/sessions/not-a-uuid'],
      ['GET', `/v1/sessions/${randomUUID()}`],
      ['GET', '/v1/sessions/00000000-0000-0000-0000-000000000000'],
      ['GET', "/v1/sessions/'%20OR%201=1--"],
      ['DELETE', '/v1/sessions/12345'],
      ['GET', '/v1/sessions/not-a-uuid/messages'],
      ['POST', '/v1/sessions/not-a-uuid/messages'],
      ['POST', `/v1/sessions/${randomUUID()}/messages`],
    ])('answers 404 not_found to %s %s', async (method, path) => {
      const r = await api(a.apiKey, method, path, method === 'POST' ? { messages: [{ role: 'user', content: 'hi' }] } : undefined);
      expect(r.status).toBe(404);
      expectErrorShape(r.body, 'not_found');
      expect(r.body.error.type).toBe('not_found_error');
    });

    it('answers 404 to unknown admin account ids', async () => {
      for (const id of ['nope', randomUUID()]) {
        const g = await api(ADMIN_KEY, 'GET', `/admin/accounts/${id}`);
        expect(g.status).toBe(404);
        expectErrorShape(g.body, 'not_found');
        const p = await api(ADMIN_KEY, 'PATCH', `/admin/accounts/${id}`, { session_limit: 3 });
        expect(p.status).toBe(404);
      }
    });

    it('answers unknown routes with 404 in the error shape', async () => {
      for (const [method, path] of [
        ['GET', '/nope'],
        ['GET', '/v1/nope'],
        ['POST', '/v2/sessions'],
        ['PUT', '/v1/sessions'],
        ['GET', '/admin/nope'],
      ]) {
        const r = await api(a.apiKey, method, path, method === 'GET' ? undefined : {});
        expect(r.status).toBe(404);
        expectErrorShape(r.body, 'not_found');
        expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      }
    });
  });

  it('never answers with a 500 or a body holding a stack trace', () => {
    expect(seen.length).toBeGreaterThan(50);
    const bad = seen.filter((r) => r.status >= 500 || /\bat .+\.(ts|js):\d+/.test(r.text) || /node_modules/.test(r.text) || /"stack"/.test(r.text));
    expect(bad).toEqual([]);
  });
});
