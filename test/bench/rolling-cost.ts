// Rolling-cost bench (BENCH.md "rolling cost"): what a long conversation costs under four context policies,
// billed by kimi-sim at Kimi prices with prefix caching AND billed cache writes, and how many planted exact
// facts are still in the window at the end (or, when not, whether a compaction named them as dropped).
//
//   npm run bench:rolling-cost                  100 scripted rounds x {full, sliding, chunked, ours x 9 summarizer
//                                               styles}, a trigger sweep, then the multi-session conversation
//   BENCH_QUICK=1 npm run bench:rolling-cost    60 rounds, ours with styles mix, lossy, prose, truncated; no sweep
//
// Scenario 1, scripted rounds: a ~2K-token system prompt; every round one ~200-token user message and an
// 800-token reply (kimi-sim replyTokens 800, max_tokens 800); every 5th round the user message carries a fact
// on its own line: `FACT-<n>: the deploy token for service s<n> is K<n>X.` (planted exact values: FACT-<n>, K<n>X).
// Policies, each on its own kimi-sim API key (the sim's per-key bill separates them), interleaved round by round:
//   full      service session, auto_compact false: the service resends system + every message.
//   sliding   the client talks to kimi-sim directly and sends system + the newest whole rounds within the
//             trigger (one-turn sliding window: once full, it drops the oldest round every round).
//   chunked   service session, auto_compact false; the client calls POST /v1/sessions/{id}/truncate with
//             preserve_len = trigger / 2 whenever its next request would pass the trigger (large cuts, no summarizer;
//             "would pass" = the previous turn's usage.total_tokens + the new message + max_tokens).
//   ours      service session with the rolling policy (trigger_tokens, keep_rounds 3, compress_ratio 4); once per
//             summarizer style (kimi-sim summarizerStyle set with sim.configure before each of its turns).
//             Its bill includes the summarizer calls (same sim key, x-purpose: compress).
// Scenario 2, a multi-session conversation between people: 6 sessions (days) of four friends planning a trip
// with the assistant, seeded; names, places, dates, times, amounts and booking codes planted; idle gaps of
// 18-72 h between sessions are applied to the SIMULATOR's clock only (sim.advanceClock: every prefix cache goes
// cold, so each policy pays a cold re-read of its window), the service is not made to wait: its own cold-cache
// trigger (idle past CACHE_TTL on its wall clock) is NOT exercised here. Policies full, chunked, ours (mix).
//
// Cost: kimi-sim's per-key stats (`cost_usd`, cache writes included, 5m TTL as the service and the sliding
// client send no other); cross-checked against priced() over the sim's request log. Exact-fact survival: share
// of planted values present (whole word) in the final window: GET /v1/sessions/{id}/context messages (pinned,
// outlines, verbatim history) for service sessions, the last request's messages for sliding. "Silently lost":
// a planted value neither in the final window nor named in any compaction's `facts.dropped`.
// Env: BENCH_QUICK, BENCH_ROUNDS, BENCH_TRIGGER_TOKENS, BENCH_FACT_EVERY, BENCH_STYLES (comma list),
// BENCH_SWEEP_TRIGGERS (full mode), BENCH_CONV_TRIGGER_TOKENS, BENCH_CONV_REPLY_TOKENS, BENCH_SEED, BENCH_MODEL,
// BENCH_SUMMARIZER_FORMAT (the service's SUMMARIZER_FORMAT: with the default, auto = JSON mode for Kimi models, kimi-sim
// answers every style but `truncated` with canonical JSON, so the styles differ only in content; `markdown` makes the
// service read each style's own layout).
import { randomBytes } from 'node:crypto';
import type { SummarizerStyleOption } from '@so/kimi-sim';
import { seededRandom } from '@so/kimi-sim/random';
import { announceRun, createBenchAccount, loadTokenText, runBench, saveBenchResults, startInProcessStack, withCleanups } from './bench-stack';
import { envFlag, envNumber, envNumberList, formatTable, httpJson, medianSpread, round } from './bench-util';

const ALL_STYLES: readonly SummarizerStyleOption[] = ['mix', 'exact', 'markdown-loose', 'bold', 'prose', 'json', 'verbose', 'lossy', 'truncated'];
const QUICK_STYLES: readonly SummarizerStyleOption[] = ['mix', 'lossy', 'prose', 'truncated'];
/** Styles whose reply is complete and readable: one summarizer call per compaction is the target. `truncated` is cut at max_tokens. */
const UNREADABLE_STYLES: readonly string[] = ['truncated'];
const TARGET_COST_RATIO = 0.5;
const TARGET_SURVIVAL = 0.95;
/** The sim's per-message overhead on top of content tokens (kimi-sim README, "Usage"), before its skew. */
const SIM_MESSAGE_OVERHEAD = 4;

type Kind = 'full' | 'sliding' | 'chunked' | 'ours';
interface PolicySpec {
  name: string;
  kind: Kind;
  style?: SummarizerStyleOption;
}

interface Params {
  quick: boolean;
  model: string;
  seed: number;
  rounds: number;
  system_tokens: number;
  user_tokens: number;
  reply_tokens: number;
  fact_every: number;
  policy: { auto_compact: boolean; trigger_tokens: number; keep_rounds: number; compress_ratio: number };
  styles: SummarizerStyleOption[];
  sweep_triggers: number[];
  conversation: { sessions: number; trigger_tokens: number; reply_tokens: number; user_tokens: [number, number] };
  /** The service's SUMMARIZER_FORMAT (json | markdown | auto); null = the service's default. */
  summarizer_format: string | null;
}

function params(): Params {
  const quick = envFlag('BENCH_QUICK');
  const stylesEnv = process.env.BENCH_STYLES?.trim();
  const styles = stylesEnv ? (stylesEnv.split(',').map((s) => s.trim()) as SummarizerStyleOption[]) : [...(quick ? QUICK_STYLES : ALL_STYLES)];
  for (const s of styles) if (!ALL_STYLES.includes(s)) throw new Error(`BENCH_STYLES: unknown style ${JSON.stringify(s)} (one of ${ALL_STYLES.join(', ')})`);
  return {
    quick,
    model: process.env.BENCH_MODEL?.trim() || 'kimi-k2.6',
    seed: envNumber('BENCH_SEED', 20261101),
    rounds: envNumber('BENCH_ROUNDS', quick ? 60 : 100),
    system_tokens: 2_000,
    user_tokens: 200,
    reply_tokens: 800,
    fact_every: envNumber('BENCH_FACT_EVERY', 5),
    policy: { auto_compact: true, trigger_tokens: envNumber('BENCH_TRIGGER_TOKENS', 40_000), keep_rounds: 3, compress_ratio: 4 },
    styles,
    sweep_triggers: quick ? [] : envNumberList('BENCH_SWEEP_TRIGGERS', [16_000, 24_000, 32_000, 64_000]),
    summarizer_format: process.env.BENCH_SUMMARIZER_FORMAT?.trim() || null,
    conversation: { sessions: 6, trigger_tokens: envNumber('BENCH_CONV_TRIGGER_TOKENS', 16_000), reply_tokens: envNumber('BENCH_CONV_REPLY_TOKENS', 400), user_tokens: [150, 260] },
  };
}

