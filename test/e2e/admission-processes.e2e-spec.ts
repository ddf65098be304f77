import { startKimiSim, type KimiSim } from '@so/kimi-sim';
import { ADMIN_KEY } from '../support/test-env';
import { Cluster, createAccount, http, ServiceProcess } from '../support/processes';

/**
 * The limiter (and kimi-sim) count per clock minute: a sequence that must fall in one minute starts early in
 * a minute (setup only; nothing asserts on time).
 */
async function startOfAMinute(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 40_000) await new Promise((r) => setTimeout(r, 60_000 - into + 50));
}


// Issue 12 "done when": three service processes (built output, `node dist/.../main.js`) on one Postgres
// and one Redis share one account's TPM and concurrency: kimi-sim records no 429, the service answers its own.

describe('multi-process: upstream admission across three instances', () => {
  let sim: KimiSim;
  let cluster: Cluster;
  let procs: ServiceProcess[] = [];
  const sim429 = (key: string) => ((sim.stats() as any).keys?.[key] ?? (sim.stats() as any).by_key?.[key])?.errors?.['429'] ?? 0;
  const simRequests = (key: string) => sim.requests().filter((r) => r.key === key);

  beforeAll(async () => {
    sim = await startKimiSim({ port: 0, firstTokenMs: 300, concurrencyPerKey: 3, requestLogSize: 5000 });
    cluster = await Cluster.create();
    const env = cluster.baseEnv(sim.baseUrl, { ROLE: 'all', UPSTREAM_KEY_CONCURRENCY: '3' });
    procs = await Promise.all([0, 1, 2].map((i) => cluster.spawn(`adm-${i}`, env)));
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await sim?.close();
  });

  const sessionsOn = async (apiKey: string, n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await http(procs[0].url, apiKey, 'POST', '/v1/sessions', {})).body.id);
    return out;
  };
  const turn = (url: string, apiKey: string, sid: string) =>
    http(url, apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'Same question for everyone.' }], max_tokens: 1000 });

  it("one account's TPM holds across the three processes: exactly what fits is sent, the rest answered 429 rate_limited", async () => {
    const a = await createAccount(procs[0].url, sim.baseUrl, 'mp-tpm', 50);
    expect((await http(procs[0].url, ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { upstream_limits: { tpm: 5500 } })).status).toBe(200);
    const sids = await sessionsOn(a.apiKey, 15);
    await startOfAMinute();
    const results = [];
    // Five rounds of three concurrent turns, one per process: ~1,050 tokens each charged at admission.
    for (let round = 0; round < 5; round++) results.push(...(await Promise.all(procs.map((p, i) => turn(p.url, a.apiKey, sids[round * 3 + i])))));
    expect(results.filter((r) => r.status === 200)).toHaveLength(5);
    const limited = results.filter((r) => r.status === 429);
    expect(limited).toHaveLength(10);
    for (const r of limited) {
      expect(r.body.error.code).toBe('rate_limited');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    expect(simRequests(a.simKey)).toHaveLength(5);
    expect(sim429(a.simKey)).toBe(0);
  });

  it('a burst over the upstream key concurrency from three processes draws no 429 from the upstream', async () => {
    const a = await createAccount(procs[0].url, sim.baseUrl, 'mp-burst', 50);
    const sids = await sessionsOn(a.apiKey, 30);
    const results = await Promise.all(sids.map((sid, i) => turn(procs[i % 3].url, a.apiKey, sid)));
    const ok = results.filter((r) => r.status === 200).length;
    const limited = results.filter((r) => r.status === 429 && r.body.error.code === 'rate_limited').length;
    expect(ok + limited).toBe(30);
    expect(ok).toBeGreaterThanOrEqual(3);
    expect(sim429(a.simKey)).toBe(0);
    expect(simRequests(a.simKey)).toHaveLength(ok);
  });
});
