import { startKimiSim, type KimiSim } from '@so/kimi-sim';
import { ADMIN_KEY, http } from '../support/test-env';
import { Cluster, createAccount, waitFor } from '../support/processes';

// Issue 11, item 10: /health reports a worker role that is configured but absent. An API-only
// deployment without a worker accepts tasks that never run; health says so (degraded) until one joins.

describe('health: configured worker role absent', () => {
  let sim: KimiSim;
  let cluster: Cluster;

  beforeAll(async () => {
    sim = await startKimiSim({ port: 0 });
    cluster = await Cluster.create();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await sim?.close();
  });

  const health = async (url: string) => (await fetch(`${url}/health`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json() as Promise<any>;

  it('is degraded with checks.workers down while no worker serves the queue, and ok once one does', async () => {
    const api = await cluster.spawn('api-only', cluster.baseEnv(sim.baseUrl, { ROLE: 'api' }));
    const alone = await health(api.url);
    expect(alone.status).toBe('degraded');
    expect(alone.checks.workers.status).toBe('down');
    expect(alone.checks.workers.detail).toMatch(/ROLE=worker/);
    // Without the admin key: up or not, no detail.
    expect(Object.keys((await (await fetch(`${api.url}/health`)).json()) as object)).toEqual(['status']);

    // An api instance processes no job: the title job of a new session waits in Redis for a worker.
    const acct = await createAccount(api.url, sim.baseUrl, 'api-only', 2);
    const session = await http(api.url, acct.apiKey, 'POST', '/v1/sessions', {});
    await http(api.url, acct.apiKey, 'POST', `/v1/sessions/${session.body.id}/messages`, { messages: [{ role: 'user', content: 'Plan the migration of billing' }] });
    const queues = () => http(api.url, ADMIN_KEY, 'GET', '/admin/queues').then((r) => r.body.data.find((q: { name: string }) => q.name === 'sessions'));
    expect(await waitFor(queues, (q) => q.waiting === 1, 30_000, 'the title job to be queued')).toMatchObject({ waiting: 1, active: 0, completed: 0 });
    expect((await http(api.url, acct.apiKey, 'GET', `/v1/sessions/${session.body.id}`)).body.title).toBeNull();

    await cluster.spawn('worker', cluster.baseEnv(sim.baseUrl, { ROLE: 'worker' }));
    const joined = await waitFor(() => health(api.url), (h) => h.checks.workers?.status === 'up', 30_000, 'the worker to be seen');
    expect(joined.status).toBe('ok');
    const titled = await waitFor(() => http(api.url, acct.apiKey, 'GET', `/v1/sessions/${session.body.id}`), (r) => r.body.title !== null, 30_000, 'the worker to set the title');
    expect(titled.body.title).toBe('Plan the migration of billing');
  });
});
