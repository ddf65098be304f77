// Memory bench: the service's resident memory with 1,000 idle sessions of ~32K tokens each.
// Target (BENCH.md): RSS < 300 MB - sessions live in Postgres, not in memory.
//
//   npm run bench:memory                  full run: 1,000 sessions, idle periods up to 60 s (~2.5 min on 2 cores)
//   BENCH_QUICK=1 npm run bench:memory    1,000 sessions, idle periods up to 30 s (~1.5 min)
//
// Method (see docs/benchmarks.md): the service runs as its own process (`node dist/apps/orchestrator/
// src/main.js`, PORT=0, its URL parsed from the banner) on a scratch database of the real Postgres, with its
// defaults (WINDOW_CACHE_MB 64, DB_POOL_SIZE 10); kimi-sim runs in this process (no latency, 16-token
// replies). RSS = VmRSS of the service's pid from /proc/<pid>/status (VmHWM = its peak so far).
//   baseline    after start and a short settle, before any session
//   built       after N sessions (policy auto_compact false), each given 4 appends of ~7,800 tokens with
//               `generate: false` (~31K tokens of history in the window), 8 sessions built at a time
//   idle        after a GC-friendly idle period with no requests (sampled every second; up to BENCH_IDLE_S,
//               ended early once RSS fell >= 10% and held for 3 s)
//   turns       after one generated turn (max_tokens 16) on each of 100 sessions spread over the set, 4 at
//               a time: each turn reads its ~32K-token window (from the bounded window cache or Postgres)
//               and sends it upstream
//   idle again  after a second idle period
// The V8 heap in use (from the service's /metrics, so_nodejs_heap_size_used_bytes) is shown beside RSS.
// The target applies to the idle figures (after the first and the second idle period); the RSS right
// after building or after the turns (before the heap is collected) and the peak (VmHWM) while building are
// reported as references.
// Env: BENCH_QUICK=1, BENCH_SESSIONS, BENCH_APPENDS (4), BENCH_APPEND_TOKENS (7800), BENCH_TURNS (100),
// BENCH_IDLE_S, WINDOW_CACHE_MB (passed to the service when set).
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { announceRun, createBenchAccount, finishRun, loadTokenText, runBench, startServiceStack, withCleanups } from './bench-stack';
import { envFlag, envNumber, fmtMs, formatTable, httpJson, mapLimit, passFail, ProcStatus, round, sleep } from './bench-util';

const TARGET_MB = 300;
const SYSTEM = 'You are a careful assistant working over a long document.';

function params() {
  const quick = envFlag('BENCH_QUICK');
  return {
    quick,
    sessions: envNumber('BENCH_SESSIONS', 1_000),
    appends: envNumber('BENCH_APPENDS', 4),
    append_tokens: envNumber('BENCH_APPEND_TOKENS', 7_800),
    turns: envNumber('BENCH_TURNS', 100),
    build_concurrency: 8,
    turn_concurrency: 4,
    idle_s: envNumber('BENCH_IDLE_S', quick ? 30 : 60),
    settle_s: 3,
    window_cache_mb: process.env.WINDOW_CACHE_MB ?? null,
    distinct_texts: 16,
  };
}

interface Point {
  phase: string;
  rss_mb: number;
  hwm_mb: number;
  heap_used_mb: number | null;
  at_s: number;
}

