import { TestAccount, TestHarness } from '../support/harness';

const words = (n: number, seed: number) => Array.from({ length: n }, (_, i) => `word${(i * 7 + seed) % 97}`).join(' ');

describe('the summarizer has its own attempt budget', () => {
  let h: TestHarness;
  let a: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start({ env: { SUMMARIZER_MAX_ATTEMPTS: '1' } });
    a = await h.createAccount();
  });
  afterAll(async () => h?.stop());

  it('gives up on a failing summarizer after SUMMARIZER_MAX_ATTEMPTS, while turns keep the upstream budget', async () => {
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'budget', policy: { auto_compact: false } });
    for (let i = 0; i < 4; i++) {
      const t = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: `${words(300, i)} FACT-${i}: id K${i}` }] });
      expect(t.status).toBe(200);
    }
    const before = h.sim.requests().length;
    h.sim.injectFaults({ kind: '500', count: 1, key: a.simKey });
    const c = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/compress`, { keep_rounds: 1 });
    expect(c.status).toBe(502);
    expect(h.sim.requests().slice(before).filter((r: any) => r.purpose === 'compress')).toHaveLength(1);

    // A turn still gets the upstream's full retry budget (UPSTREAM_MAX_ATTEMPTS=3 in the harness).
    h.sim.injectFaults({ kind: '500', count: 2, key: a.simKey });
    const t = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'after' }] });
    expect(t.status).toBe(200);
  });
});
