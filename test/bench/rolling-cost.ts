// Rolling-cost bench: what 100 scripted rounds cost under three context policies, billed by kimi-sim at
// Kimi prices with prefix caching, and how many planted facts are still in the window at the end.
//
//   npm run bench:rolling-cost                  the 100-round run at trigger 40K, then a trigger sweep (~1 min)
//   BENCH_QUICK=1 npm run bench:rolling-cost    the 100-round run only (~15 s; costs are deterministic, so
//                                               quick mode gives the same numbers as the main run)
//
// Script (BENCH.md "rolling cost"): a ~2K-token system prompt; every round one ~200-token user message
// and an 800-token reply (kimi-sim replyTokens 800, max_tokens 800); every 5th round the user message
// carries a fact on its own line: `FACT-<n>: the deploy token for service s<n> is K<n>X.`
// Policies, each on its own kimi-sim API key so the sim's per-key stats separate cleanly, run
// interleaved round by round (full, sliding, ours in every round):
//   full     a service session with auto_compact false: exactly "the client resends the full history"
//            (the service sends system + every message), with the sim's prefix caching.
//   sliding  the client talks to kimi-sim directly (openai SDK) and sends system + the newest whole
//            rounds that fit a budget equal to our trigger (window + max_tokens <= trigger_tokens, the
//            same test as the rolling policy). Once full it drops the oldest round every round, so
//            the cached prefix ends right after the system prompt.
//   ours     a service session with the rolling policy scaled to the run: trigger_tokens (40K by
//            default, so it compacts several times in 100 rounds), keep_rounds 3, compress_ratio 4.
//            Its cost includes the compression calls (same sim key, x-purpose: compress).
// Fact survival: share of planted facts whose line is verbatim in the final window: GET context (which
// includes outlines) for full and ours, the last request's messages for sliding.
// Env: BENCH_QUICK=1, BENCH_ROUNDS, BENCH_TRIGGER_TOKENS, BENCH_FACT_EVERY, BENCH_SWEEP_TRIGGERS (full mode).
import { randomBytes } from 'node:crypto';
import { announceRun, createBenchAccount, loadTokenText, runBench, saveBenchResults, startInProcessStack, withCleanups } from './bench-stack';
import { envFlag, envNumber, envNumberList, fmtMs, formatTable, httpJson, interleave, medianSpread, passFail, round } from './bench-util';

const MODEL = 'kimi-k2-0905-preview';
const POLICIES = ['full', 'sliding', 'ours'] as const;
type Policy = (typeof POLICIES)[number];
const TARGET_COST_RATIO = 0.5;
const TARGET_SURVIVAL = 0.95;
/** SEED.md, "Modelled for 100 rounds" (USD). */
const SEED_MODEL = { full: 0.82, sliding: 1.37, chunked_cut: 0.4 };
/** The sim's per-message overhead on top of content tokens (kimi-sim README, "Usage"). */
const SIM_MESSAGE_OVERHEAD = 4;


interface Params {
  quick: boolean;
  rounds: number;
  system_tokens: number;
  user_tokens: number;
  reply_tokens: number;
  fact_every: number;
  policy: { auto_compact: boolean; trigger_tokens: number; keep_rounds: number; compress_ratio: number };
  /** Full mode: the same script again at these triggers (the main trigger is not repeated). */
  sweep_triggers: number[];
}

function params(): Params {
  const quick = envFlag('BENCH_QUICK');
  const trigger = envNumber('BENCH_TRIGGER_TOKENS', 40_000);
  return {
    quick,
    rounds: envNumber('BENCH_ROUNDS', 100),
    system_tokens: 2_000,
    user_tokens: 200,
    reply_tokens: 800,
    fact_every: envNumber('BENCH_FACT_EVERY', 5),
    policy: { auto_compact: true, trigger_tokens: trigger, keep_rounds: 3, compress_ratio: 4 },
    sweep_triggers: quick ? [] : envNumberList('BENCH_SWEEP_TRIGGERS', [16_000, 24_000, 32_000, 64_000]),
  };
}

