import { createServer, Socket, type Server } from 'node:net';
import { startKimiSim, type KimiSim } from '@so/kimi-sim';
import { createScratchDatabase, DEFAULT_ADMIN_DATABASE_URL } from '@so/persistence/cli/scratch-database';
import { startOrchestrator, type OrchestratorHandle } from '../../apps/orchestrator/src/bootstrap';
import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';
import { deleteRedisKeys, ENCRYPTION_KEY, http, readSse, waitFor } from '../support/processes';
import { REDIS_URL } from '../support/test-env';

// Every task ends, whatever happens to its jobs: Postgres is the source of truth and workers sweep what
// is due into the queue (TASK_SWEEP_MS). Real Postgres, real Redis (only this suite's key prefix is
// deleted), kimi-sim over HTTP.

const TERMINAL = ['succeeded', 'partial', 'failed', 'cancelled'];
const PART = /## Part (\d+):/;

/** Chat requests answered 200 that carry a child's first prompt, counted by child index. */
function inferredRounds(sim: KimiSim, simKey: string): Map<number, number> {
  const byIndex = new Map<number, number>();
  for (const r of sim.requests()) {
    if (r.key !== simKey || r.purpose !== 'chat' || r.status !== 200 || !r.last_user) continue;
    const m = PART.exec(r.last_user);
    if (m) byIndex.set(Number(m[1]), (byIndex.get(Number(m[1])) ?? 0) + 1);
  }
  return byIndex;
}

function finalCalls(sim: KimiSim, simKey: string): number {
  return sim.requests().filter((r) => r.key === simKey && r.purpose === 'chat' && r.status === 200 && r.last_user?.startsWith('Goal: ')).length;
}

async function outlinesOf(url: string, key: string, sessionId: string): Promise<string[]> {
  const out: string[] = [];
  let after = 0;
  for (;;) {
    const page = await http(url, key, 'GET', `/v1/sessions/${sessionId}/messages?limit=100&after_seq=${after}`);
    out.push(...page.body.data.filter((m: { kind: string }) => m.kind === 'outline').map((m: { content: string }) => m.content));
    if (!page.body.has_more) return out;
    after = page.body.data[page.body.data.length - 1].seq;
  }
}

/** A TCP proxy on loopback in front of Redis that can be paused (port closed, connections cut) and resumed. */
class PausableProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async pause(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  stop(): Promise<void> {
    return this.pause();
  }
}

