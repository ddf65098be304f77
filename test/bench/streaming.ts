// Streaming bench: 100 concurrent streams, six routes in one run: directly to kimi-sim (A), through
// Portkey's open-source gateway (P, a devDependency run as its own process), through the service's
// stateless /v1/chat/completions (C), as session appends (B), and the floor: a bare node:http relay in its
// own process (R), and the same relay around a turn's two statements, a lock before the call and a durable
// commit after it (F; floor-relay.ts). R and F are what any relay, and any service that refuses a
// concurrent turn before paying for it, add on this machine at the least. Target (BENCH.md, issue 8): added
// time-to-first-byte p50 <= 10 ms for the append; no buffering (chunks arrive as produced).
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
// BENCH_SERVICE_NODE_ARGS (node flags for the service, e.g. --cpu-prof), BENCH_API_WORKERS (the service's API_WORKERS,
// default 1), BENCH_PORTKEY=0 (without the gateway), BENCH_FLOOR=0 (without the floor relay). The service runs with LOG_LEVEL info and NODE_ENV production.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { announceRun, createBenchAccount, deployedServiceEnv, finishRun, runBench, startFloorRelay, startPortkey, startServiceStack, withCleanups } from './bench-stack';
import { envFlag, envNumber, fmtMs, fmtSpread, formatTable, httpJson, mapLimit, medianSpread, passFail, percentile, round, summarize } from './bench-util';

const TARGET_TTFB_P50 = 10;
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

function streamPost(agent: http.Agent, port: number, path: string, key: string, body: unknown, timeoutMs: number, extraHeaders: Record<string, string> = {}): Promise<StreamResult> {
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
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization: `Bearer ${key}`, accept: 'text/event-stream', ...extraHeaders } },
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

type Route = 'A' | 'P' | 'C' | 'B' | 'R' | 'F';
const ROUTE_NAMES: Record<Route, string> = {
  A: 'direct (kimi-sim)',
  P: 'Portkey gateway',
  C: 'service pass-through',
  B: 'service session append',
  R: 'floor: bare relay',
  F: 'floor: bare relay + lock/commit',
};

