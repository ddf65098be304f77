import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';

// kimi-k2.6 list prices, USD per 1M tokens; a cache write costs 1x the miss price with the 5-minute
// TTL and 2x with the 1-hour TTL.
const K26 = { miss: 0.95, hit: 0.16, out: 4.0 };
const WRITE = { '5m': K26.miss, '1h': K26.miss * 2 };

interface UsageRow {
  purpose: string;
  model: string;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  cache_write_tokens: number;
  cost_usd: number;
}

async function usageRows(h: TestHarness, sessionId: string): Promise<UsageRow[]> {
  return h.handle.dataSource.query(
    `SELECT purpose, model, prompt_tokens, cached_tokens, completion_tokens, cache_write_tokens, cost_usd::float8 AS cost_usd
       FROM usage_events WHERE session_id = $1 AND outcome = 'ok' ORDER BY id`,
    [sessionId],
  );
}

const priced = (u: { prompt_tokens: number; cached_tokens: number; completion_tokens: number; cache_write_tokens: number }, ttl: '5m' | '1h') =>
  ((u.prompt_tokens - u.cached_tokens) * K26.miss + u.cached_tokens * K26.hit + u.completion_tokens * K26.out + u.cache_write_tokens * WRITE[ttl]) / 1e6;

/** Three turns (two plain, one streamed) on a new session with the default model; the session as read back after them. */
async function threeTurns(h: TestHarness, a: TestAccount) {
  const created = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'You are terse.', title: 'cache writes' });
  expect(created.status).toBe(201);
  expect(created.body.model).toBe('kimi-k2.6');
  const id = created.body.id as string;
  const turns: any[] = [];
  for (const content of ['What is a rolling window?', 'And what is prefix caching?']) {
    const t = await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content }] });
    expect(t.status).toBe(200);
    turns.push(t.body.usage);
  }
  const streamed = await h.apiStream(a.apiKey, `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'Stream a short summary.' }], stream: true });
  expect(streamed.status).toBe(200);
  const last = streamed.events[streamed.events.length - 1];
  expect(last.usage).toBeDefined();
  turns.push(last.usage);
  const session = await h.api(a.apiKey, 'GET', `/v1/sessions/${id}`);
  expect(session.status).toBe(200);
  return { id, turns, session: session.body };
}

describe('cache-write billing (CACHE_TTL, usage rows, session usage, the simulator bill)', () => {
  describe('default CACHE_TTL (5m)', () => {
    let h: TestHarness;
    beforeAll(async () => {
      h = await TestHarness.start();
    });
    afterAll(async () => h?.stop());

    it('sends cache_ttl "5m" upstream, records cache writes per call and per session, and costs what the simulator bills', async () => {
      const a = await h.createAccount('cache-writes-5m');
      const { id, turns, session } = await threeTurns(h, a);

      // Every chat request carried the configured TTL.
      const sent = h.simRequestsFor(a.simKey);
      expect(sent).toHaveLength(3);
      expect(sent.map((r) => r.cache_ttl)).toEqual(['5m', '5m', '5m']);

      const rows = await usageRows(h, id);
      const chat = rows.filter((r) => r.purpose === 'chat');
      expect(chat).toHaveLength(3);
      chat.forEach((row, i) => {
        expect(row.model).toBe('kimi-k2.6');
        // The turn's usage reports the same cache writes the row recorded.
        expect(turns[i].prompt_tokens_details.cache_write_tokens).toBe(row.cache_write_tokens);
        expect(row.cost_usd).toBeCloseTo(priced(row, '5m'), 8);
      });
      // A cold first request writes its prefix to the cache.
      expect(chat[0].cache_write_tokens).toBeGreaterThan(0);

      const writes = rows.reduce((n, r) => n + r.cache_write_tokens, 0);
      expect(session.usage.cache_write_tokens).toBe(writes);
      expect(session.usage.cost_usd).toBeCloseTo(rows.reduce((n, r) => n + r.cost_usd, 0), 8);

      // The simulator's own bill for this key: the same tokens, the same dollars.
      const sim = h.sim.stats().keys[a.simKey] as unknown as Record<string, number>;
      expect(sim.prompt_tokens).toBe(session.usage.prompt_tokens);
      expect(sim.cached_tokens).toBe(session.usage.cached_tokens);
      expect(sim.completion_tokens).toBe(session.usage.completion_tokens);
      expect(sim.cache_write_tokens).toBe(writes);
      expect(session.usage.cost_usd).toBeCloseTo(sim.cost_usd, 8);

      // /admin/usage aggregates the writes too.
      const admin = await h.api(ADMIN_KEY, 'GET', `/admin/usage?account_id=${a.id}`);
      expect(admin.status).toBe(200);
      const adminWrites = (admin.body.data as Array<{ cache_write_tokens: number }>).reduce((n, r) => n + r.cache_write_tokens, 0);
      expect(adminWrites).toBe(writes);
    });
  });

  describe('CACHE_TTL=1h', () => {
    let h: TestHarness;
    beforeAll(async () => {
      h = await TestHarness.start({ env: { CACHE_TTL: '1h' } });
    });
    afterAll(async () => h?.stop());

    it('prices cache writes at 2x the miss price, as the simulator bills them', async () => {
      const a = await h.createAccount('cache-writes-1h');
      const { id, session } = await threeTurns(h, a);
      expect(h.simRequestsFor(a.simKey).map((r) => r.cache_ttl)).toEqual(['1h', '1h', '1h']);
      const rows = await usageRows(h, id);
      expect(rows.some((r) => r.cache_write_tokens > 0)).toBe(true);
      for (const row of rows.filter((r) => r.purpose === 'chat')) expect(row.cost_usd).toBeCloseTo(priced(row, '1h'), 8);
      const sim = h.sim.stats().keys[a.simKey] as unknown as Record<string, number>;
      expect(session.usage.cost_usd).toBeCloseTo(sim.cost_usd, 8);
    });
  });
});
