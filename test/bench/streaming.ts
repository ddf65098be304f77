// Streaming bench: 100 concurrent streamed turns through the service vs the same 100 streams made
// directly to kimi-sim. Target (BENCH.md): added time-to-first-byte p50 <= 5 ms; no buffering (chunks
// arrive as produced).
//
//   npm run bench:streaming                  full run: 10 rounds (~1 min on 2 cores)
//   BENCH_QUICK=1 npm run bench:streaming    3 rounds (~20 s)
//
// Method (see docs/benchmarks.md): kimi-sim runs in this process with firstTokenMs 300,
// tokensPerSecond 80, replyTokens 80 (it sends 1-4 tokens per chunk, paced at 80 tokens/s, so gaps of
// ~12-50 ms). The service runs as its own process (`node dist/apps/orchestrator/src/main.js`) on a scratch
// database of the real Postgres, 100 sessions open. The client (this process, node:http keep-alive, one
// socket per stream) starts 100 streams at once:
//   A = POST kimi-sim /v1/chat/completions {model, messages: session window + new user message,
//       max_tokens, stream: true, stream_options: {include_usage: true}}
//   B = POST service /v1/sessions/{id}/messages {messages: [new user message], max_tokens, stream: true}
// The client mirrors each session's window from B's replies, so A sends byte-for-byte the body the service
// sends upstream for B (same prompt, so kimi-sim plans the same reply and the same chunks). A and B
// alternate within each round (A,B then B,A in the next round), after one warm-up round.
// Each SSE event is time-stamped when its bytes arrive; "content event" = an event whose delta.content is
// a non-empty string.
//   TTFB        first content event - request start
//   gap         time between consecutive content events of one stream (all streams of the round pooled)
//   lag         per chunk k of a stream: (B_k - B_0) - (A_k - A_0), paired by session and round when A and
//               B got the same number of content events: how much later than produced (relative to the
//               first chunk) the service delivered chunk k. Buffering shows as lag growing, and as gaps
//               near 0 (events arriving together).
// Added = percentile(B) - percentile(A) per round; median over rounds [min..max]. A reference phase then
// runs single streams one at a time (A/B pairs) to show what one turn adds without 99 others beside it.
// Env: BENCH_QUICK=1, BENCH_ROUNDS, BENCH_STREAMS (100), BENCH_SEQ_PAIRS, BENCH_DB_POOL_SIZE (the service's; default its own, 10),
// BENCH_SERVICE_NODE_ARGS (node flags for the service, e.g. --cpu-prof).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { announceRun, createBenchAccount, finishRun, runBench, startServiceStack, withCleanups } from './bench-stack';
import { envFlag, envNumber, fmtMs, fmtSpread, formatTable, httpJson, mapLimit, medianSpread, passFail, percentile, round, summarize } from './bench-util';

const TARGET_TTFB_P50 = 5;
const SYSTEM = 'You are a helpful assistant. Answer in a few sentences.';

