// Fan-out bench: one task of 500 small inputs on an account whose pool holds 100 sessions, kimi-sim
// answering every call after a fixed 200 ms. Target (BENCH.md): makespan / ideal <= 1.15, and the
// number of live leases peaks at exactly 100, never above.
//
//   npm run bench:fanout                  full run: 3 rounds per queue driver (~1.5 min on 2 cores)
//   BENCH_QUICK=1 npm run bench:fanout    1 round per driver (~40 s)
//
// Method (see docs/benchmarks.md): kimi-sim runs in this process (firstTokenMs 200, no token pacing,
// concurrencyPerKey 10,000 so an overrun would show in its peak instead of being refused). Two services
// run as their own processes (`node dist/apps/orchestrator/src/main.js`) on one scratch database of the
// real Postgres: one with the Bull driver (REDIS_URL, a unique QUEUE_PREFIX, keys deleted at the end),
// one with the in-process driver. Rounds alternate between them (bull, in-process, bull, ...), each on a
// fresh account (session_limit 100, its own kimi-sim key) after one small warm-up task per service.
// A round: POST /v1/tasks with 500 inputs; while it runs, a separate Postgres connection counts
//   SELECT count(*) FROM session_leases WHERE account_id = $1 AND expires_at > now()
// every 20 ms (and polls the task's status every 100 ms, so no HTTP polling loads the service).
//
// Figures of a round:
//   makespan   task.finished_at - the moment POST /v1/tasks was sent (same machine clock)
//   child time task_children.finished_at - started_at: the coordinator stamps started_at right after the
//              child got its pool slot and finished_at just before it releases it, so this is the time a
//              child holds a slot: its chat call (200 ms) + its compress call (200 ms) + its own database
//              work, measured under the run's real load. Median over the 500 children.
//   final      the master's upstream time for the final answer (usage_events.latency_ms of the master
//              session: the final chat call, plus any compaction it triggered).
//   ideal      waves x median child time + final, waves = ceil(500 / 100) = 5: a perfect scheduler keeps
//              all 100 slots busy from the first moment, hands a freed slot over instantly and starts the
//              final answer the moment the last child ends. makespan / ideal is the scheduling overhead:
//              queueing, slot hand-over (the pool's waiters poll), the final job's pickup, the POST itself.
//   ideal_floor waves x 2 x firstTokenMs + final: the same with children that cost only their two calls.
//   peak leases the sampled maximum; also kimi-sim's peak_concurrency for the key and the maximum
//              overlap of the children's [started_at, finished_at] intervals (a lower bound from the rows).
// Env: BENCH_QUICK=1, BENCH_ROUNDS (per driver), BENCH_INPUTS (500), BENCH_LIMIT (100),
// BENCH_FIRST_TOKEN_MS (200), BENCH_WORKER_CONCURRENCY (200), BENCH_DB_POOL_SIZE (service default 10),
// BENCH_DRIVERS (bull,inproc), REDIS_URL (redis://127.0.0.1:6379), BENCH_SERVICE_NODE_ARGS (node flags for the services).
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { announceRun, benchServiceEnv, createBenchAccount, finishRun, runBench, startScratchDbAndSim, withCleanups } from './bench-stack';
import { envFlag, envNumber, fmtMs, fmtSpread, formatTable, httpJson, medianSpread, passFail, percentile, round, ServiceProcess, sleep, startServiceProcess, summarize } from './bench-util';

type Driver = 'bull' | 'inproc';
const TARGET_RATIO = 1.15;
/** Issue 10: makespan / floor, floor = waves x the upstream time of one child's calls + the final call's. */
const TARGET_FLOOR_RATIO = 1.3;
const TERMINAL = ['succeeded', 'partial', 'failed', 'cancelled'];