interface ChatMsg {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

interface TurnFigures {
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  ms: number;
  /** Messages sent upstream for the chat call (sliding: counted client-side; service: window after the turn). */
  window_tokens: number;
  compaction: Record<string, unknown> | null;
}

const factLine = (n: number) => `FACT-${n}: the deploy token for service s${n} is K${n}X.`;

async function main(): Promise<number> {
  const P = params();
  const { machine, commit, started } = announceRun('rolling-cost bench: full history vs one-turn sliding window vs cache-aware rolling policy', [
    `mode:    ${P.quick ? 'BENCH_QUICK' : 'full'}: ${P.rounds} rounds, system ~${P.system_tokens}, user ~${P.user_tokens}, reply ${P.reply_tokens} tokens, a fact every ${P.fact_every} rounds; trigger_tokens ${P.policy.trigger_tokens}, keep_rounds ${P.policy.keep_rounds}, compress_ratio ${P.policy.compress_ratio}`,
  ]);
  return withCleanups('rolling-cost', async (cleanups) => {
    const { KIMI_MODELS } = await import('@so/kimi-sim');
    const { countTokens, textOfTokens } = await loadTokenText();
    const { default: OpenAI } = await import('openai');
    const prices = KIMI_MODELS.find((m) => m.id === MODEL)!;
    const priced = (prompt: number, cached: number, completion: number) =>
      ((prompt - cached) * prices.inputCacheMissPerM + cached * prices.inputCacheHitPerM + completion * prices.outputPerM) / 1e6;
    const pricedNoCache = (prompt: number, completion: number) => (prompt * prices.inputCacheMissPerM + completion * prices.outputPerM) / 1e6;

    const { sim, handle } = await startInProcessStack(cleanups, { sim: { replyTokens: P.reply_tokens, requestLogSize: 20_000 }, env: { LLM_MODEL: MODEL } });
    const json = (method: string, path: string, key: string, body?: unknown, expect = 200) => httpJson(handle.url, method, path, key, body, expect);

    // ---------------------------------------------------------------- the script
    const SYSTEM = `You are the deploy assistant for a fleet of services. Keep every deploy token the user gives you.\n${textOfTokens(7, P.system_tokens - 24)}`;
    const planted: number[] = [];
    const userMessage = (r: number): string => {
      // r is 1-based; every fact_every-th round carries a fact line in the middle of the message.
      const hasFact = r % P.fact_every === 0;
      const factTokens = hasFact ? countTokens(factLine(r)) + 2 : 0;
      const body = P.user_tokens - SIM_MESSAGE_OVERHEAD - factTokens - 4;
      const a = textOfTokens(1_000 + r * 2, Math.floor(body / 2));
      const b = textOfTokens(1_001 + r * 2, body - Math.floor(body / 2));
      if (hasFact) planted.push(r);
      return hasFact ? `Round ${r}. ${a}\n${factLine(r)}\n${b}` : `Round ${r}. ${a} ${b}`;
    };
    const script = Array.from({ length: P.rounds }, (_, i) => userMessage(i + 1));
    const msgTokens = (m: ChatMsg) => countTokens(m.content) + SIM_MESSAGE_OVERHEAD;
    const systemSimTokens = msgTokens({ role: 'system', content: SYSTEM });
    console.log(`script: system ${systemSimTokens} tokens, user ${msgTokens({ role: 'user', content: script[0] })}..${msgTokens({ role: 'user', content: script[P.fact_every - 1] })} tokens, ${planted.length} facts planted (rounds ${planted[0]}..${planted[planted.length - 1]})`);

    const runScenario = async (trigger: number, verbose: boolean) => {
      const log = (line: string) => {
        if (verbose) console.log(line);
      };
      // ---------------------------------------------------------------- accounts, one sim key per policy
      const tag = `${Math.round(trigger / 1000)}k-${randomBytes(3).toString('hex')}`;
      const simKeys: Record<Policy, string> = { full: `sim-rc-full-${tag}`, sliding: `sim-rc-sliding-${tag}`, ours: `sim-rc-ours-${tag}` };
      const accountFor = async (p: Policy) =>
        (await createBenchAccount(handle.url, { name: `bench-rolling-${p}-${tag}`, sessionLimit: 1_000, simBaseUrl: sim.baseUrl, simKey: simKeys[p], model: MODEL })).api_key;
      const keyFull = await accountFor('full');
      const keyOurs = await accountFor('ours');
      const slidingClient = new OpenAI({ apiKey: simKeys.sliding, baseURL: sim.baseUrl, maxRetries: 0, timeout: 120_000 });

      // ---------------------------------------------------------------- the three clients
      const sFull = await json('POST', '/v1/sessions', keyFull, { system: SYSTEM, title: 'rolling-cost full', policy: { auto_compact: false } }, 201);
      const sOurs = await json('POST', '/v1/sessions', keyOurs, { system: SYSTEM, title: 'rolling-cost ours', policy: { ...P.policy, trigger_tokens: trigger } }, 201);

      const serviceTurn = async (key: string, sessionId: string, content: string): Promise<TurnFigures> => {
        const t0 = performance.now();
        const r = await json('POST', `/v1/sessions/${sessionId}/messages`, key, { messages: [{ role: 'user', content }], max_tokens: P.reply_tokens });
        const ms = performance.now() - t0;
        return {
          prompt_tokens: r.usage.prompt_tokens,
          cached_tokens: r.usage.prompt_tokens_details?.cached_tokens ?? 0,
          completion_tokens: r.usage.completion_tokens,
          cost_usd: r.usage.cost_usd,
          ms,
          window_tokens: r.session_usage.window_tokens,
          compaction: r.compaction ?? null,
        };
      };

      // The sliding client keeps every message and sends system + the newest whole rounds within the budget.
      const slidingHistory: ChatMsg[] = [];
      let slidingLastRequest: ChatMsg[] = [];
      let slidingDrops = 0;
      let slidingFirstDropRound: number | null = null;
      let slidingPrevStart = 0;
      const slidingTurn = async (content: string, r: number): Promise<TurnFigures> => {
        slidingHistory.push({ role: 'user', content });
        // Whole rounds (user + reply) from the end; the newest user message always goes.
        let start = slidingHistory.length - 1;
        let tokens = systemSimTokens + msgTokens(slidingHistory[start]) + P.reply_tokens;
        while (start >= 2) {
          const add = msgTokens(slidingHistory[start - 2]) + msgTokens(slidingHistory[start - 1]);
          if (tokens + add > trigger) break;
          tokens += add;
          start -= 2;
        }
        if (start > slidingPrevStart) {
          slidingDrops += (start - slidingPrevStart) / 2;
          slidingFirstDropRound ??= r + 1;
        }
        slidingPrevStart = start;
        const messages: ChatMsg[] = [{ role: 'system', content: SYSTEM }, ...slidingHistory.slice(start)];
        slidingLastRequest = messages;
        const t0 = performance.now();
        const res = await slidingClient.chat.completions.create({ model: MODEL, messages, max_tokens: P.reply_tokens });
        const ms = performance.now() - t0;
        const reply = res.choices[0].message.content ?? '';
        slidingHistory.push({ role: 'assistant', content: reply });
        const u = res.usage!;
        const cached = (u as { prompt_tokens_details?: { cached_tokens?: number } }).prompt_tokens_details?.cached_tokens ?? 0;
        return { prompt_tokens: u.prompt_tokens, cached_tokens: cached, completion_tokens: u.completion_tokens, cost_usd: priced(u.prompt_tokens, cached, u.completion_tokens), ms, window_tokens: tokens - P.reply_tokens, compaction: null };
      };

      // ---------------------------------------------------------------- interleaved rounds
      log(`rounds: ${P.rounds}, trigger ${trigger}: interleaved full / sliding / ours in every round`);
      const tRun = performance.now();
      const partial: Record<Policy, TurnFigures[]> = { full: [], sliding: [], ours: [] };
      const byPolicy = await interleave<Policy, TurnFigures>(
        P.rounds,
        [
          { name: 'full', run: (r) => serviceTurn(keyFull, sFull.id, script[r]) },
          { name: 'sliding', run: (r) => slidingTurn(script[r], r) },
          { name: 'ours', run: (r) => serviceTurn(keyOurs, sOurs.id, script[r]) },
        ],
        (name, r, f) => {
          partial[name].push(f);
          if (name === 'ours' && f.compaction) {
            const c = f.compaction;
            log(`  round ${r + 1}: ours compacted (${c.action}${c.folded_outlines ? ', folded outlines' : ''}): window ${c.window_tokens_before} -> ${c.window_tokens_after} tokens, ratio ${c.achieved_ratio ?? '-'}, method ${c.method ?? '-'}`);
          }
          if (name === 'ours' && ((r + 1) % 20 === 0 || r + 1 === P.rounds)) {
            const line = POLICIES.map((p) => {
              const xs = partial[p];
              const cost = xs.reduce((n, x) => n + x.cost_usd, 0);
              return `${p} $${cost.toFixed(4)} window ${xs.at(-1)?.window_tokens ?? '-'}`;
            }).join(' | ');
            log(`  round ${r + 1}/${P.rounds}: ${line}`);
          }
        },
      );
      const runS = (performance.now() - tRun) / 1000;

      // ---------------------------------------------------------------- figures
      const ctxFull = await json('GET', `/v1/sessions/${sFull.id}/context`, keyFull);
      const ctxOurs = await json('GET', `/v1/sessions/${sOurs.id}/context`, keyOurs);
      const eventsOurs = await json('GET', `/v1/sessions/${sOurs.id}/events?limit=100`, keyOurs);
      const finalWindows: Record<Policy, ChatMsg[]> = { full: ctxFull.messages, sliding: slidingLastRequest, ours: ctxOurs.messages };
      const survival = (msgs: ChatMsg[]) => {
        const text = msgs.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
        const strict = planted.filter((n) => text.includes(factLine(n).slice(0, -1)));
        const token = planted.filter((n) => new RegExp(`\\bK${n}X\\b`).test(text));
        const missing = planted.filter((n) => !strict.includes(n));
        return { planted: planted.length, verbatim: strict.length, token_only: token.length, share: round(strict.length / Math.max(1, planted.length), 3), missing };
      };

      const stats = sim.stats();
      const reqLog = sim.requests(20_000);
      const perPurpose = (key: string) => {
        const out: Record<string, { requests: number; prompt_tokens: number; cached_tokens: number; completion_tokens: number; cost_usd: number }> = {};
        for (const q of reqLog) {
          if (q.key !== key || q.status !== 200) continue;
          const p = q.purpose ?? 'direct';
          const o = (out[p] ??= { requests: 0, prompt_tokens: 0, cached_tokens: 0, completion_tokens: 0, cost_usd: 0 });
          o.requests++;
          o.prompt_tokens += q.prompt_tokens;
          o.cached_tokens += q.cached_tokens;
          o.completion_tokens += q.completion_tokens;
          o.cost_usd += priced(q.prompt_tokens, q.cached_tokens, q.completion_tokens);
        }
        for (const o of Object.values(out)) o.cost_usd = round(o.cost_usd, 6);
        return out;
      };

      const compactionsOurs: Array<Record<string, any>> = byPolicy.ours.flatMap((f, i) => (f.compaction ? [{ round: i + 1, ...f.compaction }] : []));
      const summary = POLICIES.map((p) => {
        const k = stats.keys[simKeys[p]];
        const turns = byPolicy[p];
        const clientCost = turns.reduce((n, x) => n + x.cost_usd, 0);
        const compactions = p === 'ours' ? compactionsOurs.length : p === 'sliding' ? slidingDrops : 0;
        return {
          policy: p,
          sim_key: simKeys[p],
          requests: k?.requests ?? 0,
          prompt_tokens: k?.prompt_tokens ?? 0,
          cached_tokens: k?.cached_tokens ?? 0,
          completion_tokens: k?.completion_tokens ?? 0,
          cost_usd: round(k?.cost_usd ?? NaN, 6),
          cost_usd_without_cache: round(pricedNoCache(k?.prompt_tokens ?? 0, k?.completion_tokens ?? 0), 6),
          /** Input tokens only (cache-aware): the basis of SEED.md's modelled figures. */
          input_cost_usd: round((k?.cost_usd ?? NaN) - ((k?.completion_tokens ?? 0) * prices.outputPerM) / 1e6, 6),
          cost_usd_chat_turns: round(clientCost, 6),
          cache_hit_share: round((k?.cached_tokens ?? 0) / Math.max(1, k?.prompt_tokens ?? 0), 3),
          by_purpose: perPurpose(simKeys[p]),
          compactions,
          compactions_meaning: p === 'ours' ? 'rolling compactions (compress or fallback truncate)' : p === 'sliding' ? 'rounds dropped from the front' : 'none',
          final_window_tokens: turns.at(-1)?.window_tokens ?? null,
          max_window_tokens: Math.max(...turns.map((t) => t.window_tokens)),
          turn_ms: medianSpread(turns.map((t) => t.ms), 1),
          fact_survival: survival(finalWindows[p]),
        };
      });
      const full = summary.find((s) => s.policy === 'full')!;
      const rel = (s: (typeof summary)[number]) => round(s.cost_usd / full.cost_usd, 3);
      const relNoCache = (s: (typeof summary)[number]) => round(s.cost_usd_without_cache / full.cost_usd_without_cache, 3);
      const relInput = (s: (typeof summary)[number]) => round(s.input_cost_usd / full.input_cost_usd, 3);
      // What the service itself reports for the sessions (GET /v1/sessions/{id} usage), against the sim's bill.
      const reported = {
        full: (await json('GET', `/v1/sessions/${sFull.id}`, keyFull)).usage,
        ours: (await json('GET', `/v1/sessions/${sOurs.id}`, keyOurs)).usage,
      };
      const ours = summary.find((s) => s.policy === 'ours')!;
      const eventTypes: Record<string, number> = {};
      for (const e of eventsOurs.data as Array<{ type: string }>) eventTypes[e.type] = (eventTypes[e.type] ?? 0) + 1;

      const targets = [
        { name: 'ours cost / full-history cost (caching on)', target: `<= ${TARGET_COST_RATIO}`, value: rel(ours), pass: rel(ours) <= TARGET_COST_RATIO },
        { name: 'ours input cost / full input cost (seed basis)', target: `<= ${TARGET_COST_RATIO}`, value: relInput(ours), pass: relInput(ours) <= TARGET_COST_RATIO },
        { name: 'ours fact survival (verbatim line in final window)', target: `>= ${TARGET_SURVIVAL * 100}%`, value: `${(ours.fact_survival.share * 100).toFixed(0)}% (${ours.fact_survival.verbatim}/${ours.fact_survival.planted})`, pass: ours.fact_survival.share >= TARGET_SURVIVAL },
      ];
      return { trigger, summary, full, ours, slidingS: summary.find((s) => s.policy === 'sliding')!, rel, relNoCache, relInput, reported, targets, compactionsOurs, eventTypes, slidingFirstDropRound, slidingDrops, ctxOurs, byPolicy, runS };
    };

    const main = await runScenario(P.policy.trigger_tokens, true);
    const { summary, ours, slidingS, rel, relNoCache, relInput, reported, targets, compactionsOurs, eventTypes, slidingFirstDropRound, slidingDrops, ctxOurs, byPolicy, runS } = main;
    // Full mode: the same script at other triggers (each its own accounts and sim keys; sliding budget = trigger).
    const sweep: Array<Awaited<ReturnType<typeof runScenario>>> = [];
    for (const t of P.sweep_triggers) {
      if (t === P.policy.trigger_tokens) continue;
      const r = await runScenario(t, false);
      sweep.push(r);
      console.log(`  sweep trigger ${t}: ours/full ${r.rel(r.ours).toFixed(3)}, sliding/full ${r.rel(r.slidingS).toFixed(3)}, ${r.ours.compactions} compactions, facts ${r.ours.fact_survival.verbatim}/${r.ours.fact_survival.planted} (${r.runS.toFixed(0)} s)`);
    }

    // ---------------------------------------------------------------- report
    const out: string[] = [''];
    out.push(`Measured (${P.rounds} rounds, kimi-sim at Kimi prices: $${prices.inputCacheMissPerM}/M miss, $${prices.inputCacheHitPerM}/M hit, $${prices.outputPerM}/M output)`);
    out.push(
      formatTable(
        ['policy', 'cost $', 'vs full', 'input $', 'vs full (input)', 'vs full (no cache)', 'cache hit', 'prompt tok', 'requests', 'compactions', 'max window', 'facts kept', 'turn ms p50'],
        summary.map((s) => [
          s.policy,
          s.cost_usd.toFixed(4),
          rel(s).toFixed(3),
          s.input_cost_usd.toFixed(4),
          relInput(s).toFixed(3),
          relNoCache(s).toFixed(3),
          `${(s.cache_hit_share * 100).toFixed(1)}%`,
          s.prompt_tokens,
          s.requests,
          s.policy === 'full' ? '0' : s.policy === 'sliding' ? `${s.compactions} drops` : String(s.compactions),
          s.max_window_tokens,
          `${s.fact_survival.verbatim}/${s.fact_survival.planted}`,
          fmtMs(s.turn_ms.median, 1),
        ]),
      ),
    );
    const oursCompress = ours.by_purpose['compress'];
    out.push(`ours: chat $${(ours.by_purpose['chat']?.cost_usd ?? 0).toFixed(4)} + compress $${(oursCompress?.cost_usd ?? 0).toFixed(4)} (${oursCompress?.requests ?? 0} calls); events ${JSON.stringify(eventTypes)}`);
    for (const c of compactionsOurs) {
      out.push(`  round ${c.round}: ${c.action}, seqs ${JSON.stringify(c.compressed_seqs ?? null)}, ${c.window_tokens_before} -> ${c.window_tokens_after} tokens, in ${c.input_tokens ?? '-'} -> out ${c.output_tokens ?? '-'} (ratio ${c.achieved_ratio ?? '-'}), ${c.method ?? '-'}${c.folded_outlines ? ', folded' : ''}`);
    }
    const missingOurs = ours.fact_survival.missing;
    out.push(`service-reported session cost: full $${Number(reported.full?.cost_usd).toFixed(4)} (sim $${main.full.cost_usd.toFixed(4)}), ours $${Number(reported.ours?.cost_usd).toFixed(4)} (sim $${ours.cost_usd.toFixed(4)}, of which compress $${(oursCompress?.cost_usd ?? 0).toFixed(4)})`);
    out.push(`output is ${P.rounds} x ${P.reply_tokens} tokens = $${((P.rounds * P.reply_tokens * prices.outputPerM) / 1e6).toFixed(2)} in every policy; SEED.md's modelled $ match input-only cost (full: measured input $${main.full.input_cost_usd.toFixed(4)} vs modelled $${SEED_MODEL.full})`);
    out.push(`sliding: first drop at round ${slidingFirstDropRound ?? '-'}, facts kept ${slidingS.fact_survival.verbatim}/${slidingS.fact_survival.planted}; ours missing facts: ${missingOurs.length ? missingOurs.join(', ') : 'none'} (token K<n>X present for ${ours.fact_survival.token_only})`);
    out.push('');
    out.push('Seed model (SEED.md, 100 rounds, reference only)');
    out.push(
      formatTable(
        ['policy', 'modelled $', 'modelled vs full', 'measured input $', 'measured vs full (input)', 'measured vs full (total)'],
        [
          ['full history (cached)', SEED_MODEL.full.toFixed(2), '1.00', main.full.input_cost_usd.toFixed(4), '1.000', '1.000'],
          ['sliding window', SEED_MODEL.sliding.toFixed(2), (SEED_MODEL.sliding / SEED_MODEL.full).toFixed(2), slidingS.input_cost_usd.toFixed(4), relInput(slidingS).toFixed(3), rel(slidingS).toFixed(3)],
          ['chunked cut (ours)', SEED_MODEL.chunked_cut.toFixed(2), (SEED_MODEL.chunked_cut / SEED_MODEL.full).toFixed(2), ours.input_cost_usd.toFixed(4), relInput(ours).toFixed(3), rel(ours).toFixed(3)],
          ['article claim (no caching)', '-', '0.63', '-', '-', `${relNoCache(ours).toFixed(3)} (no cache)`],
        ],
      ),
    );
    if (sweep.length) {
      const rows = [main, ...sweep].sort((a, b) => a.trigger - b.trigger);
      out.push('');
      out.push(`Trigger sweep (same script; sliding budget = trigger; full history $${main.full.cost_usd.toFixed(4)} in every row)`);
      out.push(
        formatTable(
          ['trigger', 'ours $', 'ours/full', 'ours/full (input)', 'ours cache hit', 'compactions', 'ours facts', 'sliding/full', 'sliding facts'],
          rows.map((r) => [
            r.trigger === P.policy.trigger_tokens ? `${r.trigger} (main)` : String(r.trigger),
            r.ours.cost_usd.toFixed(4),
            r.rel(r.ours).toFixed(3),
            r.relInput(r.ours).toFixed(3),
            `${(r.ours.cache_hit_share * 100).toFixed(1)}%`,
            r.ours.compactions,
            `${r.ours.fact_survival.verbatim}/${r.ours.fact_survival.planted}`,
            r.rel(r.slidingS).toFixed(3),
            `${r.slidingS.fact_survival.verbatim}/${r.slidingS.fact_survival.planted}`,
          ]),
        ),
      );
    }
    out.push('');
    out.push('Targets (BENCH.md)');
    out.push(formatTable(['figure', 'target', 'measured', 'result'], targets.map((t) => [t.name, t.target, String(t.value), passFail(t.pass)])));
    const totalS = (Date.now() - started) / 1000;
    out.push(`rounds took ${runS.toFixed(0)} s; total ${totalS.toFixed(0)} s`);
    console.log(out.join('\n'));

    saveBenchResults('rolling-cost', { machine, commit, started, totalS, parameters: P }, {
      prices: { model: MODEL, input_cache_miss_per_m: prices.inputCacheMissPerM, input_cache_hit_per_m: prices.inputCacheHitPerM, output_per_m: prices.outputPerM },
      method: {
        full: 'service session, policy.auto_compact false: the service resends system + every message (= client resending full history)',
        sliding: `client -> kimi-sim directly (openai SDK): system + newest whole rounds with system + messages + max_tokens <= trigger_tokens (${P.policy.trigger_tokens} in the main run) tokens (sim token counts: o200k + ${SIM_MESSAGE_OVERHEAD} per message)`,
        ours: `service session, policy ${JSON.stringify(P.policy)}; cost includes compress calls (same sim key)`,
        order: 'interleaved: full, sliding, ours in every round',
        cost: 'kimi-sim per-key stats (cost_usd at Kimi prices with prefix caching); by_purpose split from the sim request log',
        survival: `fact line verbatim ("${factLine(5).slice(0, -1)}") in GET context messages (full, ours; outlines included) or the last request's messages (sliding)`,
      },
      seed_model_usd: SEED_MODEL,
      summary: summary.map((s) => ({ ...s, cost_vs_full: rel(s), input_cost_vs_full: relInput(s), cost_vs_full_without_cache: relNoCache(s) })),
      service_reported_usage: reported,
      sliding: { first_drop_round: slidingFirstDropRound, rounds_dropped: slidingDrops },
      ours: { compactions: compactionsOurs, events: eventTypes, final_context_tokens: ctxOurs.tokens },
      rounds: Array.from({ length: P.rounds }, (_, r) => ({
        round: r + 1,
        ...Object.fromEntries(POLICIES.map((p) => [p, { ...byPolicy[p][r], compaction: byPolicy[p][r].compaction ? true : undefined, ms: round(byPolicy[p][r].ms, 1) }])),
      })),
      targets,
      sweep: sweep.map((r) => ({
        trigger_tokens: r.trigger,
        summary: r.summary.map((x) => ({ policy: x.policy, cost_usd: x.cost_usd, cost_vs_full: r.rel(x), input_cost_vs_full: r.relInput(x), cache_hit_share: x.cache_hit_share, compactions: x.compactions, fact_survival: x.fact_survival, requests: x.requests })),
        ours_compactions: r.compactionsOurs,
      })),
    });
    return 0;
  });
}

if (require.main === module) runBench(main);
