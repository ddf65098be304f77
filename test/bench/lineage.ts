// Lineage bench: reading the tree of a root with 10,000 descendants vs reading one session.
// Target (BENCH.md): GET /v1/sessions/{root}/lineage time / GET /v1/sessions/{root} time <= 20.
//
//   npm run bench:lineage                  full run: 40 rounds (~1.5 min on 2 cores)
//   BENCH_QUICK=1 npm run bench:lineage    10 rounds (~30 s)
//
// Method (see docs/benchmarks.md): the service runs as its own process (`node dist/apps/orchestrator/
// src/main.js`) on a scratch database of the real Postgres; kimi-sim runs in this process (unused but
// configured). Each root is created through the API; its tree is inserted with SQL in a few statements,
// copying the root's row the way a fork does (same account, role standalone, parent_id, root_id = the
// root, parked): 100 children, each with 99 children: 1 + 100 + 9,900 = 10,001 sessions.
//   plain     the tree as described (sessions only)
//   snapshots the same shape under a second root, plus one snapshot per session (reason 'fork'): what a
//             tree grown by real forks carries, since each fork is taken from a snapshot. Reported, not
//             the target.
// Each round, in order: 5 single reads of the plain root (GET /v1/sessions/{root}, their median is the
// round's single-read time), one lineage read of the plain tree, one of the snapshots tree. Time =
// client wall time of the HTTP call including reading the whole body. Ratio per round = lineage time /
// that round's single-read median; reported as median over rounds [min..max], with the ratio of the
// medians beside it. Warm-up rounds are not counted.
// Env: BENCH_QUICK=1, BENCH_ROUNDS, BENCH_CHILDREN (100), BENCH_GRANDCHILDREN (99), BENCH_SINGLE_READS (5).
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { announceRun, createBenchAccount, finishRun, runBench, startServiceStack, withCleanups } from './bench-stack';
import { envFlag, envNumber, fmtMs, fmtSpread, formatTable, httpJson, medianSpread, passFail, percentile, round, summarize, timedHttpJson } from './bench-util';

const TARGET_RATIO = 20;

function params() {
  const quick = envFlag('BENCH_QUICK');
  return {
    quick,
    rounds: envNumber('BENCH_ROUNDS', quick ? 10 : 40),
    warmup_rounds: quick ? 2 : 3,
    children: envNumber('BENCH_CHILDREN', 100),
    grandchildren: envNumber('BENCH_GRANDCHILDREN', 99),
    single_reads: envNumber('BENCH_SINGLE_READS', 5),
  };
}

