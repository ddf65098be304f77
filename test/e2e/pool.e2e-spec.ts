import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';
import { http, poolStats, waitFor } from '../support/processes';

// The per-account session pool, end to end through the REST API: limits, 429 with Retry-After,
// waiting for a slot, admin stats, closing, parking idle sessions, and forks taking slots.

function expectPoolExhausted(r: { status: number; body: any; headers: Headers }): void {
  expect(r.status).toBe(429);
  expect(r.body.error).toMatchObject({ code: 'session_pool_exhausted' });
  expect(typeof r.body.error.message).toBe('string');
  const retryAfter = r.headers.get('retry-after');
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
}

describe('session pool (limit, wait, stats, close, fork)', () => {
  let h: TestHarness;
  let a: TestAccount;
  const N = 5;
  const ids: string[] = [];
  const api = (method: string, path: string, body?: unknown) => h.api(a.apiKey, method, path, body);

  beforeAll(async () => {
    h = await TestHarness.start({ redis: false });
    a = await h.createAccount('pool', { session_limit: N });
  });
  afterAll(async () => h?.stop());

  it(`admits ${N} sessions and refuses the next with 429 session_pool_exhausted and Retry-After, creating nothing`, async () => {
    for (let i = 0; i < N; i++) {
      const r = await api('POST', '/v1/sessions', { system: 'You are terse.', title: `s${i}` });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    const sixth = await api('POST', '/v1/sessions', { system: 'You are terse.', title: 'one too many' });
    expectPoolExhausted(sixth);
    const list = await api('GET', '/v1/sessions?limit=100');
    expect(list.body.data.map((s: { id: string }) => s.id).sort()).toEqual([...ids].sort());
    expect(await poolStats(h.url, a.id)).toMatchObject({ limit: N, in_use: N, waiting: 0, parked: 0, refused_total: 1, acquired_total: N });
  });

  it('a create with wait_ms waits (shown as waiting) and succeeds once a DELETE frees a slot', async () => {
    const waiting = api('POST', '/v1/sessions', { title: 'patient', wait_ms: 30_000 });
    const during = await waitFor(() => poolStats(h.url, a.id), (p) => p.waiting === 1, 15_000, 'a waiter shows in /admin/pool');
    expect(during).toMatchObject({ limit: N, in_use: N, waiting: 1 });

    const freed = ids.shift()!;
    const del = await api('DELETE', `/v1/sessions/${freed}`);
    expect(del.status).toBe(200);
    expect(del.body.status).toBe('closed');

    const created = await waiting;
    expect(created.status).toBe(201);
    ids.push(created.body.id);

    const after = await poolStats(h.url, a.id);
    expect(after).toMatchObject({ limit: N, in_use: N, waiting: 0, refused_total: 1 });
    // Every acquire is a sample; the waiter's wait (>= one poll) is the largest one.
    expect(after.acquire_wait_ms.samples).toBe(N + 1);
    expect(after.acquire_wait_ms.p50).not.toBeNull();
    expect(after.acquire_wait_ms.p99).toBeGreaterThan(0);
    expect(after.acquire_wait_ms.p99!).toBeGreaterThanOrEqual(after.acquire_wait_ms.p50!);
  });

  it('a create whose wait_ms runs out is refused (and counted), the waiter disappears', async () => {
    const r = await api('POST', '/v1/sessions', { title: 'impatient', wait_ms: 300 });
    expectPoolExhausted(r);
    expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: N, waiting: 0, refused_total: 2 });
  });

  it('closing releases the slot, keeps the data, and a closed session takes no turns', async () => {
    const victim = ids.shift()!;
    const turn = await api('POST', `/v1/sessions/${victim}/messages`, { messages: [{ role: 'user', content: 'remember: the code word is HERON' }] });
    expect(turn.status).toBe(200);
    const del = await api('DELETE', `/v1/sessions/${victim}`);
    expect(del.status).toBe(200);
    expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: N - 1, parked: 0 });
    const got = await api('GET', `/v1/sessions/${victim}`);
    expect(got.body).toMatchObject({ status: 'closed' });
    const history = await api('GET', `/v1/sessions/${victim}/messages`);
    expect(history.body.data.map((m: { content: string }) => m.content)[0]).toContain('HERON');
    const again = await api('POST', `/v1/sessions/${victim}/messages`, { messages: [{ role: 'user', content: 'still there?' }] });
    expect(again.status).toBe(409);
    // Closing twice does not free a second slot.
    await api('DELETE', `/v1/sessions/${victim}`);
    expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: N - 1 });

    const refill = await api('POST', '/v1/sessions', { title: 'refill' });
    expect(refill.status).toBe(201);
    ids.push(refill.body.id);
    expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: N });
  });

  it('a fork takes a slot: 429 when the pool is full, 201 (with parent_id) once a slot is free', async () => {
    const source = ids[0];
    const t = await api('POST', `/v1/sessions/${source}/messages`, { messages: [{ role: 'user', content: 'fork me' }] });
    expect(t.status).toBe(200);
    const snap = await api('POST', `/v1/sessions/${source}/snapshots`, { label: 'before fork' });
    expect(snap.status).toBe(201);

    const full = await api('POST', `/v1/snapshots/${snap.body.id}/fork`, {});
    expectPoolExhausted(full);
    const stats = await poolStats(h.url, a.id);
    expect(stats).toMatchObject({ in_use: N, refused_total: 3 });
    const list = await api('GET', '/v1/sessions?limit=100&status=active');
    expect(list.body.data).toHaveLength(N);

    // Waiting fork: succeeds once a slot is freed.
    const waitingFork = api('POST', `/v1/snapshots/${snap.body.id}/fork`, { wait_ms: 30_000 });
    await waitFor(() => poolStats(h.url, a.id), (p) => p.waiting === 1, 15_000, 'the waiting fork shows in /admin/pool');
    const other = ids.pop()!;
    expect((await api('DELETE', `/v1/sessions/${other}`)).status).toBe(200);
    const fork = await waitingFork;
    expect(fork.status).toBe(201);
    expect(fork.body.parent_id).toBe(source);
    ids.push(fork.body.id);
    expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: N, waiting: 0 });
    const forkTurn = await api('POST', `/v1/sessions/${fork.body.id}/messages`, { messages: [{ role: 'user', content: 'fork turn' }] });
    expect(forkTurn.status).toBe(200);
  });

  it('closing everything drains the pool to 0; the admin view is admin-only', async () => {
    for (const id of ids.splice(0)) expect((await api('DELETE', `/v1/sessions/${id}`)).status).toBe(200);
    expect(await poolStats(h.url, a.id)).toMatchObject({ limit: N, in_use: 0, waiting: 0, parked: 0 });
    const asAccount = await http(h.url, a.apiKey, 'GET', `/admin/pool?account_id=${a.id}`);
    expect(asAccount.status).toBe(403);
    const all = await http(h.url, ADMIN_KEY, 'GET', '/admin/pool');
    expect(all.status).toBe(200);
    expect(all.body.data.some((r: { account_id: string }) => r.account_id === a.id)).toBe(true);
  });
});

