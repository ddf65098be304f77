import { ADMIN_KEY, TestHarness, TestAccount } from '../support/harness';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/processes';

// Issue 11, item 1: a database outage is a 503 the client can retry, not a 500; nothing half-written,
// and the service serves again once the database is back. The database sits behind a loopback proxy
// the test cuts.

describe('database outage', () => {
  let h: TestHarness;
  let proxy: TcpProxy;
  let a: TestAccount;
  let sid: string;

  beforeAll(async () => {
    proxy = await TcpProxy.start('127.0.0.1', 5432);
    h = await TestHarness.start({ databaseUrl: (url) => proxy.rewrite(url), redis: false, env: { DB_POOL_SIZE: '2' } });
    a = await h.createAccount('outage');
    sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'outage' })).body.id;
    expect((await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'before the outage' }] })).status).toBe(200);
  });
  afterAll(async () => {
    await proxy?.restore();
    await h?.stop();
    await proxy?.close();
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const count = async (sql: string, params: unknown[]) => (await h.handle.dataSource.query<Array<{ n: number }>>(sql, params))[0].n;

  /**
   * Starts `request` against an upstream that takes 1.5 s to answer; half a second in (the call under way)
   * the database goes away, and comes back after the answer has arrived. Answers the request's result.
   */
  async function throughOutage<T>(request: () => Promise<T>): Promise<T> {
    h.sim.configure({ firstTokenMs: 1500 });
    try {
      const pending = request();
      await sleep(500);
      await proxy.cut();
      await sleep(1800);
      await proxy.restore();
      return await pending;
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
      await proxy.restore();
    }
  }

  it('answers 503 service_unavailable with Retry-After while Postgres is unreachable, then serves the same requests again', async () => {
    const before = (await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}/messages`)).body;
    await proxy.cut();
    for (const [method, path, body] of [
      ['GET', `/v1/sessions/${sid}`, undefined],
      ['POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'during the outage' }] }],
      ['POST', '/v1/sessions', { title: 'new' }],
    ] as const) {
      const r = await h.api(a.apiKey, method, path, body);
      expect({ path, status: r.status }).toEqual({ path, status: 503 });
      expect(Object.keys(r.body)).toEqual(['error']);
      expect(r.body.error.code).toBe('service_unavailable');
      expect(r.body.error.type).toBe('server_error');
      expect(r.headers.get('retry-after')).toBe('5');
      expect(JSON.stringify(r.body)).not.toMatch(/ECONNREFUSED|at .*\.js|127\.0\.0\.1/);
    }
    await proxy.restore();
    // The turn refused during the outage left nothing behind; the next one works.
    expect((await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}/messages`)).body).toEqual(before);
    const after = await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'after the outage' }] });
    expect(after.status).toBe(200);
  });

  it('commits a turn through an outage that begins during its upstream call: the paid reply is kept, once, and never asked for again', async () => {
    const text = `through the outage ${Date.now()}`;
    const r = await throughOutage(() => h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: text }] }));
    expect(r.status).toBe(200);
    expect(r.body.message.role).toBe('assistant');

    const history = (await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}/messages?limit=100`)).body.data as Array<{ seq: number; role: string; content: string }>;
    const asked = history.filter((m) => m.content === text);
    expect(asked).toHaveLength(1);
    // The reply follows the question, exactly once, and is the one the client got.
    expect(history.filter((m) => m.seq > asked[0].seq)).toEqual([expect.objectContaining({ role: 'assistant', content: r.body.message.content })]);
    // One upstream call for it, and one usage row for the turn.
    expect(h.sim.requests(1000).filter((q) => q.last_user === text)).toHaveLength(1);
    expect(await count('SELECT count(*)::int AS n FROM usage_events WHERE turn_id = $1', [r.body.id])).toBe(1);
  });

  it('writes a pass-through\'s usage row through an outage that begins during its upstream call, exactly once', async () => {
    const rows = () => count(`SELECT count(*)::int AS n FROM usage_events WHERE account_id = $1 AND purpose = 'passthrough'`, [a.id]);
    const before = await rows();
    const r = await throughOutage(() => h.api(a.apiKey, 'POST', '/v1/chat/completions', { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'a stateless call through the outage' }] }));
    expect(r.status).toBe(200);
    expect(r.body.usage.prompt_tokens).toBeGreaterThan(0);
    // Written behind the answer: wait for it, then make sure it is there once.
    await waitFor(rows, (n) => n > before, 15_000, 'the pass-through usage row');
    await sleep(300);
    expect(await rows()).toBe(before + 1);
  });

  it('keeps a budgeted pass-through\'s answer and its usage row through the same outage (the row is written before the answer)', async () => {
    const b = await h.createAccount('outage-budget');
    expect((await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${b.id}`, { budget: { usd: 100, period: 'day' } })).status).toBe(200);
    const r = await throughOutage(() => h.api(b.apiKey, 'POST', '/v1/chat/completions', { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'a budgeted call through the outage' }] }));
    expect(r.status).toBe(200);
    expect(await count(`SELECT count(*)::int AS n FROM usage_events WHERE account_id = $1 AND purpose = 'passthrough'`, [b.id])).toBe(1);
  });

  it('commits a compression through an outage that begins during its summarizer call: one outline, one paid call', async () => {
    const id = (await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'compress through', policy: { auto_compact: false } })).body.id as string;
    for (let n = 1; n <= 6; n++) {
      const r = await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: `Step ${n}: we chose the plan ${n}a for module m${n} at build 7.${n}.` }] });
      expect(r.status).toBe(200);
    }
    const compressCalls = () => h.sim.requests(1000).filter((q) => q.purpose === 'compress').length;
    const callsBefore = compressCalls();
    const c = await throughOutage(() => h.api(a.apiKey, 'POST', `/v1/sessions/${id}/compress`, { ratio: 4 }));
    expect(c.status).toBe(200);
    expect(c.body.method).toBe('upstream');
    expect(compressCalls()).toBe(callsBefore + 1);
    expect(await count('SELECT count(*)::int AS n FROM compressions WHERE session_id = $1', [id])).toBe(1);
    const history = (await h.api(a.apiKey, 'GET', `/v1/sessions/${id}/messages?limit=100`)).body.data as Array<{ role: string; content: string }>;
    expect(history.filter((m) => m.content.includes(c.body.outline))).toHaveLength(1);
    expect(await count(`SELECT count(*)::int AS n FROM usage_events WHERE session_id = $1 AND purpose = 'compress'`, [id])).toBe(1);
  });
});
