/**
 * Rolling snapshot: a 50-round refactoring conversation through the OpenAI-compatible endpoint
 * (`chat.completions.create` with `session_id`, sending only the new message each round). The session
 * has a low trigger, so the service compacts it several times: snapshot, then compress the old rounds
 * into an outline, keep the last rounds verbatim. Prints each compaction, the bill, an estimate of what
 * resending the full history would have cost, and which planted facts survive in the final context.
 *
 *   node dist/examples/rolling-snapshot.js [--quick] [--rounds N] [--trigger TOKENS]
 */
import type OpenAI from 'openai';
import { SessionOrchestrator } from '@so/client';
import { argValue, ExampleOptions, int, kimiPrices, pct, runFromCli, short, Table, usd } from './common';

const SYSTEM =
  'You are a senior engineer pairing on the refactor of a billing service written in JavaScript. ' +
  'Answer with the change to make and the tests to add. Keep every FACT the user states.';

const MODULES = ['invoices', 'ledger', 'payouts', 'rates', 'gateway', 'refunds', 'taxes', 'reports', 'accounts', 'webhooks'];
const REFACTOR_TASKS = [
  'extract the total calculation into a pure function',
  'replace the callback chain with async functions',
  'move the retry loop into its own helper',
  'split the module into a reader and a writer',
  'remove the shared mutable cache',
  'inject the clock instead of calling Date.now directly',
  'turn the string status codes into constants',
  'collapse the duplicated validation branches',
  'make the currency conversion explicit at the boundary',
  'delete the dead fallback path',
];
const TEST_TASKS = [
  'write unit tests for the happy path',
  'write tests for the rounding edge cases',
  'write a test for the retry exhaustion branch',
  'write a regression test for the negative total bug',
  'write property tests for the conversion helper',
];
// Each fact carries an exact value (a key=value, a quoted string, a number with its unit, an id).
const FACT_SUBJECTS = [
  ['keeps', (r: number) => `MAX_BATCH=${50 + r * 5}`],
  ['uses the rounding mode', (r: number) => (r % 2 ? '"banker"' : '"half-up"')],
  ['retries the gateway call every', (r: number) => `${200 + (r % 4) * 50} ms`],
  ['is owned by team', (r: number) => `squad-${(r * 7) % 13}`],
  ['stores money as', (r: number) => (r % 3 ? '"integer cents"' : '"decimal strings"')],
] as const;

/** The planted fact of round r: one line, unique. */
export function factOf(round: number): string {
  return `${factId(round)}: the ${MODULES[round % MODULES.length]} module ${FACT_SUBJECTS[round % FACT_SUBJECTS.length][0]} ${factValue(round)}.`;
}

export function factId(round: number): string {
  return `FACT-${String(round).padStart(2, '0')}`;
}

/** The exact value a fact carries: what a summary must not lose or round. */
export function factValue(round: number): string {
  return FACT_SUBJECTS[round % FACT_SUBJECTS.length][1](round);
}

