// State-ops bench: snapshot, truncate, restore and fork on sessions whose window holds ~1K, ~32K and
// ~256K tokens. The target (BENCH.md) is flat: time at 256K / time at 1K <= 1.5 per op, because these
// operations should be metadata work only (a window spec and a token count), never a copy of the text.
//
//   npm run bench:state-ops                  full run (200 rounds, ~1 min on 2 cores)
//   BENCH_QUICK=1 npm run bench:state-ops    30 rounds, ~15 s
//
// Method (see docs/benchmarks.md): kimi-sim and the service run in this process on a scratch
// database of the real Postgres. One session per size is built with `generate: false` appends (no
// upstream calls) and `policy.auto_compact: false`. Each round visits every size (the order rotates
// from round to round so no size always goes first) and on each size runs, one request at a time:
//   snapshot  POST /v1/sessions/{id}/snapshots
//   truncate  POST /v1/sessions/{id}/truncate {preserve_len: 4096}
//   restore   POST /v1/sessions/{id}/restore {snapshot_id: the snapshot of this round} (undoes the
//             truncate, so every round truncates the same full window)
//   fork      POST /v1/snapshots/{that snapshot}/fork (the fork is closed afterwards, untimed)
//   context   GET  /v1/sessions/{id}/context: a reference that reads the whole window; not a target
// Time = client-side wall time of the HTTP call including reading the body. Per op and size: median over
// rounds [min..max]; ratio 256K/1K as the ratio of the medians and as the median of per-round ratios.
// Env: BENCH_QUICK=1, BENCH_ROUNDS, BENCH_SIZES (window targets in tokens, default 1000,32000,252000).
import { randomBytes } from 'node:crypto';
import { announceRun, createBenchAccount, loadTokenText, runBench, saveBenchResults, startInProcessStack, withCleanups } from './bench-stack';
import { envFlag, envNumber, envNumberList, fmtMs, fmtSpread, formatTable, medianSpread, passFail, round, Spread, timedHttpJson } from './bench-util';

const CONTEXT_WINDOW = 262_144;
const APPEND_TOKENS = 7_800; // under the 8,192-token append limit
const TAIL_TOKENS = 6_000;
const OPS = ['snapshot', 'truncate', 'restore', 'fork'] as const;
const REF_OPS = ['context'] as const;
type Op = (typeof OPS)[number] | (typeof REF_OPS)[number];
const ALL_OPS: Op[] = [...OPS, ...REF_OPS];
const TARGET_RATIO = 1.5;

function label(tokens: number): string {
  // ~256K: the largest window that still leaves an 8,192-token reply reserve in a 262,144 context.
  if (tokens >= 250_000) return '256K';
  return tokens >= 1000 ? `${Math.round(tokens / 1000)}K` : String(tokens);
}

interface Params {
  quick: boolean;
  rounds: number;
  warmup_rounds: number;
  sizes: number[];
  preserve_len: number;
}

function params(): Params {
  const quick = envFlag('BENCH_QUICK');
  const sizes = envNumberList('BENCH_SIZES', [1_000, 32_000, 252_000]);
  for (const s of sizes) if (s + 8_192 > CONTEXT_WINDOW) throw new Error(`BENCH_SIZES: ${s} + an 8,192 reply reserve does not fit the ${CONTEXT_WINDOW}-token context`);
  return { quick, rounds: envNumber('BENCH_ROUNDS', quick ? 30 : 200), warmup_rounds: quick ? 3 : 5, sizes, preserve_len: 4_096 };
}