async function main(): Promise<number> {
  const P = params();
  const total = 1 + P.children + P.children * P.grandchildren;
  const { machine, commit, started } = announceRun('lineage bench: tree read vs single session read', [
    `mode:    ${P.quick ? 'BENCH_QUICK' : 'full'}, ${P.rounds} rounds (+${P.warmup_rounds} warm-up), tree 1 + ${P.children} + ${P.children} x ${P.grandchildren} = ${total} sessions`,
  ]);
  return withCleanups('lineage', async (cleanups) => {
    const { db, sim, svc } = await startServiceStack(cleanups);
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    cleanups.push('close database connection', () => pg.end());

    const account = await createBenchAccount(svc.url, { name: 'bench-lineage', sessionLimit: 1_000, simBaseUrl: sim.baseUrl, simKey: `sim-lineage-${randomBytes(3).toString('hex')}` });
    const key: string = account.api_key;
    const timedGet = (path: string) => timedHttpJson(svc.url, 'GET', path, key);

    // ---------------------------------------------------------------- build the trees
    const COPY = `account_id, model, system, system_tokens, tools, tools_tokens, fragment_refs, history_bases, policy, "window", window_tokens`;
    const buildTree = async (label: string, withSnapshots: boolean) => {
      const t0 = performance.now();
      const root = await httpJson(svc.url, 'POST', '/v1/sessions', key, { title: `${label} root`, system: 'You are a terse assistant.' }, 201);
      await pg.query('BEGIN');
      try {
        await pg.query(
          `INSERT INTO sessions (id, parent_id, root_id, role, status, title, metadata, ${COPY})
           SELECT gen_random_uuid(), r.id, r.id, 'standalone', 'parked', 'child ' || g, '{}'::jsonb, ${COPY.split(', ').map((c) => `r.${c}`).join(', ')}
           FROM sessions r, generate_series(1, $2::int) g WHERE r.id = $1`,
          [root.id, P.children],
        );
        await pg.query(
          `INSERT INTO sessions (id, parent_id, root_id, role, status, title, metadata, ${COPY})
           SELECT gen_random_uuid(), c.id, c.root_id, 'standalone', 'parked', c.title || '.' || g, '{}'::jsonb, ${COPY.split(', ').map((x) => `c.${x}`).join(', ')}
           FROM sessions c, generate_series(1, $2::int) g WHERE c.parent_id = $1`,
          [root.id, P.grandchildren],
        );
        if (withSnapshots) {
          await pg.query(
            `INSERT INTO snapshots (id, session_id, account_id, at_seq, "window", window_tokens, fragment_refs, reason, label)
             SELECT gen_random_uuid(), s.id, s.account_id, s.last_seq, s."window", s.window_tokens, s.fragment_refs, 'fork', NULL FROM sessions s WHERE s.root_id = $1`,
            [root.id],
          );
        }
        await pg.query('COMMIT');
      } catch (err) {
        await pg.query('ROLLBACK');
        throw err;
      }
      await pg.query('ANALYZE sessions');
      await pg.query('ANALYZE snapshots');
      const [{ n }] = (await pg.query('SELECT count(*)::int AS n FROM sessions WHERE root_id = $1', [root.id])).rows;
      const [{ s }] = (await pg.query('SELECT count(*)::int AS s FROM snapshots WHERE session_id IN (SELECT id FROM sessions WHERE root_id = $1)', [root.id])).rows;
      return { label, root: root.id as string, sessions: n as number, snapshots: s as number, build_ms: round(performance.now() - t0, 0) };
    };
    const plain = await buildTree('plain', false);
    const snaps = await buildTree('snapshots', true);
    for (const t of [plain, snaps]) {
      if (t.sessions !== total) throw new Error(`${t.label}: built ${t.sessions} sessions, expected ${total}`);
      console.log(`setup: ${t.label} tree: ${t.sessions} sessions, ${t.snapshots} snapshots in ${(t.build_ms / 1000).toFixed(1)} s`);
    }

    // ---------------------------------------------------------------- rounds
    type Round = { single_bytes: number; single_ms: number; single_all: number[]; plain_ms: number; snaps_ms: number; plain_bytes: number; snaps_bytes: number };
    const rounds: Round[] = [];
    const check = (body: any, t: typeof plain) => {
      if (body.total_sessions !== total || body.root?.id !== t.root || body.root?.children?.length !== P.children) {
        throw new Error(`${t.label}: lineage answered total_sessions ${body.total_sessions}, ${body.root?.children?.length} children`);
      }
    };
    console.log(`rounds: ${P.rounds} (+${P.warmup_rounds} warm-up): ${P.single_reads} single reads, lineage plain, lineage with snapshots`);
    for (let r = 0; r < P.warmup_rounds + P.rounds; r++) {
      const singles: number[] = [];
      let singleBytes = 0;
      for (let i = 0; i < P.single_reads; i++) {
        const x = await timedGet(`/v1/sessions/${plain.root}`);
        if (x.body.id !== plain.root) throw new Error('single read returned another session');
        singles.push(x.ms);
        singleBytes = x.bytes;
      }
      const a = await timedGet(`/v1/sessions/${plain.root}/lineage`);
      const b = await timedGet(`/v1/sessions/${snaps.root}/lineage`);
      if (r === 0) {
        check(a.body, plain);
        check(b.body, snaps);
      }
      const row = { single_bytes: singleBytes, single_ms: percentile(singles, 50), single_all: singles, plain_ms: a.ms, snaps_ms: b.ms, plain_bytes: a.bytes, snaps_bytes: b.bytes };
      if (r >= P.warmup_rounds) rounds.push(row);
      if (r < P.warmup_rounds || (r - P.warmup_rounds) % Math.max(1, Math.floor(P.rounds / 5)) === 0 || r === P.warmup_rounds + P.rounds - 1) {
        console.log(
          `  ${r < P.warmup_rounds ? 'warm-up' : 'round'} ${r < P.warmup_rounds ? r + 1 : r - P.warmup_rounds + 1}: single ${fmtMs(row.single_ms)} ms, lineage ${fmtMs(row.plain_ms, 1)} ms (${(a.bytes / 1e6).toFixed(2)} MB), with snapshots ${fmtMs(row.snaps_ms, 1)} ms (${(b.bytes / 1e6).toFixed(2)} MB)`,
        );
      }
    }

    // ---------------------------------------------------------------- report
    const single = medianSpread(rounds.map((x) => x.single_ms));
    const plainMs = medianSpread(rounds.map((x) => x.plain_ms), 1);
    const snapsMs = medianSpread(rounds.map((x) => x.snaps_ms), 1);
    const ratioPlain = medianSpread(rounds.map((x) => x.plain_ms / x.single_ms), 1);
    const ratioSnaps = medianSpread(rounds.map((x) => x.snaps_ms / x.single_ms), 1);
    const ratioOfMedians = { plain: round(plainMs.median / single.median, 1), snapshots: round(snapsMs.median / single.median, 1) };
    const targets = [
      { name: 'lineage / single read (10,001 sessions)', target: `<= ${TARGET_RATIO}`, value: ratioPlain.median, pass: ratioPlain.median <= TARGET_RATIO },
      { name: 'same, tree with one snapshot per session (reference)', target: `<= ${TARGET_RATIO}`, value: ratioSnaps.median, pass: ratioSnaps.median <= TARGET_RATIO },
    ];
    const out: string[] = [''];
    out.push(`ms, median over ${rounds.length} rounds [min..max]; ratio = lineage / the round's single-read median`);
    out.push(
      formatTable(
        ['read', 'sessions', 'snapshots', 'body MB', 'time ms', 'ratio (per round)', 'ratio of medians'],
        [
          ['GET /v1/sessions/{root}', 1, 0, round(rounds[0].single_bytes / 1e6, 4), fmtSpread(single), '1', '1'],
          ['lineage, plain tree', plain.sessions, plain.snapshots, round(rounds[0].plain_bytes / 1e6, 2), fmtSpread(plainMs, 1), fmtSpread(ratioPlain, 1), ratioOfMedians.plain],
          ['lineage, 1 snapshot/session', snaps.sessions, snaps.snapshots, round(rounds[0].snaps_bytes / 1e6, 2), fmtSpread(snapsMs, 1), fmtSpread(ratioSnaps, 1), ratioOfMedians.snapshots],
        ],
      ),
    );
    out.push('');
    out.push('Targets (BENCH.md)');
    out.push(formatTable(['figure', 'target', 'measured', 'result'], targets.map((t) => [t.name, t.target, t.value.toFixed(1), passFail(t.pass)])));
    out.push('');
    out.push(`per-session cost: plain ${fmtMs((plainMs.median / plain.sessions) * 1000, 1)} us, with snapshots ${fmtMs((snapsMs.median / snaps.sessions) * 1000, 1)} us per session`);
    finishRun('lineage', { machine, commit, started }, out, P, {
      method: {
        service: 'node dist/apps/orchestrator/src/main.js as a child process; scratch database on the real Postgres',
        tree: 'root created with POST /v1/sessions; descendants inserted with SQL copying the root row (role standalone, parked, parent_id, root_id = root); second tree adds one snapshot per session (reason fork)',
        timing: 'client wall time of GET including the whole body; per round: median of single reads, then one lineage read per tree; ratio per round',
      },
      trees: [plain, snaps],
      single_read_ms: single,
      single_read_all: summarize(rounds.flatMap((x) => x.single_all)),
      lineage_ms: { plain: plainMs, snapshots: snapsMs },
      ratio: { plain: ratioPlain, snapshots: ratioSnaps },
      ratio_of_medians: ratioOfMedians,
      body_bytes: { plain: rounds[0]?.plain_bytes, snapshots: rounds[0]?.snaps_bytes },
      targets,
    });
    return 0;
  });
}

if (require.main === module) runBench(main);
