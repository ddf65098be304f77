import { startKimiSim, type KimiSim } from '@so/kimi-sim';
import { ADMIN_KEY } from '../support/test-env';
import { Cluster, waitFor } from '../support/processes';

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

    await cluster.spawn('worker', cluster.baseEnv(sim.baseUrl, { ROLE: 'worker' }));
    const joined = await waitFor(() => health(api.url), (h) => h.checks.workers?.status === 'up', 30_000, 'the worker to be seen');
    expect(joined.status).toBe('ok');
  });
});
