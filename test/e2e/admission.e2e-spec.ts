import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';
import { http } from '../support/test-env';
import { waitFor } from '../support/processes';

/**
 * The limiter (and kimi-sim) count per clock minute: a sequence that must fall in one minute starts early in
 * a minute (setup only; nothing asserts on time).
 */
async function startOfAMinute(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 40_000) await new Promise((r) => setTimeout(r, 60_000 - into + 50));
}


// Issue 12, item 4: upstream admission. Per account and per upstream key: concurrency, RPM and TPM (charged
// prompt + max_tokens at admission, as Kimi does), held in Redis (or Postgres) across instances. Over a
// limit an interactive call is answered 429 rate_limited with Retry-After, coordinator children wait, and
// nothing is sent upstream to draw the upstream's own 429.

const sim429 = (h: TestHarness, key: string) => (h.simStatsFor(key) as unknown as { errors?: Record<string, number> }).errors?.['429'] ?? 0;

function suite(name: string, redis: boolean) {
  describe(name, () => {
    let h: TestHarness;
    const turn = (a: TestAccount, sid: string, maxTokens = 1000, url?: string) =>
      url
        ? http(url, a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'Same question for everyone.' }], max_tokens: maxTokens })
        : h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'Same question for everyone.' }], max_tokens: maxTokens });
    const sessions = async (a: TestAccount, n: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push((await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id);
      return out;
    };

    beforeAll(async () => {
      // kimi-sim answers 429 above 3 concurrent calls per key; the service is told the same (UPSTREAM_KEY_CONCURRENCY).
      h = await TestHarness.start({ redis, sim: { firstTokenMs: 600, concurrencyPerKey: 3 }, env: { UPSTREAM_KEY_CONCURRENCY: '3' } });
    });
    afterAll(async () => h?.stop());

    it('charges prompt + max_tokens to TPM at admission: the call past the limit gets 429 rate_limited with Retry-After and never reaches the upstream', async () => {
      const a = await h.createAccount('tpm');
      const set = await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { upstream_limits: { tpm: 2500 } });
      expect(set.body.upstream_limits).toEqual({ concurrency: null, rpm: null, tpm: 2500 });
      const sids = await sessions(a, 3);
      await startOfAMinute();
      // Each call charges ~1,050 (max_tokens 1000 + the prompt): two fit in 2,500, the third does not,
      // although each call really uses about a hundred tokens.
      const results = await Promise.all(sids.map((sid) => turn(a, sid)));
      const ok = results.filter((r) => r.status === 200);
      const limited = results.filter((r) => r.status === 429);
      expect(ok).toHaveLength(2);
      expect(limited).toHaveLength(1);
      expect(limited[0].body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
      expect(limited[0].body.error.message).toMatch(/tokens per minute/);
      const retry = Number(limited[0].headers.get('retry-after'));
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(60);
      expect(h.simRequestsFor(a.simKey)).toHaveLength(2);
      expect(h.simRequestsFor(a.simKey).reduce((n, r) => n + r.prompt_tokens + r.completion_tokens, 0)).toBeLessThan(1000);
      // The operator sees the limiter's minute next to the account's pool.
      const pool = (await h.api(ADMIN_KEY, 'GET', `/admin/pool?account_id=${a.id}`)).body;
      expect(pool.data[0].upstream_admission).toMatchObject({ limits: { concurrency: 0, rpm: 0, tpm: 2500 }, requests: 2, in_flight: 0 });
      expect(pool.data[0].upstream_admission.tokens).toBeGreaterThan(2000);
      expect(pool.data[0].upstream_admission.tokens).toBeLessThanOrEqual(2500);
      // The refused turn changed nothing.
      expect((await h.api(a.apiKey, 'GET', `/v1/sessions/${sids[results.indexOf(limited[0])]}`)).body.last_seq).toBe(0);
    });

    it("one account's flood of pass-through calls on a shared upstream key does not make another account's turns fail; the upstream sees no 429", async () => {
      const shared = `shared-${name.replace(/\W/g, '')}`;
      const upstream = { base_url: h.sim.baseUrl, api_key: shared };
      const flood = await h.createAccount('flood', { upstream });
      const calm = await h.createAccount('calm', { upstream });
      const [sid] = await sessions(calm, 1);
      expect((await turn(calm, sid, 100)).status).toBe(200); // the calm account is active on the key
      const floodCalls = Promise.all(
        Array.from({ length: 24 }, () => http(h.url, flood.apiKey, 'POST', '/v1/chat/completions', { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'flood' }], max_tokens: 50 })),
      );
      const calmTurns: number[] = [];
      for (let i = 0; i < 4; i++) calmTurns.push((await turn(calm, sid, 100)).status);
      const floodResults = await floodCalls;
      expect(calmTurns).toEqual([200, 200, 200, 200]);
      expect(floodResults.every((r) => r.status === 200 || (r.status === 429 && r.body.error.code === 'rate_limited'))).toBe(true);
      expect(floodResults.some((r) => r.status === 429)).toBe(true);
      expect(sim429(h, shared)).toBe(0);
      expect(h.simStatsFor(shared).peak_concurrency).toBeLessThanOrEqual(3);
    });

    it('coordinator children wait for admission instead of failing', async () => {
      const a = await h.createAccount('patient', { session_limit: 4 });
      await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { upstream_limits: { concurrency: 1 } });
      const inputs = Array.from({ length: 4 }, (_, i) => ({ title: `p${i}`, content: `Part ${i}: FACT-${i}.` }));
      const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Summarize', inputs, max_parallel: 4 });
      const done = await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${created.body.id}`), (r) => ['succeeded', 'partial', 'failed'].includes(r.body.status), 120_000);
      expect(done.body.status).toBe('succeeded');
      expect(done.body.progress.succeeded).toBe(4);
      expect(h.simStatsFor(a.simKey).peak_concurrency).toBe(1);
      expect(sim429(h, a.simKey)).toBe(0);
    });

    it("the upstream's x-ratelimit-* headers correct the limiter: requests made with the key elsewhere count, and the call the upstream would refuse is answered 429 here", async () => {
      h.sim.configure({ rpmPerKey: 5 });
      const peer = await h.startPeer({ UPSTREAM_KEY_RPM: '5' });
      try {
        const a = await h.createAccount('headers');
        await startOfAMinute();
        // Three requests with the same upstream key from somewhere else (another tool, another service).
        for (let i = 0; i < 3; i++) {
          const r = await fetch(`${h.sim.baseUrl}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${a.simKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kimi-k2.6', messages: [{ role: 'user', content: 'elsewhere' }], max_tokens: 5 }) });
          expect(r.status).toBe(200);
        }
        const sids = await sessions(a, 3);
        const statuses: number[] = [];
        for (const sid of sids) statuses.push((await turn(a, sid, 50, peer.url)).status);
        // The first answer says 1 request remains; the second uses it; the third is refused here, not upstream.
        expect(statuses).toEqual([200, 200, 429]);
        expect(sim429(h, a.simKey)).toBe(0);
        expect(h.simRequestsFor(a.simKey)).toHaveLength(5);
      } finally {
        await peer.close();
        h.sim.configure({ rpmPerKey: 0 });
      }
    });

    if (redis) {
      it("three service instances sharing Redis hold one account's TPM: exactly what fits is sent, the rest answered 429 by the service", async () => {
        const peers = [await h.startPeer(), await h.startPeer()];
        try {
          const a = await h.createAccount('three');
          await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { upstream_limits: { tpm: 5500 } });
          const sids = await sessions(a, 15);
          await startOfAMinute();
          const urls = [h.url, peers[0].url, peers[1].url];
          // Five rounds of three concurrent turns, one on each instance (within the key's concurrency of 3):
          // each charges ~1,050 tokens, so the shared 5,500 TPM admits five of the fifteen.
          const results = [];
          for (let round = 0; round < 5; round++) results.push(...(await Promise.all(urls.map((url, i) => turn(a, sids[round * 3 + i], 1000, url)))));
          expect(results.filter((r) => r.status === 200)).toHaveLength(5);
          expect(results.filter((r) => r.status === 429 && r.body.error.code === 'rate_limited' && r.headers.get('retry-after'))).toHaveLength(10);
          expect(h.simRequestsFor(a.simKey)).toHaveLength(5);
          expect(sim429(h, a.simKey)).toBe(0);
        } finally {
          for (const p of peers) await p.close();
        }
      });
    }
  });
}

suite('upstream admission (Redis)', true);
suite('upstream admission (Postgres, no Redis)', false);
