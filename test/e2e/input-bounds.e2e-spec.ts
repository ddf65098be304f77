import { TestHarness, TestAccount } from '../support/harness';

// Issue 11, item 2: no request can freeze the process, and every body is bounded.
// Before the fix, token counting was quadratic in a run without spaces: the requests below took
// seconds to minutes each (this file timed out) and the deep body answered 500.

function expectErrorShape(body: any, code: string, status?: number): void {
  expect(Object.keys(body ?? {})).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  if (status) expect(status).toBeGreaterThanOrEqual(400);
}

describe('input bounds', () => {
  let h: TestHarness;
  let a: TestAccount;
  let sid: string;

  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('bounds');
    sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'bounds' })).body.id;
  });
  afterAll(async () => {
    await h?.stop();
  });

  const session = async () => (await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}`)).body;

  it('refuses a 2 MB message by the body bound (413), writes nothing, and still serves the next turn', async () => {
    const before = await session();
    const r = await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'q'.repeat(2 * 1024 * 1024) }] });
    expect(r.status).toBe(413);
    expectErrorShape(r.body, 'request_too_large');
    expect(await session()).toEqual(before);
    expect((await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'still here?' }] })).status).toBe(200);
  });

  it('refuses a 100 KB word without spaces by its character count, before tokenizing (413 append_too_large)', async () => {
    const before = await session();
    const r = await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'a'.repeat(100 * 1024) }] });
    expect(r.status).toBe(413);
    expectErrorShape(r.body, 'append_too_large');
    expect(r.body.error.message).toMatch(/characters/);
    expect(await session()).toEqual(before);
  });

  it('counts a long run under the character bound linearly and refuses it by tokens when it is over 8,192', async () => {
    // 90,000 characters of CJK without a space: about 90,000 tokens, and a run the old counter took minutes on.
    const r = await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: '漢'.repeat(90_000) }], generate: false });
    expect(r.status).toBe(413);
    expectErrorShape(r.body, 'append_too_large');
    expect(r.body.error.message).toMatch(/tokens/);
    // One under the token limit is stored and counted.
    const ok = await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'z'.repeat(12_000) }], generate: false });
    expect(ok.status).toBe(200);
    const history = await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}/messages?after_seq=${ok.body.seqs[0] - 1}`);
    expect(history.body.data[0].tokens).toBeGreaterThan(3000);
    expect(history.body.data[0].tokens).toBeLessThan(8192);
  });

  it('splits a task whose one input is a 1 MB line without spaces into token chunks', async () => {
    const content = Buffer.alloc(768 * 1024, 7).toString('base64'); // 1 MiB of base64: one unbroken run
    const r = await h.api(a.apiKey, 'POST', '/v1/tasks', {
      goal: 'find anything odd in the blob',
      inputs: [{ title: 'blob.b64', content }],
      split: { strategy: 'token_chunks', chunk_tokens: 100_000 },
    });
    expect(r.status).toBe(202);
    const t = await h.api(a.apiKey, 'GET', `/v1/tasks/${r.body.id}`);
    expect(t.body.progress.total).toBeGreaterThan(1);
    await h.api(a.apiKey, 'POST', `/v1/tasks/${r.body.id}/cancel`);
  });

  it('answers 400, not 500, to a body nested thousands of levels deep', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    for (const [path, body] of [
      ['/v1/sessions', `{"metadata": ${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`],
      [`/v1/sessions/${sid}/messages`, `{"messages": ${deep}}`],
      ['/v1/chat/completions', `{"model":"kimi-k2.6","messages":[{"role":"user","content":"x"}],"response_format":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`],
    ] as const) {
      const r = await h.api(a.apiKey, 'POST', path, body);
      expect(r.status).toBe(400);
      expectErrorShape(r.body, 'invalid_request');
      expect(r.body.error.message).toMatch(/nested/);
    }
    // Brackets inside strings are text, not nesting.
    const fine = await h.api(a.apiKey, 'POST', '/v1/sessions', { title: '['.repeat(200), system: '{'.repeat(5000) });
    expect(fine.status).toBe(201);
  });

  it('answers an over-long Idempotency-Key with 400 in the OpenAI shape, whether Node or the service sees it first', async () => {
    const before = await session();
    for (const key of ['k'.repeat(300), 'k'.repeat(64 * 1024)]) {
      const res = await fetch(`${h.url}/v1/sessions/${sid}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      expectErrorShape(await res.json(), 'invalid_request');
    }
    expect(await session()).toEqual(before);
  });

  it('refuses a body that is not JSON with 415 on every route, instead of dropping it', async () => {
    const form = async (path: string, body: string, type: string | null) => {
      const headers: Record<string, string> = { authorization: `Bearer ${a.apiKey}` };
      if (type) headers['content-type'] = type;
      const res = await fetch(`${h.url}${path}`, { method: 'POST', headers, body });
      return { status: res.status, body: (await res.json()) as any };
    };
    const listed = (await h.api(a.apiKey, 'GET', '/v1/sessions?limit=100')).body.data.length;
    for (const [path, body, type] of [
      ['/v1/sessions', 'system=You+are+terse&title=t', 'application/x-www-form-urlencoded'],
      ['/v1/sessions', '{"system":"You are terse."}', 'text/plain'],
      ['/v1/sessions', '{"system":"You are terse."}', null],
      [`/v1/sessions/${sid}/messages`, '{"messages":[{"role":"user","content":"hi"}]}', 'text/plain'],
      ['/v1/chat/completions', '{"messages":[{"role":"user","content":"hi"}]}', 'multipart/form-data; boundary=x'],
    ] as const) {
      const r = await form(path, body, type);
      expect(r.status).toBe(415);
      expectErrorShape(r.body, 'unsupported_media_type');
      expect(r.body.error.message).toMatch(/application\/json/);
    }
    expect((await h.api(a.apiKey, 'GET', '/v1/sessions?limit=100')).body.data.length).toBe(listed);
    // JSON with a charset, or a +json type, is JSON.
    const charset = await form('/v1/sessions', '{"title":"utf8"}', 'application/json; charset=utf-8');
    expect(charset.status).toBe(201);
    // A POST without a body needs no Content-Type.
    const snap = await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/snapshots`);
    expect(snap.status).toBe(201);
  });

  it('bounds the other string fields and the stop sequences', async () => {
    const cases: Array<[string, unknown]> = [
      ['/v1/sessions', { title: 't'.repeat(501) }],
      ['/v1/sessions', { system: 's'.repeat(400_001) }],
      ['/v1/fragments', { name: 'big', content: 'c'.repeat(400_001) }],
      ['/v1/tasks', { goal: 'g'.repeat(100_001), subtasks: [{ title: 't', prompt: 'p' }] }],
      ['/v1/chat/completions', { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] }],
      ['/v1/chat/completions', { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'x' }], stop: 's'.repeat(257) }],
      ['/v1/chat/completions', { model: 'kimi-k2.6', messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f'.repeat(65), arguments: '{}' } }] }] }],
    ];
    for (const [path, body] of cases) {
      const r = await h.api(a.apiKey, 'POST', path, body);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expectErrorShape(r.body, 'invalid_request');
    }
  });
});

describe('validation messages name the rule that failed', () => {
  let h: TestHarness;
  let a: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('rules');
  });
  afterAll(async () => h?.stop());

  it.each([
    ['/v1/sessions', { system: 123 }, 'system', /string/],
    ['/v1/sessions', { title: ['x'] }, 'title', /string/],
    ['/v1/sessions', { wait_ms: 'soon' }, 'wait_ms', /integer/],
    ['/v1/fragments', { name: 'n', content: 42 }, 'content', /string/],
  ])('%s %j answers 400 naming %s and the type rule', async (path, body, param, message) => {
    const r = await h.api(a.apiKey, 'POST', path, body);
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe(param);
    expect(r.body.error.message).toMatch(message);
  });
});