function params() {
  const quick = envFlag('BENCH_QUICK');
  const drivers = (process.env.BENCH_DRIVERS ?? 'bull,inproc').split(',').map((s) => s.trim()).filter(Boolean) as Driver[];
  for (const d of drivers) if (d !== 'bull' && d !== 'inproc') throw new Error(`BENCH_DRIVERS: unknown driver ${String(d)} (bull, inproc)`);
  return {
    quick,
    drivers,
    rounds: envNumber('BENCH_ROUNDS', quick ? 1 : 3),
    inputs: envNumber('BENCH_INPUTS', 500),
    session_limit: envNumber('BENCH_LIMIT', 100),
    warmup_inputs: 20,
    sim: { firstTokenMs: envNumber('BENCH_FIRST_TOKEN_MS', 200), tokensPerSecond: 0, replyTokens: 48, concurrencyPerKey: 10_000 },
    worker_concurrency: envNumber('BENCH_WORKER_CONCURRENCY', 200),
    db_pool_size: process.env.BENCH_DB_POOL_SIZE ?? null,
    redis_url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    sample_every_ms: 20,
    status_every_ms: 100,
    run_timeout_ms: 180_000,
    /** Extra node flags for the service processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where a child's time goes. */
    node_args: (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
  };
}

const WORDS = 'apple river garden window letter market winter summer morning evening country city number copper silver orange'.split(' ');

function inputs(n: number, tag: string) {
  return Array.from({ length: n }, (_, i) => ({
    title: `item ${i}`,
    content: `Item ${i} (${tag}): the ${WORDS[i % WORDS.length]} lot weighs ${(i * 37) % 1000} kg and costs ${(i * 53) % 500} USD. Note its code ITEM-${i}.`,
  }));
}

interface Sample {
  t: number;
  n: number;
}

interface RunResult {
  driver: Driver;
  round: number;
  task_id: string;
  status: string;
  children: { total: number; succeeded: number; failed: number; other: number };
  post_ms: number;
  makespan_ms: number;
  first_child_start_ms: number;
  last_child_end_ms: number;
  child_ms: ReturnType<typeof summarize>;
  child_upstream_ms: ReturnType<typeof summarize>;
  final_upstream_ms: number;
  final_phase_ms: number;
  waves: number;
  ideal_ms: number;
  ratio: number;
  ideal_floor_ms: number;
  ratio_floor: number;
  peak_leases: number;
  samples: number;
  sample_interval_ms: { p50: number; max: number };
  samples_at_limit_share: number;
  sim: { requests: number; peak_concurrency: number; errors_429: number; by_purpose: Record<string, number> };
  interval_overlap_peak: number;
  /** Children holding a slot, averaged per 250 ms from the POST. */
  slots_held_every_250ms: number[];
  /** Postgres transactions (every autocommit statement is one) of the whole database during the run, per child; includes the sampler's. */
  db_transactions_per_child: number;
  /** The same without the bench's own sampling queries: the task's create, its children and its final answer, per child. */
  service_transactions_per_child: number;
  /** Sum of the children's upstream latency / sum of their slot-held time: how much of a held slot is an upstream call. */
  upstream_share_of_slot_time: number;
}

async function main(): Promise<number> {
  const P = params();
  const { machine, commit, started } = announceRun('fan-out bench: 500 children through a pool of 100', [
    `mode:    ${P.quick ? 'BENCH_QUICK' : 'full'}, ${P.rounds} round(s) per driver (${P.drivers.join(', ')}), ${P.inputs} inputs, session_limit ${P.session_limit}, kimi-sim ${P.sim.firstTokenMs} ms per call, WORKER_CONCURRENCY ${P.worker_concurrency}, DB_POOL_SIZE ${P.db_pool_size ?? 'service default'}`,
  ]);
  return withCleanups('fanout', async (cleanups) => {
    const { db, sim } = await startScratchDbAndSim(cleanups, { ...P.sim, requestLogSize: 100 });

    const prefix = `sobench-fanout-${randomBytes(4).toString('hex')}`;
    // One environment (one encryption key) for both services: they share the database.
    const common = benchServiceEnv(db, sim, 'warn', { WORKER_CONCURRENCY: String(P.worker_concurrency), ...(P.db_pool_size ? { DB_POOL_SIZE: P.db_pool_size } : {}) });
    const services = new Map<Driver, ServiceProcess>();
    if (P.drivers.includes('bull')) {
      // Redis keys of this prefix are removed at the end, after the service stopped.
      cleanups.push('delete Redis keys', async () => {
        const n = await deleteRedisKeys(P.redis_url, prefix);
        console.log(`redis: deleted ${n} keys of prefix ${prefix}`);
      });
    }
    for (const d of P.drivers) {
      // Started one after the other: both migrate the same database (the service takes an advisory lock).
      const svc = await startServiceProcess({ ...common, ...(d === 'bull' ? { REDIS_URL: P.redis_url, QUEUE_PREFIX: prefix } : {}) }, { nodeArgs: P.node_args });
      cleanups.push(`stop ${d} service`, () => svc.stop());
      services.set(d, svc);
      console.log(`service (${d === 'bull' ? `Bull, prefix ${prefix}` : 'in-process queue'}): pid ${svc.pid} at ${svc.url}`);
    }
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    cleanups.push('close sampler connection', () => pg.end());

    let accountSeq = 0;
    const runTask = async (d: Driver, n: number, label: string, r: number): Promise<RunResult> => {
      const svc = services.get(d)!;
      const simKey = `sim-fanout-${d}-${label}-${randomBytes(3).toString('hex')}`;
      const account = await createBenchAccount(svc.url, { name: `bench-fanout-${++accountSeq}`, sessionLimit: P.session_limit, simBaseUrl: sim.baseUrl, simKey });
      // max_parallel = the pool: without it a task leaves TASK_POOL_RESERVE_SHARE of the pool to interactive sessions.
      const body = { goal: `Summarize the ${n} items: total weight and total cost.`, inputs: inputs(n, label), max_parallel: P.session_limit };

      // Sampler: live leases every 20 ms, task status every 100 ms, on its own connection.
      const samples: Sample[] = [];
      // The sampler's own queries (each its own transaction), taken out of the service's count.
      let samplerQueries = 0;
      let taskId: string | null = null;
      let done: { status: string } | null = null;
      let stop = false;
      const t0 = Date.now();
      const sampler = (async () => {
        let next = performance.now();
        let lastStatus = 0;
        while (!stop) {
          const [{ n: live }] = (await pg.query('SELECT count(*)::int AS n FROM session_leases WHERE account_id = $1 AND expires_at > now()', [account.id])).rows;
          samplerQueries++;
          samples.push({ t: Date.now() - t0, n: live });
          if (taskId && performance.now() - lastStatus >= P.status_every_ms) {
            lastStatus = performance.now();
            const rows = (await pg.query('SELECT status FROM tasks WHERE id = $1', [taskId])).rows;
            samplerQueries++;
            if (rows[0] && TERMINAL.includes(rows[0].status)) {
              done = { status: rows[0].status };
              break;
            }
          }
          if (Date.now() - t0 > P.run_timeout_ms) break;
          next += P.sample_every_ms;
          const wait = next - performance.now();
          if (wait > 0) await sleep(wait);
          else next = performance.now();
        }
      })();
      const xact = async () => Number((await pg.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0].n);
      const xactBefore = await xact();
      const postStart = Date.now();
      let task: any;
      try {
        task = await httpJson(svc.url, 'POST', '/v1/tasks', account.api_key, body, 202);
      } catch (err) {
        stop = true;
        await sampler;
        throw err;
      }
      const postMs = Date.now() - postStart;
      taskId = task.id;
      await sampler;
      // The statistics collector lags: backends flush their counters at most once a second (PG 15).
      await sleep(1_500);
      const xactAfter = await xact();
      if (!done) throw new Error(`${d} ${label}: task ${taskId} did not finish within ${P.run_timeout_ms / 1000} s\n--- service output ---\n${svc.output()}`);

      const [t] = (await pg.query('SELECT status, master_session_id, extract(epoch FROM finished_at) * 1000 AS finished FROM tasks WHERE id = $1', [taskId])).rows;
      const kids: Array<{ status: string; session_id: string; s: number | null; f: number | null }> = (
        await pg.query('SELECT status, session_id, extract(epoch FROM started_at) * 1000 AS s, extract(epoch FROM finished_at) * 1000 AS f FROM task_children WHERE task_id = $1', [taskId])
      ).rows.map((k: any) => ({ status: k.status, session_id: k.session_id, s: k.s === null ? null : Number(k.s), f: k.f === null ? null : Number(k.f) }));
      const ups: Array<{ session_id: string; ms: number }> = (
        await pg.query(
          `SELECT u.session_id, sum(u.latency_ms)::int AS ms FROM usage_events u
           WHERE u.session_id IN (SELECT session_id FROM task_children WHERE task_id = $1 UNION SELECT $2::uuid) GROUP BY u.session_id`,
          [taskId, t.master_session_id],
        )
      ).rows;
      const upBySession = new Map(ups.map((u) => [u.session_id, Number(u.ms)]));
      const ok = kids.filter((k) => k.status === 'succeeded' && k.s !== null && k.f !== null);
      const childMs = ok.map((k) => k.f! - k.s!);
      const finished = Number(t.finished);
      const lastEnd = Math.max(...ok.map((k) => k.f!));
      const firstStart = Math.min(...ok.map((k) => k.s!));
      const finalUp = upBySession.get(t.master_session_id) ?? NaN;
      const waves = Math.ceil(n / P.session_limit);
      const medChild = percentile(childMs, 50);
      const makespan = finished - postStart;
      const ideal = waves * medChild + finalUp;
      const idealFloor = waves * 2 * P.sim.firstTokenMs + finalUp;
      // Overlap of [s, f) intervals: sweep.
      const events = ok.flatMap((k) => [
        { t: k.s!, d: 1 },
        { t: k.f!, d: -1 },
      ]).sort((a, b) => a.t - b.t || a.d - b.d);
      let cur = 0;
      let overlap = 0;
      for (const e of events) overlap = Math.max(overlap, (cur += e.d));
      // Children holding a slot, averaged over 250 ms buckets from the POST: where the pool sat partly idle.
      const bucketMs = 250;
      const timeline = Array.from({ length: Math.ceil((lastEnd - postStart) / bucketMs) }, (_, i) => {
        const from = postStart + i * bucketMs;
        const to = from + bucketMs;
        return round(ok.reduce((a, k) => a + Math.max(0, Math.min(to, k.f!) - Math.max(from, k.s!)), 0) / bucketMs, 1);
      });
      const st = sim.stats().keys[simKey];
      const gaps = samples.slice(1).map((s, i) => s.t - samples[i].t);
      const peak = Math.max(0, ...samples.map((s) => s.n));
      // Share of the samples taken while children ran (first start .. last end) that saw the pool full.
      const during = samples.filter((s) => s.t + t0 >= firstStart && s.t + t0 <= lastEnd);
      return {
        driver: d,
        round: r,
        task_id: taskId!,
        status: t.status,
        children: { total: kids.length, succeeded: ok.length, failed: kids.filter((k) => k.status === 'failed').length, other: kids.filter((k) => k.status !== 'failed' && k.status !== 'succeeded').length },
        post_ms: postMs,
        makespan_ms: round(makespan, 1),
        first_child_start_ms: round(firstStart - postStart, 1),
        last_child_end_ms: round(lastEnd - postStart, 1),
        child_ms: summarize(childMs, 1),
        child_upstream_ms: summarize(ok.map((k) => upBySession.get(k.session_id) ?? NaN).filter(Number.isFinite), 1),
        final_upstream_ms: finalUp,
        final_phase_ms: round(finished - lastEnd, 1),
        waves,
        ideal_ms: round(ideal, 1),
        ratio: round(makespan / ideal, 3),
        ideal_floor_ms: round(idealFloor, 1),
        ratio_floor: round(makespan / idealFloor, 3),
        peak_leases: peak,
        samples: samples.length,
        sample_interval_ms: { p50: percentile(gaps, 50), max: Math.max(0, ...gaps) },
        samples_at_limit_share: round(during.filter((s) => s.n >= P.session_limit).length / Math.max(1, during.length), 3),
        sim: { requests: st?.requests ?? 0, peak_concurrency: st?.peak_concurrency ?? 0, errors_429: st?.errors['429'] ?? 0, by_purpose: st?.by_purpose ?? {} },
        interval_overlap_peak: overlap,
        slots_held_every_250ms: timeline,
        db_transactions_per_child: round((xactAfter - xactBefore) / n, 1),
        service_transactions_per_child: round((xactAfter - xactBefore - samplerQueries - 1) / n, 1),
        upstream_share_of_slot_time: round(ok.reduce((a, k) => a + (upBySession.get(k.session_id) ?? 0), 0) / Math.max(1, childMs.reduce((a, b) => a + b, 0)), 3),
      };
    };

    console.log(`warm-up: one ${P.warmup_inputs}-input task per service`);
    for (const d of P.drivers) {
      const w = await runTask(d, P.warmup_inputs, 'warmup', -1);
      console.log(`  ${d}: ${w.status} in ${fmtMs(w.makespan_ms, 0)} ms`);
    }
    const results: RunResult[] = [];
    for (let r = 0; r < P.rounds; r++) {
      for (const d of P.drivers) {
        const x = await runTask(d, P.inputs, `r${r}`, r);
        results.push(x);
        console.log(
          `  ${d} round ${r + 1}: ${x.status}, ${x.children.succeeded}/${x.children.total} children ok; makespan ${fmtMs(x.makespan_ms, 0)} ms, child p50 ${fmtMs(x.child_ms.p50, 0)} ms, final ${x.final_upstream_ms} ms, ideal ${fmtMs(x.ideal_ms, 0)} ms -> ${x.ratio.toFixed(3)}; peak leases ${x.peak_leases} (sim ${x.sim.peak_concurrency}, rows ${x.interval_overlap_peak})`,
        );
      }
    }

    // ---------------------------------------------------------------- report
    const per = P.drivers.map((d) => {
      const rr = results.filter((x) => x.driver === d);
      return {
        driver: d,
        rounds: rr.length,
        ratio: medianSpread(rr.map((x) => x.ratio)),
        ratio_floor: medianSpread(rr.map((x) => x.ratio_floor)),
        makespan_ms: medianSpread(rr.map((x) => x.makespan_ms), 1),
        ideal_ms: medianSpread(rr.map((x) => x.ideal_ms), 1),
        child_p50_ms: medianSpread(rr.map((x) => x.child_ms.p50), 1),
        final_ms: medianSpread(rr.map((x) => x.final_upstream_ms), 1),
        final_phase_ms: medianSpread(rr.map((x) => x.final_phase_ms), 1),
        first_child_start_ms: medianSpread(rr.map((x) => x.first_child_start_ms), 1),
        post_ms: medianSpread(rr.map((x) => x.post_ms), 1),
        peak_leases_max: Math.max(...rr.map((x) => x.peak_leases)),
        peak_leases_min: Math.min(...rr.map((x) => x.peak_leases)),
        sim_peak_max: Math.max(...rr.map((x) => x.sim.peak_concurrency)),
        overlap_peak_max: Math.max(...rr.map((x) => x.interval_overlap_peak)),
        at_limit_share: medianSpread(rr.map((x) => x.samples_at_limit_share)),
        all_children_ok: rr.every((x) => x.children.succeeded === x.children.total && x.status === 'succeeded'),
        errors_429: rr.reduce((n, x) => n + x.sim.errors_429, 0),
      };
    });
    const targets = per.flatMap((p) => [
      { name: `${p.driver}: makespan / ideal (median)`, target: `<= ${TARGET_RATIO}`, value: p.ratio.median, pass: p.ratio.median <= TARGET_RATIO },
      { name: `${p.driver}: makespan / floor (median)`, target: `<= ${TARGET_FLOOR_RATIO}`, value: p.ratio_floor.median, pass: p.ratio_floor.median <= TARGET_FLOOR_RATIO },
      {
        name: `${p.driver}: peak leases (sampled, every round)`,
        target: `= ${P.session_limit}`,
        value: p.peak_leases_min === p.peak_leases_max ? String(p.peak_leases_max) : `${p.peak_leases_min}..${p.peak_leases_max}`,
        pass: p.peak_leases_min === P.session_limit && p.peak_leases_max === P.session_limit,
      },
      { name: `${p.driver}: never above (sim peak, row overlap)`, target: `<= ${P.session_limit}`, value: `${p.sim_peak_max}, ${p.overlap_peak_max}`, pass: p.sim_peak_max <= P.session_limit && p.overlap_peak_max <= P.session_limit },
    ]);

    const out: string[] = [''];
    out.push(`Per round (ms; ratio = makespan / ideal, ideal = ${results[0]?.waves ?? '?'} waves x median child time + final upstream time)`);
    out.push(
      formatTable(
        ['driver', 'round', 'POST', 'makespan', 'child p50', 'child p99', 'final', 'final phase', 'ideal', 'ratio', 'floor ratio', 'peak leases', 'sim peak', 'row overlap', 'full share', 'upstream share', 'db xact/child', 'svc xact/child', 'ok'],
        results.map((x) => [
          x.driver,
          x.round + 1,
          x.post_ms,
          fmtMs(x.makespan_ms, 0),
          fmtMs(x.child_ms.p50, 0),
          fmtMs(x.child_ms.p99, 0),
          x.final_upstream_ms,
          fmtMs(x.final_phase_ms, 0),
          fmtMs(x.ideal_ms, 0),
          x.ratio.toFixed(3),
          x.ratio_floor.toFixed(3),
          x.peak_leases,
          x.sim.peak_concurrency,
          x.interval_overlap_peak,
          x.samples_at_limit_share.toFixed(2),
          x.upstream_share_of_slot_time.toFixed(2),
          x.db_transactions_per_child,
          x.service_transactions_per_child,
          `${x.children.succeeded}/${x.children.total}`,
        ]),
      ),
    );
    out.push('');
    out.push('Per driver: median over rounds [min..max]');
    out.push(
      formatTable(
        ['driver', 'rounds', 'makespan ms', 'ideal ms', 'makespan/ideal', 'makespan/floor', 'child p50 ms', 'first child starts ms', 'final phase ms'],
        per.map((p) => [p.driver, p.rounds, fmtSpread(p.makespan_ms, 0), fmtSpread(p.ideal_ms, 0), fmtSpread(p.ratio, 3), fmtSpread(p.ratio_floor, 3), fmtSpread(p.child_p50_ms, 0), fmtSpread(p.first_child_start_ms, 0), fmtSpread(p.final_phase_ms, 0)]),
      ),
    );
    out.push('');
    out.push('Targets (BENCH.md)');
    out.push(formatTable(['figure', 'target', 'measured', 'result'], targets.map((t) => [t.name, t.target, typeof t.value === 'number' ? t.value.toFixed(3) : t.value, passFail(t.pass)])));
    out.push('');
    out.push(
      `child time = slot held (started_at..finished_at): one chat + one compress call at ${P.sim.firstTokenMs} ms each plus the child's database work; floor ratio uses 2 x ${P.sim.firstTokenMs} ms instead. ` +
        `"final phase" = last child done -> task finished (final job pickup + master turn). "full share" = samples with all ${P.session_limit} slots held while children ran. ` +
        `"upstream share" = children's upstream latency / their slot-held time. "db xact/child" = Postgres transactions during the run / children (the sampler's included); "svc xact/child" = the same without the sampler's queries.`,
    );
    const bad = per.filter((p) => !p.all_children_ok || p.errors_429 > 0);
    if (bad.length) out.push(`! not every child succeeded or kimi-sim refused calls: ${bad.map((p) => `${p.driver} (429s: ${p.errors_429})`).join(', ')}`);
    finishRun('fanout', { machine, commit, started }, out, { ...P, queue_prefix: prefix }, {
      method: {
        service: 'node dist/apps/orchestrator/src/main.js as a child process per driver, one scratch database; kimi-sim in the bench process',
        makespan: 'tasks.finished_at - the moment POST /v1/tasks was sent',
        child_time: 'task_children.finished_at - started_at (slot held: chat + compress + database work), median over the children',
        final: "sum of usage_events.latency_ms of the master session (the final answer's upstream calls)",
        ideal: 'ceil(inputs / session_limit) x median child time + final',
        ideal_floor: 'ceil(inputs / session_limit) x 2 x firstTokenMs + final',
        peak_leases: 'max of SELECT count(*) FROM session_leases WHERE account_id = $1 AND expires_at > now(), every 20 ms on a separate connection',
        sim_peak: "kimi-sim peak_concurrency of the round's key (concurrencyPerKey 10,000: nothing refused)",
        row_overlap: "maximum overlap of the children's [started_at, finished_at] intervals",
      },
      results,
      per_driver: per,
      targets,
    });
    return 0;
  });
}

/** Deletes every Redis key under `prefix:`; returns how many. */
async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  const { default: Redis } = await import('ioredis');
  const redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: true });
  await redis.connect();
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) n += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return n;
}

if (require.main === module) runBench(main);
