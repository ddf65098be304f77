import { TestAccount, TestHarness } from '../support/harness';
import { waitFor } from '../support/processes';

describe('tasks: fan-out and merge (smoke)', () => {
  let h: TestHarness;
  let a: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('fan', { session_limit: 3 });
  });
  afterAll(async () => h?.stop());

  it('runs one child per input, merges their outlines into the master, writes a final answer and drains the pool', async () => {
    const inputs = Array.from({ length: 7 }, (_, i) => ({ title: `file${i}.ts`, content: `export const v${i} = ${i}; // FACT-${i}: owner is team-${i}` }));
    const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Review these files', inputs });
    expect(created.status).toBe(202);
    const done = await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${created.body.id}`), (r) => ['succeeded', 'partial', 'failed'].includes(r.body.status));
    expect(done.body.status).toBe('succeeded');
    expect(done.body.progress).toMatchObject({ total: 7, succeeded: 7, failed: 0 });
    expect(done.body.result).toEqual(expect.any(String));
    const ctx = await h.api(a.apiKey, 'GET', `/v1/sessions/${created.body.master_session_id}/context`);
    const outlines = ctx.body.messages.filter((m: { content: string }) => m.content.startsWith('[outline'));
    expect(outlines).toHaveLength(7);
    for (let i = 0; i < 7; i++) expect(outlines.some((o: { content: string }) => o.content.includes(`FACT-${i}`))).toBe(true);
    const pool = await fetch(`${h.url}/admin/pool?account_id=${a.id}`, { headers: { authorization: 'Bearer test-admin-key-0123456789' } }).then((r) => r.json() as Promise<any>);
    expect(pool.data[0]).toMatchObject({ limit: 3, in_use: 0 });
    expect(h.simStatsFor(a.simKey).peak_concurrency).toBeLessThanOrEqual(3);
    const lineage = await h.api(a.apiKey, 'GET', `/v1/sessions/${created.body.master_session_id}/lineage`);
    expect(lineage.body.total_sessions).toBe(8);
  });

  it('serves the queue UI to the admin key only, and queue counts per state', async () => {
    const anon = await fetch(`${h.url}/admin/queues/ui`);
    expect(anon.status).toBe(401);
    const basic = Buffer.from('admin:test-admin-key-0123456789').toString('base64');
    const ui = await fetch(`${h.url}/admin/queues/ui`, { headers: { authorization: `Basic ${basic}` } });
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('<html');
    const counts = (await fetch(`${h.url}/admin/queues`, { headers: { authorization: 'Bearer test-admin-key-0123456789' } }).then((r) => r.json())) as any;
    expect(counts.driver).toBe('bull');
    const children = counts.data.find((q: { name: string }) => q.name === 'task-children');
    // Tasks leave 1 of the account's 3 slots to interactive sessions: the 7 children started as 2 jobs at least
    // (a job runs the account's next due child on the slot it gives back).
    expect(children.completed).toBeGreaterThanOrEqual(2);
    expect(children.active + children.waiting).toBe(0);
    expect(children.failed).toBe(0);
  });
});