describe('every task ends (outbox + sweep)', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ sim: { requestLogSize: 20_000 }, env: { TASK_SWEEP_MS: '500', DB_POOL_SIZE: '10' } });
  });
  afterAll(async () => h?.stop());

  const api = (a: TestAccount, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => h.api(a.apiKey, method, path, body, headers);
  const finished = (a: TestAccount, id: string, timeoutMs = 60_000) =>
    waitFor(() => api(a, 'GET', `/v1/tasks/${id}`), (r) => TERMINAL.includes(r.body?.status), timeoutMs, `task ${id} ends`, 150).then((r) => r.body);

  it('a final call that always fails ends the task `failed` with the error, and its event stream closes with `done`', async () => {
    const a = await h.createAccount('finalfails', { session_limit: 4 });
    // The sim refuses any prompt over its window (400): the children fit, the final prompt does not.
    h.sim.configure({ contextWindow: 9_000 });
    try {
      const inputs = Array.from({ length: 3 }, (_, i) => ({ title: `in${i}.txt`, content: `small input ${i}. FACT-F${i}.` }));
      const final_prompt = `Answer now. ${Array.from({ length: 2_600 }, (_, i) => `k${i}`).join(' ')}`;
      const created = await api(a, 'POST', '/v1/tasks', { goal: 'Summarize', inputs, merge: { final_prompt } });
      expect(created.status).toBe(202);
      const sse = await readSse(`${h.url}/v1/tasks/${created.body.id}/events`, a.apiKey);
      const names = sse.events.map((e) => e.event);
      expect(names[names.length - 1]).toBe('done');
      const done = sse.events[sse.events.length - 1].data;
      expect(done).toMatchObject({ status: 'failed', result: null, progress: { total: 3, succeeded: 3, queued: 0, running: 0 } });
      expect(done.error).toMatch(/final answer failed/);
      expect(done.finished_at).toEqual(expect.any(Number));
      const task = (await api(a, 'GET', `/v1/tasks/${created.body.id}`)).body;
      expect(task.status).toBe('failed');
      // The final call was tried (and refused) by the upstream, each attempt.
      const refused = h.simRequestsFor(a.simKey).filter((r) => r.purpose === 'chat' && r.last_user?.startsWith('Answer now.'));
      expect(refused.length).toBeGreaterThanOrEqual(1);
      expect(refused.every((r) => r.status === 400)).toBe(true);
      // The master is parked again and holds no slot.
      expect((await api(a, 'GET', `/v1/sessions/${created.body.master_session_id}`)).body.status).not.toBe('active');
    } finally {
      h.sim.configure({ contextWindow: 262_144 });
    }
  }, 90_000);

  it('Idempotency-Key on create: same key and body give the same task; another body is 409; one task exists', async () => {
    const a = await h.createAccount('idem', { session_limit: 3 });
    const body = { goal: 'Idempotent', subtasks: [{ title: 'one', prompt: 'do one' }] };
    const headers = { 'idempotency-key': 'create-1' };
    const [first, second] = await Promise.all([api(a, 'POST', '/v1/tasks', body, headers), api(a, 'POST', '/v1/tasks', body, headers)]);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    const third = await api(a, 'POST', '/v1/tasks', body, headers);
    expect(third.body.id).toBe(first.body.id);
    const other = await api(a, 'POST', '/v1/tasks', { ...body, goal: 'Something else' }, headers);
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'conflict', param: 'Idempotency-Key' });
    const list = (await api(a, 'GET', '/v1/tasks')).body.data;
    expect(list.map((t: { id: string }) => t.id)).toEqual([first.body.id]);
    // Another account may use the same key for its own task.
    const b = await h.createAccount('idem2', { session_limit: 3 });
    const theirs = await api(b, 'POST', '/v1/tasks', body, headers);
    expect(theirs.status).toBe(202);
    expect(theirs.body.id).not.toBe(first.body.id);
    expect((await finished(a, first.body.id)).status).toBe('succeeded');
    expect((await finished(b, theirs.body.id)).status).toBe('succeeded');
    expect(inferredRounds(h.sim, a.simKey).get(0)).toBe(1);
  });

  it('Redis loses its data mid-task (this suite\'s keys deleted): the sweep re-enqueues from Postgres; succeeded, no round inferred twice', async () => {
    const a = await h.createAccount('redisloss', { session_limit: 2 });
    h.sim.configure({ firstTokenMs: 300 });
    try {
      const inputs = Array.from({ length: 8 }, (_, i) => ({ title: `r${i}.txt`, content: `input ${i}. FACT-R${i}.` }));
      const created = await api(a, 'POST', '/v1/tasks', { goal: 'Summarize', inputs });
      expect(created.status).toBe(202);
      const id = created.body.id;
      const mid = await waitFor(() => api(a, 'GET', `/v1/tasks/${id}`), (r) => r.body.progress.succeeded >= 1, 30_000, 'a first child succeeds', 50);
      expect(mid.body.progress.queued).toBeGreaterThan(0);
      await deleteRedisKeys(h.queuePrefix);
      const task = await finished(a, id);
      expect(task).toMatchObject({ status: 'succeeded', progress: { total: 8, succeeded: 8, failed: 0 } });
      const rounds = inferredRounds(h.sim, a.simKey);
      expect([...rounds.keys()].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      for (const n of rounds.values()) expect(n).toBe(1);
      expect(finalCalls(h.sim, a.simKey)).toBe(1);
      expect(await outlinesOf(h.url, a.apiKey, created.body.master_session_id)).toHaveLength(8);
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
  }, 90_000);

  it('cancel mid-task: nothing merges afterwards; the master holds exactly the outlines of the children that succeeded', async () => {
    const a = await h.createAccount('cancelmerge', { session_limit: 3 });
    h.sim.configure({ firstTokenMs: 300 });
    try {
      const inputs = Array.from({ length: 10 }, (_, i) => ({ title: `c${i}.txt`, content: `input ${i}` }));
      const created = await api(a, 'POST', '/v1/tasks', { goal: 'Slow work', inputs });
      const id = created.body.id;
      await waitFor(() => api(a, 'GET', `/v1/tasks/${id}`), (r) => r.body.progress.succeeded >= 1 && r.body.progress.running >= 1, 30_000, 'one done, some running', 25);
      const cancel = await api(a, 'POST', `/v1/tasks/${id}/cancel`);
      expect(cancel.status).toBe(200);
      const atCancel = cancel.body.progress.succeeded;
      expect(cancel.body.progress).toMatchObject({ queued: 0, running: 0 });
      // Everything in flight settles: nothing upstream, no slot held.
      await waitFor(
        async () => ({ inFlight: h.sim.stats().keys[a.simKey]?.in_flight ?? 0, pool: (await http(h.url, ADMIN_KEY, 'GET', `/admin/pool?account_id=${a.id}`)).body.data[0] }),
        (s) => s.inFlight === 0 && s.pool.in_use === 0,
        30_000,
        'in-flight work settles',
      );
      await new Promise((r) => setTimeout(r, 1000)); // one more sweep round: it must not revive anything
      const task = (await api(a, 'GET', `/v1/tasks/${id}`)).body;
      expect(task.status).toBe('cancelled');
      expect(task.progress.succeeded).toBe(atCancel);
      const outlines = await outlinesOf(h.url, a.apiKey, created.body.master_session_id);
      expect(outlines).toHaveLength(atCancel);
      const lineage = (await api(a, 'GET', `/v1/sessions/${created.body.master_session_id}/lineage`)).body;
      expect(lineage.root.merged_outlines).toHaveLength(atCancel);
      expect(finalCalls(h.sim, a.simKey)).toBe(0);
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
  }, 60_000);
});

describe('a task owns only what it owns', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ env: { TASK_SWEEP_MS: '500' } });
  });
  afterAll(async () => h?.stop());

  it('without max_parallel it leaves 20% of the pool to interactive sessions; its master is read-only while it runs; closing the master cancels it', async () => {
    const a = await h.createAccount('owns', { session_limit: 5 });
    h.sim.configure({ firstTokenMs: 200 });
    try {
      const inputs = Array.from({ length: 16 }, (_, i) => ({ title: `o${i}.txt`, content: `input ${i}` }));
      const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Own nothing more', inputs });
      expect(created.status).toBe(202);
      const id = created.body.id;
      let maxInUse = 0;
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const p = (await http(h.url, ADMIN_KEY, 'GET', `/admin/pool?account_id=${a.id}`)).body.data[0];
          maxInUse = Math.max(maxInUse, p.in_use);
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      try {
        await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${id}`), (r) => r.body.progress.succeeded >= 1 && r.body.progress.queued > 0, 30_000, 'task under way', 25);
        // An interactive session gets a slot and answers while the task runs.
        const s = await h.api(a.apiKey, 'POST', '/v1/sessions', {});
        expect(s.status).toBe(201);
        const turn = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'interactive' }] });
        expect(turn.status).toBe(200);
        // The master refuses appends while the task runs, and nothing is written.
        const masterId = created.body.master_session_id;
        const count = async () => (await h.api(a.apiKey, 'GET', `/v1/sessions/${masterId}/messages?limit=100`)).body.data.filter((m: { role: string }) => m.role === 'user').length;
        expect(await count()).toBe(0);
        const refused = await h.api(a.apiKey, 'POST', `/v1/sessions/${masterId}/messages`, { messages: [{ role: 'user', content: 'meddling' }] });
        expect(refused.status).toBe(409);
        expect(refused.body.error).toMatchObject({ code: 'conflict', param: 'session_id' });
        expect(refused.body.error.message).toMatch(/read-only/);
        expect(await count()).toBe(0);
        // Closing the master cancels the task instead of stranding it.
        const closed = await h.api(a.apiKey, 'DELETE', `/v1/sessions/${masterId}`);
        expect(closed.status).toBe(200);
        const task = await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${id}`), (r) => ['succeeded', 'partial', 'failed', 'cancelled'].includes(r.body.status), 10_000, 'task ends', 50);
        expect(task.body).toMatchObject({ status: 'cancelled', result: null });
        expect(task.body.progress).toMatchObject({ queued: 0, running: 0 });
      } finally {
        polling = false;
        await poller;
      }
      // The task's children never held more than 80% of the 5 slots (4); the interactive session took the 5th at most.
      expect(maxInUse).toBeLessThanOrEqual(5);
      const p = await waitFor(async () => (await http(h.url, ADMIN_KEY, 'GET', `/admin/pool?account_id=${a.id}`)).body.data[0], (x) => x.in_use <= 1, 30_000, 'slots back');
      expect(p.in_use).toBeLessThanOrEqual(1);
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
  }, 90_000);
});