interface ChatMsg {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One planted exact value; `group` ties the values of one fact together. */
interface Planted {
  value: string;
  kind: string;
  turn: number;
  group: number;
}

/** What a run of one policy must send: system, user messages, idle gaps before turns (sim clock only). */
interface Script {
  label: string;
  system: string;
  messages: string[];
  /** ms of idle time before turn i (0 for none); applied with sim.advanceClock. */
  gapBeforeMs: number[];
  planted: Planted[];
  maxTokens: number;
  trigger: number;
  keepRounds: number;
  compressRatio: number;
}

interface TurnFigures {
  prompt_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  ms: number;
  window_tokens: number;
  compaction: Record<string, any> | null;
  truncated_by_client?: boolean;
}

/** A planted value is present when it occurs as a whole token (not inside a longer identifier or number). */
function present(text: string, value: string): boolean {
  const esc = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\p{L}\\p{N}_-])${esc}(?![\\p{L}\\p{N}_]|[.,]\\d)`, 'u').test(text);
}

const textOf = (msgs: Array<{ content?: unknown }>) => msgs.map((m) => (typeof m.content === 'string' ? m.content : m.content == null ? '' : JSON.stringify(m.content))).join('\n');

// ---------------------------------------------------------------- scenario 2: a generated conversation between people

const FRIENDS = ['Ana Ribeiro', 'Bruno Costa', 'Chen Wei', 'Dana Kowalski', 'Eitan Levi', 'Fatima Haddad'];
const CITIES = ['Lisbon', 'Porto', 'Seville', 'Granada', 'Valencia', 'Madeira', 'Bordeaux', 'Coimbra', 'Faro', 'Cordoba'];
const THIRD_FIRST = ['Marta', 'Joaquim', 'Inês', 'Rafael', 'Lucía', 'Tomás', 'Yuki', 'Kenji', 'Sofía', 'Mateo', 'Nino', 'Giorgi', 'Aiko', 'Pilar', 'Duarte', 'Beatriz', 'Hugo', 'Carmen'];
const THIRD_LAST = ['Quintela', 'Albuquerque', 'Serrano', 'Okafor', 'Nakamura', 'Vidal', 'Moreau', 'Beridze', 'Salgado', 'Iturbe', 'Fonseca', 'Mendes', 'Arriaga', 'Takeda'];
const HOTEL_A = ['Hotel', 'Casa', 'Pousada', 'Quinta', 'Residencial', 'Palacete'];
const HOTEL_B = ['Miramar', 'Santa Clara', 'Boa Vista', 'Sol Nascente', 'Flor de Lis', 'Alfama Verde', 'Dos Arcos', 'Monte Azul', 'das Laranjeiras', 'da Ribeira'];
const REST_A = ['Taberna', 'Cervejaria', 'Tasca', 'Restaurante', 'Bodega', 'Marisqueira'];
const REST_B = ['do Pescador', 'Velha', 'da Praça', 'O Farol', 'Os Amigos', 'La Perla', 'El Patio', 'Don Julio', 'Santo Amaro', 'do Largo'];
const LANDMARKS = ['Praça do Comércio', 'Torre de Belém', 'Plaza de España', 'Mercado da Ribeira', 'Jardim da Estrela', 'Puerta del Sol', 'Miradouro da Graça', 'Cais do Sodré', 'Alameda de Hércules', 'Largo do Carmo', 'Ponte Luís', 'Estação de São Bento'];
const ITEMS = ['car rental', 'museum tickets', 'boat tour', 'train tickets', 'cooking class', 'wine tasting', 'airport transfer', 'concert tickets'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const CHAT = [
  'That works for me.',
  'Sounds good, let us keep it that way.',
  'I can check that tonight after work.',
  'Does anyone mind an early start on that day?',
  'Please keep the receipts, we settle up at the end.',
  'I would rather not change it again.',
  'Let me ask my sister, she went there last year.',
  'The weather looks fine for that week.',
  'Can we keep one afternoon free for the beach?',
  'I am fine with whatever the group decides.',
  'Could you put that in the plan so we do not forget it?',
  'My phone battery is dying, I will read the rest later.',
];

function generateConversation(seed: number, P: Params['conversation'], tt: { countTokens(t: string): number; textOfTokens(seed: number, tokens: number): string }) {
  const rng = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
  const used = new Set<string>();
  const uniq = (gen: () => string): string | null => {
    for (let i = 0; i < 200; i++) {
      const v = gen();
      if (!used.has(v)) {
        used.add(v);
        return v;
      }
    }
    return null;
  };
  const friends = [...FRIENDS].sort(() => rng() - 0.5).slice(0, 4);
  const first = (full: string) => full.split(' ')[0];
  const trip = [...CITIES].sort(() => rng() - 0.5).slice(0, 3);
  const money = (n: number) => `€${n >= 1000 ? `${Math.floor(n / 1000)},${String(n % 1000).padStart(3, '0')}` : n}`;
  const gen = {
    date: () => uniq(() => `${int(1, 28)} ${MONTHS[int(3, 5)]} 2027`),
    time: () => uniq(() => `${String(int(6, 22)).padStart(2, '0')}:${String(int(0, 11) * 5).padStart(2, '0')}`),
    amount: (lo: number, hi: number) => uniq(() => money(int(lo, hi))),
    flight: () => uniq(() => `${pick(['TP', 'IB', 'VY', 'UX'])}-${int(1000, 9899)}`),
    conf: () => uniq(() => `${pick(['CONF', 'BK', 'RSV'])}-${int(10000, 99999)}`),
    third: () => uniq(() => `${pick(THIRD_FIRST)} ${pick(THIRD_LAST)}`),
    hotel: () => uniq(() => `${pick(HOTEL_A)} ${pick(HOTEL_B)}`),
    rest: () => uniq(() => `${pick(REST_A)} ${pick(REST_B)}`),
    landmark: () => uniq(() => pick(LANDMARKS)),
  };
  const planted: Planted[] = [];
  let group = 0;
  /** A fact sentence and its planted values, or null when a unique value ran out (another template is tried). */
  const fact = (turn: number, speaker: string): string | null => {
    const other = first(pick(friends.filter((f) => f !== speaker)));
    const P1 = first(speaker);
    const city = pick(trip);
    const t = int(0, 5);
    const vals: Array<[string, string | null]> = [];
    let s: string;
    if (t === 0) {
      const [code, date, time, amt] = [gen.flight(), gen.date(), gen.time(), gen.amount(90, 480)];
      vals.push(['code', code], ['date', date], ['time', time], ['amount', amt]);
      s = `${P1} booked flight ${code} from ${trip[0]} to ${city === trip[0] ? trip[1] : city} on ${date}, departing at ${time}; it was ${amt} per person.`;
    } else if (t === 1) {
      const [hotel, date, time, conf, amt] = [gen.hotel(), gen.date(), gen.time(), gen.conf(), gen.amount(300, 2400)];
      vals.push(['place', hotel], ['date', date], ['time', time], ['code', conf], ['amount', amt]);
      s = `${P1} reserved ${hotel} in ${city} from ${date} for ${int(2, 5)} nights, check-in after ${time}, confirmation ${conf}, ${amt} in total.`;
    } else if (t === 2) {
      const [date, time, rest, third, amt] = [gen.date(), gen.time(), gen.rest(), gen.third(), gen.amount(20, 150)];
      vals.push(['date', date], ['time', time], ['place', rest], ['name', third], ['amount', amt]);
      s = `Dinner on ${date} at ${time} is booked at ${rest} in ${city}, the table is under the name ${third}, with a ${amt} deposit.`;
    } else if (t === 3) {
      const [third, time, date, code] = [gen.third(), gen.time(), gen.date(), gen.conf()];
      vals.push(['name', third], ['time', time], ['date', date], ['code', code]);
      s = `Our guide in ${city} is ${third}; pickup at ${time} on ${date} in front of the hotel, booking ${code}.`;
    } else if (t === 4) {
      const [amt, amt2] = [gen.amount(60, 900), gen.amount(15, 300)];
      vals.push(['amount', amt], ['amount', amt2]);
      s = `${P1} paid ${amt} for the ${pick(ITEMS)}, so ${other} owes ${P1} ${amt2}.`;
    } else {
      const [place, date, time, third] = [gen.landmark(), gen.date(), gen.time(), gen.third()];
      vals.push(['place', place], ['date', date], ['time', time], ['name', third]);
      s = `We meet at ${place} on ${date} at ${time}, and ${third} brings the keys to the flat.`;
    }
    if (vals.some(([, v]) => v === null)) return null;
    group++;
    for (const [kind, v] of vals) planted.push({ value: v!, kind, turn, group });
    return s;
  };

  const messages: string[] = [];
  const gapBeforeMs: number[] = [];
  const sessions: Array<{ session: number; first_turn: number; turns: number; gap_before_h: number }> = [];
  for (let k = 1; k <= P.sessions; k++) {
    const turns = int(12, 16);
    const gapH = k === 1 ? 0 : int(18, 72);
    sessions.push({ session: k, first_turn: messages.length + 1, turns, gap_before_h: gapH });
    for (let i = 0; i < turns; i++) {
      const turn = messages.length + 1;
      const speaker = pick(friends);
      const parts: string[] = [];
      parts.push(i === 0 ? `${first(speaker)}: Hi all, picking the trip up again (planning session ${k}).` : `${first(speaker)}: ${pick(CHAT)}`);
      const target = int(P.user_tokens[0], P.user_tokens[1]);
      let f: string | null = null;
      if (rng() < 0.55) for (let tries = 0; tries < 3 && f === null; tries++) f = fact(turn, speaker);
      const fixed = tt.countTokens(parts.join(' ') + (f ?? '')) + 12;
      const filler = Math.max(20, target - fixed - SIM_MESSAGE_OVERHEAD);
      const a = tt.textOfTokens(seed + turn * 2, Math.floor(filler * 0.6));
      const b = tt.textOfTokens(seed + turn * 2 + 1, filler - Math.floor(filler * 0.6));
      parts.push(a);
      if (f) parts.push(f);
      parts.push(b);
      parts.push(pick(CHAT));
      messages.push(parts.join(' '));
      gapBeforeMs.push(i === 0 ? gapH * 3_600_000 : 0);
    }
  }
  const system = [
    'You are TripDesk, the planning assistant of a group of four friends: ' + friends.join(', ') + `. They are planning a trip to ${trip.join(', ')}.`,
    'Several friends write in the same chat; each message starts with the name of who wrote it. Keep every booking reference, date, time, amount, name and place exactly as given.',
    tt.textOfTokens(seed + 7, 900),
  ].join('\n');
  return { system, messages, gapBeforeMs, planted, sessions, friends, trip };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const P = params();
  const { machine, commit, started } = announceRun('rolling-cost bench: full history vs one-turn sliding window vs chunked truncation vs ours (per summarizer style)', [
    `mode:    ${P.quick ? 'BENCH_QUICK' : 'full'}: model ${P.model}; scenario 1: ${P.rounds} rounds, system ~${P.system_tokens}, user ~${P.user_tokens}, reply ${P.reply_tokens} tokens, a fact every ${P.fact_every} rounds; trigger_tokens ${P.policy.trigger_tokens}, keep_rounds ${P.policy.keep_rounds}, compress_ratio ${P.policy.compress_ratio}; ours styles: ${P.styles.join(', ')}; service SUMMARIZER_FORMAT ${P.summarizer_format ?? '(default)'}`,
    `         scenario 2: ${P.conversation.sessions}-session conversation between people (seed ${P.seed}), trigger_tokens ${P.conversation.trigger_tokens}, max_tokens ${P.conversation.reply_tokens}`,
  ]);
  return withCleanups('rolling-cost', async (cleanups) => {
    const { KIMI_MODELS, CACHE_WRITE_MULTIPLIER } = await import('@so/kimi-sim');
    const tt = await loadTokenText();
    const { countTokens, textOfTokens } = tt;
    const { default: OpenAI } = await import('openai');
    const prices = KIMI_MODELS.find((m) => m.id === P.model);
    if (!prices) throw new Error(`model ${P.model} is not one kimi-sim serves (${KIMI_MODELS.map((m) => m.id).join(', ')})`);
    /** Client-side price of one request, cache writes included (billed on top of the miss price; 1x for 5m, 2x for 1h). */
    const priced = (prompt: number, cached: number, completion: number, write: number, ttl: string | null = null) =>
      ((prompt - cached) * prices.inputCacheMissPerM + cached * prices.inputCacheHitPerM + completion * prices.outputPerM) / 1e6 +
      (write * prices.inputCacheMissPerM * (ttl === '1h' ? CACHE_WRITE_MULTIPLIER['1h'] : CACHE_WRITE_MULTIPLIER['5m'])) / 1e6;

    const { sim, handle } = await startInProcessStack(cleanups, { sim: { replyTokens: P.reply_tokens, requestLogSize: 60_000 }, env: { LLM_MODEL: P.model, ...(P.summarizer_format ? { SUMMARIZER_FORMAT: P.summarizer_format } : {}) } });
    const listed: any = await (await fetch(`${sim.baseUrl}/models`, { headers: { authorization: 'Bearer sim-check' } })).json();
    if (!(listed.data as Array<{ id: string }>).some((m) => m.id === P.model)) throw new Error(`${P.model} is not in the upstream's /v1/models`);
    const json = (method: string, path: string, key: string, body?: unknown, expect = 200) => httpJson(handle.url, method, path, key, body, expect);
    const msgTokens = (m: ChatMsg) => countTokens(m.content) + SIM_MESSAGE_OVERHEAD;

    // ---------------------------------------------------------------- scenario 1: the scripted rounds
    const factLine = (n: number) => `FACT-${n}: the deploy token for service s${n} is K${n}X.`;
    const SYSTEM = `You are the deploy assistant for a fleet of services. Keep every deploy token the user gives you.\n${textOfTokens(7, P.system_tokens - 24)}`;
    const planted1: Planted[] = [];
    const script1Messages = Array.from({ length: P.rounds }, (_, i) => {
      const r = i + 1;
      const hasFact = r % P.fact_every === 0;
      const factTokens = hasFact ? countTokens(factLine(r)) + 2 : 0;
      const body = P.user_tokens - SIM_MESSAGE_OVERHEAD - factTokens - 4;
      const a = textOfTokens(1_000 + r * 2, Math.floor(body / 2));
      const b = textOfTokens(1_001 + r * 2, body - Math.floor(body / 2));
      if (hasFact) planted1.push({ value: `FACT-${r}`, kind: 'fact_id', turn: r, group: r }, { value: `K${r}X`, kind: 'token', turn: r, group: r });
      return hasFact ? `Round ${r}. ${a}\n${factLine(r)}\n${b}` : `Round ${r}. ${a} ${b}`;
    });
    const script1 = (trigger: number): Script => ({
      label: `scripted-${trigger}`,
      system: SYSTEM,
      messages: script1Messages,
      gapBeforeMs: script1Messages.map(() => 0),
      planted: planted1,
      maxTokens: P.reply_tokens,
      trigger,
      keepRounds: P.policy.keep_rounds,
      compressRatio: P.policy.compress_ratio,
    });
    console.log(
      `script 1: system ${msgTokens({ role: 'system', content: SYSTEM })} tokens (o200k), user ${msgTokens({ role: 'user', content: script1Messages[0] })}..${msgTokens({ role: 'user', content: script1Messages[P.fact_every - 1] })}, ${planted1.length / 2} facts = ${planted1.length} exact values planted`,
    );

    // ---------------------------------------------------------------- one run: policies interleaved turn by turn
    const runScript = async (script: Script, policies: PolicySpec[], verbose: boolean) => {
      const log = (line: string) => verbose && console.log(line);
      const tag = `${script.label}-${randomBytes(3).toString('hex')}`;
      const systemTokens = msgTokens({ role: 'system', content: script.system });

      interface Runner {
        spec: PolicySpec;
        simKey: string;
        turns: TurnFigures[];
        error: string | null;
        clientTruncations: number;
        sessionId: string | null;
        apiKey: string | null;
        turn(r: number): Promise<TurnFigures>;
        finalMessages(): Promise<ChatMsg[]>;
        firstDropRound?: number | null;
      }

      const serviceTurn = async (key: string, sessionId: string, content: string): Promise<TurnFigures> => {
        const t0 = performance.now();
        const r = await json('POST', `/v1/sessions/${sessionId}/messages`, key, { messages: [{ role: 'user', content }], max_tokens: script.maxTokens });
        const ms = performance.now() - t0;
        const u = r.usage ?? {};
        return {
          prompt_tokens: u.prompt_tokens ?? 0,
          cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0,
          cache_write_tokens: u.prompt_tokens_details?.cache_write_tokens ?? 0,
          completion_tokens: u.completion_tokens ?? 0,
          cost_usd: u.cost_usd ?? 0,
          ms,
          window_tokens: r.session_usage?.window_tokens ?? NaN,
          compaction: r.compaction ?? null,
        };
      };

      const makeRunner = async (spec: PolicySpec): Promise<Runner> => {
        const simKey = `sim-rc-${spec.name.replace(/[^a-z0-9-]/gi, '-')}-${tag}`;
        const base = { spec, simKey, turns: [] as TurnFigures[], error: null as string | null, clientTruncations: 0 };
        if (spec.kind === 'sliding') {
          const client = new OpenAI({ apiKey: simKey, baseURL: sim.baseUrl, maxRetries: 0, timeout: 120_000 });
          const history: ChatMsg[] = [];
          let last: ChatMsg[] = [];
          let prevStart = 0;
          const runner: Runner = {
            ...base,
            sessionId: null,
            apiKey: null,
            firstDropRound: null,
            async turn(r) {
              history.push({ role: 'user', content: script.messages[r] });
              let start = history.length - 1;
              let tokens = systemTokens + msgTokens(history[start]) + script.maxTokens;
              while (start >= 2) {
                const add = msgTokens(history[start - 2]) + msgTokens(history[start - 1]);
                if (tokens + add > script.trigger) break;
                tokens += add;
                start -= 2;
              }
              if (start > prevStart) {
                runner.clientTruncations += (start - prevStart) / 2;
                runner.firstDropRound ??= r + 1;
              }
              prevStart = start;
              last = [{ role: 'system', content: script.system }, ...history.slice(start)];
              const t0 = performance.now();
              const res = await client.chat.completions.create({ model: P.model, messages: last, max_tokens: script.maxTokens });
              const ms = performance.now() - t0;
              history.push({ role: 'assistant', content: res.choices[0].message.content ?? '' });
              const u = res.usage as unknown as { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number } };
              const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
              const write = u.prompt_tokens_details?.cache_write_tokens ?? 0;
              return { prompt_tokens: u.prompt_tokens, cached_tokens: cached, cache_write_tokens: write, completion_tokens: u.completion_tokens, cost_usd: priced(u.prompt_tokens, cached, u.completion_tokens, write), ms, window_tokens: tokens - script.maxTokens, compaction: null };
            },
            finalMessages: () => Promise.resolve(last),
          };
          return runner;
        }
        const apiKey = (await createBenchAccount(handle.url, { name: `bench-rolling-${spec.name}-${tag}`, sessionLimit: 1_000, simBaseUrl: sim.baseUrl, simKey, model: P.model })).api_key;
        const policy = spec.kind === 'ours' ? { auto_compact: true, trigger_tokens: script.trigger, keep_rounds: script.keepRounds, compress_ratio: script.compressRatio } : { auto_compact: false };
        const session = await json('POST', '/v1/sessions', apiKey, { system: script.system, title: `rolling-cost ${spec.name}`, policy }, 201);
        // chunked: the client's own view of its next request: the last turn's total tokens (the upstream's count).
        let lastTotal = systemTokens;
        const runner: Runner = {
          ...base,
          sessionId: session.id,
          apiKey,
          async turn(r) {
            const content = script.messages[r];
            let truncated = false;
            if (spec.kind === 'chunked' && lastTotal + msgTokens({ role: 'user', content }) + script.maxTokens > script.trigger) {
              const ctx = await json('POST', `/v1/sessions/${session.id}/truncate`, apiKey, { preserve_len: Math.max(4096, Math.floor(script.trigger / 2)) });
              runner.clientTruncations++;
              truncated = true;
              lastTotal = ctx.tokens?.total ?? lastTotal;
            }
            if (spec.style) sim.configure({ summarizerStyle: spec.style });
            const f = await serviceTurn(apiKey, session.id, content);
            lastTotal = f.prompt_tokens + f.completion_tokens;
            return truncated ? { ...f, truncated_by_client: true } : f;
          },
          finalMessages: async () => (await json('GET', `/v1/sessions/${session.id}/context`, apiKey)).messages,
        };
        return runner;
      };

      const runners: Runner[] = [];
      for (const p of policies) runners.push(await makeRunner(p));
      const tRun = performance.now();
      let idleNotedMs = 0;
      for (let r = 0; r < script.messages.length; r++) {
        if (script.gapBeforeMs[r] > 0) {
          // The idle gap, on the simulator's clock only: every prefix cache expires (the service is not made to wait).
          (sim).advanceClock(script.gapBeforeMs[r]);
          idleNotedMs += script.gapBeforeMs[r];
          log(`  -- idle ${(script.gapBeforeMs[r] / 3_600_000).toFixed(0)} h before turn ${r + 1} (sim clock advanced; every cache cold)`);
        }
        for (const x of runners) {
          if (x.error) continue;
          try {
            const f = await x.turn(r);
            x.turns.push(f);
            if (f.compaction && x.spec.kind === 'ours' && x.spec.style === 'mix') {
              const c = f.compaction;
              log(`  turn ${r + 1}: ${x.spec.name} ${c.action} (${c.trigger ?? '-'}, ${c.path ?? c.reason ?? '-'}): window ${c.window_tokens_before} -> ${c.window_tokens_after}, calls ${c.summarizer_calls ?? '-'}, facts in ${c.facts?.facts_in ?? '-'} kept ${c.facts?.kept_by_model ?? '-'} restored ${c.facts?.restored ?? '-'} dropped ${c.facts?.dropped?.length ?? '-'}`);
            }
          } catch (err) {
            x.error = `turn ${r + 1}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 400);
            console.log(`  ${x.spec.name} FAILED at ${x.error}`);
          }
        }
        if (verbose && ((r + 1) % 20 === 0 || r + 1 === script.messages.length)) {
          const stats = sim.stats();
          log(`  turn ${r + 1}/${script.messages.length}: ` + runners.map((x) => `${x.spec.name} $${(stats.keys[x.simKey]?.cost_usd ?? 0).toFixed(3)}`).join(' | '));
        }
      }
      const runS = (performance.now() - tRun) / 1000;

      // ---------------------------------------------------------------- figures
      const stats = sim.stats();
      const reqLog = sim.requests(60_000);
      const results = [];
      for (const x of runners) {
        const k = stats.keys[x.simKey];
        const mine = reqLog.filter((q) => q.key === x.simKey);
        const byPurpose: Record<string, { requests: number; prompt_tokens: number; cached_tokens: number; cache_write_tokens: number; completion_tokens: number; cost_usd: number }> = {};
        let logCost = 0;
        for (const q of mine) {
          if (q.status !== 200) continue;
          const c = priced(q.prompt_tokens, q.cached_tokens, q.completion_tokens, q.cache_write_tokens ?? 0, q.cache_ttl);
          logCost += c;
          const o = (byPurpose[q.purpose ?? 'direct'] ??= { requests: 0, prompt_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, completion_tokens: 0, cost_usd: 0 });
          o.requests++;
          o.prompt_tokens += q.prompt_tokens;
          o.cached_tokens += q.cached_tokens;
          o.cache_write_tokens += q.cache_write_tokens ?? 0;
          o.completion_tokens += q.completion_tokens;
          o.cost_usd += c;
        }
        for (const o of Object.values(byPurpose)) o.cost_usd = round(o.cost_usd, 6);
        const compressLog = mine.filter((q) => q.purpose === 'compress');
        const compressStyles: Record<string, number> = {};
        for (const q of compressLog) compressStyles[q.summarizer_style ?? 'none'] = (compressStyles[q.summarizer_style ?? 'none'] ?? 0) + 1;

        // Compactions: as the turns reported them, and as the session's events list them.
        const compactions: Array<Record<string, any>> = x.turns.flatMap((f, i) => (f.compaction ? [{ turn: i + 1, ...f.compaction }] : []));
        let events: Array<{ id: number; type: string; data: Record<string, any> }> = [];
        if (x.sessionId && x.apiKey) {
          let after = 0;
          for (;;) {
            const page = await json('GET', `/v1/sessions/${x.sessionId}/events?limit=100${after ? `&after=${after}` : ''}`, x.apiKey).catch(() => null);
            if (!page) break;
            events.push(...page.data);
            if (!page.has_more || !page.data.length) break;
            after = page.data[page.data.length - 1].id;
          }
        }
        events = events.filter((e) => e.type === 'compaction' || e.type === 'compaction_fallback');
        const compressedEvents = events.filter((e) => (e.data.action ?? (e.type === 'compaction' ? 'compressed' : 'truncated')) === 'compressed');
        const compressed = compactions.filter((c) => c.action === 'compressed');
        const nCompressed = Math.max(compressed.length, compressedEvents.length);
        const callsFromEvents = compressedEvents.reduce((n, e) => n + (typeof e.data.summarizer_calls === 'number' ? e.data.summarizer_calls : NaN), 0);
        const maxCallsOne = compressedEvents.reduce((m, e) => Math.max(m, typeof e.data.summarizer_calls === 'number' ? e.data.summarizer_calls : NaN), 0);
        const count = (xs: Array<string | undefined>) => {
          const out: Record<string, number> = {};
          for (const v of xs) out[v ?? '-'] = (out[v ?? '-'] ?? 0) + 1;
          return out;
        };
        // The facts totals of the compactions: from the events (the record), and from the turn responses (cross-check).
        const factsOf = (list: Array<Record<string, any> | undefined>) => {
          const t = { facts_in: 0, kept_by_model: 0, restored: 0, dropped: 0 };
          for (const f of list) {
            if (!f) continue;
            t.facts_in += f.facts_in ?? 0;
            t.kept_by_model += f.kept_by_model ?? 0;
            t.restored += f.restored ?? 0;
            t.dropped += f.dropped?.length ?? 0;
          }
          return t;
        };
        const factsFromEvents = factsOf(events.map((e) => e.data.facts));
        const factsFromTurns = factsOf(compactions.map((c) => c.facts));
        const factsTotals = events.length ? factsFromEvents : factsFromTurns;
        const eventsAgree = events.length === compactions.length && JSON.stringify(factsFromEvents) === JSON.stringify(factsFromTurns);
        const droppedNamed: string[] = [];
        for (const c of compactions) droppedNamed.push(...((c.facts?.dropped as string[] | undefined) ?? []));
        for (const e of events) droppedNamed.push(...((e.data.facts?.dropped as string[] | undefined) ?? []));

        // Exact-fact survival in the final window.
        let finalText = '';
        let finalError: string | null = null;
        try {
          finalText = textOf(await x.finalMessages());
        } catch (err) {
          finalError = err instanceof Error ? err.message : String(err);
        }
        const kept = script.planted.filter((p) => present(finalText, p.value));
        const keptSet = new Set(kept);
        const lost = script.planted.filter((p) => !keptSet.has(p));
        const isNamed = (p: Planted) => droppedNamed.some((d) => d === p.value || d.includes(p.value));
        const named = lost.filter(isNamed);
        const silent = lost.filter((p) => !isNamed(p));
        const groups = [...new Set(script.planted.map((p) => p.group))];
        const wholeFacts = groups.filter((g) => script.planted.filter((p) => p.group === g).every((p) => keptSet.has(p))).length;
        const byKind: Record<string, { planted: number; kept: number }> = {};
        for (const p of script.planted) {
          const o = (byKind[p.kind] ??= { planted: 0, kept: 0 });
          o.planted++;
          if (keptSet.has(p)) o.kept++;
        }
        const reported = x.sessionId && x.apiKey ? (await json('GET', `/v1/sessions/${x.sessionId}`, x.apiKey).catch(() => null))?.usage ?? null : null;
        const cost = k?.cost_usd ?? NaN;
        results.push({
          policy: x.spec.name,
          kind: x.spec.kind,
          style: x.spec.style ?? null,
          sim_key: x.simKey,
          error: x.error ?? finalError,
          turns: x.turns.length,
          requests: k?.requests ?? 0,
          prompt_tokens: k?.prompt_tokens ?? 0,
          cached_tokens: k?.cached_tokens ?? 0,
          cache_write_tokens: k?.cache_write_tokens ?? 0,
          completion_tokens: k?.completion_tokens ?? 0,
          cost_usd: round(cost, 6),
          cache_write_cost_usd: round(k?.cache_write_cost_usd ?? NaN, 6),
          cost_usd_without_write_billing: round(cost - (k?.cache_write_cost_usd ?? 0), 6),
          input_cost_usd: round(cost - ((k?.completion_tokens ?? 0) * prices.outputPerM) / 1e6, 6),
          cost_usd_from_request_log: round(logCost, 6),
          cache_hit_share: round((k?.cached_tokens ?? 0) / Math.max(1, k?.prompt_tokens ?? 0), 4),
          by_purpose: byPurpose,
          service_reported_usage: reported,
          compactions: compactions.length,
          compressed: nCompressed,
          compaction_events: events.length,
          client_truncations: x.clientTruncations,
          sliding_first_drop_turn: x.firstDropRound ?? null,
          compactions_by_trigger: count(compactions.map((c) => c.trigger)),
          compactions_by_action: count(compactions.map((c) => c.action)),
          paths: count(compressed.map((c) => c.path)),
          read_as: count(compressed.map((c) => c.read_as)),
          summarizer_calls: {
            from_events: callsFromEvents,
            from_sim_log: compressLog.length,
            per_compaction_events: nCompressed ? round(callsFromEvents / nCompressed, 3) : null,
            per_compaction_sim_log: nCompressed ? round(compressLog.length / nCompressed, 3) : null,
            max_in_one_compaction: nCompressed ? maxCallsOne : null,
            by_style_sim_log: compressStyles,
            by_style_sim_stats: k?.by_summarizer_style ?? {},
          },
          summarizer_cost_usd: {
            reported_by_compactions: round(compactions.reduce((n, c) => n + (c.cost_usd ?? 0), 0), 6),
            billed_by_sim: byPurpose['compress']?.cost_usd ?? 0,
            expected_summarizer: round(compactions.reduce((n, c) => n + (c.expected_cost_usd?.summarizer ?? 0), 0), 6),
            expected_prefix_rewrite: round(compactions.reduce((n, c) => n + (c.expected_cost_usd?.prefix_rewrite ?? 0), 0), 6),
          },
          facts_reported: factsTotals,
          facts_reported_by_turn_responses: factsFromTurns,
          events_agree_with_turn_responses: x.spec.kind === 'ours' ? eventsAgree : null,
          exact_facts: {
            planted: script.planted.length,
            kept: kept.length,
            share: round(kept.length / Math.max(1, script.planted.length), 4),
            whole_facts: wholeFacts,
            facts: groups.length,
            lost_named: named.length,
            silently_lost: silent.length,
            silently_lost_values: silent.slice(0, 40).map((p) => `${p.value} (turn ${p.turn})`),
            lost_named_values: named.slice(0, 40).map((p) => p.value),
            by_kind: byKind,
          },
          final_window_tokens: x.turns.at(-1)?.window_tokens ?? null,
          max_window_tokens: x.turns.length ? Math.max(...x.turns.map((t) => t.window_tokens).filter(Number.isFinite)) : null,
          window_after_compaction: medianSpread(compactions.map((c) => Number(c.window_tokens_after)), 0),
          turn_ms: medianSpread(x.turns.map((t) => t.ms), 1),
          compaction_list: compactions.map((c) => ({
            turn: c.turn, action: c.action, trigger: c.trigger, method: c.method, path: c.path, read_as: c.read_as, summarizer_calls: c.summarizer_calls,
            cost_usd: c.cost_usd, expected_cost_usd: c.expected_cost_usd, facts: c.facts, window_tokens_before: c.window_tokens_before, window_tokens_after: c.window_tokens_after,
            input_tokens: c.input_tokens, output_tokens: c.output_tokens, achieved_ratio: c.achieved_ratio, folded_outlines: c.folded_outlines,
          })),
          per_turn: x.turns.map((t) => [t.prompt_tokens, t.cached_tokens, t.cache_write_tokens, t.completion_tokens, t.window_tokens, t.compaction ? 1 : t.truncated_by_client ? 2 : 0]),
        });
      }
      const full = results.find((s) => s.kind === 'full')!;
      const rel = (s: { cost_usd: number }) => round(s.cost_usd / full.cost_usd, 3);
      const relNoWrite = (s: { cost_usd_without_write_billing: number }) => round(s.cost_usd_without_write_billing / full.cost_usd_without_write_billing, 3);
      const relInput = (s: { input_cost_usd: number }) => round(s.input_cost_usd / full.input_cost_usd, 3);
      return { script: script.label, trigger: script.trigger, results, rel, relNoWrite, relInput, runS, idleNotedH: idleNotedMs / 3_600_000 };
    };
    type Run = Awaited<ReturnType<typeof runScript>>;
    type Row = Run['results'][number];

    const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-');
    const fx = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
    const callsCell = (s: Row) => (s.kind !== 'ours' ? '-' : `${fx(s.summarizer_calls.per_compaction_events, 2)} / ${fx(s.summarizer_calls.per_compaction_sim_log, 2)}`);
    const compactionsCell = (s: Row) =>
      s.kind === 'ours' ? `${s.compressed}${s.compactions - s.compressed ? ` +${s.compactions - s.compressed} trunc` : ''}` : s.kind === 'full' ? '0' : s.kind === 'sliding' ? `${s.client_truncations} drops` : `${s.client_truncations} cuts`;
    const mainTable = (run: Run) =>
      formatTable(
        ['policy', 'cost $', 'vs full', 'vs full (no write billing)', 'vs full (input)', 'cache hit', 'write tok', 'compactions', 'calls/compaction ev / sim', 'exact values', 'whole facts', 'restored', 'named dropped', 'silently lost', 'max window'],
        run.results.map((s) => [
          s.error ? `${s.policy} (ERROR)` : s.policy,
          fx(s.cost_usd, 4),
          fx(run.rel(s)),
          fx(run.relNoWrite(s)),
          fx(run.relInput(s)),
          pct(s.cache_hit_share),
          s.cache_write_tokens,
          compactionsCell(s),
          callsCell(s),
          `${s.exact_facts.kept}/${s.exact_facts.planted} ${pct(s.exact_facts.share)}`,
          `${s.exact_facts.whole_facts}/${s.exact_facts.facts}`,
          s.kind === 'ours' ? s.facts_reported.restored : '-',
          s.kind === 'ours' ? s.facts_reported.dropped : '-',
          s.kind === 'ours' ? s.exact_facts.silently_lost : `(${s.exact_facts.planted - s.exact_facts.kept} lost, unreported)`,
          s.max_window_tokens ?? '-',
        ]),
      );
    const oursDetail = (run: Run) =>
      formatTable(
        ['ours style', 'compress calls (sim style)', 'read_as', 'paths', 'events facts: in / kept by model / restored / dropped', 'summarizer $ sim / reported / expected', 'prefix rewrite $ exp.', 'window after (median)'],
        run.results
          .filter((s) => s.kind === 'ours')
          .map((s) => [
            s.style ?? s.policy,
            `${s.summarizer_calls.from_sim_log} ${JSON.stringify(s.summarizer_calls.by_style_sim_log).replace(/"/g, '')}`,
            JSON.stringify(s.read_as).replace(/"/g, ''),
            JSON.stringify(s.paths).replace(/"/g, ''),
            `${s.facts_reported.facts_in} / ${s.facts_reported.kept_by_model} / ${s.facts_reported.restored} / ${s.facts_reported.dropped}`,
            `${fx(s.summarizer_cost_usd.billed_by_sim, 4)} / ${fx(s.summarizer_cost_usd.reported_by_compactions, 4)} / ${fx(s.summarizer_cost_usd.expected_summarizer, 4)}`,
            fx(s.summarizer_cost_usd.expected_prefix_rewrite, 4),
            fx(s.window_after_compaction.median, 0),
          ]),
      );

    // ---------------------------------------------------------------- scenario 1
    const baselines: PolicySpec[] = [
      { name: 'full', kind: 'full' },
      { name: 'sliding', kind: 'sliding' },
      { name: 'chunked', kind: 'chunked' },
    ];
    const oursSpecs: PolicySpec[] = P.styles.map((style) => ({ name: `ours:${style}`, kind: 'ours', style }));
    console.log(`\nscenario 1: ${P.rounds} scripted rounds, trigger ${P.policy.trigger_tokens}; interleaved every round: ${[...baselines, ...oursSpecs].map((p) => p.name).join(', ')}`);
    const main1 = await runScript(script1(P.policy.trigger_tokens), [...baselines, ...oursSpecs], true);
    console.log(`  ${main1.runS.toFixed(0)} s`);

    const sweep: Run[] = [];
    for (const t of P.sweep_triggers) {
      if (t === P.policy.trigger_tokens) continue;
      const r = await runScript(script1(t), [...baselines, { name: 'ours:mix', kind: 'ours', style: 'mix' }], false);
      sweep.push(r);
      const o = r.results.find((s) => s.kind === 'ours')!;
      console.log(`  sweep trigger ${t}: ours/full ${fx(r.rel(o))}, ${o.compressed} compactions, exact values ${o.exact_facts.kept}/${o.exact_facts.planted} (${r.runS.toFixed(0)} s)`);
    }

    // ---------------------------------------------------------------- scenario 2
    const conv = generateConversation(P.seed, P.conversation, tt);
    const script2: Script = {
      label: 'conversation',
      system: conv.system,
      messages: conv.messages,
      gapBeforeMs: conv.gapBeforeMs,
      planted: conv.planted,
      maxTokens: P.conversation.reply_tokens,
      trigger: P.conversation.trigger_tokens,
      keepRounds: P.policy.keep_rounds,
      compressRatio: P.policy.compress_ratio,
    };
    const convUserTokens = conv.messages.map((m) => msgTokens({ role: 'user', content: m }));
    console.log(
      `\nscenario 2: ${conv.sessions.length} sessions (${conv.sessions.map((s) => s.turns).join('+')} = ${conv.messages.length} turns) between ${conv.friends.join(', ')}, trip ${conv.trip.join(' -> ')}; user messages ${Math.min(...convUserTokens)}..${Math.max(...convUserTokens)} tokens, system ${msgTokens({ role: 'system', content: conv.system })}; ${new Set(conv.planted.map((p) => p.group)).size} facts = ${conv.planted.length} exact values planted (${Object.entries(conv.planted.reduce<Record<string, number>>((o, p) => ((o[p.kind] = (o[p.kind] ?? 0) + 1), o), {})).map(([k, n]) => `${k} ${n}`).join(', ')})`,
    );
    console.log(`  idle gaps ${conv.sessions.slice(1).map((s) => `${s.gap_before_h} h`).join(', ')}: noted on the simulator's clock only (no sleeping; the service's cold-cache trigger is not exercised)`);
    const main2 = await runScript(script2, [{ name: 'full', kind: 'full' }, { name: 'chunked', kind: 'chunked' }, { name: 'ours:mix', kind: 'ours', style: 'mix' }], true);
    console.log(`  ${main2.runS.toFixed(0)} s`);

    // ---------------------------------------------------------------- report
    const out: string[] = [''];
    out.push(`Scenario 1: ${P.rounds} scripted rounds, trigger ${P.policy.trigger_tokens} (${P.model}: $${prices.inputCacheMissPerM}/M miss, $${prices.inputCacheHitPerM}/M hit, $${prices.outputPerM}/M output, cache writes 1x miss price (5m TTL) on top; sim per-key bill)`);
    out.push(mainTable(main1));
    out.push('calls/compaction: summarizer calls per compressing compaction, from the events\' summarizer_calls / from the sim request log\'s compress calls; exact values: planted FACT-<n> and K<n>X in the final window (outlines included)');
    out.push('');
    out.push('Scenario 1, ours per summarizer style');
    out.push(oursDetail(main1));
    const mix1 = main1.results.find((s) => s.style === 'mix');
    if (mix1) {
      out.push(`ours:mix compactions: ${mix1.compaction_list.map((c) => `t${c.turn} ${c.action}/${c.trigger ?? '-'} ${c.window_tokens_before}->${c.window_tokens_after}`).join(', ') || 'none'}`);
      out.push(`ours:mix service-reported session cost $${fx(Number(mix1.service_reported_usage?.cost_usd), 4)} vs sim bill $${fx(mix1.cost_usd, 4)}; full $${fx(Number(main1.results[0].service_reported_usage?.cost_usd), 4)} vs $${fx(main1.results[0].cost_usd, 4)}`);
    }
    const disagree = [...main1.results, ...main2.results].filter((s) => s.events_agree_with_turn_responses === false).map((s) => s.policy);
    out.push(`events vs turn responses (compaction count, facts totals): ${disagree.length ? `DISAGREE for ${disagree.join(', ')}` : 'agree for every ours run'}`);
    const billGap = Math.max(...main1.results.map((s) => Math.abs(s.cost_usd - s.cost_usd_from_request_log)));
    out.push(`bill check: sim per-key cost_usd vs priced() over the sim request log (writes included): largest difference $${billGap.toFixed(6)}`);
    for (const s of main1.results) if (s.exact_facts.silently_lost && s.kind === 'ours') out.push(`  ${s.policy} silently lost: ${s.exact_facts.silently_lost_values.join(', ')}`);
    for (const s of [...main1.results, ...main2.results]) if (s.error) out.push(`  ERROR ${s.policy}: ${s.error}`);
    if (sweep.length) {
      const rows = [main1, ...sweep].sort((a, b) => a.trigger - b.trigger);
      out.push('');
      out.push('Scenario 1, trigger sweep (ours = mix style; sliding budget and chunked trigger = the trigger)');
      out.push(
        formatTable(
          ['trigger', 'full $', 'ours $', 'ours/full', 'ours cache hit', 'compactions', 'calls/compaction', 'ours exact values', 'silently lost', 'sliding/full', 'chunked/full', 'chunked values'],
          rows.map((r) => {
            const o = r.results.find((s) => s.style === 'mix')!;
            const sl = r.results.find((s) => s.kind === 'sliding')!;
            const ch = r.results.find((s) => s.kind === 'chunked')!;
            return [
              r === main1 ? `${r.trigger} (main)` : String(r.trigger),
              fx(r.results[0].cost_usd, 4),
              fx(o.cost_usd, 4),
              fx(r.rel(o)),
              pct(o.cache_hit_share),
              o.compressed,
              fx(o.summarizer_calls.per_compaction_sim_log, 2),
              `${o.exact_facts.kept}/${o.exact_facts.planted}`,
              o.exact_facts.silently_lost,
              fx(r.rel(sl)),
              fx(r.rel(ch)),
              `${ch.exact_facts.kept}/${ch.exact_facts.planted}`,
            ];
          }),
        ),
      );
    }
    out.push('');
    out.push(`Scenario 2: ${conv.sessions.length}-session conversation between people, ${conv.messages.length} turns, trigger ${P.conversation.trigger_tokens}, max_tokens ${P.conversation.reply_tokens}; idle gaps (sim clock only) ${conv.sessions.slice(1).map((s) => `${s.gap_before_h} h`).join(', ')}`);
    out.push(mainTable(main2));
    const kinds = [...new Set(conv.planted.map((p) => p.kind))];
    out.push(
      formatTable(
        ['policy', ...kinds.map((k) => `${k} kept`), 'silently lost'],
        main2.results.map((s) => [s.policy, ...kinds.map((k) => `${s.exact_facts.by_kind[k]?.kept ?? 0}/${s.exact_facts.by_kind[k]?.planted ?? 0}`), s.kind === 'ours' ? s.exact_facts.silently_lost : '-']),
      ),
    );
    const mix2 = main2.results.find((s) => s.kind === 'ours')!;
    out.push(`ours:mix compactions: ${mix2.compaction_list.map((c) => `t${c.turn} ${c.action}/${c.trigger ?? '-'} ${c.path ?? '-'} ${c.window_tokens_before}->${c.window_tokens_after}`).join(', ') || 'none'}`);
    out.push(`ours:mix summarizer calls by sim style: ${JSON.stringify(mix2.summarizer_calls.by_style_sim_log).replace(/"/g, '')}; paths ${JSON.stringify(mix2.paths).replace(/"/g, '')}; facts in ${mix2.facts_reported.facts_in}, kept by model ${mix2.facts_reported.kept_by_model}, restored ${mix2.facts_reported.restored}, dropped (named) ${mix2.facts_reported.dropped}`);
    if (mix2.exact_facts.silently_lost) out.push(`  silently lost: ${mix2.exact_facts.silently_lost_values.join(', ')}`);
    if (mix2.exact_facts.lost_named) out.push(`  named as dropped: ${mix2.exact_facts.lost_named_values.join(', ')}`);

    // ---------------------------------------------------------------- targets
    type Target = { name: string; target: string; value: string; pass: boolean | null };
    const targets: Target[] = [];
    const oursRows = main1.results.filter((s) => s.kind === 'ours');
    const byStyle = (st: string) => oursRows.find((s) => s.style === st);
    const scope = P.rounds === 100 ? '' : ` [${P.rounds} rounds, not 100]`;
    if (mix1) {
      targets.push({ name: `S1 ours (mix) cost / full-history cost, writes billed${scope}`, target: `<= ${TARGET_COST_RATIO}`, value: fx(main1.rel(mix1)), pass: !mix1.error && main1.rel(mix1) <= TARGET_COST_RATIO });
    }
    for (const st of ['mix', 'lossy']) {
      const s = byStyle(st);
      if (s) targets.push({ name: `S1 exact facts in final window, ${st}`, target: `>= ${TARGET_SURVIVAL * 100}%`, value: `${pct(s.exact_facts.share)} (${s.exact_facts.kept}/${s.exact_facts.planted})`, pass: !s.error && s.exact_facts.share >= TARGET_SURVIVAL });
    }
    if (oursRows.length) {
      const worst = oursRows.reduce((a, b) => (b.exact_facts.share < a.exact_facts.share ? b : a));
      targets.push({ name: `S1 exact facts, every style (worst)`, target: `>= ${TARGET_SURVIVAL * 100}%`, value: `${pct(worst.exact_facts.share)} (${worst.style})`, pass: oursRows.every((s) => !s.error && s.exact_facts.share >= TARGET_SURVIVAL) });
      const readable = oursRows.filter((s) => !UNREADABLE_STYLES.includes(s.style ?? ''));
      const off = readable.filter((s) => !(s.compressed > 0 && s.summarizer_calls.per_compaction_events === 1 && s.summarizer_calls.per_compaction_sim_log === 1 && s.summarizer_calls.max_in_one_compaction === 1));
      targets.push({
        name: `S1 one summarizer call per compaction, readable styles (events and sim log)`,
        target: '= 1',
        value: off.length ? off.map((s) => `${s.style} ${callsCell(s)}`).join('; ') : `all ${readable.length} styles 1.00`,
        pass: off.length === 0,
      });
      const trunc = byStyle('truncated');
      if (trunc) targets.push({ name: 'S1 summarizer calls per compaction, truncated style (info)', target: '-', value: callsCell(trunc), pass: null });
      const silent = oursRows.filter((s) => s.exact_facts.silently_lost > 0);
      targets.push({ name: 'S1 silently lost exact values, every style', target: '0', value: silent.length ? silent.map((s) => `${s.style} ${s.exact_facts.silently_lost}`).join(', ') : '0', pass: silent.length === 0 && oursRows.every((s) => !s.error) });
    }
    const full2 = main2.results.find((s) => s.kind === 'full')!;
    targets.push({ name: 'S2 ours (mix) cost < full-history cost', target: '< 1', value: fx(main2.rel(mix2)), pass: !mix2.error && mix2.cost_usd < full2.cost_usd });
    targets.push({
      name: 'S2 one summarizer call per compaction, ours (mix)',
      target: '= 1',
      value: callsCell(mix2),
      pass: !mix2.error && mix2.compressed > 0 && mix2.summarizer_calls.per_compaction_events === 1 && mix2.summarizer_calls.per_compaction_sim_log === 1,
    });
    targets.push({ name: 'S2 silently lost exact values, ours (mix)', target: '0', value: String(mix2.exact_facts.silently_lost), pass: !mix2.error && mix2.exact_facts.silently_lost === 0 });
    targets.push({ name: 'S2 exact facts in final window, ours (mix) (info)', target: '-', value: `${pct(mix2.exact_facts.share)} (${mix2.exact_facts.kept}/${mix2.exact_facts.planted})`, pass: null });
    out.push('');
    out.push('Targets (BENCH.md "rolling cost" and the issue)');
    out.push(formatTable(['figure', 'target', 'measured', 'result'], targets.map((t) => [t.name, t.target, t.value, t.pass === null ? 'info' : t.pass ? 'PASS' : 'MISS'])));
    const totalS = (Date.now() - started) / 1000;
    out.push(`total ${totalS.toFixed(0)} s (in-process service and kimi-sim: cost figures do not depend on timing)`);
    console.log(out.join('\n'));

    const strip = (run: Run) => ({ trigger_tokens: run.trigger, run_s: round(run.runS, 1), idle_noted_h: run.idleNotedH, results: run.results.map((s) => ({ ...s, cost_vs_full: run.rel(s), cost_vs_full_without_write_billing: run.relNoWrite(s), input_cost_vs_full: run.relInput(s) })) });
    saveBenchResults('rolling-cost', { machine, commit, started, totalS, parameters: P }, {
      prices: { model: P.model, input_cache_miss_per_m: prices.inputCacheMissPerM, input_cache_hit_per_m: prices.inputCacheHitPerM, output_per_m: prices.outputPerM, cache_write_multiplier: CACHE_WRITE_MULTIPLIER },
      method: {
        full: 'service session, policy.auto_compact false: the service resends system + every message',
        sliding: 'client -> kimi-sim directly (openai SDK): system + newest whole rounds with system + messages + max_tokens <= trigger (o200k + 4 per message, counted client-side)',
        chunked: 'service session, auto_compact false; client POST /truncate with preserve_len = trigger/2 when previous usage.total_tokens + new message + max_tokens > trigger',
        ours: 'service session with the rolling policy (trigger, keep_rounds 3, compress_ratio 4); kimi-sim summarizerStyle set with sim.configure before each of its turns',
        order: 'policies interleaved turn by turn, each on its own sim key',
        cost: 'kimi-sim per-key stats cost_usd (cache writes included); checked against priced() over the request log',
        survival: 'planted exact values (whole token) in GET /v1/sessions/{id}/context messages (sliding: last request); silently lost = neither there nor in any compaction facts.dropped',
        idle_gaps: "scenario 2 only, on kimi-sim's clock (sim.advanceClock); the service's cold-cache trigger is not exercised (it would need real idle time)",
      },
      scenario1: strip(main1),
      sweep: sweep.map((r) => {
        const x = strip(r);
        return { ...x, results: x.results.map(({ per_turn: _perTurn, ...rest }) => rest) };
      }),
      scenario2: { sessions: conv.sessions, friends: conv.friends, trip: conv.trip, planted: conv.planted, ...strip(main2) },
      targets,
    });
    return 0;
  });
}

if (require.main === module) runBench(main);
