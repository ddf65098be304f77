import { ADMIN_KEY, TestHarness } from '../support/harness';
import { waitFor } from '../support/processes';

// Issue 11, item 3: each account's line of pool waiters is capped (POOL_MAX_WAITERS): one more waiter
// is refused at once instead of adding its renewals and wake-ups to the database load.

describe('pool waiters cap', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ env: { POOL_MAX_WAITERS: '2' } });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('lets two requests wait for the one slot, refuses a third at once with 429, and serves the waiters as slots free up', async () => {
    const a = await h.createAccount('waiters', { session_limit: 1 });
    const held = (await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id as string;
    const waiters = [h.api(a.apiKey, 'POST', '/v1/sessions', { wait_ms: 60_000 }), h.api(a.apiKey, 'POST', '/v1/sessions', { wait_ms: 60_000 })];
    await waitFor(() => h.api(ADMIN_KEY, 'GET', `/admin/pool?account_id=${a.id}`), (r) => r.body.data[0]?.waiting === 2, 20_000, 'two waiters');

    const third = await h.api(a.apiKey, 'POST', '/v1/sessions', { wait_ms: 60_000 });
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('session_pool_exhausted');
    expect(third.body.error.message).toMatch(/2 requests already wait/);
    expect(third.headers.get('retry-after')).not.toBeNull();

    // Closing sessions hands the slot to the waiters, one after the other.
    expect((await h.api(a.apiKey, 'DELETE', `/v1/sessions/${held}`)).status).toBe(200);
    const first = await Promise.race(waiters);
    expect(first.status).toBe(201);
    expect((await h.api(a.apiKey, 'DELETE', `/v1/sessions/${first.body.id}`)).status).toBe(200);
    const both = await Promise.all(waiters);
    expect(both.map((r) => r.status)).toEqual([201, 201]);
  });
});
