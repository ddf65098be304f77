import { ADMIN_KEY, TestHarness } from '../support/harness';
import { http } from '../support/test-env';

// Issue 11, item 3: requests per minute per account on /v1/*, configurable per account, answered 429
// rate_limited with Retry-After, and counted in Redis so the limit holds across instances.

describe('rate limits per account', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('admits the account limit, then answers 429 rate_limited with Retry-After, changing nothing; other accounts are unaffected', async () => {
    const a = await h.createAccount('limited', { rate_limit_per_minute: 4 });
    const b = await h.createAccount('neighbour', { rate_limit_per_minute: 4 });
    const sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id; // 1
    const first = await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}`); // 2
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('4');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    const before = first.body;
    expect((await h.api(a.apiKey, 'GET', '/v1/sessions')).status).toBe(200); // 3
    expect((await h.api(a.apiKey, 'GET', '/v1/models')).status).toBe(200); // 4
    const refused = await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'over the limit' }] });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    expect(refused.body.error.type).toBe('rate_limit_error');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(h.simRequestsFor(a.simKey)).toHaveLength(0);
    expect((await h.api(b.apiKey, 'GET', '/v1/sessions')).status).toBe(200);
    // The admin raises the limit: the account is served again at once (the change reaches every instance).
    expect((await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { rate_limit_per_minute: 0 })).body).toMatchObject({ rate_limit_per_minute: 0, effective_rate_limit_per_minute: 0 });
    const after = await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}`);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before);
    expect(after.headers.get('x-ratelimit-limit-requests')).toBeNull();
  });

  it('the OpenAI SDK sees a RateLimitError with the Retry-After', async () => {
    const a = await h.createAccount('sdk-limited', { rate_limit_per_minute: 1 });
    await a.openai.models.list();
    const err = await a.openai.models.list().then(() => null, (e: unknown) => e as { status?: number; headers?: Headers });
    expect(err?.status).toBe(429);
    expect(err?.constructor.name).toBe('RateLimitError');
  });

  it('holds one limit across instances sharing Redis', async () => {
    const peer = await h.startPeer();
    try {
      const a = await h.createAccount('two-instances', { rate_limit_per_minute: 3 });
      expect((await h.api(a.apiKey, 'GET', '/v1/sessions')).status).toBe(200);
      expect((await http(peer.url, a.apiKey, 'GET', '/v1/sessions')).status).toBe(200);
      expect((await h.api(a.apiKey, 'GET', '/v1/sessions')).status).toBe(200);
      expect((await http(peer.url, a.apiKey, 'GET', '/v1/sessions')).status).toBe(429);
      expect((await h.api(a.apiKey, 'GET', '/v1/sessions')).status).toBe(429);
    } finally {
      await peer.close();
    }
  });

  it('uses RATE_LIMIT_PER_MINUTE for accounts without a setting, and a null setting returns to it', async () => {
    const a = await h.createAccount('default-limit');
    const view = (await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${a.id}`)).body;
    expect(view.rate_limit_per_minute).toBeNull();
    expect(view.effective_rate_limit_per_minute).toBe(6000);
    expect((await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { rate_limit_per_minute: 10 })).body.effective_rate_limit_per_minute).toBe(10);
    expect((await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { rate_limit_per_minute: null })).body.effective_rate_limit_per_minute).toBe(6000);
    expect((await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { rate_limit_per_minute: -1 })).status).toBe(400);
  });

  it('counts the same way in one process without Redis: the limit, then 429 with Retry-After, per account', async () => {
    const solo = await TestHarness.start({ redis: false });
    try {
      const a = await solo.createAccount('solo-limited', { rate_limit_per_minute: 2 });
      const b = await solo.createAccount('solo-neighbour', { rate_limit_per_minute: 2 });
      const first = await solo.api(a.apiKey, 'GET', '/v1/models');
      expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('1');
      expect((await solo.api(a.apiKey, 'GET', '/v1/models')).status).toBe(200);
      const refused = await solo.api(a.apiKey, 'GET', '/v1/models');
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect((await solo.api(b.apiKey, 'GET', '/v1/models')).status).toBe(200);
    } finally {
      await solo.stop();
    }
  });
});
