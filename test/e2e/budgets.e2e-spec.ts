import { ModelRegistry } from '@so/llm';
import { Client } from 'pg';
import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';
import { waitFor } from '../support/processes';

// Issue 12: budgets reserved at admission (worst case, atomically in Postgres), settled on the real bill.
// Every figure is checked against kimi-sim's own log of what it served and billed.

const prices = new ModelRegistry('kimi-k2.6', 262144, { cacheTtl: '5m' });

describe('budgets', () => {
  let h: TestHarness;
  // What kimi-sim billed one key: every request it served, at the list prices.
  const simBill = (a: TestAccount) => {
    const reqs = h.simRequestsFor(a.simKey);
    return {
      requests: reqs.length,
      tokens: reqs.reduce((n, r) => n + r.prompt_tokens + r.completion_tokens, 0),
      usd: reqs.reduce((n, r) => n + prices.costUsd(r.model ?? 'kimi-k2.6', { promptTokens: r.prompt_tokens, cachedTokens: r.cached_tokens, completionTokens: r.completion_tokens, cacheWriteTokens: r.cache_write_tokens }, r.cache_ttl === '1h' ? '1h' : '5m'), 0),
    };
  };
  const turn = (a: TestAccount, sid: string, content: string, extra: Record<string, unknown> = {}) =>
    h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content }], max_tokens: 200, ...extra });
  /** The worst case of a call, as the service prices it: learnt from a refusal against a zero budget. */
  async function worstCaseOf(content: string, maxTokens = 200): Promise<number> {
    const probe = await h.createAccount('probe');
    const sid = (await h.api(probe.apiKey, 'POST', '/v1/sessions', { policy: { budget: { usd: 0 } } })).body.id;
    const r = await turn(probe, sid, content, { max_tokens: maxTokens });
    expect(r.status).toBe(402);
    return r.body.error.budget.needed_usd;
  }

  beforeAll(async () => {
    // Replies take a moment, so concurrent calls are all in flight together.
    h = await TestHarness.start({ sim: { firstTokenMs: 1500 } });
  });
  afterAll(async () => h?.stop());

  it('200 concurrent turns against an account budget that affords 50: the affordable ones run, the rest get 402, spend stays within the budget', async () => {
    const content = 'Tell me about budgets.';
    const worst = await worstCaseOf(content);
    const a = await h.createAccount('fifty', { session_limit: 250 });
    const limit = Math.round(worst * 50.5 * 1e8) / 1e8;
    const patched = await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: { usd: limit, period: 'day' } });
    expect(patched.status).toBe(200);
    const sids: string[] = [];
    for (let i = 0; i < 200; i++) sids.push((await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id);
    const results = await Promise.all(sids.map((sid) => turn(a, sid, content)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 402);
    expect(ok.length + refused.length).toBe(200);
    expect(ok.length).toBeGreaterThanOrEqual(50);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.body.error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota', param: 'budget', budget: { scope: 'account', id: a.id, limit_usd: limit, period: 'day' } });
      expect(r.body.error.message).toMatch(/account budget .* left/);
      expect(r.body.error.budget.remaining_usd).toBeLessThan(worst);
    }
    // kimi-sim served exactly the admitted turns, and its bill is within the budget.
    const bill = simBill(a);
    expect(bill.requests).toBe(ok.length);
    expect(bill.usd).toBeLessThanOrEqual(limit);
    console.log(`budget ${limit} USD (50.5 worst cases of ${worst}): ${ok.length} turns served, ${refused.length} refused 402; kimi-sim billed ${bill.usd.toFixed(8)} USD, overrun ${Math.max(0, bill.usd - limit)}`);
    // Settled: nothing stays reserved, and the spend is the real bill (not the worst case).
    const usage = (await h.api(a.apiKey, 'GET', '/v1/usage')).body;
    expect(usage.reservations).toEqual({ count: 0, usd: 0, tokens: 0 });
    expect(usage.budget).toMatchObject({ scope: 'account', limit_usd: limit, reserved_usd: 0, period: 'day' });
    expect(usage.budget.spent_usd).toBeCloseTo(bill.usd, 6);
    expect(usage.budget.remaining_usd).toBeCloseTo(limit - bill.usd, 6);
    expect((await h.api(ADMIN_KEY, 'GET', `/admin/usage?account_id=${a.id}`)).body.reservations).toEqual([]);
    // A refused turn left its session as it was.
    const refusedSid = sids[results.indexOf(refused[0])];
    expect((await h.api(a.apiKey, 'GET', `/v1/sessions/${refusedSid}`)).body.last_seq).toBe(0);
    // Raising the budget serves the account again.
    await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: { usd: limit * 10, period: 'day' } });
    expect((await turn(a, refusedSid, content)).status).toBe(200);
    await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: null });
    expect((await h.api(a.apiKey, 'GET', '/v1/usage')).body.budget).toBeNull();
  });

  it('a session token budget: settles to the real tokens, refuses the call that could pass it; other sessions are unaffected', async () => {
    const a = await h.createAccount('tokens');
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { policy: { budget: { tokens: 1500 } } });
    expect(s.status).toBe(201);
    expect(s.body.policy.budget).toEqual({ usd: null, tokens: 1500, period: 'none' });
    const sid = s.body.id;
    let refused: any = null;
    for (let i = 0; i < 10 && !refused; i++) {
      const r = await turn(a, sid, `question ${i}`);
      if (r.status === 402) refused = r.body;
      else expect(r.status).toBe(200);
    }
    expect(refused.error).toMatchObject({ code: 'budget_exceeded', budget: { scope: 'session', id: sid, limit_tokens: 1500 } });
    // A streamed turn is refused the same way, before any event (a plain 402, not a stream that fails).
    const streamed = await h.apiStream(a.apiKey, `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'streamed' }], stream: true, max_tokens: 200 });
    expect(streamed.status).toBe(402);
    expect(streamed.headers.get('x-should-retry')).toBe('false');
    expect(JSON.parse(streamed.raw).error.code).toBe('budget_exceeded');
    const bill = simBill(a);
    expect(bill.requests).toBeGreaterThan(0);
    expect(bill.tokens).toBeLessThanOrEqual(1500);
    const usage = (await h.api(a.apiKey, 'GET', '/v1/usage')).body;
    const b = usage.budgets.find((x: { id: string }) => x.id === sid);
    expect(b).toMatchObject({ scope: 'session', spent_tokens: bill.tokens, reserved_tokens: 0, remaining_tokens: 1500 - bill.tokens });
    // A fork keeps the budget's limits with a spend of its own.
    const snap = await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/snapshots`, {});
    expect(snap.status).toBe(201);
    const fork = await h.api(a.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/fork`, {});
    expect(fork.status).toBe(201);
    expect(fork.body.policy.budget).toEqual({ usd: null, tokens: 1500, period: 'none' });
    const forkBudget = (await h.api(a.apiKey, 'GET', '/v1/usage')).body.budgets.find((x: { id: string }) => x.id === fork.body.id);
    expect(forkBudget).toMatchObject({ scope: 'session', limit_tokens: 1500, spent_tokens: 0 });
    // A session without a budget of the same account goes on.
    const other = (await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id;
    expect((await turn(a, other, 'hello')).status).toBe(200);
  });

  it('a stream cut mid-way settles to what the upstream billed for it (partial usage), and releases the rest', async () => {
    const a = await h.createAccount('cut');
    const sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', { policy: { budget: { usd: 1 } } })).body.id;
    h.sim.injectFaults({ kind: 'cut', count: 1, key: a.simKey, after_tokens: 8 });
    const r = await h.apiStream(a.apiKey, `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'cut me off' }], stream: true, max_tokens: 200 });
    expect(r.events.some((e) => e.error?.code === 'upstream_error') || r.status === 502).toBe(true);
    const b = (await h.api(a.apiKey, 'GET', '/v1/usage')).body.budgets.find((x: { id: string }) => x.id === sid);
    // The failed call's usage row (recorded by the gateway with the partial usage) is what the budget spent.
    const rows = (await h.api(ADMIN_KEY, 'GET', `/admin/usage?account_id=${a.id}`)).body.data;
    const billed = rows.reduce((n: number, x: { cost_usd: number }) => n + x.cost_usd, 0);
    expect(billed).toBeGreaterThan(0);
    expect(b).toMatchObject({ reserved_usd: 0, reserved_tokens: 0 });
    expect(b.spent_usd).toBeCloseTo(billed, 7);
    expect(b.spent_tokens).toBeGreaterThan(0);
  });

  it('a daily account budget starts again when the (UTC) day turns', async () => {
    const a = await h.createAccount('daily');
    await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: { usd: 1, period: 'day' } });
    const sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id;
    expect((await turn(a, sid, 'today')).status).toBe(200);
    const today = (await h.api(a.apiKey, 'GET', '/v1/usage')).body.budget;
    expect(today.spent_usd).toBeGreaterThan(0);
    // Move the budget's period back a day, as if midnight (UTC) had passed.
    const db = new Client({ connectionString: h.databaseUrl });
    await db.connect();
    try {
      await db.query(`UPDATE budgets SET period_start = period_start - interval '1 day' WHERE scope = 'account' AND scope_id = $1`, [a.id]);
    } finally {
      await db.end();
    }
    const next = (await h.api(a.apiKey, 'GET', '/v1/usage')).body.budget;
    expect(next).toMatchObject({ spent_usd: 0, period_start: today.period_start, remaining_usd: 1 });
    expect((await turn(a, sid, 'tomorrow')).status).toBe(200);
    const after = (await h.api(a.apiKey, 'GET', '/v1/usage')).body.budget;
    const lastCall = h.simRequestsFor(a.simKey).slice(-1)[0];
    expect(after.spent_usd).toBeCloseTo(prices.costUsd('kimi-k2.6', { promptTokens: lastCall.prompt_tokens, cachedTokens: lastCall.cached_tokens, completionTokens: lastCall.completion_tokens, cacheWriteTokens: lastCall.cache_write_tokens }, '5m'), 7);
  });

  it('a reservation left by a process that died mid-call is released (here: at the next start), so the budget is not stuck', async () => {
    const a = await h.createAccount('crashed');
    await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: { usd: 1 } });
    const sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id;
    expect((await turn(a, sid, 'before the crash')).status).toBe(200);
    const before = (await h.api(a.apiKey, 'GET', '/v1/usage')).body.budget;
    // What a call in flight holds when its process is killed: a reservation row and the budget's reserved amount.
    const db = new Client({ connectionString: h.databaseUrl });
    await db.connect();
    try {
      const [{ id: budgetId }] = (await db.query(`SELECT id FROM budgets WHERE scope = 'account' AND scope_id = $1`, [a.id])).rows;
      await db.query(`INSERT INTO budget_reservations (id, account_id, budget_ids, usd, tokens, created_at) VALUES (gen_random_uuid(), $1, ARRAY[$2::uuid], 1, 5000, now() - interval '1 hour')`, [a.id, budgetId]);
      await db.query(`UPDATE budgets SET reserved_usd = reserved_usd + 1, reserved_tokens = reserved_tokens + 5000 WHERE id = $1`, [budgetId]);
    } finally {
      await db.end();
    }
    const stuck = await turn(a, sid, 'while stuck');
    expect(stuck.status).toBe(402);
    expect(stuck.body.error.budget.remaining_usd).toBe(0);
    await h.restart();
    const freed = await waitFor(() => h.api(a.apiKey, 'GET', '/v1/usage'), (r) => r.body.reservations.count === 0);
    expect(freed.body.budget).toMatchObject({ reserved_usd: 0, reserved_tokens: 0, spent_usd: before.spent_usd });
    expect((await turn(a, sid, 'after the restart')).status).toBe(200);
  });

  it('the stateless pass-through is covered by the account budget; the OpenAI SDK sees a 402', async () => {
    const a = await h.createAccount('pass', {});
    // Served while no budget is set (the account, read with "no budget", is now cached)...
    await a.openai.chat.completions.create({ model: 'kimi-k2.6', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 });
    expect(simBill(a).requests).toBe(1);
    // ...and refused as soon as one is: setting it forgets the cached account.
    await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: { tokens: 10 } });
    const err = await a.openai.chat.completions.create({ model: 'kimi-k2.6', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 }).then(() => null, (e: any) => e);
    expect(err?.status).toBe(402);
    expect(err?.error?.code ?? err?.code).toBe('budget_exceeded');
    expect(simBill(a).requests).toBe(1);
  });

  it('rejects invalid budgets with 400 and changes nothing', async () => {
    const a = await h.createAccount('bad-budget');
    expect((await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: { usd: -1 } })).status).toBe(400);
    expect((await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: { usd: 1, period: 'week' } })).status).toBe(400);
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { policy: { budget: { usd: 1, period: 'day' } } });
    expect(s.status).toBe(400);
    expect(s.body.error.param).toBe('policy.budget.period');
    expect((await h.api(a.apiKey, 'GET', '/v1/usage')).body.budgets).toEqual([]);
  });

  it('a task with a budget stops spawning children when it runs out and ends partial within it', async () => {
    const a = await h.createAccount('task-budget', { session_limit: 2 });
    const inputs = Array.from({ length: 8 }, (_, i) => ({ title: `part${i}`, content: `Part ${i}: FACT-${i} the owner is team-${i}. `.repeat(20) }));
    // Children reply with up to DEFAULT_MAX_TOKENS (4096): the budget affords one such worst case and a half;
    // each call settles to far less, so children run until what is left no longer covers the next worst case.
    const worst = await worstCaseOf(`Summarize the parts\n\n## Part 0: part0\n\n${inputs[0].content}`, 4096);
    const limit = Math.round(worst * 1.3 * 1e8) / 1e8;
    const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Summarize the parts', inputs, budget: { usd: limit }, max_parallel: 1 });
    expect(created.status).toBe(202);
    const done = await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${created.body.id}`), (r) => ['succeeded', 'partial', 'failed'].includes(r.body.status));
    expect(done.body.status).toBe('partial');
    expect(done.body.progress.succeeded).toBeGreaterThan(0);
    expect(done.body.progress.succeeded).toBeLessThan(8);
    expect(done.body.progress.cancelled + done.body.progress.failed).toBe(8 - done.body.progress.succeeded);
    const bill = simBill(a);
    expect(bill.usd).toBeLessThanOrEqual(limit);
    const usage = (await h.api(a.apiKey, 'GET', '/v1/usage')).body;
    expect(usage.budgets.find((b: { id: string }) => b.id === created.body.id)).toMatchObject({ scope: 'task', reserved_usd: 0 });
    // The task object carries its bill and its budget.
    expect(done.body.cost_usd).toBeCloseTo(bill.usd, 6);
    expect(done.body.budget).toMatchObject({ scope: 'task', id: created.body.id, limit_usd: limit, reserved_usd: 0 });
    expect(done.body.budget.spent_usd).toBeCloseTo(bill.usd, 6);
  });
});

describe('budgets and the rolling policy', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => h?.stop());

  const policy = { trigger_tokens: 8000, preserve_len: 4096, keep_rounds: 2 };
  const msg = (n: number) => `Round ${n}: FACT-${n} the value of item ${n} is ${n * 7}. ${'Some more context for this round. '.repeat(70)}`;
  const send = (a: TestAccount, sid: string, n: number) => h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: msg(n) }], max_tokens: 100 });
  const setRemaining = async (a: TestAccount, tokens: number) => {
    const spent = (await h.api(a.apiKey, 'GET', '/v1/usage')).body.budget?.spent_tokens ?? 0;
    await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { budget: { tokens: spent + tokens } });
  };

  it('a rolling compaction the budget cannot afford falls back to truncation; the turn is served within the budget and nothing is lost', async () => {
    // 1. Where does the rolling policy compact? (the same session, with no budget)
    const free = await h.createAccount('free');
    const freeSid = (await h.api(free.apiKey, 'POST', '/v1/sessions', { policy })).body.id;
    let k = 0;
    for (let n = 1; n <= 30 && !k; n++) {
      const r = await send(free, freeSid, n);
      expect(r.status).toBe(200);
      if (r.body.compaction) k = n;
    }
    expect(k).toBeGreaterThan(1);
    // 2. What does the turn after a truncation need? (learnt from a refusal with nothing left)
    const probe = await h.createAccount('probe-roll');
    const probeSid = (await h.api(probe.apiKey, 'POST', '/v1/sessions', { policy })).body.id;
    for (let n = 1; n < k; n++) expect((await send(probe, probeSid, n)).body.compaction).toBeNull();
    await setRemaining(probe, 0);
    const refused = await send(probe, probeSid, k);
    expect(refused.status).toBe(402);
    const chatNeeds = refused.body.error.budget.needed_tokens;
    // 3. The same session with just enough left for that turn: the compaction (a bigger call) is refused,
    // the window is truncated instead, and the turn is served.
    const a = await h.createAccount('tight-roll');
    const sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', { policy })).body.id;
    for (let n = 1; n < k; n++) expect((await send(a, sid, n)).body.compaction).toBeNull();
    await setRemaining(a, chatNeeds + 50);
    const requestsBefore = h.simRequestsFor(a.simKey).length;
    const r = await send(a, sid, k);
    expect(r.status).toBe(200);
    expect(r.body.compaction).toMatchObject({ action: 'truncated', reason: 'compression_failed' });
    // No compression request reached the upstream: only the turn itself.
    expect(h.simRequestsFor(a.simKey).slice(requestsBefore).map((x) => x.purpose)).toEqual(['chat']);
    const events = (await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}/events`)).body.data;
    const fallback = events.find((e: { type: string }) => e.type === 'compaction_fallback');
    expect(fallback.data.error).toMatch(/Budget exceeded/);
    // Nothing lost: every message is still in the history.
    const msgs = (await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}/messages?limit=100`)).body;
    expect(msgs.data.filter((m: { role: string }) => m.role === 'user')).toHaveLength(k);
    const usage = (await h.api(a.apiKey, 'GET', '/v1/usage')).body.budget;
    expect(usage.remaining_tokens).toBeGreaterThanOrEqual(0);
    expect(usage.reserved_tokens).toBe(0);
  });
});
