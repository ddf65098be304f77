import { ADMIN_KEY, TestHarness, TestAccount } from '../support/harness';

// Issue 11, item 1: every malformed request is a 400 that names what is wrong, never a silent default or a 500.

function expectInvalid(r: { status: number; body: any }, pattern?: RegExp): void {
  expect(r.status).toBe(400);
  expect(Object.keys(r.body ?? {})).toEqual(['error']);
  expect(r.body.error.type).toBe('invalid_request_error');
  if (pattern) expect(r.body.error.message).toMatch(pattern);
}

describe('request rules', () => {
  let h: TestHarness;
  let a: TestAccount;
  let sid: string;

  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('rules');
    sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'rules' })).body.id;
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('refuses an unknown model on session create and on the pass-through, naming the model', async () => {
    expectInvalid(await h.api(a.apiKey, 'POST', '/v1/sessions', { model: 'gpt-nonexistent-9' }), /gpt-nonexistent-9/);
    expectInvalid(await h.api(a.apiKey, 'POST', '/v1/chat/completions', { model: 'gpt-nonexistent-9', messages: [{ role: 'user', content: 'hi' }] }), /gpt-nonexistent-9/);
  });

  it('refuses a tool without a function, a tool_choice of the wrong type and an unknown response_format type', async () => {
    const before = (await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}`)).body;
    const turn = (extra: Record<string, unknown>) => h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'hi' }], ...extra });
    expectInvalid(await h.api(a.apiKey, 'POST', '/v1/sessions', { tools: [{ type: 'function' }] }), /function/);
    expectInvalid(await turn({ tool_choice: 42 }), /tool_choice/);
    expectInvalid(await turn({ tool_choice: 'sometimes' }), /tool_choice/);
    expectInvalid(await turn({ tool_choice: { type: 'function' } }), /tool_choice/);
    expectInvalid(await turn({ response_format: { type: 'yaml' } }), /response_format/);
    expectInvalid(await turn({ response_format: { type: 'json_schema' } }), /json_schema/);
    expect((await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}`)).body).toEqual(before);
    const pass = (extra: Record<string, unknown>) => h.api(a.apiKey, 'POST', '/v1/chat/completions', { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'hi' }], ...extra });
    expectInvalid(await pass({ tools: [{ type: 'function' }] }), /function/);
    expectInvalid(await pass({ tool_choice: ['auto'] }), /tool_choice/);
    expectInvalid(await pass({ response_format: { type: 'xml' } }), /response_format/);
    // The valid forms still work.
    expect((await turn({ tool_choice: 'none', response_format: { type: 'text' } })).status).toBe(200);
    const withTools = await h.api(a.apiKey, 'POST', '/v1/sessions', { tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }] });
    expect(withTools.status).toBe(201);
    const forced = await h.api(a.apiKey, 'POST', `/v1/sessions/${withTools.body.id}/messages`, { messages: [{ role: 'user', content: 'look it up' }], tool_choice: { type: 'function', function: { name: 'lookup' } }, response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } } });
    expect(forced.status).toBe(200);
  });

  it('refuses a list cursor that is not an id instead of returning the first page', async () => {
    expectInvalid(await h.api(a.apiKey, 'GET', '/v1/sessions?after=sess_doesnotexist'), /after/);
    expectInvalid(await h.api(a.apiKey, 'GET', '/v1/fragments?after=frag_doesnotexist'), /after/);
    expectInvalid(await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}/snapshots?after=12`), /after/);
    expectInvalid(await h.api(ADMIN_KEY, 'GET', '/admin/accounts?after=acct_1'), /after/);
    // A real cursor pages.
    const first = await h.api(a.apiKey, 'GET', '/v1/sessions?limit=1');
    expect(first.status).toBe(200);
    expect((await h.api(a.apiKey, 'GET', `/v1/sessions?limit=1&after=${first.body.last_id}`)).status).toBe(200);
  });

  it('refuses null fields and a non-object upstream on PATCH /admin/accounts/{id} and changes nothing', async () => {
    const before = (await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${a.id}`)).body;
    expectInvalid(await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { name: null }));
    expectInvalid(await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { session_limit: null }));
    expectInvalid(await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { upstream: [] }), /upstream/);
    expectInvalid(await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { upstream: 'x' }), /upstream/);
    expect((await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${a.id}`)).body).toEqual(before);
  });
});

describe('CORS (issue 11, item 9)', () => {
  it('sends no CORS headers unless CORS_ORIGINS says which origins may call', async () => {
    const h = await TestHarness.start({ redis: false });
    try {
      const r = await fetch(`${h.url}/v1/models`, { headers: { origin: 'https://app.example.com', authorization: 'Bearer x' } });
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await h.stop();
    }
  });

  it('answers preflights and exposes Retry-After to the listed origins only', async () => {
    const h = await TestHarness.start({ redis: false, env: { CORS_ORIGINS: 'https://app.example.com' } });
    try {
      const a = await h.createAccount('cors');
      const pre = await fetch(`${h.url}/v1/sessions`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(pre.headers.get('access-control-allow-headers')).toMatch(/idempotency-key/);
      const get = await fetch(`${h.url}/v1/sessions`, { headers: { origin: 'https://app.example.com', authorization: `Bearer ${a.apiKey}` } });
      expect(get.status).toBe(200);
      expect(get.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(get.headers.get('access-control-expose-headers')).toMatch(/retry-after/);
      const other = await fetch(`${h.url}/v1/sessions`, { headers: { origin: 'https://evil.example.net', authorization: `Bearer ${a.apiKey}` } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await h.stop();
    }
  });
});