/** A few deterministic plain-JS functions (no annotations, no literals an outline would keep). */
function codeOf(round: number, functions: number): string {
  const m = MODULES[round % MODULES.length];
  const out: string[] = [];
  for (let f = 0; f < functions; f++) {
    const n = round * 10 + f;
    const kind = (round + f) % 3;
    if (kind === 0) {
      out.push(
        `function compute${cap(m)}Total${n}(items, rates) {`,
        '  let total = 0;',
        '  for (const item of items) {',
        '    const rate = rates.get(item.currency) || 1;',
        '    total += item.amount * item.quantity * rate;',
        '  }',
        `  if (total < 0) throw new Error('negative total in ${m}');`,
        '  return Math.round(total * 100) / 100;',
        '}',
      );
    } else if (kind === 1) {
      out.push(
        `function load${cap(m)}${n}(db, id, done) {`,
        `  db.find('${m}', id, function (err, row) {`,
        '    if (err) return done(err);',
        '    if (!row) return done(new Error(\'not found\'));',
        '    db.find(\'customers\', row.customerId, function (err2, customer) {',
        '      if (err2) return done(err2);',
        '      row.customer = customer;',
        '      done(null, row);',
        '    });',
        '  });',
        '}',
      );
    } else {
      out.push(
        `async function send${cap(m)}${n}(client, payload, attempts) {`,
        '  let lastError = null;',
        '  for (let i = 0; i < attempts; i++) {',
        '    try {',
        `      return await client.post('/${m}', payload);`,
        '    } catch (err) {',
        '      lastError = err;',
        '      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** i));',
        '    }',
        '  }',
        '  throw lastError;',
        '}',
      );
    }
  }
  return out.join('\n');
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The user's message of round r: the task, the code it is about, a remark, and the planted fact. */
export function userTurn(round: number, rounds: number, functions: number): string {
  const m = MODULES[round % MODULES.length];
  const testPhase = round > Math.round(rounds * 0.6);
  const task = testPhase ? TEST_TASKS[round % TEST_TASKS.length] : REFACTOR_TASKS[round % REFACTOR_TASKS.length];
  return [
    `Round ${round} of ${rounds}, ${testPhase ? 'tests' : 'refactor'} in the ${m} module, please ${task}.`,
    `This is the current code of the ${m} module.`,
    '```js',
    codeOf(round, functions),
    '```',
    `Keep the public behaviour of the ${m} module unchanged and explain the change in a few lines.`,
    factOf(round),
  ].join('\n');
}

export interface CompactionRow {
  round: number;
  action: string;
  windowBefore: number | null;
  windowAfter: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  ratio: number | null;
  snapshotId: string | null;
}

export interface RollingSnapshotResult {
  sessionId: string;
  rounds: number;
  compactions: CompactionRow[];
  bill: { promptTokens: number; cachedTokens: number; completionTokens: number; costUsd: number };
  fullHistory: { promptTokens: number; cachedTokens: number; costUsd: number; costNoCacheUsd: number };
  facts: { total: number; kept: number; inOutlines: number; verbatim: number; lost: string[] };
}

type Completion = OpenAI.Chat.ChatCompletion & { compaction?: Record<string, unknown> | null; session_usage?: { window_tokens: number; cost_usd: number } };

export async function run(opts: ExampleOptions & { rounds?: number; triggerTokens?: number }): Promise<RollingSnapshotResult> {
  const { log } = opts;
  const rounds = opts.rounds ?? (opts.quick ? 16 : 50);
  const functions = 5;
  const trigger = opts.triggerTokens ?? (opts.quick ? 5000 : 16000);
  const maxTokens = 1024;
  const client = new SessionOrchestrator({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 2 });

  const session = await client.sessions.create({
    system: SYSTEM,
    title: 'rolling-snapshot example',
    policy: { trigger_tokens: trigger, keep_rounds: 3, compress_ratio: 4, preserve_len: 4096 },
  });
  log(`rolling-snapshot: ${rounds} rounds through chat.completions with session_id=${session.id}`);
  log(`policy: compact when window + reply reserve > ${int(trigger)} tokens; keep the last 3 rounds; outline ratio 4`);
  log('');

  const t = new Table([
    { title: 'round', width: 5, align: 'right' },
    { title: 'event', width: 10 },
    { title: 'window tokens', width: 16, align: 'right' },
    { title: 'outline in -> out', width: 17, align: 'right' },
    { title: 'ratio', width: 5, align: 'right' },
    { title: 'snapshot', width: 14 },
  ]);
  log(t.header());
  log(t.rule());

  const compactions: CompactionRow[] = [];
  const perRound: Array<{ prompt: number; cached: number; completion: number }> = [];
  const tick = opts.quick ? 4 : 10;
  for (let r = 1; r <= rounds; r++) {
    // Only the new message goes over the wire; the service holds the history and assembles the window.
    const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming & { session_id: string } = {
      model: session.model,
      session_id: session.id,
      messages: [{ role: 'user', content: userTurn(r, rounds, functions) }],
      max_tokens: maxTokens,
    };
    const c = (await client.chat.completions.create(body)) as Completion;
    perRound.push({ prompt: c.usage!.prompt_tokens, cached: c.usage!.prompt_tokens_details?.cached_tokens ?? 0, completion: c.usage!.completion_tokens });
    if (c.compaction) {
      const k = c.compaction as Record<string, number | string | null | undefined>;
      const row: CompactionRow = {
        round: r,
        action: String(k.action),
        windowBefore: num(k.window_tokens_before),
        windowAfter: num(k.window_tokens_after),
        inputTokens: num(k.input_tokens),
        outputTokens: num(k.output_tokens),
        ratio: num(k.achieved_ratio),
        snapshotId: typeof k.snapshot_id === 'string' ? k.snapshot_id : null,
      };
      compactions.push(row);
      log(t.row([r, row.action, `${opt(row.windowBefore)} -> ${opt(row.windowAfter)}`, `${opt(row.inputTokens)} -> ${opt(row.outputTokens)}`, row.ratio ? `${row.ratio.toFixed(1)}x` : '-', short(row.snapshotId)]));
    } else if (r % tick === 0 || r === rounds) {
      log(t.row([r, 'turn', int(c.session_usage?.window_tokens ?? 0), '', '', '']));
    }
  }

  // The bill: everything this session sent upstream, compaction calls included.
  const s = await client.sessions.retrieve(session.id);
  const bill = { promptTokens: s.usage.prompt_tokens, cachedTokens: s.usage.cached_tokens, completionTokens: s.usage.completion_tokens, costUsd: s.usage.cost_usd };

  // The same conversation without the service: every round resends the whole history.
  const history = await allMessages(client, session.id);
  const turns = history.filter((m) => m.kind === 'message');
  const pinned = perRound[0].prompt - turns[0].tokens; // the system prompt as the upstream counts it
  let sent = pinned;
  let previous = 0;
  const full = { promptTokens: 0, cachedTokens: 0, costUsd: 0, costNoCacheUsd: 0 };
  const price = kimiPrices(session.model);
  for (let r = 0; r < rounds; r++) {
    const prompt = sent + turns[2 * r].tokens;
    // Caching assumption (best case for resending): the whole previous request is a cached prefix,
    // and the new part of each request is written to the cache (billed as a write, 5-minute TTL).
    const cached = previous;
    full.promptTokens += prompt;
    full.cachedTokens += cached;
    full.costUsd += ((prompt - cached) * (price.inputMiss + price.cacheWrite) + cached * price.inputHit + perRound[r].completion * price.output) / 1e6;
    full.costNoCacheUsd += (prompt * price.inputMiss + perRound[r].completion * price.output) / 1e6;
    previous = prompt;
    sent = prompt + (turns[2 * r + 1]?.tokens ?? 0);
  }

  // Facts: every planted fact in the final window (outlines or recent rounds): its id and its exact value,
  // whether the summarizer kept the line verbatim or reworded it around them.
  const ctx = await client.sessions.context(session.id);
  const texts = (ctx.messages as Array<{ content: string | null }>).map((m) => m.content ?? '');
  const outlines = texts.filter((x) => x.startsWith('[outline')).join('\n');
  const verbatimText = texts.filter((x) => !x.startsWith('[outline')).join('\n');
  const facts = { total: rounds, kept: 0, inOutlines: 0, verbatim: 0, lost: [] as string[] };
  for (let r = 1; r <= rounds; r++) {
    // A quoted value counts without its quotes (a summary may drop them).
    const value = factValue(r).replace(/"/g, '');
    const has = (text: string) => text.includes(factOf(r)) || (text.includes(factId(r)) && text.includes(value));
    if (has(verbatimText)) facts.verbatim++;
    else if (has(outlines)) facts.inOutlines++;
    else facts.lost.push(factId(r));
  }
  facts.kept = facts.verbatim + facts.inOutlines;

  const snaps = (await client.sessions.snapshots.list(session.id, { limit: 100 })).data;
  log('');
  log(`compactions: ${compactions.length}; snapshots saved (POST /v1/sessions/{id}/restore with one of them rolls the window back):`);
  for (const x of snaps) log(`  ${x.id}  ${x.reason.padEnd(8)} at seq ${String(x.at_seq).padStart(3)}  window ${int(x.window_tokens)} tokens`);
  log(`final window: ${int(ctx.tokens.total)} tokens (pinned ${int(ctx.tokens.pinned)}, outlines ${int(ctx.tokens.outlines)}, recent ${int(ctx.tokens.recent)})`);
  log('');
  const b = new Table([
    { title: '', width: 37 },
    { title: 'prompt tok', width: 10, align: 'right' },
    { title: 'cached', width: 9, align: 'right' },
    { title: 'completion', width: 10, align: 'right' },
    { title: 'cost', width: 8, align: 'right' },
  ]);
  log(b.header());
  log(b.rule());
  log(b.row(['this session (billed, incl. outlines)', int(bill.promptTokens), int(bill.cachedTokens), int(bill.completionTokens), usd(bill.costUsd)]));
  const completion = perRound.reduce((n, x) => n + x.completion, 0);
  log(b.row(['full history resent, prefix cached', int(full.promptTokens), int(full.cachedTokens), int(completion), usd(full.costUsd)]));
  log(b.row(['full history resent, no caching', int(full.promptTokens), 0, int(completion), usd(full.costNoCacheUsd)]));
  log('');
  log(`prices: ${session.model} per 1M tokens: input $${price.inputMiss} (cache miss), $${price.inputHit} (cache hit), cache write $${price.cacheWrite} (5-minute TTL), output $${price.output}.`);
  log('caching assumption for the resend estimate: each request reuses the whole previous request as a cached prefix (best case) and writes its new part to the cache.');
  const saving = full.costUsd > 0 ? 1 - bill.costUsd / full.costUsd : 0;
  log(`this session vs the cached full resend: ${saving >= 0 ? '-' : '+'}${Math.abs(Math.round(saving * 100))}% cost, ${pct(bill.promptTokens, full.promptTokens)} of the prompt tokens`);
  log(`facts surviving in the final context: ${facts.kept}/${facts.total} (${facts.inOutlines} in outlines, ${facts.verbatim} in the verbatim rounds)${facts.lost.length ? `; lost: ${facts.lost.join(', ')}` : ''}`);

  // Done: closing gives the pool slot back; history, snapshots and usage stay readable.
  await client.sessions.close(session.id);
  log(`session closed (its history, snapshots and outlines stay readable: GET /v1/sessions/${session.id}/lineage)`);

  return { sessionId: session.id, rounds, compactions, bill, fullHistory: full, facts };
}

async function allMessages(client: SessionOrchestrator, id: string) {
  const out: Array<{ seq: number; kind: string; role: string; tokens: number }> = [];
  let after = 0;
  for (;;) {
    const page = await client.sessions.messages(id, { after_seq: after, limit: 100 });
    out.push(...page.data);
    if (!page.has_more || !page.data.length) return out;
    after = page.data[page.data.length - 1].seq;
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const opt = (v: number | null): string => (v === null ? '-' : int(v));

if (require.main === module) {
  runFromCli((opts, argv) => {
    const rounds = argValue(argv, 'rounds');
    const trigger = argValue(argv, 'trigger');
    return run({ ...opts, rounds: rounds ? Number(rounds) : undefined, triggerTokens: trigger ? Number(trigger) : undefined });
  });
}