function params() {
  const quick = envFlag('BENCH_QUICK');
  return {
    quick,
    rounds: envNumber('BENCH_ROUNDS', quick ? 3 : 10),
    warmup_rounds: 1,
    streams: envNumber('BENCH_STREAMS', 100),
    sim: { firstTokenMs: 300, tokensPerSecond: 80, replyTokens: 80, concurrencyPerKey: 10_000 },
    max_tokens: 80,
    stream_timeout_ms: 30_000,
    sequential_pairs: envNumber('BENCH_SEQ_PAIRS', quick ? 10 : 30),
    /** The service's DB_POOL_SIZE (its default, 10, unless set): 100 turns start at once on that many connections. */
    db_pool_size: process.env.BENCH_DB_POOL_SIZE ?? null,
    /** Extra node flags for the service process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
    node_args: (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
  };
}

interface ChatMsg {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

interface StreamResult {
  ok: boolean;
  error: string | null;
  headers_ms: number;
  ttfb_ms: number;
  done_ms: number;
  /** Arrival times (ms from request start) of content events. */
  content_at: number[];
  content: string;
  events: number;
}

function streamPost(agent: http.Agent, port: number, path: string, key: string, body: unknown, timeoutMs: number): Promise<StreamResult> {
  const payload = JSON.stringify(body);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const r: StreamResult = { ok: false, error: null, headers_ms: NaN, ttfb_ms: NaN, done_ms: NaN, content_at: [], content: '', events: 0 };
    let settled = false;
    const finish = (error: string | null) => {
      if (settled) return;
      settled = true;
      r.error = error;
      r.ok = error === null;
      r.done_ms = performance.now() - t0;
      resolve(r);
    };
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization: `Bearer ${key}`, accept: 'text/event-stream' } },
      (res) => {
        r.headers_ms = performance.now() - t0;
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => finish(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        let sawDone = false;
        res.on('data', (chunk: string) => {
          const at = performance.now() - t0;
          buf += chunk;
          let idx: number;
          while ((idx = buf.indexOf('\n\n')) >= 0) {
            const event = buf.slice(0, idx);
            buf = buf.slice(idx + 2);
            for (const line of event.split('\n')) {
              if (!line.startsWith('data:')) continue;
              const data = line.slice(5).trim();
              r.events++;
              if (data === '[DONE]') {
                sawDone = true;
                continue;
              }
              try {
                const j = JSON.parse(data) as { choices?: Array<{ delta?: { content?: unknown } }> };
                const c = j.choices?.[0]?.delta?.content;
                if (typeof c === 'string' && c.length > 0) {
                  if (r.content_at.length === 0) r.ttfb_ms = at;
                  r.content_at.push(at);
                  r.content += c;
                }
              } catch {
                /* not JSON: ignored */
              }
            }
          }
        });
        res.on('end', () => finish(sawDone ? null : 'stream ended without [DONE]'));
        res.on('error', (e) => finish(e.message));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`client timeout (${timeoutMs} ms)`)));
    req.on('error', (e) => finish(e.message));
    req.end(payload);
  });
}

interface SideFigures {
  ttfb: ReturnType<typeof summarize>;
  gap: ReturnType<typeof summarize>;
  done: ReturnType<typeof summarize>;
  /** Share of gaps under 1 ms: events that arrived together (a sign of buffering). */
  gaps_under_1ms: number;
  content_events_per_stream: number;
  failed: number;
  first_error: string | null;
}

function side(rs: StreamResult[]): SideFigures {
  const ok = rs.filter((r) => r.ok && r.content_at.length > 0);
  const gaps = ok.flatMap((r) => r.content_at.slice(1).map((t, i) => t - r.content_at[i]));
  return {
    ttfb: summarize(ok.map((r) => r.ttfb_ms)),
    gap: summarize(gaps),
    done: summarize(ok.map((r) => r.done_ms)),
    gaps_under_1ms: round(gaps.filter((g) => g < 1).length / Math.max(1, gaps.length), 3),
    content_events_per_stream: round(ok.reduce((n, r) => n + r.content_at.length, 0) / Math.max(1, ok.length), 1),
    failed: rs.length - ok.length,
    first_error: rs.find((r) => !r.ok)?.error ?? null,
  };
}

