import { ADMIN_KEY, TestHarness, TestAccount } from '../support/harness';

const ERROR_REF = '#/components/schemas/ErrorResponse';

/** Routes of the foundation, with the request schema and error statuses each must document. */
const ROUTES: Array<{ method: string; path: string; body?: string; errors: number[]; ok: string }> = [
  { method: 'post', path: '/v1/sessions', body: 'CreateSessionDto', errors: [400, 401, 429], ok: '201' },
  { method: 'get', path: '/v1/sessions', errors: [400, 401], ok: '200' },
  { method: 'get', path: '/v1/sessions/{id}', errors: [401, 404], ok: '200' },
  { method: 'delete', path: '/v1/sessions/{id}', errors: [401, 404], ok: '200' },
  { method: 'post', path: '/v1/sessions/{id}/messages', body: 'AppendMessagesDto', errors: [400, 401, 404, 409, 413, 429, 502, 504], ok: '200' },
  { method: 'get', path: '/v1/sessions/{id}/messages', errors: [400, 401, 404], ok: '200' },
  { method: 'get', path: '/v1/models', errors: [401], ok: '200' },
  { method: 'post', path: '/admin/accounts', body: 'CreateAccountDto', errors: [400, 401, 403], ok: '201' },
  { method: 'get', path: '/admin/accounts', errors: [401, 403], ok: '200' },
  { method: 'get', path: '/admin/accounts/{id}', errors: [401, 403, 404], ok: '200' },
  { method: 'patch', path: '/admin/accounts/{id}', body: 'UpdateAccountDto', errors: [400, 401, 403, 404], ok: '200' },
  { method: 'get', path: '/health', errors: [], ok: '200' },
  { method: 'post', path: '/v1/responses', body: 'CreateResponseDto', errors: [400, 401, 404, 409, 413, 429, 502, 504], ok: '200' },
  { method: 'post', path: '/v1/responses/compact', body: 'CompactResponseDto', errors: [400, 401, 404, 409, 429, 502, 504], ok: '200' },
  { method: 'get', path: '/v1/responses/{id}', errors: [401, 404], ok: '200' },
  { method: 'delete', path: '/v1/responses/{id}', errors: [401, 404], ok: '200' },
  { method: 'get', path: '/v1/responses/{id}/input_items', errors: [400, 401, 404], ok: '200' },
  { method: 'post', path: '/v1/conversations', body: 'CreateConversationDto', errors: [400, 401, 413, 429], ok: '200' },
  { method: 'get', path: '/v1/conversations/{id}', errors: [401, 404], ok: '200' },
  { method: 'post', path: '/v1/conversations/{id}', body: 'UpdateConversationDto', errors: [400, 401, 404], ok: '200' },
  { method: 'delete', path: '/v1/conversations/{id}', errors: [401, 404], ok: '200' },
  { method: 'get', path: '/v1/conversations/{id}/items', errors: [400, 401, 404], ok: '200' },
  { method: 'post', path: '/v1/conversations/{id}/items', body: 'CreateConversationItemsDto', errors: [400, 401, 404, 409, 413], ok: '200' },
  { method: 'get', path: '/v1/conversations/{id}/items/{itemId}', errors: [401, 404], ok: '200' },
  { method: 'delete', path: '/v1/conversations/{id}/items/{itemId}', errors: [401, 404, 409], ok: '200' },
];