async function main(): Promise<number> {
  const P = params();
  const { machine, commit, started } = announceRun('memory bench: service RSS with idle ~32K-token sessions', [
    `mode:    ${P.quick ? 'BENCH_QUICK' : 'full'}, ${P.sessions} sessions x ${P.appends} appends of ~${P.append_tokens} tokens, ${P.turns} turns, idle up to ${P.idle_s} s, WINDOW_CACHE_MB ${P.window_cache_mb ?? 'service default (64)'}`,
  ]);
  return withCleanups('memory', async (cleanups) => {
    const { textOfTokens } = await loadTokenText();
    const { db, sim, svc } = await startServiceStack(cleanups, {
      sim: { replyTokens: 16, requestLogSize: 2 * P.turns },
      env: P.window_cache_mb ? { WINDOW_CACHE_MB: P.window_cache_mb } : {},
    });

    const heapUsedMb = async (): Promise<number | null> => {
      try {
        const text = await (await fetch(`${svc.url}/metrics`)).text();
        const m = /^so_nodejs_heap_size_used_bytes\s+([\d.e+]+)/m.exec(text);
        return m ? round(Number(m[1]) / 2 ** 20, 1) : null;
      } catch {
        return null;
      }
    };
    const t0 = Date.now();
    const points: Point[] = [];
    const mark = async (phase: string): Promise<Point> => {
      const heap = await heapUsedMb();
      const st = svc.status();
      if (!st) throw new Error(`the service (pid ${svc.pid}) is gone\n${svc.output()}`);
      const p = { phase, rss_mb: st.rss_mb, hwm_mb: st.hwm_mb, heap_used_mb: heap, at_s: round((Date.now() - t0) / 1000, 1) };
      points.push(p);
      console.log(`  ${phase}: RSS ${p.rss_mb} MB (peak ${p.hwm_mb} MB), V8 heap used ${p.heap_used_mb ?? '-'} MB`);
      return p;
    };
    /**
     * No requests for up to `seconds`; RSS sampled every second (only /proc is read, the service sees nothing).
     * V8 gives freed heap pages back only when its idle-time collection runs (observed after ~25-30 s), so the
     * period ends early only once RSS has dropped by >= 10% from where it started and then held for 3 s.
     */
    const idle = async (seconds: number) => {
      const samples: number[] = [];
      const start = svc.status()?.rss_mb ?? NaN;
      for (let i = 0; i < seconds; i++) {
        await sleep(1_000);
        const st = svc.status();
        if (st) samples.push(st.rss_mb);
        const last3 = samples.slice(-3);
        if (last3.length === 3 && last3[2] <= 0.9 * start && Math.max(...last3) - Math.min(...last3) <= 1) break;
      }
      return { seconds: samples.length, start_mb: start, samples, min: Math.min(...samples), last: samples[samples.length - 1] };
    };
    /** Samples RSS every 500 ms while `work` runs: the peak while building. */
    const watched = async <T>(work: () => Promise<T>): Promise<{ value: T; peak_rss_mb: number }> => {
      let peak = 0;
      let stop = false;
      const w = (async () => {
        while (!stop) {
          const st: ProcStatus | null = svc.status();
          if (st) peak = Math.max(peak, st.rss_mb);
          await sleep(500);
        }
      })();
      try {
        return { value: await work(), peak_rss_mb: peak };
      } finally {
        stop = true;
        await w;
      }
    };

    await sleep(P.settle_s * 1000);
    const baseline = await mark('baseline');

    const simKey = `sim-memory-${randomBytes(3).toString('hex')}`;
    const account = await createBenchAccount(svc.url, { name: 'bench-memory', sessionLimit: 10 * P.sessions, simBaseUrl: sim.baseUrl, simKey });
    const key: string = account.api_key;

    // ---------------------------------------------------------------- texts: a few distinct bodies, each append made unique by a header
    // append_tokens words, cut to at most append_tokens - 40 tokens (room for the header).
    const texts = Array.from({ length: P.distinct_texts }, (_, k) => textOfTokens(1000 + k, P.append_tokens - 40, P.append_tokens));

    // ---------------------------------------------------------------- build
    console.log(`build: ${P.sessions} sessions x ${P.appends} appends (generate: false), ${P.build_concurrency} sessions at a time`);
    const tb = Date.now();
    let built = 0;
    const build = await watched(() =>
      mapLimit(Array.from({ length: P.sessions }), P.build_concurrency, async (_, i) => {
        const s = await httpJson(svc.url, 'POST', '/v1/sessions', key, { system: SYSTEM, title: `memory ${i}`, policy: { auto_compact: false } }, 201);
        let windowTokens = 0;
        for (let j = 0; j < P.appends; j++) {
          const role = j % 2 === 0 ? 'user' : 'assistant';
          const content = `[session ${i}, part ${j + 1}] ${texts[(i * P.appends + j) % texts.length]}`;
          const r = await httpJson(svc.url, 'POST', `/v1/sessions/${s.id}/messages`, key, { messages: [{ role, content }], generate: false });
          windowTokens = r.session_usage.window_tokens;
        }
        if (++built % Math.max(1, Math.floor(P.sessions / 4)) === 0) console.log(`  ${built}/${P.sessions} sessions (${((Date.now() - tb) / 1000).toFixed(0)} s)`);
        return { id: s.id as string, windowTokens };
      }),
    );
    const sessions = build.value;
    const buildS = (Date.now() - tb) / 1000;
    const wt = sessions.map((s) => s.windowTokens).sort((a, b) => a - b);
    console.log(`build: done in ${buildS.toFixed(1)} s; window tokens per session ${wt[0]}..${wt[wt.length - 1]}; RSS peak while building ${build.peak_rss_mb} MB`);
    const afterBuild = await mark('built');
    const idle1 = await idle(P.idle_s);
    const afterIdle = await mark(`idle ${idle1.seconds} s`);

    // ---------------------------------------------------------------- one turn on each of 100 sessions
    const step = Math.max(1, Math.floor(sessions.length / P.turns));
    const picked = Array.from({ length: Math.min(P.turns, sessions.length) }, (_, k) => sessions[(k * step) % sessions.length]);
    const before = sim.stats().keys[simKey] ?? { requests: 0, prompt_tokens: 0 };
    const tt = Date.now();
    const turns = await watched(() =>
      mapLimit(picked, P.turn_concurrency, async (s, k) => {
        const r = await httpJson(svc.url, 'POST', `/v1/sessions/${s.id}/messages`, key, { messages: [{ role: 'user', content: `Question ${k}: which river is named most often above?` }], max_tokens: 16 });
        return r.session_usage.window_tokens as number;
      }),
    );
    const after = sim.stats().keys[simKey] ?? { requests: 0, prompt_tokens: 0 };
    const meanPrompt = Math.round((after.prompt_tokens - before.prompt_tokens) / Math.max(1, after.requests - before.requests));
    console.log(`turns: ${picked.length} in ${((Date.now() - tt) / 1000).toFixed(1)} s, mean prompt ${meanPrompt} tokens upstream`);
    const afterTurns = await mark(`after ${picked.length} turns`);
    const idle2 = await idle(P.idle_s);
    const afterIdle2 = await mark(`idle ${idle2.seconds} s again`);

    // ---------------------------------------------------------------- what Postgres holds
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    let dbFigures: { sessions: number; messages: number; content_mb: number; database_mb: number } | null = null;
    try {
      const [r] = (
        await pg.query(
          `SELECT (SELECT count(*)::int FROM sessions) AS sessions, (SELECT count(*)::int FROM messages) AS messages,
                  (SELECT coalesce(sum(octet_length(content)), 0)::bigint FROM messages) AS content_bytes, pg_database_size(current_database()) AS db_bytes`,
        )
      ).rows;
      dbFigures = { sessions: r.sessions, messages: r.messages, content_mb: round(Number(r.content_bytes) / 2 ** 20, 1), database_mb: round(Number(r.db_bytes) / 2 ** 20, 1) };
    } finally {
      await pg.end();
    }

    // ---------------------------------------------------------------- report
    const measured = [afterBuild, afterIdle, afterTurns, afterIdle2];
    const worst = Math.max(...measured.map((p) => p.rss_mb));
    const targets = [
      { name: `RSS with ${P.sessions} idle sessions (after idle)`, target: `< ${TARGET_MB} MB`, value: afterIdle.rss_mb, pass: afterIdle.rss_mb < TARGET_MB },
      { name: `RSS after ${picked.length} turns and idle`, target: `< ${TARGET_MB} MB`, value: afterIdle2.rss_mb, pass: afterIdle2.rss_mb < TARGET_MB },
      // Transient: right after the last append, before the heap has been collected; not the idle figure the target is about.
      { name: 'reference: highest RSS after building (transient)', target: `< ${TARGET_MB} MB`, value: worst, pass: null as boolean | null },
      { name: 'reference: peak RSS while building (VmHWM)', target: '-', value: afterIdle2.hwm_mb, pass: null as boolean | null },
    ];
    const out: string[] = [''];
    out.push(`Service RSS (VmRSS of pid ${svc.pid}), MB`);
    out.push(
      formatTable(
        ['point', 't (s)', 'RSS MB', 'peak so far MB', 'V8 heap used MB', 'RSS - baseline MB'],
        points.map((p) => [p.phase, p.at_s, p.rss_mb, p.hwm_mb, p.heap_used_mb ?? '-', round(p.rss_mb - baseline.rss_mb, 1)]),
      ),
    );
    out.push(`idle periods: lowest RSS ${idle1.min} MB (first), ${idle2.min} MB (second); peak RSS while building ${build.peak_rss_mb} MB`);
    out.push(
      `held in Postgres: ${dbFigures?.sessions} sessions, ${dbFigures?.messages} messages, ${dbFigures?.content_mb} MB of message text (database ${dbFigures?.database_mb} MB); ` +
        `window ${wt[0]}..${wt[wt.length - 1]} tokens per session; mean upstream prompt of the turns ${meanPrompt} tokens`,
    );
    out.push('');
    out.push('Targets (BENCH.md)');
    out.push(formatTable(['figure', 'target', 'measured MB', 'result'], targets.map((t) => [t.name, t.target, fmtMs(t.value, 1), passFail(t.pass)])));
    out.push('');
    finishRun('memory', { machine, commit, started }, out, P, {
      method: {
        service: 'node dist/apps/orchestrator/src/main.js as a child process (PORT=0, URL from the banner), service defaults otherwise; kimi-sim in the bench process',
        rss: 'VmRSS from /proc/<pid>/status; VmHWM as the peak; V8 heap used from the service /metrics',
        build: 'sessions with policy.auto_compact false; appends with generate:false of ~append_tokens tokens each (distinct header per append over a few distinct bodies)',
        turns: 'one generated turn (max_tokens 16) on each of `turns` sessions spread over the set',
      },
      points,
      idle: { first: idle1, second: idle2 },
      build: { seconds: round(buildS, 1), peak_rss_mb: build.peak_rss_mb, window_tokens: { min: wt[0], max: wt[wt.length - 1] } },
      turns: { count: picked.length, peak_rss_mb: turns.peak_rss_mb, mean_prompt_tokens: meanPrompt },
      database: dbFigures,
      targets,
    });
    return 0;
  });
}

if (require.main === module) runBench(main);
