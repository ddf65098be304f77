import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';
import { http, poolStats, readSse, waitFor } from '../support/processes';

// The coordinator end to end on Postgres + Redis (Bull) + kimi-sim: fan-out, per-account pool limits,
// max_parallel, split strategies, cancel, failing children (partial), SSE progress, tenancy, validation.

const TERMINAL = ['succeeded', 'partial', 'failed', 'cancelled'];
const PART = /## Part (\d+):/;

interface Msg {
  seq: number;
  role: string;
  content: string;
  kind: string;
}

describe('coordinator (tasks) end to end', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ sim: { requestLogSize: 20_000 }, env: { DB_POOL_SIZE: '10' } });
  });
  afterAll(async () => h?.stop());

  const api = (a: TestAccount, method: string, path: string, body?: unknown) => h.api(a.apiKey, method, path, body);
  const finished = (a: TestAccount, id: string, timeoutMs = 60_000) =>
    waitFor(() => api(a, 'GET', `/v1/tasks/${id}`), (r) => TERMINAL.includes(r.body?.status), timeoutMs, `task ${id} ends`, 150).then((r) => r.body);
  const allMessages = async (a: TestAccount, sessionId: string): Promise<Msg[]> => {
    const out: Msg[] = [];
    let after = 0;
    for (;;) {
      const page = await api(a, 'GET', `/v1/sessions/${sessionId}/messages?limit=100&after_seq=${after}`);
      expect(page.status).toBe(200);
      out.push(...page.body.data);
      if (!page.body.has_more) return out;
      after = page.body.data[page.body.data.length - 1].seq;
    }
  };
  /** Chat requests of one account's key that carry a child's first prompt, by child index. */
  const childPrompts = (a: TestAccount, ids?: Set<string>) => {
    const byIndex = new Map<number, string[]>();
    for (const r of h.simRequestsFor(a.simKey)) {
      if (r.purpose !== 'chat' || !r.last_user || (ids && !ids.has(r.id))) continue;
      const m = PART.exec(r.last_user);
      if (m) byIndex.set(Number(m[1]), [...(byIndex.get(Number(m[1])) ?? []), r.id]);
    }
    return byIndex;
  };
  const queueCounts = async () => {
    const r = await http(h.url, ADMIN_KEY, 'GET', '/admin/queues');
    return (r.body.data as Array<{ name: string; waiting: number; active: number; delayed: number; failed: number; completed: number }>).find((q) => q.name === 'task-children')!;
  };

  it('fans 100 inputs out under session_limit 10: succeeded, 100 outlines with provenance in the master, lineage, pool drained, upstream concurrency <= 10', async () => {
    const a = await h.createAccount('hundred', { session_limit: 10 });
    const inputs = Array.from({ length: 100 }, (_, i) => ({
      title: `src/module${i}.ts`,
      content: `export function f${i}(x: number) { return x * ${i}; }\n// FACT-${i}: module${i} is owned by team-${i} and uses port ${9000 + i}\n`,
    }));
    const created = await api(a, 'POST', '/v1/tasks', { goal: 'Review these modules and list their owners', inputs });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ id: expect.any(String), master_session_id: expect.any(String) });
    expect(['queued', 'running']).toContain(created.body.status);
    const taskId = created.body.id;
    const masterId = created.body.master_session_id;

    // While it runs, neither the pool nor the task's progress shows more than the limit live; children wait in line
    // (queued in Postgres, holding neither a slot nor a worker).
    let maxInUse = 0;
    let maxRunning = 0;
    let waitedInLine = false;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const [p, t] = await Promise.all([poolStats(h.url, a.id), api(a, 'GET', `/v1/tasks/${taskId}`)]);
        maxInUse = Math.max(maxInUse, p.in_use);
        if (t.body.progress.running > 0 && t.body.progress.queued > 0) waitedInLine = true;
        maxRunning = Math.max(maxRunning, t.body.progress.running);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const task = await finished(a, taskId, 80_000).finally(() => (polling = false));
    await poller;

    expect(task.status).toBe('succeeded');
    expect(task.progress).toMatchObject({ total: 100, queued: 0, running: 0, succeeded: 100, failed: 0 });
    expect(task.failures).toEqual([]);
    expect(typeof task.result).toBe('string');
    expect(task.result.length).toBeGreaterThan(0);
    expect(maxInUse).toBeLessThanOrEqual(10);
    expect(maxRunning).toBeLessThanOrEqual(10);
    expect(waitedInLine).toBe(true);
    expect(h.simStatsFor(a.simKey).peak_concurrency).toBeLessThanOrEqual(10);

    // Lineage: the master with exactly 100 children, each merged once.
    const lineage = await api(a, 'GET', `/v1/sessions/${masterId}/lineage`);
    expect(lineage.status).toBe(200);
    expect(lineage.body.total_sessions).toBe(101);
    const root = lineage.body.root;
    expect(root).toMatchObject({ id: masterId, role: 'master' });
    expect(root.children).toHaveLength(100);
    const childByIndex = new Map<number, string>();
    for (const c of root.children) {
      expect(c).toMatchObject({ role: 'child', status: 'closed', parent_id: masterId, task_id: taskId });
      childByIndex.set(Number(/^(\d+):/.exec(c.title)![1]), c.id);
    }
    expect([...childByIndex.keys()].sort((x, y) => x - y)).toEqual(inputs.map((_, i) => i));
    expect(root.merged_outlines).toHaveLength(100);
    expect(new Set(root.merged_outlines.map((m: { child_index: number }) => m.child_index)).size).toBe(100);
    for (const m of root.merged_outlines) expect(m.child_session_id).toBe(childByIndex.get(m.child_index));

    // The master's history: exactly 100 outlines, each naming its child session as its source.
    const history = await allMessages(a, masterId);
    const outlines = history.filter((m) => m.kind === 'outline');
    expect(outlines).toHaveLength(100);
    const seen = new Set<number>();
    for (const o of outlines) {
      const index = Number(/^\[part (\d+): /.exec(o.content)![1]);
      seen.add(index);
      expect(o.content).toContain(`FACT-${index}`);
      const sources = o.content.slice(o.content.indexOf('## Sources'));
      expect(o.content).toContain('## Sources');
      expect(sources).toMatch(new RegExp(`^- session=${childByIndex.get(index)} snapshot=\\S+ seqs=\\d+-\\d+$`, 'm'));
    }
    expect(seen.size).toBe(100);

    // The window that would be sent now holds the same 100 outlines (then the final turn).
    const ctx = await api(a, 'GET', `/v1/sessions/${masterId}/context`);
    expect(ctx.body.messages.filter((m: { content: string }) => m.content.startsWith('[outline'))).toHaveLength(100);
    // The merges moved the master's window one outline at a time, in the order they were written.
    expect(ctx.body.window.outline_seqs).toEqual(outlines.map((o) => o.seq));
    expect(ctx.body.tokens.outlines).toBeGreaterThan(0);

    // Every slot comes back; only the master stays parked.
    const pool = await waitFor(() => poolStats(h.url, a.id), (p) => p.in_use === 0, 15_000, 'pool drains');
    expect(pool).toMatchObject({ limit: 10, in_use: 0, waiting: 0, parked: 1 });

    // One chat round and one compression per child, plus the final answer.
    const usage = await http(h.url, ADMIN_KEY, 'GET', `/admin/usage?account_id=${a.id}`);
    const calls = Object.fromEntries(usage.body.data.map((u: { purpose: string; calls: number }) => [u.purpose, u.calls]));
    expect(calls.chat).toBe(101);
    expect(calls.compress).toBeGreaterThanOrEqual(100);
    expect((await queueCounts()).failed).toBe(0);
  }, 90_000);

  it('max_parallel: 2 caps the children alive at once (pool and upstream), and the events stream ends with `event: done`', async () => {
    const a = await h.createAccount('par2', { session_limit: 10 });
    h.sim.configure({ firstTokenMs: 100 });
    try {
      const inputs = Array.from({ length: 6 }, (_, i) => ({ title: `doc${i}.md`, content: `Doc ${i}. FACT-P${i}: the answer is ${i * 7}.` }));
      const created = await api(a, 'POST', '/v1/tasks', { goal: 'Summarize', inputs, max_parallel: 2 });
      expect(created.status).toBe(202);
      let maxInUse = 0;
      let maxRunning = 0;
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const [p, t] = await Promise.all([poolStats(h.url, a.id), api(a, 'GET', `/v1/tasks/${created.body.id}`)]);
          maxInUse = Math.max(maxInUse, p.in_use);
          maxRunning = Math.max(maxRunning, t.body.progress.running);
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      const sse = await readSse(`${h.url}/v1/tasks/${created.body.id}/events`, a.apiKey).finally(() => (polling = false));
      await poller;

      expect(sse.status).toBe(200);
      const names = sse.events.map((e) => e.event);
      expect(names[names.length - 1]).toBe('done');
      expect(names.filter((n) => n === 'done')).toHaveLength(1);
      expect(names.slice(0, -1).every((n) => n === 'progress')).toBe(true);
      expect(names.length).toBeGreaterThan(2);
      const done = sse.events[sse.events.length - 1].data;
      expect(done).toMatchObject({ id: created.body.id, status: 'succeeded', progress: { total: 6, succeeded: 6 }, max_parallel: 2 });
      const progress = sse.events.map((e) => e.data.progress.succeeded as number);
      expect(progress).toEqual([...progress].sort((x, y) => x - y));

      expect(maxInUse).toBeLessThanOrEqual(2);
      expect(maxRunning).toBeLessThanOrEqual(2);
      expect(h.simStatsFor(a.simKey).peak_concurrency).toBeLessThanOrEqual(2);
      expect(h.simStatsFor(a.simKey).peak_concurrency).toBeGreaterThanOrEqual(1);
      expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: 0 });

      // The same stream for a finished task: the last state, then done.
      const again = await readSse(`${h.url}/v1/tasks/${created.body.id}/events`, a.apiKey);
      expect(again.events.map((e) => e.event)).toEqual(['progress', 'done']);
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
  });

  it('token_chunks splits one long log into chunk-sized children whose parts cover the log exactly once', async () => {
    const a = await h.createAccount('chunks', { session_limit: 4 });
    const lines = Array.from({ length: 150 }, (_, i) => `2025-03-01T12:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z INFO req=${100000 + i} LOGLINE-${String(i).padStart(4, '0')} ok\n`);
    const log = lines.join('');
    const created = await api(a, 'POST', '/v1/tasks', { goal: 'Find anomalies in this log', inputs: [{ title: 'server.log', content: log }], split: { strategy: 'token_chunks', chunk_tokens: 256 } });
    expect(created.status).toBe(202);
    const task = await finished(a, created.body.id);
    expect(task.status).toBe('succeeded');
    const n = task.progress.total;
    expect(n).toBeGreaterThan(3);
    expect(task.progress.succeeded).toBe(n);

    const lineage = (await api(a, 'GET', `/v1/sessions/${created.body.master_session_id}/lineage`)).body;
    expect(lineage.root.children).toHaveLength(n);
    const owner = new Map<string, number>();
    for (const c of lineage.root.children) {
      const index = Number(/^(\d+):/.exec(c.title)![1]);
      expect(c.title).toMatch(new RegExp(`^${index}: server\\.log \\(part ${index + 1}/${n}\\)$`));
      const first = (await allMessages(a, c.id)).find((m) => m.role === 'user')!;
      const markers = first.content.match(/LOGLINE-\d{4}/g) ?? [];
      expect(markers.length).toBeGreaterThan(0);
      // A chunk is a run of consecutive lines.
      const nums = markers.map((m) => Number(m.slice(8)));
      expect(nums).toEqual(nums.map((_, k) => nums[0] + k));
      for (const m of markers) {
        expect(owner.has(m)).toBe(false);
        owner.set(m, index);
      }
    }
    expect(owner.size).toBe(lines.length);
    // Each chunk was inferred once.
    const prompts = childPrompts(a);
    expect(prompts.size).toBe(n);
    for (const ids of prompts.values()) expect(ids).toHaveLength(1);
  });

  it('subtasks with max_rounds 2: each child runs its prompt then the follow-up, once each', async () => {
    const a = await h.createAccount('subtasks', { session_limit: 5 });
    const subtasks = ['alpha', 'beta', 'gamma'].map((t) => ({ title: `check ${t}`, prompt: `Check component ${t.toUpperCase()} for SUBTASK-${t}.` }));
    const created = await api(a, 'POST', '/v1/tasks', { goal: 'Audit the components', subtasks, child: { max_rounds: 2, followup_prompt: 'FOLLOWUP: anything missed?' } });
    expect(created.status).toBe(202);
    const task = await finished(a, created.body.id);
    expect(task).toMatchObject({ status: 'succeeded', progress: { total: 3, succeeded: 3 } });
    const chat = h.simRequestsFor(a.simKey).filter((r) => r.purpose === 'chat' && r.status === 200);
    for (const s of subtasks) expect(chat.filter((r) => r.last_user?.includes(s.prompt))).toHaveLength(1);
    expect(chat.filter((r) => r.last_user === 'FOLLOWUP: anything missed?')).toHaveLength(3);
    const lineage = (await api(a, 'GET', `/v1/sessions/${created.body.master_session_id}/lineage`)).body;
    for (const c of lineage.root.children) {
      const msgs = (await allMessages(a, c.id)).filter((m) => m.kind === 'message');
      expect(msgs.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    }
    const outlines = (await allMessages(a, created.body.master_session_id)).filter((m) => m.kind === 'outline');
    expect(outlines).toHaveLength(3);
  });

  it('cancel: queued children never run, running ones are closed, every slot is freed, no final answer', async () => {
    const a = await h.createAccount('cancel', { session_limit: 3 });
    h.sim.configure({ firstTokenMs: 500 });
    try {
      const inputs = Array.from({ length: 12 }, (_, i) => ({ title: `slow${i}.txt`, content: `slow input ${i}` }));
      const created = await api(a, 'POST', '/v1/tasks', { goal: 'Slow work', inputs });
      expect(created.status).toBe(202);
      const id = created.body.id;
      await waitFor(() => api(a, 'GET', `/v1/tasks/${id}`), (r) => r.body.progress.succeeded >= 1, 30_000, 'a first child succeeds', 50);

      const cancel = await api(a, 'POST', `/v1/tasks/${id}/cancel`);
      expect(cancel.status).toBe(200);
      expect(cancel.body.status).toBe('cancelled');
      // At the cancel, `succeededAtCancel` children were done and at most `limit` (3) held slots: only those may ever run.
      const succeededAtCancel: number = cancel.body.progress.succeeded;
      expect(cancel.body.progress).toMatchObject({ queued: 0, running: 0 });

      // Let everything that was in flight end: no active child job, nothing upstream, no slot held.
      await waitFor(
        async () => ({ q: await queueCounts(), p: await poolStats(h.url, a.id), inFlight: (h.sim.stats().keys[a.simKey]?.in_flight ?? 0) }),
        (s) => s.q.active === 0 && s.q.waiting === 0 && s.q.delayed === 0 && s.p.in_use === 0 && s.inFlight === 0,
        30_000,
        'the cancelled task settles',
      );

      const task = (await api(a, 'GET', `/v1/tasks/${id}`)).body;
      expect(task.status).toBe('cancelled');
      expect(task.result).toBeNull();
      expect(task.progress).toMatchObject({ total: 12, queued: 0, running: 0, failed: 0 });
      expect(task.progress.succeeded + task.progress.cancelled).toBe(12);
      expect(task.progress.cancelled).toBeGreaterThan(0);

      // No child that was still queued at the cancel reached the upstream (before the fix, the slots the
      // cancel freed were taken by waiting children, which then ran).
      const ran = childPrompts(a);
      expect(ran.size).toBeLessThanOrEqual(succeededAtCancel + 3);
      expect(task.progress.succeeded).toBe(succeededAtCancel);
      const neverRan = inputs.map((_, i) => i).filter((i) => !ran.has(i));
      expect(neverRan.length).toBeGreaterThanOrEqual(12 - succeededAtCancel - 3);
      // ...and no final answer was asked for.
      expect(h.simRequestsFor(a.simKey).some((r) => r.last_user?.startsWith('Goal: '))).toBe(false);

      // Slots and sessions: nothing live, no child left active or parked (only the master is parked).
      expect(await poolStats(h.url, a.id)).toMatchObject({ in_use: 0, waiting: 0, parked: 1 });
      const lineage = (await api(a, 'GET', `/v1/sessions/${created.body.master_session_id}/lineage`)).body;
      for (const c of lineage.root.children) expect(c.status).toBe('closed');
      const outlines = (await allMessages(a, created.body.master_session_id)).filter((m) => m.kind === 'outline');
      expect(outlines.length).toBeLessThanOrEqual(task.progress.succeeded + 3);

      const again = await api(a, 'POST', `/v1/tasks/${id}/cancel`);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('conflict');
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
  });

  it('a child that keeps failing upstream leaves the task partial, with the failure listed and the rest merged', async () => {
    const a = await h.createAccount('partial', { session_limit: 5 });
    // The sim refuses any prompt over 20K tokens (400 context_length_exceeded): deterministic for one input.
    h.sim.configure({ contextWindow: 20_000 });
    try {
      const huge = Array.from({ length: 2600 }, (_, i) => `row ${String(i).padStart(5, '0')}: alpha beta gamma delta epsilon zeta\n`).join('');
      const inputs = [
        { title: 'ok0.txt', content: 'small input zero. FACT-Z0.' },
        { title: 'ok1.txt', content: 'small input one. FACT-Z1.' },
        { title: 'huge.txt', content: huge },
        { title: 'ok3.txt', content: 'small input three. FACT-Z3.' },
      ];
      const created = await api(a, 'POST', '/v1/tasks', { goal: 'Summarize each input', inputs });
      expect(created.status).toBe(202);
      const task = await finished(a, created.body.id);
      expect(task.status).toBe('partial');
      expect(task.progress).toMatchObject({ total: 4, succeeded: 3, failed: 1, queued: 0, running: 0 });
      expect(task.failures).toHaveLength(1);
      expect(task.failures[0]).toMatchObject({ index: 2, title: 'huge.txt', attempts: 3, session_id: expect.any(String) });
      expect(String(task.failures[0].error).length).toBeGreaterThan(0);
      expect(typeof task.result).toBe('string');
      expect(task.result.length).toBeGreaterThan(0);

      const outlines = (await allMessages(a, created.body.master_session_id)).filter((m) => m.kind === 'outline');
      expect(outlines.map((o) => Number(/^\[part (\d+): /.exec(o.content)![1])).sort()).toEqual([0, 1, 3]);
      // The failed child's prompt was refused by the upstream each attempt and never answered.
      const rejected = h.simRequestsFor(a.simKey).filter((r) => r.purpose === 'chat' && r.last_user?.includes('## Part 2:'));
      expect(rejected.length).toBeGreaterThanOrEqual(3);
      expect(rejected.every((r) => r.status === 400)).toBe(true);
      expect((await api(a, 'GET', `/v1/sessions/${task.failures[0].session_id}`)).body.status).toBe('closed');
      expect(await waitFor(() => poolStats(h.url, a.id), (p) => p.in_use === 0, 10_000, 'pool drains')).toMatchObject({ in_use: 0, parked: 1 });
    } finally {
      h.sim.configure({ contextWindow: 262_144 });
    }
  }, 60_000);

  it('another tenant gets 404 on every task route; the owner lists it', async () => {
    const owner = await h.createAccount('owner', { session_limit: 3 });
    const other = await h.createAccount('other', { session_limit: 3 });
    const created = await api(owner, 'POST', '/v1/tasks', { goal: 'Private', subtasks: [{ title: 'one', prompt: 'private prompt' }] });
    expect(created.status).toBe(202);
    const id = created.body.id;
    for (const [method, path] of [['GET', `/v1/tasks/${id}`], ['GET', `/v1/tasks/${id}/events`], ['POST', `/v1/tasks/${id}/cancel`], ['GET', `/v1/sessions/${created.body.master_session_id}`], ['GET', `/v1/sessions/${created.body.master_session_id}/lineage`]]) {
      const r = await api(other, method, path);
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(r.body.error.code).toBe('not_found');
    }
    expect((await api(other, 'GET', '/v1/tasks')).body.data.map((t: { id: string }) => t.id)).not.toContain(id);
    const mine = await api(owner, 'GET', '/v1/tasks');
    expect(mine.body).toMatchObject({ object: 'list' });
    expect(mine.body.data.map((t: { id: string }) => t.id)).toContain(id);
    await finished(owner, id);
    expect((await fetch(`${h.url}/v1/tasks/${id}`)).status).toBe(401);
    expect((await api(owner, 'GET', '/v1/tasks/not-a-uuid')).status).toBe(404);
    expect((await api(owner, 'GET', '/v1/tasks/0190a000-0000-7000-8000-000000000000')).status).toBe(404);
  });

  it('rejects bad task bodies with 400 invalid_request and creates nothing', async () => {
    const a = await h.createAccount('badbodies', { session_limit: 3 });
    const input = { title: 't', content: 'c' };
    const bad: Array<[string, unknown]> = [
      ['no goal', { inputs: [input] }],
      ['goal not a string', { goal: 42, inputs: [input] }],
      ['empty goal', { goal: '', inputs: [input] }],
      ['neither inputs nor subtasks', { goal: 'g' }],
      ['both inputs and subtasks', { goal: 'g', inputs: [input], subtasks: [{ title: 's', prompt: 'p' }] }],
      ['empty inputs', { goal: 'g', inputs: [] }],
      ['input without content', { goal: 'g', inputs: [{ title: 't' }] }],
      ['inputs not an array', { goal: 'g', inputs: 'file' }],
      ['subtask without prompt', { goal: 'g', subtasks: [{ title: 's' }] }],
      ['split with subtasks', { goal: 'g', subtasks: [{ title: 's', prompt: 'p' }], split: { strategy: 'token_chunks' } }],
      ['unknown strategy', { goal: 'g', inputs: [input], split: { strategy: 'by_magic' } }],
      ['chunk_tokens too small', { goal: 'g', inputs: [input], split: { strategy: 'token_chunks', chunk_tokens: 10 } }],
      ['max_parallel 0', { goal: 'g', inputs: [input], max_parallel: 0 }],
      ['max_parallel not an integer', { goal: 'g', inputs: [input], max_parallel: 1.5 }],
      ['max_rounds 0', { goal: 'g', inputs: [input], child: { max_rounds: 0 } }],
      ['compress_ratio 1', { goal: 'g', inputs: [input], merge: { compress_ratio: 1 } }],
      ['body is an array', [input]],
      ['malformed JSON', '{"goal": "g", "inputs": ['],
    ];
    for (const [what, body] of bad) {
      const r = await api(a, 'POST', '/v1/tasks', body);
      expect({ what, status: r.status }).toEqual({ what, status: 400 });
      expect({ what, code: r.body?.error?.code }).toEqual({ what, code: 'invalid_request' });
    }
    expect((await api(a, 'GET', '/v1/tasks')).body.data).toEqual([]);
    expect((await api(a, 'GET', '/v1/sessions')).body.data).toEqual([]);
  });
});