describe('OpenAPI, health, models and metrics', () => {
  let h: TestHarness;
  let a: TestAccount;
  let doc: any;

  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('ops');
    const r = await fetch(`${h.url}/docs-json`);
    expect(r.status).toBe(200);
    doc = await r.json();
  });
  afterAll(async () => h?.stop());

  const resolve = (ref: string) => {
    expect(ref.startsWith('#/')).toBe(true);
    return ref
      .slice(2)
      .split('/')
      .reduce((node: any, key) => (node === undefined ? undefined : node[key]), doc);
  };

  describe('OpenAPI document', () => {
    it('serves Swagger UI as HTML at /docs', async () => {
      const r = await fetch(`${h.url}/docs`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/text\/html/);
      const html = await r.text();
      expect(html).toMatch(/swagger-ui/i);
    });

    it('is OpenAPI 3 with both bearer schemes', () => {
      expect(doc.openapi).toMatch(/^3\./);
      expect(doc.info.title).toBe('session-orchestrator');
      expect(doc.components.securitySchemes.account).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(doc.components.securitySchemes.admin).toMatchObject({ type: 'http', scheme: 'bearer' });
    });

    it.each(ROUTES.map((r) => [r.method.toUpperCase(), r.path, r] as const))('documents %s %s with its request schema and error responses', (_m, _p, route) => {
      const op = doc.paths[route.path]?.[route.method];
      expect(op).toBeDefined();
      expect(op.responses[route.ok]).toBeDefined();
      if (route.body) {
        const schema = op.requestBody?.content?.['application/json']?.schema;
        expect(schema?.$ref).toBe(`#/components/schemas/${route.body}`);
        expect(resolve(schema.$ref).properties).toBeDefined();
      }
      for (const status of route.errors) {
        const resp = op.responses[String(status)];
        expect({ status, documented: !!resp }).toEqual({ status, documented: true });
        expect(resp.content['application/json'].schema.$ref).toBe(ERROR_REF);
        expect(resp.description).toBeTruthy();
      }
      if (route.path.startsWith('/v1/')) expect(op.security).toEqual([{ account: [] }]);
      if (route.path.startsWith('/admin/')) expect(op.security).toEqual([{ admin: [] }]);
    });

    it('describes the error schema in the OpenAI error shape', () => {
      const err = resolve(ERROR_REF);
      expect(err.properties.error.$ref ?? err.properties.error.allOf?.[0]?.$ref).toBe('#/components/schemas/ErrorDetail');
      const detail = resolve('#/components/schemas/ErrorDetail');
      expect(Object.keys(detail.properties).sort()).toEqual(['code', 'message', 'param', 'type']);
    });

    it('documents the request fields of an append and a session create', () => {
      const append = resolve('#/components/schemas/AppendMessagesDto');
      expect(append.required).toContain('messages');
      for (const f of ['messages', 'generate', 'max_tokens', 'temperature', 'stream']) expect(append.properties).toHaveProperty(f);
      const create = resolve('#/components/schemas/CreateSessionDto');
      for (const f of ['model', 'system', 'tools', 'title', 'metadata', 'policy', 'wait_ms']) expect(create.properties).toHaveProperty(f);
      const policy = resolve('#/components/schemas/PolicyDto');
      expect(policy.properties.preserve_len.minimum).toBe(4096);
      const op = doc.paths['/v1/sessions/{id}/messages'].post;
      expect(op.parameters.some((p: any) => p.in === 'header' && p.name === 'Idempotency-Key')).toBe(true);
      const list = doc.paths['/v1/sessions'].get.parameters.map((p: any) => p.name);
      expect(list).toEqual(expect.arrayContaining(['status', 'parent_id', 'limit', 'after']));
      const msgs = doc.paths['/v1/sessions/{id}/messages'].get.parameters.map((p: any) => p.name);
      expect(msgs).toEqual(expect.arrayContaining(['after_seq', 'limit']));
    });

    it('has no dangling $ref anywhere', () => {
      const refs = new Set<string>();
      const walk = (n: unknown) => {
        if (Array.isArray(n)) n.forEach(walk);
        else if (n && typeof n === 'object') {
          for (const [k, v] of Object.entries(n)) {
            if (k === '$ref' && typeof v === 'string') refs.add(v);
            else walk(v);
          }
        }
      };
      walk(doc);
      expect(refs.size).toBeGreaterThan(10);
      const dangling = [...refs].filter((r) => resolve(r) === undefined);
      expect(dangling).toEqual([]);
    });

    it('points every documented error response of every route at the error schema', () => {
      const wrong: string[] = [];
      for (const [path, ops] of Object.entries<any>(doc.paths)) {
        for (const [method, op] of Object.entries<any>(ops)) {
          if (path === '/health') continue; // its 503 is a health report, not an error
          for (const [status, resp] of Object.entries<any>(op.responses ?? {})) {
            if (Number(status) >= 400 && resp.content?.['application/json']?.schema?.$ref !== ERROR_REF) wrong.push(`${method} ${path} ${status}`);
          }
        }
      }
      expect(wrong).toEqual([]);
    });

    it('documents /metrics as Prometheus text', () => {
      expect(Object.keys(doc.paths['/metrics'].get.responses['200'].content)).toEqual(['text/plain']);
    });
  });

  describe('/health', () => {
    const admin = { headers: { authorization: `Bearer ${ADMIN_KEY}` } };
    it('reports database, queue and upstream up', async () => {
      const r = await fetch(`${h.url}/health`, admin);
      expect(r.status).toBe(200);
      const body: any = await r.json();
      expect(body.status).toBe('ok');
      expect(body.role).toBe('all');
      expect(body.checks.database.status).toBe('up');
      expect(body.checks.queue.status).toBe('up');
      expect(body.checks.upstream.status).toBe('up');
      // The default LLM_MODEL is checked against the upstream's /v1/models.
      expect(body.checks.upstream).toMatchObject({ model: 'kimi-k2.6', model_served: true });
    });

    it('starts with an LLM_MODEL the upstream does not serve, and reports it as not served', async () => {
      const t = await TestHarness.start({ env: { LLM_MODEL: 'kimi-retired-preview' } });
      try {
        const body: any = await (await fetch(`${t.url}/health`, admin)).json();
        expect(body.checks.upstream).toMatchObject({ status: 'up', model: 'kimi-retired-preview', model_served: false });
      } finally {
        await t.stop();
      }
    });

    it('needs no key, and without the admin key says only whether the service is up (no error texts, hosts or roles)', async () => {
      for (const headers of [{}, { authorization: 'Bearer nonsense' }, { authorization: `Bearer ${a.apiKey}` }] as Array<Record<string, string>>) {
        const r = await fetch(`${h.url}/health`, { headers });
        expect(r.status).toBe(200);
        expect(await r.json()).toEqual({ status: 'ok' });
      }
    });

    it('reports the upstream down (degraded, still 200) when it is unreachable', async () => {
      const t = await TestHarness.start({ env: { LLM_BASE_URL: 'http://127.0.0.1:9/v1' } });
      try {
        const anonymous: any = await (await fetch(`${t.url}/health`)).json();
        expect(anonymous).toEqual({ status: 'degraded' });
        expect(JSON.stringify(anonymous)).not.toContain('127.0.0.1');
        const r = await fetch(`${t.url}/health`, admin);
        expect(r.status).toBe(200);
        const body: any = await r.json();
        expect(body.status).toBe('degraded');
        expect(body.checks.upstream.status).toBe('down');
        // The model check could not be made: neither served nor not served.
        expect(body.checks.upstream.model_served).toBeNull();
        expect(body.checks.database.status).toBe('up');
      } finally {
        await t.stop();
      }
    });
  });

  describe('/v1/models', () => {
    it('lists the default kimi-k2.6 and the older kimi-k2-0905-preview through the official SDK', async () => {
      const ids: string[] = [];
      for await (const m of a.openai.models.list()) ids.push(m.id);
      expect(ids).toEqual(expect.arrayContaining(['kimi-k2.6', 'kimi-k2.5', 'kimi-k3', 'kimi-k2-0905-preview']));
      const raw = await h.api(a.apiKey, 'GET', '/v1/models');
      expect(raw.body.object).toBe('list');
      const k2 = raw.body.data.find((m: any) => m.id === 'kimi-k2-0905-preview');
      expect(k2).toMatchObject({ object: 'model', context_length: 262144 });
    });
  });

  describe('/metrics', () => {
    it('counts HTTP requests by route pattern, status and account, and reports the pool per account and the queues', async () => {
      const s = await h.api(a.apiKey, 'POST', '/v1/sessions', {});
      await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'metrics' }] });
      await h.api(a.apiKey, 'GET', '/v1/sessions/not-a-session');
      const text = await (await fetch(`${h.url}/metrics`)).text();
      expect(text).toContain(`so_http_requests_total{route="/v1/sessions/:id/messages",method="POST",status="200",account="${a.id}"}`);
      expect(text).toContain(`so_http_requests_total{route="/v1/sessions/:id",method="GET",status="404",account="${a.id}"}`);
      expect(text).not.toContain('not-a-session'); // the route pattern, never the raw path
      expect(text).toMatch(/^so_http_request_duration_seconds_count\{route="\/v1\/sessions\/:id\/messages",method="POST"\} [1-9]\d*$/m);
      const inUse = new RegExp(`^so_pool_in_use\\{account="${a.id}"\\} (\\d+)$`, 'm').exec(text);
      expect(Number(inUse?.[1])).toBeGreaterThanOrEqual(1);
      expect(text).toMatch(new RegExp(`^so_pool_limit\\{account="${a.id}"\\} 100$`, 'm'));
      expect(text).toMatch(/^so_queue_jobs\{queue="[^"]+",state="waiting"\} \d+$/m);
      expect(text).toMatch(/^# TYPE so_queue_job_outcomes_total counter$/m);
      expect(text).toMatch(new RegExp(`^so_upstream_account_calls_total\\{account="${a.id}",purpose="chat",outcome="ok"\\} [1-9]\\d*$`, 'm'));
      expect(text).toMatch(new RegExp(`^so_upstream_account_cost_usd_total\\{account="${a.id}"\\} 0\\.\\d+`, 'm'));
    });

    it('serves Prometheus text with upstream call counters after a turn', async () => {
      const s = await h.api(a.apiKey, 'POST', '/v1/sessions', {});
      const t = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'count me' }] });
      expect(t.status).toBe(200);

      const r = await fetch(`${h.url}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await r.text();
      expect(text).toMatch(/^# HELP so_upstream_calls_total /m);
      expect(text).toMatch(/^# TYPE so_upstream_calls_total counter$/m);
      const calls = /^so_upstream_calls_total\{purpose="chat",outcome="ok"\} (\d+)$/m.exec(text);
      expect(calls).not.toBeNull();
      expect(Number(calls![1])).toBeGreaterThanOrEqual(1);
      expect(text).toMatch(/^so_upstream_tokens_total\{kind="prompt"\} [1-9]\d*$/m);
      expect(text).toMatch(/^so_upstream_latency_seconds_count\{purpose="chat"\} [1-9]\d*$/m);

      // Each further turn counts once.
      await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'and me' }] });
      const again = /^so_upstream_calls_total\{purpose="chat",outcome="ok"\} (\d+)$/m.exec(await (await fetch(`${h.url}/metrics`)).text());
      expect(Number(again![1])).toBe(Number(calls![1]) + 1);
    });

    it('requires METRICS_TOKEN as a bearer token when it is set', async () => {
      const t = await TestHarness.start({ env: { METRICS_TOKEN: 'scrape-token-123' } });
      try {
        for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${ADMIN_KEY}` }] as Array<Record<string, string>>) {
          const r = await fetch(`${t.url}/metrics`, { headers });
          expect(r.status).toBe(401);
          expect(((await r.json()) as any).error.code).toBe('unauthorized');
        }
        const ok = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer scrape-token-123' } });
        expect(ok.status).toBe(200);
        expect(await ok.text()).toMatch(/^so_upstream_calls_total|^# HELP/m);
      } finally {
        await t.stop();
      }
    });
  });
});