describe('session pool: idle sessions are parked and re-acquire a slot on their next append', () => {
  let h: TestHarness;
  let a: TestAccount;
  const api = (method: string, path: string, body?: unknown) => h.api(a.apiKey, method, path, body);
  const chatRequests = () => h.simRequestsFor(a.simKey).length;

  beforeAll(async () => {
    h = await TestHarness.start({ redis: false, env: { POOL_IDLE_TTL_MS: '1500', POOL_REAP_INTERVAL_MS: '200' } });
    a = await h.createAccount('park', { session_limit: 2 });
  });
  afterAll(async () => h?.stop());

  it('parks an idle session, shows it as parked, and re-acquires on the next append; refuses (429) when full, leaving the session unchanged', async () => {
    const s = await api('POST', '/v1/sessions', { system: 'You are terse.', title: 'sleeper' });
    expect(s.status).toBe(201);
    const id = s.body.id;
    expect((await api('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'first turn' }] })).status).toBe(200);

    // The lease expires first (the admin view counts it parked at once); the reaper then marks the session parked.
    const parked = await waitFor(() => poolStats(h.url, a.id), (p) => p.parked === 1 && p.in_use === 0, 15_000, 'the idle session is parked');
    expect(parked).toMatchObject({ limit: 2, in_use: 0, parked: 1, reclaimed_total: 0 });
    await waitFor(() => api('GET', `/v1/sessions/${id}`), (r) => r.body.status === 'parked', 15_000, 'the session shows as parked');

    // The next append takes a slot again.
    const back = await api('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'second turn' }] });
    expect(back.status).toBe(200);
    expect((await api('GET', `/v1/sessions/${id}`)).body.status).toBe('active');
    expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: 1, parked: 0 });

    await waitFor(() => poolStats(h.url, a.id), (p) => p.parked === 1 && p.in_use === 0, 15_000, 'parked again');
    await waitFor(() => api('GET', `/v1/sessions/${id}`), (r) => r.body.status === 'parked', 15_000, 'the session shows as parked again');
    const before = (await api('GET', `/v1/sessions/${id}`)).body;
    const historyBefore = (await api('GET', `/v1/sessions/${id}/messages?limit=100`)).body.data;
    const upstreamBefore = chatRequests();

    // Fill the pool (parked sessions hold no slot, so both creates succeed), then append to the parked one.
    const f1 = await api('POST', '/v1/sessions', { title: 'filler 1' });
    const f2 = await api('POST', '/v1/sessions', { title: 'filler 2' });
    expect([f1.status, f2.status]).toEqual([201, 201]);
    const refused = await api('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'third turn (refused)' }] });
    expectPoolExhausted(refused);

    const after = (await api('GET', `/v1/sessions/${id}`)).body;
    expect(after).toMatchObject({ status: 'parked', last_seq: before.last_seq, usage: before.usage });
    expect((await api('GET', `/v1/sessions/${id}/messages?limit=100`)).body.data).toEqual(historyBefore);
    expect(chatRequests()).toBe(upstreamBefore);
    // The refused turn left no turn lock behind: once a slot is free the same append goes through.
    expect((await api('DELETE', `/v1/sessions/${f1.body.id}`)).status).toBe(200);
    const retried = await api('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'third turn (retried)' }] });
    expect(retried.status).toBe(200);
    expect(retried.body.seqs[0]).toBe(before.last_seq + 1);

    // A parked session can be closed; it then no longer counts as parked.
    for (const sid of [id, f2.body.id]) expect((await api('DELETE', `/v1/sessions/${sid}`)).status).toBe(200);
    expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: 0, parked: 0, waiting: 0 });
  });
});