describe('fairness between accounts', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // Few workers, so children waiting for their account's pool would fill them all if they held them.
    h = await TestHarness.start({ sim: { requestLogSize: 5000 }, env: { TASK_SWEEP_MS: '500', WORKER_CONCURRENCY: '6' } });
  });
  afterAll(async () => h?.stop());

  it("two accounts' tasks progress together: a 1-child task ends while another account's 60-child task is still running", async () => {
    const big = await h.createAccount('bigtenant', { session_limit: 3 });
    const small = await h.createAccount('smalltenant', { session_limit: 3 });
    h.sim.configure({ firstTokenMs: 150 });
    try {
      const inputs = Array.from({ length: 60 }, (_, i) => ({ title: `b${i}.txt`, content: `big input ${i}` }));
      const first = await h.api(big.apiKey, 'POST', '/v1/tasks', { goal: 'Big', inputs, max_parallel: 3 });
      expect(first.status).toBe(202);
      await waitFor(() => h.api(big.apiKey, 'GET', `/v1/tasks/${first.body.id}`), (r) => r.body.progress.succeeded >= 1, 30_000, 'big task under way', 25);
      const second = await h.api(small.apiKey, 'POST', '/v1/tasks', { goal: 'Small', inputs: [{ title: 's.txt', content: 'small input' }] });
      expect(second.status).toBe(202);
      const smallDone = await waitFor(() => h.api(small.apiKey, 'GET', `/v1/tasks/${second.body.id}`), (r) => ['succeeded', 'partial', 'failed'].includes(r.body.status), 60_000, 'small task ends', 25);
      expect(smallDone.body.status).toBe('succeeded');
      const bigNow = (await h.api(big.apiKey, 'GET', `/v1/tasks/${first.body.id}`)).body;
      // The big task was far from done when the small one ended: the small one did not wait behind it.
      expect(bigNow.status).toBe('running');
      expect(bigNow.progress.succeeded).toBeLessThan(40);
      const bigDone = await waitFor(() => h.api(big.apiKey, 'GET', `/v1/tasks/${first.body.id}`), (r) => ['succeeded', 'partial', 'failed'].includes(r.body.status), 120_000, 'big task ends', 100);
      expect(bigDone.body).toMatchObject({ status: 'succeeded', progress: { total: 60, succeeded: 60 } });
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
  }, 180_000);
});