async function main(): Promise<number> {
  const P = params();
  const { machine, commit, started } = announceRun('streaming bench: 100 concurrent streams through the service vs direct', [
    `mode:    ${P.quick ? 'BENCH_QUICK' : 'full'}, ${P.rounds} rounds (+${P.warmup_rounds} warm-up) x ${P.streams} concurrent streams per side; kimi-sim first token ${P.sim.firstTokenMs} ms, ${P.sim.tokensPerSecond} tok/s, ${P.sim.replyTokens} tokens, DB_POOL_SIZE ${P.db_pool_size ?? 'service default'}`,
  ]);
  return withCleanups('streaming', async (cleanups) => {
    const { sim, svc } = await startServiceStack(cleanups, {
      sim: { ...P.sim, requestLogSize: 4 * P.streams },
      env: P.db_pool_size ? { DB_POOL_SIZE: P.db_pool_size } : {},
      nodeArgs: P.node_args,
    });
    const simAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    const svcAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    cleanups.push('close client agents', () => {
      simAgent.destroy();
      svcAgent.destroy();
      return Promise.resolve();
    });

    const directKey = `sim-stream-direct-${randomBytes(3).toString('hex')}`;
    const serviceKey = `sim-stream-service-${randomBytes(3).toString('hex')}`;
    const account = await createBenchAccount(svc.url, { name: 'bench-streaming', sessionLimit: 10 * P.streams, simBaseUrl: sim.baseUrl, simKey: serviceKey });
    const apiKey: string = account.api_key;
    // A title, so no background title job calls kimi-sim during the rounds.
    const sessions = await mapLimit(Array.from({ length: P.streams }), 8, async (_, i) => {
      const s = await httpJson(svc.url, 'POST', '/v1/sessions', apiKey, { system: SYSTEM, title: `stream ${i}` }, 201);
      return { id: s.id as string, model: s.model as string, messages: [{ role: 'system', content: SYSTEM }] as ChatMsg[] };
    });
    console.log(`setup: ${sessions.length} sessions`);

    let counter = 0;
    const runSide = async (which: 'A' | 'B', users: ChatMsg[]): Promise<StreamResult[]> =>
      Promise.all(
        sessions.map((s, i) =>
          which === 'A'
            ? streamPost(simAgent, sim.port, '/v1/chat/completions', directKey, { model: s.model, messages: [...s.messages, users[i]], max_tokens: P.max_tokens, stream: true, stream_options: { include_usage: true } }, P.stream_timeout_ms)
            : streamPost(svcAgent, svc.port, `/v1/sessions/${s.id}/messages`, apiKey, { messages: [users[i]], max_tokens: P.max_tokens, stream: true }, P.stream_timeout_ms),
        ),
      );

    type Round = { a: SideFigures; b: SideFigures; lag: ReturnType<typeof summarize>; paired: number; same_content: number; order: string; raw?: { a: StreamResult[]; b: StreamResult[] } };
    const rounds: Round[] = [];
    const allLag: number[] = [];
    console.log(`rounds: ${P.rounds} (+${P.warmup_rounds} warm-up), ${P.streams} streams at once per side`);
    for (let r = 0; r < P.warmup_rounds + P.rounds; r++) {
      const users: ChatMsg[] = sessions.map(() => ({ role: 'user', content: `(q${++counter}) Explain in a few sentences why rivers meander, example ${counter}.` }));
      const order: Array<'A' | 'B'> = r % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
      const got: Record<'A' | 'B', StreamResult[]> = { A: [], B: [] };
      for (const w of order) got[w] = await runSide(w, users);
      // The service's windows now hold the user message and its reply: so does the mirror.
      sessions.forEach((s, i) => {
        if (got.B[i].ok) s.messages.push(users[i], { role: 'assistant', content: got.B[i].content });
      });
      const lags: number[] = [];
      let paired = 0;
      let same = 0;
      for (let i = 0; i < sessions.length; i++) {
        const a = got.A[i];
        const b = got.B[i];
        if (!a.ok || !b.ok) continue;
        if (a.content === b.content) same++;
        if (a.content_at.length !== b.content_at.length || a.content_at.length < 2) continue;
        paired++;
        for (let k = 1; k < a.content_at.length; k++) lags.push(b.content_at[k] - b.content_at[0] - (a.content_at[k] - a.content_at[0]));
      }
      const row: Round = { a: side(got.A), b: side(got.B), lag: summarize(lags), paired, same_content: same, order: order.join('') };
      if (r >= P.warmup_rounds) {
        rounds.push(row);
        allLag.push(...lags);
      }
      console.log(
        `  ${r < P.warmup_rounds ? 'warm-up' : `round ${r - P.warmup_rounds + 1}`} (${row.order}): TTFB p50 direct ${fmtMs(row.a.ttfb.p50)} service ${fmtMs(row.b.ttfb.p50)} | p99 ${fmtMs(row.a.ttfb.p99)} / ${fmtMs(row.b.ttfb.p99)} | gap p50 ${fmtMs(row.a.gap.p50)} / ${fmtMs(row.b.gap.p50)}, p99 ${fmtMs(row.a.gap.p99)} / ${fmtMs(row.b.gap.p99)} | lag p50 ${fmtMs(row.lag.p50)} p99 ${fmtMs(row.lag.p99)} | failed ${row.a.failed}/${row.b.failed}` +
          (row.a.first_error || row.b.first_error ? ` (${row.b.first_error ?? row.a.first_error})` : ''),
      );
    }

    // ---------------------------------------------------------------- reference: one stream at a time
    // Separates what one turn adds from what 100 turns starting together add (queueing in the service).
    const seq = { a: [] as number[], b: [] as number[], added: [] as number[] };
    console.log(`one stream at a time (reference): ${P.sequential_pairs} A/B pairs`);
    for (let i = 0; i < P.sequential_pairs; i++) {
      const s = sessions[i % sessions.length];
      const user: ChatMsg = { role: 'user', content: `(q${++counter}) Explain in a few sentences why rivers meander, example ${counter}.` };
      const runA = () => streamPost(simAgent, sim.port, '/v1/chat/completions', directKey, { model: s.model, messages: [...s.messages, user], max_tokens: P.max_tokens, stream: true, stream_options: { include_usage: true } }, P.stream_timeout_ms);
      const runB = () => streamPost(svcAgent, svc.port, `/v1/sessions/${s.id}/messages`, apiKey, { messages: [user], max_tokens: P.max_tokens, stream: true }, P.stream_timeout_ms);
      let a: StreamResult;
      let b: StreamResult;
      if (i % 2 === 0) {
        a = await runA();
        b = await runB();
      } else {
        b = await runB();
        a = await runA();
      }
      if (b.ok) s.messages.push(user, { role: 'assistant', content: b.content });
      if (!a.ok || !b.ok) continue;
      seq.a.push(a.ttfb_ms);
      seq.b.push(b.ttfb_ms);
      seq.added.push(b.ttfb_ms - a.ttfb_ms);
    }
    const sequential = { pairs: seq.added.length, direct: summarize(seq.a), service: summarize(seq.b), added_p50: round(percentile(seq.b, 50) - percentile(seq.a, 50), 3), added_pairwise: summarize(seq.added) };

    // ---------------------------------------------------------------- report
    const per = (f: (x: Round) => number) => medianSpread(rounds.map(f));
    const fig = {
      ttfb_p50: { direct: per((x) => x.a.ttfb.p50), service: per((x) => x.b.ttfb.p50), added: per((x) => x.b.ttfb.p50 - x.a.ttfb.p50) },
      ttfb_p99: { direct: per((x) => x.a.ttfb.p99), service: per((x) => x.b.ttfb.p99), added: per((x) => x.b.ttfb.p99 - x.a.ttfb.p99) },
      gap_p50: { direct: per((x) => x.a.gap.p50), service: per((x) => x.b.gap.p50), added: per((x) => x.b.gap.p50 - x.a.gap.p50) },
      gap_p99: { direct: per((x) => x.a.gap.p99), service: per((x) => x.b.gap.p99), added: per((x) => x.b.gap.p99 - x.a.gap.p99) },
      done_p50: { direct: per((x) => x.a.done.p50), service: per((x) => x.b.done.p50), added: per((x) => x.b.done.p50 - x.a.done.p50) },
      lag_p50: per((x) => x.lag.p50),
      lag_p99: per((x) => x.lag.p99),
      gaps_under_1ms: { direct: per((x) => x.a.gaps_under_1ms), service: per((x) => x.b.gaps_under_1ms) },
      content_events_per_stream: { direct: per((x) => x.a.content_events_per_stream), service: per((x) => x.b.content_events_per_stream) },
    };
    const failed = { direct: rounds.reduce((n, x) => n + x.a.failed, 0), service: rounds.reduce((n, x) => n + x.b.failed, 0) };
    const pairedShare = rounds.reduce((n, x) => n + x.paired, 0) / Math.max(1, rounds.length * P.streams);
    const sameShare = rounds.reduce((n, x) => n + x.same_content, 0) / Math.max(1, rounds.length * P.streams);
    const simStats = sim.stats().keys;
    const noBuffering = fig.lag_p99.median <= 25 && fig.gaps_under_1ms.service.median <= fig.gaps_under_1ms.direct.median + 0.05 && fig.content_events_per_stream.service.median >= fig.content_events_per_stream.direct.median;
    const targets = [
      { name: 'added TTFB p50', target: `<= ${TARGET_TTFB_P50} ms`, value: fig.ttfb_p50.added.median, pass: fig.ttfb_p50.added.median <= TARGET_TTFB_P50 },
      {
        name: 'no buffering (every chunk, lag p99 <= 25 ms, no coalesced events)',
        target: 'as produced',
        value: `lag p99 ${fmtMs(fig.lag_p99.median)} ms, <1 ms gaps ${fig.gaps_under_1ms.service.median} vs ${fig.gaps_under_1ms.direct.median}`,
        pass: failed.service === 0 && noBuffering,
      },
      { name: 'every stream completed', target: 'all', value: `direct ${rounds.length * P.streams - failed.direct}/${rounds.length * P.streams}, service ${rounds.length * P.streams - failed.service}/${rounds.length * P.streams}`, pass: failed.direct + failed.service === 0 },
    ];
    const out: string[] = [''];
    out.push(`${P.streams} concurrent streams per side; ms, median over ${rounds.length} rounds [min..max]`);
    out.push(
      formatTable(
        ['figure', 'direct (A)', 'service (B)', 'added (B-A)'],
        [
          ['TTFB p50 (first content chunk)', fmtSpread(fig.ttfb_p50.direct), fmtSpread(fig.ttfb_p50.service), fmtSpread(fig.ttfb_p50.added)],
          ['TTFB p99', fmtSpread(fig.ttfb_p99.direct), fmtSpread(fig.ttfb_p99.service), fmtSpread(fig.ttfb_p99.added)],
          ['inter-chunk gap p50', fmtSpread(fig.gap_p50.direct), fmtSpread(fig.gap_p50.service), fmtSpread(fig.gap_p50.added)],
          ['inter-chunk gap p99', fmtSpread(fig.gap_p99.direct), fmtSpread(fig.gap_p99.service), fmtSpread(fig.gap_p99.added)],
          ['stream done p50 ([DONE])', fmtSpread(fig.done_p50.direct), fmtSpread(fig.done_p50.service), fmtSpread(fig.done_p50.added)],
          ['content events / stream', fmtSpread(fig.content_events_per_stream.direct, 1), fmtSpread(fig.content_events_per_stream.service, 1), '-'],
          ['gaps < 1 ms (share)', fmtSpread(fig.gaps_under_1ms.direct, 3), fmtSpread(fig.gaps_under_1ms.service, 3), '-'],
          ['chunk lag vs direct p50 (paired)', '-', fmtSpread(fig.lag_p50), '-'],
          ['chunk lag vs direct p99 (paired)', '-', fmtSpread(fig.lag_p99), '-'],
        ],
      ),
    );
    out.push(`paired streams (same number of content events both ways): ${(pairedShare * 100).toFixed(0)}%; identical reply text: ${(sameShare * 100).toFixed(0)}%; pooled lag over all rounds: p50 ${fmtMs(percentile(allLag, 50))} p99 ${fmtMs(percentile(allLag, 99))} max ${fmtMs(Math.max(...allLag))} ms`);
    out.push(
      `reference, one stream at a time (${sequential.pairs} pairs): TTFB p50 direct ${fmtMs(sequential.direct.p50)} service ${fmtMs(sequential.service.p50)} -> added ${fmtMs(sequential.added_p50)} ms (pairwise added p50 ${fmtMs(sequential.added_pairwise.p50)}, p90 ${fmtMs(sequential.added_pairwise.p90)})`,
    );
    out.push(`kimi-sim peak concurrency: direct key ${simStats[directKey]?.peak_concurrency ?? 0}, service key ${simStats[serviceKey]?.peak_concurrency ?? 0}`);
    if (failed.service > 0) out.push(`service output (last lines):\n${svc.output().split('\n').slice(-6).map((l) => l.slice(0, 400)).join('\n')}`);
    out.push('');
    out.push('Targets (BENCH.md)');
    out.push(formatTable(['figure', 'target', 'measured', 'result'], targets.map((t) => [t.name, t.target, typeof t.value === 'number' ? fmtMs(t.value) : t.value, passFail(t.pass)])));
    out.push('');
    finishRun('streaming', { machine, commit, started }, out, P, {
      method: {
        service: 'node dist/apps/orchestrator/src/main.js as a child process; kimi-sim and the client in the bench process',
        direct: 'POST kimi-sim /v1/chat/completions {model, messages: mirrored window + user, max_tokens, stream: true, stream_options: {include_usage: true}}',
        through_service: 'POST /v1/sessions/{id}/messages {messages: [user], max_tokens, stream: true}',
        ttfb: 'arrival of the first SSE event whose delta.content is non-empty, from request start',
        gap: 'time between consecutive content events of a stream, pooled over the round',
        lag: '(B_k - B_0) - (A_k - A_0) for chunk k of the same session in the same round (same prompt, same planned reply)',
        added: 'percentile(B) - percentile(A) per round; median over rounds [min..max]; A/B order alternates per round',
      },
      rounds: rounds.map(({ raw: _raw, ...x }) => x),
      figures: fig,
      failed,
      paired_share: round(pairedShare, 3),
      identical_reply_share: round(sameShare, 3),
      pooled_lag: summarize(allLag),
      sequential,
      sim_peak_concurrency: { direct: simStats[directKey]?.peak_concurrency ?? 0, service: simStats[serviceKey]?.peak_concurrency ?? 0 },
      targets,
    });
    return 0;
  });
}

if (require.main === module) runBench(main);