async function main(): Promise<number> {
  const P = params();
  const { machine, commit, started } = announceRun('state-ops bench: snapshot / truncate / restore / fork vs window size', [`mode:    ${P.quick ? 'BENCH_QUICK' : 'full'}, ${P.rounds} rounds (+${P.warmup_rounds} warm-up)`]);
  return withCleanups('state-ops', async (cleanups) => {
    const { sim, handle } = await startInProcessStack(cleanups, { sim: { replyTokens: 16 } });
    const { countTokens, textOfTokens } = await loadTokenText();

    const call = (method: string, path: string, key: string, body?: unknown, expect = 200) => timedHttpJson(handle.url, method, path, key, body, expect);
    const simKey = `sim-bench-state-${randomBytes(4).toString('hex')}`;
    const account = await createBenchAccount(handle.url, { name: 'bench-state-ops', sessionLimit: 100_000, simBaseUrl: sim.baseUrl, simKey });
    const apiKey: string = account.api_key;

    // ---------------------------------------------------------------- build one session per size
    console.log('setup: building windows with generate:false appends ...');
    const SYSTEM = 'You are a terse assistant. Answer in one short sentence.';
    const sessions: Array<{ label: string; target: number; id: string; windowTokens: number; messages: number; appends: number; buildMs: number }> = [];
    for (const [i, target] of P.sizes.entries()) {
      const t0 = performance.now();
      const s = (await call('POST', '/v1/sessions', apiKey, { system: SYSTEM, policy: { auto_compact: false } }, 201)).body;
      let windowTokens = 0;
      let appends = 0;
      // Bulk of big messages, then a tail of ~500-token messages longer than preserve_len, so the
      // truncate cuts inside the same kind of tail at every size (at 1K there is nothing to cut).
      const tailStart = target > 4 * TAIL_TOKENS ? target - TAIL_TOKENS : 0;
      const systemTokens = countTokens(SYSTEM) + 4;
      while (windowTokens < target - 64 || appends % 2 === 1) {
        const have = Math.max(windowTokens, systemTokens);
        const inTail = have >= tailStart;
        const chunk = inTail ? (tailStart > 0 ? 500 : Math.ceil(target / 4)) : APPEND_TOKENS;
        const want = Math.max(32, Math.min(chunk, (inTail ? target : tailStart) - have));
        const role = appends % 2 === 0 ? 'user' : 'assistant';
        const r = (await call('POST', `/v1/sessions/${s.id}/messages`, apiKey, { messages: [{ role, content: textOfTokens((i + 1) * 10_000 + appends, want - 8) }], generate: false })).body;
        windowTokens = r.session_usage.window_tokens;
        appends++;
        if (appends > 200) throw new Error(`window ${target}: still ${windowTokens} tokens after 200 appends`);
      }
      if (windowTokens + 8_192 > CONTEXT_WINDOW) throw new Error(`window ${target}: built ${windowTokens} tokens, over the context minus a reply reserve`);
      sessions.push({ label: label(target), target, id: s.id, windowTokens, messages: appends, appends, buildMs: Math.round(performance.now() - t0) });
    }
    console.log('setup: ' + sessions.map((s) => `${s.label}: ${s.windowTokens} tokens in ${s.messages} messages (${(s.buildMs / 1000).toFixed(1)} s)`).join('; '));

    // ---------------------------------------------------------------- one round on one session
    interface RoundResult {
      ms: Record<Op, number>;
      bytes: Record<Op, number>;
      truncated_to: number;
      restored_to: number;
      fork_window: number;
      ok: boolean;
      problem: string | null;
    }
    const runRound = async (s: (typeof sessions)[number], r: number): Promise<RoundResult> => {
      const ms = {} as Record<Op, number>;
      const bytes = {} as Record<Op, number>;
      const snap = await call('POST', `/v1/sessions/${s.id}/snapshots`, apiKey, { label: `bench r${r}` }, 201);
      ms.snapshot = snap.ms;
      bytes.snapshot = snap.bytes;
      const tr = await call('POST', `/v1/sessions/${s.id}/truncate`, apiKey, { preserve_len: P.preserve_len });
      ms.truncate = tr.ms;
      bytes.truncate = tr.bytes;
      const rs = await call('POST', `/v1/sessions/${s.id}/restore`, apiKey, { snapshot_id: snap.body.id });
      ms.restore = rs.ms;
      bytes.restore = rs.bytes;
      const fk = await call('POST', `/v1/snapshots/${snap.body.id}/fork`, apiKey, {}, 201);
      ms.fork = fk.ms;
      bytes.fork = fk.bytes;
      await call('DELETE', `/v1/sessions/${fk.body.id}`, apiKey);
      const cx = await call('GET', `/v1/sessions/${s.id}/context`, apiKey);
      ms.context = cx.ms;
      bytes.context = cx.bytes;

      const truncatedTo: number = tr.body.tokens?.total ?? NaN;
      const restoredTo: number = rs.body.usage?.window_tokens ?? NaN;
      const forkWindow: number = fk.body.usage?.window_tokens ?? NaN;
      const problems: string[] = [];
      if (snap.body.window_tokens !== s.windowTokens) problems.push(`snapshot window ${snap.body.window_tokens} != ${s.windowTokens}`);
      if (s.windowTokens > P.preserve_len + 1_000 && !(truncatedTo <= P.preserve_len + 1_000)) problems.push(`truncate left ${truncatedTo} tokens`);
      if (restoredTo !== s.windowTokens) problems.push(`restore gave ${restoredTo} != ${s.windowTokens}`);
      if (forkWindow !== s.windowTokens) problems.push(`fork window ${forkWindow} != ${s.windowTokens}`);
      if (cx.body.tokens?.total !== s.windowTokens) problems.push(`context after restore ${cx.body.tokens?.total} != ${s.windowTokens}`);
      return { ms, bytes, truncated_to: truncatedTo, restored_to: restoredTo, fork_window: forkWindow, ok: problems.length === 0, problem: problems.join('; ') || null };
    };

    // ---------------------------------------------------------------- interleaved rounds
    const results = new Map<string, RoundResult[]>(sessions.map((s) => [s.label, []]));
    const problems: string[] = [];
    const total = P.warmup_rounds + P.rounds;
    console.log(`rounds: ${P.rounds} (+${P.warmup_rounds} warm-up), sizes ${sessions.map((s) => s.label).join('/')} interleaved, order rotating per round`);
    for (let r = 0; r < total; r++) {
      const order = sessions.map((_, i) => sessions[(i + r) % sessions.length]);
      for (const s of order) {
        const res = await runRound(s, r);
        if (!res.ok) problems.push(`round ${r} ${s.label}: ${res.problem}`);
        if (r >= P.warmup_rounds) results.get(s.label)!.push(res);
      }
      if (r >= P.warmup_rounds && ((r - P.warmup_rounds + 1) % Math.max(1, Math.floor(P.rounds / 6)) === 0 || r === total - 1)) {
        console.log(
          `  round ${r - P.warmup_rounds + 1}/${P.rounds}: ` +
            sessions.map((s) => `${s.label} ` + OPS.map((op) => `${op} ${fmtMs(results.get(s.label)!.at(-1)!.ms[op])}`).join(' ')).join(' | ') +
            ' ms',
        );
      }
    }

    // ---------------------------------------------------------------- figures
    const perSize = sessions.map((s) => {
      const rr = results.get(s.label)!;
      const ops = {} as Record<Op, Spread & { p90: number; response_bytes: number }>;
      for (const op of ALL_OPS) {
        const values = rr.map((x) => x.ms[op]);
        const sorted = [...values].sort((a, b) => a - b);
        ops[op] = { ...medianSpread(values), p90: round(sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]), response_bytes: rr[0]?.bytes[op] ?? 0 };
      }
      return { label: s.label, target_tokens: s.target, window_tokens: s.windowTokens, messages: s.messages, build_ms: s.buildMs, truncated_to_tokens: rr[0]?.truncated_to ?? null, ops };
    });
    const small = perSize[0];
    const large = perSize[perSize.length - 1];
    const ratios = ALL_OPS.map((op) => {
      const ofMedians = round(large.ops[op].median / small.ops[op].median, 2);
      const perRound = medianSpread(results.get(large.label)!.map((x, i) => x.ms[op] / results.get(small.label)![i].ms[op]), 2);
      const isTarget = (OPS as readonly string[]).includes(op);
      // Largest vs the middle size: at 1K the truncate has nothing to cut, at 32K and 256K it cuts the same tail.
      const mid = perSize.length > 2 ? perSize[perSize.length - 2] : null;
      const vsMid = mid ? round(large.ops[op].median / mid.ops[op].median, 2) : null;
      return { op, reference: !isTarget, ratio_of_medians: ofMedians, per_round_ratio: perRound, ratio_vs_middle_size: vsMid, middle_size: mid?.label ?? null, target: isTarget ? TARGET_RATIO : null, pass: isTarget ? ofMedians <= TARGET_RATIO : null };
    });

    // ---------------------------------------------------------------- report
    const out: string[] = [''];
    out.push(`Time per operation (ms, client wall time, median over ${P.rounds} rounds [min..max])`);
    out.push(
      formatTable(
        ['op', ...perSize.map((p) => `${p.label} (${p.window_tokens} tok)`)],
        ALL_OPS.map((op) => [(REF_OPS as readonly string[]).includes(op) ? `${op} (reference)` : op, ...perSize.map((p) => fmtSpread(p.ops[op]))]),
      ),
    );
    out.push('');
    out.push(`Ratio time@${large.label} / time@${small.label} (target <= ${TARGET_RATIO} for the four state ops; context reads the whole window and is shown for scale)`);
    out.push(
      formatTable(
        ['op', 'ratio of medians', 'per-round ratio', `${large.label}/${perSize.length > 2 ? perSize[perSize.length - 2].label : '-'}`, `response bytes ${small.label}/${large.label}`, 'result'],
        ratios.map((r) => [
          r.reference ? `${r.op} (reference)` : r.op,
          r.ratio_of_medians.toFixed(2),
          fmtSpread(r.per_round_ratio),
          r.ratio_vs_middle_size === null ? '-' : r.ratio_vs_middle_size.toFixed(2),
          `${small.ops[r.op].response_bytes}/${large.ops[r.op].response_bytes}`,
          r.reference ? 'n/a' : passFail(r.pass),
        ]),
      ),
    );
    out.push('');
    out.push(`truncate preserve_len ${P.preserve_len}: window after cut ${perSize.map((p) => `${p.label} ${p.truncated_to_tokens}`).join(', ')} tokens (at ${small.label} nothing is cut)`);
    out.push(`checks (snapshot/restore/fork windows equal the source, truncate cuts): ${problems.length ? `${problems.length} FAILED, first: ${problems[0]}` : 'all passed'}`);
    const totalS = (Date.now() - started) / 1000;
    out.push(`total ${totalS.toFixed(0)} s`);
    console.log(out.join('\n'));

    saveBenchResults('state-ops', { machine, commit, started, totalS, parameters: P }, {
      method: {
        setup: 'one session per size, built with POST messages {generate:false} (auto_compact false), kimi-sim and service in-process, scratch database on the real Postgres',
        round: 'per size: snapshot; truncate {preserve_len}; restore to that snapshot (undoes the truncate); fork that snapshot (fork closed after, untimed); GET context as reference. Sizes interleaved in every round, order rotating',
        time: 'client wall time of one HTTP call (keep-alive fetch) including reading the body',
        ratio: 'median@largest / median@smallest per op; also the median [min..max] of the per-round ratios',
      },
      sizes: perSize,
      ratios,
      checks: { failed: problems.length, problems: problems.slice(0, 20) },
    });
    return problems.length ? 1 : 0;
  });
}

if (require.main === module) runBench(main);
