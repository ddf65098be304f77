import { startKimiSim, type KimiSim } from '@so/kimi-sim';
import { Cluster, createAccount, http, poolStats, ServiceProcess, waitFor } from '../support/processes';

// Several service processes (built output, `node dist/.../main.js`) on one Postgres and one Redis:
// the pool limit holds across instances, and a worker killed with SIGKILL mid-task loses nothing
// and duplicates nothing.

const TERMINAL = ['succeeded', 'partial', 'failed', 'cancelled'];
const PART = /## Part (\d+):/;

describe('multi-process: one pool limit across three ROLE=all instances', () => {
  let sim: KimiSim;
  let cluster: Cluster;
  let procs: ServiceProcess[] = [];

  beforeAll(async () => {
    sim = await startKimiSim({ port: 0, firstTokenMs: 300, requestLogSize: 5000 });
    cluster = await Cluster.create();
    const env = cluster.baseEnv(sim.baseUrl, { ROLE: 'all' });
    procs = await Promise.all([0, 1, 2].map((i) => cluster.spawn(`all-${i}`, env)));
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await sim?.close();
  });

  it('never has more than N=4 live sessions, refuses with 429 + Retry-After, and lets every waiting create through', async () => {
    const N = 4;
    const acct = await createAccount(procs[0].url, sim.baseUrl, 'mp-pool', N);
    const db = await cluster.db();

    // Watch the pool from every instance and from the database while the flows run.
    let maxInUse = 0;
    let maxActive = 0;
    let maxLeases = 0;
    let maxWaiting = 0;
    let polls = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const p = await poolStats(procs[polls % 3].url, acct.id);
        const [{ active, leases }] = (
          await db.query(
            `SELECT (SELECT count(*)::int FROM sessions WHERE account_id = $1 AND status = 'active') AS active,
                    (SELECT count(*)::int FROM session_leases WHERE account_id = $1) AS leases`,
            [acct.id],
          )
        ).rows;
        maxInUse = Math.max(maxInUse, p.in_use);
        maxWaiting = Math.max(maxWaiting, p.waiting);
        maxActive = Math.max(maxActive, active);
        maxLeases = Math.max(maxLeases, leases);
        polls++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    type Outcome = { i: number; wait: boolean; create: number; retryAfter: string | null; code?: string; append?: number; del?: number; reply?: string };
    const flow = async (i: number): Promise<Outcome> => {
      const base = procs[i % 3].url;
      const wait = i % 2 === 0;
      const c = await http(base, acct.apiKey, 'POST', '/v1/sessions', { title: `flow ${i}`, system: 'You are terse.', ...(wait ? { wait_ms: 60_000 } : {}) });
      const out: Outcome = { i, wait, create: c.status, retryAfter: c.headers.get('retry-after'), code: c.body?.error?.code };
      if (c.status !== 201) return out;
      // The turn and the close go to other instances than the create.
      const t = await http(procs[(i + 1) % 3].url, acct.apiKey, 'POST', `/v1/sessions/${c.body.id}/messages`, { messages: [{ role: 'user', content: `flow ${i} says hello` }] });
      out.append = t.status;
      out.reply = t.body?.message?.content;
      const d = await http(procs[(i + 2) % 3].url, acct.apiKey, 'DELETE', `/v1/sessions/${c.body.id}`);
      out.del = d.status;
      return out;
    };
    const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => flow(i))).finally(() => (polling = false));
    await poller;

    const waited = outcomes.filter((o) => o.wait);
    const immediate = outcomes.filter((o) => !o.wait);
    for (const o of waited) expect(o).toMatchObject({ create: 201, append: 200, del: 200 });
    for (const o of outcomes.filter((x) => x.create === 201)) {
      expect(o).toMatchObject({ append: 200, del: 200 });
      expect(o.reply?.length).toBeGreaterThan(0);
    }
    const refused = immediate.filter((o) => o.create !== 201);
    for (const o of refused) {
      expect(o).toMatchObject({ create: 429, code: 'session_pool_exhausted' });
      expect(o.retryAfter).toMatch(/^\d+$/);
      expect(Number(o.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect(refused.length).toBeGreaterThan(0);

    // The limit held everywhere: the upstream, the admin view of every instance, the database.
    const simStats = sim.stats().keys[acct.simKey];
    expect(simStats.peak_concurrency).toBeLessThanOrEqual(N);
    expect(simStats.peak_concurrency).toBeGreaterThan(1);
    expect(simStats.requests).toBe(outcomes.filter((o) => o.create === 201).length);
    expect(polls).toBeGreaterThan(10);
    expect(maxInUse).toBeLessThanOrEqual(N);
    expect(maxLeases).toBeLessThanOrEqual(N);
    expect(maxActive).toBeLessThanOrEqual(N);
    expect(maxWaiting).toBeGreaterThan(0);

    const end = await poolStats(procs[2].url, acct.id);
    expect(end).toMatchObject({ limit: N, in_use: 0, waiting: 0, parked: 0, refused_total: refused.length, acquired_total: 30 - refused.length, reclaimed_total: 0 });
    expect(end.acquire_wait_ms.samples).toBe(30 - refused.length);
    expect(end.acquire_wait_ms.p99!).toBeGreaterThan(0);
  }, 80_000);
});

describe('multi-process: SIGKILL of a worker in the middle of a task', () => {
  let sim: KimiSim;
  let cluster: Cluster;
  let api: ServiceProcess;
  let workers: ServiceProcess[] = [];

  beforeAll(async () => {
    sim = await startKimiSim({ port: 0, firstTokenMs: 200, requestLogSize: 5000 });
    cluster = await Cluster.create();
    const knobs = { POOL_LEASE_TTL_MS: '3000', POOL_REAP_INTERVAL_MS: '500', QUEUE_LOCK_MS: '4000', QUEUE_STALLED_MS: '1000' };
    api = await cluster.spawn('api', cluster.baseEnv(sim.baseUrl, { ROLE: 'api', ...knobs }));
    workers = await Promise.all([0, 1].map((i) => cluster.spawn(`worker-${i}`, cluster.baseEnv(sim.baseUrl, { ROLE: 'worker', ...knobs }))));
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await sim?.close();
  });

  it('still succeeds with exactly 20 merged outlines, re-infers no completed round, and gets the dead worker\'s slots back', async () => {
    const acct = await createAccount(api.url, sim.baseUrl, 'mp-kill', 5);
    const db = await cluster.db();
    // The api instance serves no jobs; the workers serve no API.
    expect((await http(workers[0].url, acct.apiKey, 'GET', '/v1/tasks')).status).toBe(404);
    expect((await fetch(`${workers[0].url}/health`)).status).toBe(200);

    const inputs = Array.from({ length: 20 }, (_, i) => ({ title: `part${i}.ts`, content: `export const k${i} = ${i}; // FACT-K${i}: reviewed by team-${i}` }));
    const created = await http(api.url, acct.apiKey, 'POST', '/v1/tasks', { goal: 'Review the parts', inputs });
    expect(created.status).toBe(202);
    const taskId: string = created.body.id;
    const masterId: string = created.body.master_session_id;

    // Wait until some children are done and a worker holds slots for running ones.
    const pidOf = (holder: string) => Number(/-(\d+)-[0-9a-f]+$/.exec(holder)?.[1]);
    const { victim } = await waitFor(
      async () => {
        const t = await http(api.url, acct.apiKey, 'GET', `/v1/tasks/${taskId}`);
        const leases: Array<{ holder: string }> = (await db.query(`SELECT holder FROM session_leases WHERE task_id = $1 AND expires_at > now()`, [taskId])).rows;
        const perWorker = workers.map((w) => ({ w, n: leases.filter((l) => pidOf(l.holder) === w.pid).length }));
        const best = perWorker.sort((x, y) => y.n - x.n)[0];
        // Two or more slots: a worker holding one may release it in the milliseconds before the kill.
        return { progress: t.body.progress, victim: best.n >= 2 ? best.w : null, leases: perWorker.map((p) => p.n) };
      },
      (s) => s.progress.succeeded >= 2 && s.progress.succeeded <= 15 && s.victim !== null,
      30_000,
      'some children succeeded while a worker holds slots',
      20,
    );
    const survivor = workers.find((w) => w !== victim)!;

    // Rounds committed before the kill, then what the upstream had seen, then the kill.
    const committed = new Set<number>(
      (await db.query(`SELECT c.index FROM task_children c JOIN turns t ON t.session_id = c.session_id WHERE c.task_id = $1 AND t.idempotency_key LIKE '%:r1'`, [taskId])).rows.map(
        (r: { index: number }) => r.index,
      ),
    );
    const seenBeforeKill = new Set(sim.requests().map((r) => r.id));
    victim!.proc.kill('SIGKILL');
    await victim!.whenExited;
    const heldAtDeath: number = (await db.query(`SELECT count(*)::int AS n FROM session_leases WHERE holder LIKE $1`, [`worker:%-${victim!.pid}-%`])).rows[0].n;
    expect(heldAtDeath).toBeGreaterThan(0);

    const task = await waitFor(() => http(api.url, acct.apiKey, 'GET', `/v1/tasks/${taskId}`), (r) => TERMINAL.includes(r.body.status), 60_000, 'the task ends', 250).then((r) => r.body);
    if (task.status !== 'succeeded') throw new Error(`task ended ${task.status}: ${JSON.stringify(task)}\n${cluster.logs()}`);
    expect(task.progress).toMatchObject({ total: 20, succeeded: 20, failed: 0, queued: 0, running: 0 });
    expect(task.result.length).toBeGreaterThan(0);

    // Exactly once: 20 merge records, 20 outlines in the master, one per child.
    const merges = (await db.query(`SELECT count(*)::int AS n, count(DISTINCT child_index)::int AS d FROM task_merges WHERE task_id = $1`, [taskId])).rows[0];
    expect(merges).toEqual({ n: 20, d: 20 });
    const dbOutlines = (await db.query(`SELECT count(*)::int AS n FROM messages WHERE session_id = $1 AND kind = 'outline'`, [masterId])).rows[0].n;
    expect(dbOutlines).toBe(20);
    const msgs: Array<{ kind: string; content: string }> = [];
    for (let after = 0; ; ) {
      const page = await http(api.url, acct.apiKey, 'GET', `/v1/sessions/${masterId}/messages?limit=100&after_seq=${after}`);
      msgs.push(...page.body.data);
      if (!page.body.has_more) break;
      after = page.body.data[page.body.data.length - 1].seq;
    }
    const outlineIdx = msgs.filter((m) => m.kind === 'outline').map((m) => Number(/^\[part (\d+): /.exec(m.content)![1]));
    expect(outlineIdx.sort((x, y) => x - y)).toEqual(inputs.map((_, i) => i));

    // No completed round went upstream again; an interrupted one ran at most once more.
    const byIndex = new Map<number, Array<{ id: string; status: number | null }>>();
    for (const r of sim.requests().filter((x) => x.key === acct.simKey && x.purpose === 'chat' && x.last_user)) {
      const m = PART.exec(r.last_user!);
      if (m) byIndex.set(Number(m[1]), [...(byIndex.get(Number(m[1])) ?? []), { id: r.id, status: r.status }]);
    }
    expect([...byIndex.keys()].sort((x, y) => x - y)).toEqual(inputs.map((_, i) => i));
    for (const [index, reqs] of byIndex) {
      const ok = reqs.filter((r) => r.status === 200);
      const okAfterKill = ok.filter((r) => !seenBeforeKill.has(r.id));
      const detail = { index, committedBeforeKill: committed.has(index), reqs };
      if (committed.has(index)) {
        expect({ ...detail, afterKill: reqs.filter((r) => !seenBeforeKill.has(r.id)).length }).toEqual({ ...detail, afterKill: 0 });
        expect({ ...detail, ok: ok.length }).toEqual({ ...detail, ok: 1 });
      } else {
        expect(ok.length).toBeGreaterThanOrEqual(1);
        expect({ ...detail, okAfterKill: okAfterKill.length <= 1, ok: ok.length <= 2 }).toEqual({ ...detail, okAfterKill: true, ok: true });
      }
    }

    // The dead worker's slots came back; nothing is left in use or waiting; the survivor saw its jobs stall.
    const pool = await waitFor(() => poolStats(api.url, acct.id), (p) => p.in_use === 0 && p.waiting === 0, 20_000, 'the pool drains');
    expect(pool.reclaimed_total).toBeGreaterThanOrEqual(heldAtDeath);
    expect(pool).toMatchObject({ limit: 5, in_use: 0, waiting: 0, parked: 1 });
    const lineage = await http(api.url, acct.apiKey, 'GET', `/v1/sessions/${masterId}/lineage`);
    expect(lineage.body.total_sessions).toBe(21);
    for (const c of lineage.body.root.children) expect(c.status).toBe('closed');
    expect(survivor.exited).toBe(false);
    // The dead worker's children came back by their lapsed claims; Bull also sees its jobs stall (they then find their child done).
    await waitFor(() => Promise.resolve(survivor.output()), (o) => /stalled/.test(o), 20_000, 'the survivor sees the stalled jobs', 200);
  }, 85_000);
});

describe('multi-process: SIGTERM of the only worker at its last child', () => {
  let sim: KimiSim;
  let cluster: Cluster;
  let api: ServiceProcess;
  const knobs = { POOL_LEASE_TTL_MS: '2000', POOL_REAP_INTERVAL_MS: '500', QUEUE_LOCK_MS: '4000', QUEUE_STALLED_MS: '1000', TASK_SWEEP_MS: '500' };

  beforeAll(async () => {
    sim = await startKimiSim({ port: 0, firstTokenMs: 300, requestLogSize: 5000 });
    cluster = await Cluster.create();
    api = await cluster.spawn('api', cluster.baseEnv(sim.baseUrl, { ROLE: 'api', ...knobs }));
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await sim?.close();
  });

  it('a worker started afterwards finishes the task from Postgres: every child merged once, no round inferred twice, one final answer', async () => {
    const first = await cluster.spawn('worker-a', cluster.baseEnv(sim.baseUrl, { ROLE: 'worker', ...knobs }));
    const acct = await createAccount(api.url, sim.baseUrl, 'mp-term', 5);
    const db = await cluster.db();
    const inputs = Array.from({ length: 4 }, (_, i) => ({ title: `t${i}.ts`, content: `export const t${i} = ${i}; // FACT-T${i}` }));
    // max_parallel 1: the children run one after another, so "the last child" is a moment one can wait for.
    const created = await http(api.url, acct.apiKey, 'POST', '/v1/tasks', { goal: 'Review', inputs, max_parallel: 1 });
    expect(created.status).toBe(202);
    const taskId: string = created.body.id;
    await waitFor(() => http(api.url, acct.apiKey, 'GET', `/v1/tasks/${taskId}`), (r) => r.body.progress.succeeded === 3 && r.body.progress.running === 1, 60_000, 'the last child runs', 20);
    first.proc.kill('SIGTERM');
    await first.whenExited;
    // Whatever the worker left (the last child mid-way, or done with its final answer not yet enqueued), nobody runs it now.
    const left = await http(api.url, acct.apiKey, 'GET', `/v1/tasks/${taskId}`);
    expect(['running', 'merging', 'succeeded']).toContain(left.body.status);

    await cluster.spawn('worker-b', cluster.baseEnv(sim.baseUrl, { ROLE: 'worker', ...knobs }));
    const task = await waitFor(() => http(api.url, acct.apiKey, 'GET', `/v1/tasks/${taskId}`), (r) => TERMINAL.includes(r.body.status), 60_000, 'the task ends', 100).then((r) => r.body);
    if (task.status !== 'succeeded') throw new Error(`task ended ${task.status}: ${JSON.stringify(task)}\n${cluster.logs()}`);
    expect(task.progress).toMatchObject({ total: 4, succeeded: 4, failed: 0, queued: 0, running: 0 });
    const merges = (await db.query(`SELECT count(*)::int AS n, count(DISTINCT child_index)::int AS d FROM task_merges WHERE task_id = $1`, [taskId])).rows[0];
    expect(merges).toEqual({ n: 4, d: 4 });
    const okChats = sim.requests().filter((r) => r.key === acct.simKey && r.purpose === 'chat' && r.status === 200 && r.last_user);
    for (let i = 0; i < 4; i++) expect({ i, n: okChats.filter((r) => PART.exec(r.last_user!)?.[1] === String(i)).length }).toEqual({ i, n: 1 });
    expect(okChats.filter((r) => r.last_user!.startsWith('Goal: '))).toHaveLength(1);
  }, 120_000);
});