describe('a task created while Redis is unreachable', () => {
  let h: TestHarness;
  const proxy = new PausableProxy({ host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) });

  beforeAll(async () => {
    await proxy.start();
    h = await TestHarness.start({ env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, TASK_SWEEP_MS: '500' } });
  });
  afterAll(async () => {
    await h?.stop();
    await proxy.stop().catch(() => undefined);
  });

  it('is committed and answered 202 at once, a session turn works meanwhile, and the task completes once Redis is back', async () => {
    const a = await h.createAccount('redisdown', { session_limit: 3 });
    await proxy.pause();
    const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'During the outage', inputs: [{ title: 'x', content: 'FACT-X1' }, { title: 'y', content: 'FACT-Y1' }] }, { 'idempotency-key': 'outage-1' });
    expect(created.status).toBe(202);
    expect(created.body.status).toBe('queued');
    // A client retry with the same key gets the same task, not a duplicate.
    const retry = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'During the outage', inputs: [{ title: 'x', content: 'FACT-X1' }, { title: 'y', content: 'FACT-Y1' }] }, { 'idempotency-key': 'outage-1' });
    expect(retry.body.id).toBe(created.body.id);
    // Redis is not on a turn's path: a new session's first turn answers.
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', {});
    expect(s.status).toBe(201);
    const turn = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'hello during the outage' }] });
    expect(turn.status).toBe(200);
    await proxy.start();
    const task = await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${created.body.id}`), (r) => TERMINAL.includes(r.body.status), 60_000, 'task ends', 200);
    expect(task.body).toMatchObject({ status: 'succeeded', progress: { total: 2, succeeded: 2 } });
    expect((await h.api(a.apiKey, 'GET', '/v1/tasks')).body.data).toHaveLength(1);
  }, 90_000);
});

describe('a single-process service restarted in the middle of a task (in-process queue)', () => {
  let sim: KimiSim;
  let drop: () => Promise<void>;
  let dbUrl: string;
  let handle: OrchestratorHandle | undefined;
  const start = () =>
    startOrchestrator({
      PORT: '0', HOST: '127.0.0.1', DATABASE_URL: dbUrl, LLM_BASE_URL: sim.baseUrl, LLM_API_KEY: 'sim-default', ADMIN_API_KEY: ADMIN_KEY, ENCRYPTION_KEY,
      LOG_LEVEL: 'silent', UPSTREAM_RETRY_BASE_MS: '5', UPSTREAM_TIMEOUT_MS: '3000', TASK_SWEEP_MS: '500', DB_POOL_SIZE: '10', POOL_LEASE_TTL_MS: '2000',
    });

  beforeAll(async () => {
    const db = await createScratchDatabase(DEFAULT_ADMIN_DATABASE_URL, 'sotest');
    dbUrl = db.url;
    drop = db.drop;
    sim = await startKimiSim({ port: 0, requestLogSize: 5000 });
  });
  afterAll(async () => {
    await handle?.close();
    await sim?.close();
    await drop?.();
  });

  it('finishes the task after the restart with every child merged once, no round inferred twice and one final answer', async () => {
    handle = await start();
    const simKey = 'sim-restart-key';
    const acct = await http(handle.url, ADMIN_KEY, 'POST', '/admin/accounts', { name: 'restart', upstream: { base_url: sim.baseUrl, api_key: simKey }, session_limit: 2 });
    expect(acct.status).toBe(201);
    const key = acct.body.api_key;
    sim.configure({ firstTokenMs: 300 });
    const inputs = Array.from({ length: 8 }, (_, i) => ({ title: `m${i}.txt`, content: `input ${i}. FACT-M${i}.` }));
    const created = await http(handle.url, key, 'POST', '/v1/tasks', { goal: 'Summarize', inputs });
    expect(created.status).toBe(202);
    const id = created.body.id;
    const before = handle.url;
    await waitFor(() => http(before, key, 'GET', `/v1/tasks/${id}`), (r) => r.body.progress.succeeded >= 1, 30_000, 'a first child succeeds', 50);
    await handle.close();
    handle = undefined;
    const mid = inferredRounds(sim, simKey).size;
    expect(mid).toBeLessThan(8);

    handle = await start();
    sim.configure({ firstTokenMs: 0 });
    const task = await waitFor(() => http(handle!.url, key, 'GET', `/v1/tasks/${id}`), (r) => TERMINAL.includes(r.body.status), 60_000, 'task ends', 150);
    expect(task.body).toMatchObject({ status: 'succeeded', progress: { total: 8, succeeded: 8, failed: 0 } });
    const rounds = inferredRounds(sim, simKey);
    expect(rounds.size).toBe(8);
    for (const n of rounds.values()) expect(n).toBe(1);
    expect(finalCalls(sim, simKey)).toBe(1);
    const outlines = await outlinesOf(handle.url, key, created.body.master_session_id);
    expect(outlines).toHaveLength(8);
    expect(new Set(outlines.map((o) => /^\[part (\d+): /.exec(o)![1])).size).toBe(8);
  }, 120_000);
});