async function main(): Promise<number> {
  const P = params();
  const { machine, commit, started } = announceRun('streaming bench: 100 concurrent streams direct, through Portkey, through the service (pass-through and session append)', [
    `mode:    ${P.quick ? 'BENCH_QUICK' : 'full'}, ${P.rounds} rounds (+${P.warmup_rounds} warm-up) x ${P.streams} concurrent streams per route; kimi-sim first token ${P.sim.firstTokenMs} ms, ${P.sim.tokensPerSecond} tok/s, ${P.sim.replyTokens} tokens, DB_POOL_SIZE ${P.db_pool_size ?? 'service default'}`,
    `service: node dist/.../main.js as its own process, LOG_LEVEL info, NODE_ENV production, API_WORKERS ${process.env.BENCH_API_WORKERS?.trim() || '1'}`,
  ]);
  return withCleanups('streaming', async (cleanups) => {
    const { db, sim, svc } = await startServiceStack(cleanups, {
      sim: { ...P.sim, requestLogSize: 8 * P.streams },
      env: { ...(P.db_pool_size ? { DB_POOL_SIZE: P.db_pool_size } : {}), ...deployedServiceEnv() },
      nodeArgs: P.node_args,
      logLevel: 'info',
    });
    const started_ = process.env.BENCH_PORTKEY !== '0' ? await startPortkey(cleanups) : { gateway: null, reason: 'BENCH_PORTKEY=0' };
    let gateway = started_.gateway;
    let portkeyMissing = started_.reason;
    if (gateway) {
      // Portkey 1.15.2 on Node 20 answers every streamed request with 500 when the upstream's content type
      // is `text/event-stream; charset=utf-8` (as kimi-sim's and OpenAI's are): its log says
      // "TypeError: immutable" in updateHeaders. One probe stream says whether it streams here.
      const probe = await streamPost(new http.Agent(), gateway.port, '/v1/chat/completions', 'sim-probe', { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'probe' }], max_tokens: 4, stream: true }, P.stream_timeout_ms, gateway.headers(sim.baseUrl));
      if (!probe.ok) {
        portkeyMissing = `Portkey ${gateway.version} did not stream (probe: ${probe.error})`;
        console.log(`portkey gateway: streaming not measured: ${portkeyMissing}`);
        gateway = null;
      }
    }
    const floor = process.env.BENCH_FLOOR !== '0' ? await startFloorRelay(cleanups, sim.baseUrl, db.url) : null;
    const routes: Route[] = [...(['A', 'P', 'C', 'B'] as const).filter((x) => x !== 'P' || gateway), ...(floor ? (['R', 'F'] as const) : [])];
    const agents = Object.fromEntries(routes.map((r) => [r, new http.Agent({ keepAlive: true, maxSockets: Infinity })])) as Record<Route, http.Agent>;
    cleanups.push('close client agents', () => {
      for (const a of Object.values(agents)) a.destroy();
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
    console.log(`setup: ${sessions.length} sessions; routes ${routes.map((r) => ROUTE_NAMES[r]).join(', ')}`);

    const open = (route: Route, s: (typeof sessions)[number], user: ChatMsg) => {
      const chat = { model: s.model, messages: [...s.messages, user], max_tokens: P.max_tokens, stream: true, stream_options: { include_usage: true } };
      switch (route) {
        case 'A':
          return streamPost(agents.A, sim.port, '/v1/chat/completions', directKey, chat, P.stream_timeout_ms);
        case 'P':
          return streamPost(agents.P, gateway!.port, '/v1/chat/completions', directKey, chat, P.stream_timeout_ms, gateway!.headers(sim.baseUrl));
        case 'C':
          return streamPost(agents.C, svc.port, '/v1/chat/completions', apiKey, chat, P.stream_timeout_ms);
        case 'B':
          return streamPost(agents.B, svc.port, `/v1/sessions/${s.id}/messages`, apiKey, { messages: [user], max_tokens: P.max_tokens, stream: true }, P.stream_timeout_ms);
        case 'R':
          return streamPost(agents.R, floor!.port, '/relay', directKey, chat, P.stream_timeout_ms);
        case 'F':
          return streamPost(agents.F, floor!.port, `/turn/${sessions.indexOf(s)}`, directKey, chat, P.stream_timeout_ms);
      }
    };
    let counter = 0;
    const runRoute = (route: Route, users: ChatMsg[]) => Promise.all(sessions.map((s, i) => open(route, s, users[i])));

    /** Per chunk k of the same session and round: (X_k - X_0) - (A_k - A_0), when both got the same number of content events. */
    const lagsOf = (a: StreamResult[], x: StreamResult[]) => {
      const lags: number[] = [];
      let paired = 0;
      let same = 0;
      for (let i = 0; i < a.length; i++) {
        if (!a[i].ok || !x[i].ok) continue;
        if (a[i].content === x[i].content) same++;
        if (a[i].content_at.length !== x[i].content_at.length || a[i].content_at.length < 2) continue;
        paired++;
        for (let k = 1; k < a[i].content_at.length; k++) lags.push(x[i].content_at[k] - x[i].content_at[0] - (a[i].content_at[k] - a[i].content_at[0]));
      }
      return { lags, paired, same };
    };

    type RouteFig = SideFigures & { lag?: ReturnType<typeof summarize>; paired?: number; same_content?: number };
    type Round = { order: string; routes: Partial<Record<Route, RouteFig>> };
    const rounds: Round[] = [];
    const pooledLag: Partial<Record<Route, number[]>> = {};
    console.log(`rounds: ${P.rounds} (+${P.warmup_rounds} warm-up), ${P.streams} streams at once per route; the route order rotates every round`);
    for (let r = 0; r < P.warmup_rounds + P.rounds; r++) {
      const users: ChatMsg[] = sessions.map(() => ({ role: 'user', content: `(q${++counter}) Explain in a few sentences why rivers meander, example ${counter}.` }));
      const order = routes.map((_, i) => routes[(i + r) % routes.length]);
      const got: Partial<Record<Route, StreamResult[]>> = {};
      // The stateless routes rotate; the append runs last or first in alternate rounds (the mirror, which
      // the stateless routes send, is updated from the append's replies after the round either way).
      const stateless = order.filter((x) => x !== 'B');
      const seq = r % 2 === 0 ? [...stateless, 'B' as const] : ['B' as const, ...stateless];
      for (const w of seq) got[w] = await runRoute(w, users);
      sessions.forEach((s, i) => {
        if (got.B![i].ok) s.messages.push(users[i], { role: 'assistant', content: got.B![i].content });
      });
      const row: Round = { order: seq.join(''), routes: {} };
      for (const x of routes) {
        const fig: RouteFig = side(got[x]!);
        if (x !== 'A') {
          const l = lagsOf(got.A!, got[x]!);
          Object.assign(fig, { lag: summarize(l.lags), paired: l.paired, same_content: l.same });
          if (r >= P.warmup_rounds) (pooledLag[x] ??= []).push(...l.lags);
        }
        row.routes[x] = fig;
      }
      if (r >= P.warmup_rounds) rounds.push(row);
      const a = row.routes.A!;
      console.log(
        `  ${r < P.warmup_rounds ? 'warm-up' : `round ${r - P.warmup_rounds + 1}`} (${row.order}): TTFB p50 direct ${fmtMs(a.ttfb.p50)} | ` +
          routes
            .filter((x) => x !== 'A')
            .map((x) => `${x} +${fmtMs(row.routes[x]!.ttfb.p50 - a.ttfb.p50)} (p99 +${fmtMs(row.routes[x]!.ttfb.p99 - a.ttfb.p99)}, lag p99 ${fmtMs(row.routes[x]!.lag?.p99)})`)
            .join(' | ') +
          ` | failed ${routes.map((x) => row.routes[x]!.failed).join('/')}` +
          (routes.map((x) => row.routes[x]!.first_error).find((e) => e) ? ` (${routes.map((x) => row.routes[x]!.first_error).find((e) => e)})` : ''),
      );
    }

    // ---------------------------------------------------------------- reference: one stream at a time
    // Separates what one turn adds from what 100 turns starting together add (queueing in the service).
    const seqT = Object.fromEntries(routes.map((x) => [x, [] as number[]])) as Record<Route, number[]>;
    console.log(`one stream at a time (reference): ${P.sequential_pairs} sessions, each route in turn`);
    for (let i = 0; i < P.sequential_pairs; i++) {
      const s = sessions[i % sessions.length];
      const user: ChatMsg = { role: 'user', content: `(q${++counter}) Explain in a few sentences why rivers meander, example ${counter}.` };
      const res: Partial<Record<Route, StreamResult>> = {};
      for (const x of routes) res[x] = await open(x, s, user);
      if (res.B!.ok) s.messages.push(user, { role: 'assistant', content: res.B!.content });
      if (routes.some((x) => !res[x]!.ok)) continue;
      for (const x of routes) seqT[x].push(res[x]!.ttfb_ms);
    }
    const sequential = Object.fromEntries(
      routes.map((x) => [x, { ttfb: summarize(seqT[x]), ...(x === 'A' ? {} : { added_p50: round(percentile(seqT[x], 50) - percentile(seqT.A, 50), 3), added_p99: round(percentile(seqT[x], 99) - percentile(seqT.A, 99), 3) }) }]),
    ) as Record<Route, { ttfb: ReturnType<typeof summarize>; added_p50?: number; added_p99?: number }>;

    // ---------------------------------------------------------------- report
    const per = (f: (x: Round) => number) => medianSpread(rounds.map(f));
    const figuresOf = (x: Route) => ({
      name: ROUTE_NAMES[x],
      ttfb_p50: per((r) => r.routes[x]!.ttfb.p50),
      ttfb_p99: per((r) => r.routes[x]!.ttfb.p99),
      added_ttfb_p50: per((r) => r.routes[x]!.ttfb.p50 - r.routes.A!.ttfb.p50),
      added_ttfb_p99: per((r) => r.routes[x]!.ttfb.p99 - r.routes.A!.ttfb.p99),
      gap_p50: per((r) => r.routes[x]!.gap.p50),
      gap_p99: per((r) => r.routes[x]!.gap.p99),
      done_p50: per((r) => r.routes[x]!.done.p50),
      gaps_under_1ms: per((r) => r.routes[x]!.gaps_under_1ms),
      content_events_per_stream: per((r) => r.routes[x]!.content_events_per_stream),
      ...(x === 'A' ? {} : { lag_p50: per((r) => r.routes[x]!.lag!.p50), lag_p99: per((r) => r.routes[x]!.lag!.p99), pooled_lag: summarize(pooledLag[x] ?? []) }),
      ...(x !== 'A' && x !== 'P' && gateway ? { ratio_to_portkey_added_ttfb_p50: per((r) => (r.routes[x]!.ttfb.p50 - r.routes.A!.ttfb.p50) / (r.routes.P!.ttfb.p50 - r.routes.A!.ttfb.p50)) } : {}),
      failed: rounds.reduce((n, r) => n + r.routes[x]!.failed, 0),
    });
    const fig = Object.fromEntries(routes.map((x) => [x, figuresOf(x)])) as Record<Route, ReturnType<typeof figuresOf>>;
    const simStats = sim.stats().keys;
    const b = fig.B;
    const noBuffering = (x: Route) => fig[x].lag_p99!.median <= 25 && fig[x].gaps_under_1ms.median <= fig.A.gaps_under_1ms.median + 0.05 && fig[x].content_events_per_stream.median >= fig.A.content_events_per_stream.median;
    const total = rounds.length * P.streams;
    const targets = [
      { name: 'session append: added TTFB p50 (100 at once)', target: `<= ${TARGET_TTFB_P50} ms`, value: b.added_ttfb_p50.median, pass: b.added_ttfb_p50.median <= TARGET_TTFB_P50 },
      // No target: what a bare relay with a turn's two statements adds in the same run, the least a design that
      // refuses a concurrent turn before paying for it can add on this machine (and what a stateless relay adds).
      ...(floor
        ? [
            { name: 'reference: floor, bare relay + lock/commit: added TTFB p50', target: 'none', value: fig.F.added_ttfb_p50.median, pass: null },
            { name: 'reference: floor, bare relay: added TTFB p50', target: 'none', value: fig.R.added_ttfb_p50.median, pass: null },
          ]
        : []),
      ...(gateway ? [{ name: 'session append: added TTFB p50 below Portkey\'s', target: `< ${fmtMs(fig.P.added_ttfb_p50.median)} ms`, value: b.added_ttfb_p50.median, pass: b.added_ttfb_p50.median < fig.P.added_ttfb_p50.median }] : []),
      { name: 'session append: no buffering (lag p99 <= 25 ms, no coalesced events)', target: 'as produced', value: `lag p99 ${fmtMs(b.lag_p99!.median)} ms, <1 ms gaps ${b.gaps_under_1ms.median} vs ${fig.A.gaps_under_1ms.median}`, pass: b.failed === 0 && noBuffering('B') },
      { name: 'pass-through: no buffering', target: 'as produced', value: `lag p99 ${fmtMs(fig.C.lag_p99!.median)} ms`, pass: fig.C.failed === 0 && noBuffering('C') },
      { name: 'every stream completed', target: 'all', value: routes.map((x) => `${x} ${total - fig[x].failed}/${total}`).join(', '), pass: routes.every((x) => fig[x].failed === 0) },
    ];
    const out: string[] = [''];
    if (!gateway) out.push(`Portkey's gateway NOT measured: ${portkeyMissing}`);
    out.push(`${P.streams} concurrent streams per route; ms, median over ${rounds.length} rounds [min..max]; added = route - direct, per round`);
    out.push(
      formatTable(
        ['route', 'TTFB p50', 'TTFB p99', 'added TTFB p50', 'added TTFB p99', 'x Portkey p50', 'gap p99', 'lag p99', 'events/stream', '<1 ms gaps'],
        routes.map((x) => {
          const f = fig[x];
          return [f.name, fmtSpread(f.ttfb_p50), fmtSpread(f.ttfb_p99), x === 'A' ? '-' : fmtSpread(f.added_ttfb_p50), x === 'A' ? '-' : fmtSpread(f.added_ttfb_p99), f.ratio_to_portkey_added_ttfb_p50 ? fmtSpread(f.ratio_to_portkey_added_ttfb_p50) : '-', fmtSpread(f.gap_p99), f.lag_p99 ? fmtSpread(f.lag_p99) : '-', fmtSpread(f.content_events_per_stream, 1), fmtSpread(f.gaps_under_1ms, 3)];
        }),
      ),
    );
    out.push(`reference, one stream at a time (${seqT.A.length} sessions): TTFB p50 direct ${fmtMs(sequential.A.ttfb.p50)}; added p50 ` + routes.filter((x) => x !== 'A').map((x) => `${ROUTE_NAMES[x]} ${fmtMs(sequential[x].added_p50)}`).join(', ') + ' ms');
    out.push(`kimi-sim peak concurrency: direct key ${simStats[directKey]?.peak_concurrency ?? 0}, service key ${simStats[serviceKey]?.peak_concurrency ?? 0}`);
    if (b.failed + fig.C.failed > 0) out.push(`service output (last lines):\n${svc.output().split('\n').slice(-6).map((l) => l.slice(0, 400)).join('\n')}`);
    out.push('');
    out.push('Targets (BENCH.md, issue 8)');
    out.push(formatTable(['figure', 'target', 'measured', 'result'], targets.map((t) => [t.name, t.target, typeof t.value === 'number' ? fmtMs(t.value) : t.value, passFail(t.pass)])));
    out.push('');
    finishRun('streaming', { machine, commit, started }, out, P, {
      method: {
        processes: 'the service is node dist/apps/orchestrator/src/main.js (LOG_LEVEL info, NODE_ENV production); Portkey\'s gateway node node_modules/@portkey-ai/gateway/build/start-server.js --headless; kimi-sim and the client in the bench process',
        direct: 'A: POST kimi-sim /v1/chat/completions {model, messages: mirrored window + user, max_tokens, stream: true, stream_options: {include_usage: true}}',
        portkey: 'P: the same body through the gateway (x-portkey-provider: openai, x-portkey-custom-host: kimi-sim /v1)',
        pass_through: 'C: the same body to the service\'s POST /v1/chat/completions',
        append: 'B: POST /v1/sessions/{id}/messages {messages: [user], max_tokens, stream: true}',
        floor: 'R: the direct body through a bare node:http relay in its own process (floor-relay.ts); F: the same relay taking a turn lock (one prepared single-row UPDATE, synchronous_commit off) before the call and committing (UPDATE + INSERT, durable) after it, on the scratch database',
        ttfb: 'arrival of the first SSE event whose delta.content is non-empty, from request start',
        gap: 'time between consecutive content events of a stream, pooled over the round',
        lag: '(X_k - X_0) - (A_k - A_0) for chunk k of the same session in the same round (same prompt, same planned reply)',
        added: 'percentile(X) - percentile(A) per round; median over rounds [min..max]; the stateless routes rotate, the append runs last or first in alternate rounds',
      },
      portkey: gateway ? { version: gateway.version } : { not_measured: portkeyMissing },
      rounds,
      figures: fig,
      sequential,
      sim_peak_concurrency: { direct: simStats[directKey]?.peak_concurrency ?? 0, service: simStats[serviceKey]?.peak_concurrency ?? 0 },
      targets,
    });
    return 0;
  });
}

if (require.main === module) runBench(main);
