/**
 * Log audit: a long application log (generated deterministically, with planted incidents such as
 * `ERROR payments INC-4821 ...`) is split into token-sized chunks, one child session per chunk; each
 * child's window is compressed into an outline and the outlines are merged into a master session.
 * Then the master is asked questions through the OpenAI-compatible endpoint (`session_id` = the master),
 * and the example checks which planted incident ids made it into the master's outlines.
 *
 *   node dist/examples/log-audit.js [--quick] [--lines N] [--chunk-tokens N]
 */
import type OpenAI from 'openai';
import { SessionOrchestrator } from '@so/client';
import { argValue, ExampleOptions, int, runFromCli, Table, usd, wrap } from './common';

const SERVICES = ['api', 'payments', 'orders', 'auth', 'search', 'mailer', 'billing', 'inventory'];
const ROUTINE = [
  'served the listing page',
  'refreshed a session token',
  'flushed the metrics buffer',
  'completed a scheduled export step',
  'answered a health probe',
  'rotated the request log',
  'warmed the product cache',
  'acknowledged a queue message',
  'closed an idle connection',
  'validated an incoming webhook',
];
const WARNINGS = ['slow response from the primary database', 'retrying an upstream call', 'queue depth above the soft limit', 'cache miss storm on the catalog'];

export interface Incident {
  id: string;
  service: string;
  message: string;
}

/** The planted incidents; `quick` uses the first three. */
export const INCIDENTS: Incident[] = [
  { id: 'INC-4821', service: 'payments', message: 'charge failed, card processor timeout after 30 s for order batch' },
  { id: 'INC-4907', service: 'auth', message: 'token signing key expired, 1,204 logins rejected' },
  { id: 'INC-5013', service: 'orders', message: 'duplicate order rows written after a retried commit' },
  { id: 'INC-5120', service: 'inventory', message: 'stock went negative for 17 SKUs after a race in reservations' },
  { id: 'INC-5266', service: 'mailer', message: 'bounce handler crashed, 3,400 receipts not sent' },
  { id: 'INC-5391', service: 'search', message: 'index rebuild stalled at 62% and served stale results' },
  { id: 'INC-5402', service: 'payments', message: 'refund webhook replayed twice, 88 refunds doubled' },
  { id: 'INC-5577', service: 'billing', message: 'invoice run skipped 12 accounts on the month boundary' },
];

/** A deterministic log of `lines` lines with `incidents` planted at evenly spread positions. */
export function generateLog(lines: number, incidents: Incident[]): { text: string; at: Map<string, number> } {
  let x = 20250314;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const at = new Map<string, number>();
  const slots = new Map<number, Incident>();
  incidents.forEach((inc, i) => slots.set(Math.floor(((i + 0.5) * lines) / incidents.length), inc));
  const out: string[] = [];
  let t = Date.UTC(2025, 2, 14, 0, 0, 0);
  for (let n = 1; n <= lines; n++) {
    t += (1 + rnd(9)) * 1000;
    const ts = new Date(t).toISOString().replace('.000Z', 'Z');
    const inc = slots.get(n - 1);
    if (inc) {
      at.set(inc.id, n + 1);
      out.push(`${ts} WARN  ${inc.service.padEnd(9)} ${WARNINGS[rnd(WARNINGS.length)]}`);
      out.push(`${ts} ERROR ${inc.service.padEnd(9)} ${inc.id} ${inc.message}`);
      n++;
      continue;
    }
    const warn = rnd(40) === 0;
    out.push(`${ts} ${warn ? 'WARN ' : 'INFO '} ${SERVICES[rnd(SERVICES.length)].padEnd(9)} ${warn ? WARNINGS[rnd(WARNINGS.length)] : ROUTINE[rnd(ROUTINE.length)]}`);
  }
  return { text: out.join('\n') + '\n', at };
}

export const QUESTIONS = [
  'Which incidents were logged? Give each id with its service and cause.',
  'Which service had more than one incident, and what do they have in common?',
  'What should the on-call engineer check first tomorrow morning?',
];

export interface LogAuditResult {
  taskId: string;
  masterSessionId: string;
  status: string;
  lines: number;
  chunks: number;
  planted: string[];
  found: string[];
  answers: Array<{ question: string; answer: string }>;
}

export async function run(opts: ExampleOptions & { lines?: number; chunkTokens?: number }): Promise<LogAuditResult> {
  const { log } = opts;
  const lineCount = opts.lines ?? (opts.quick ? 400 : 4000);
  const chunkTokens = opts.chunkTokens ?? (opts.quick ? 1500 : 6000);
  const planted = opts.quick ? INCIDENTS.slice(0, 3) : INCIDENTS;
  const { text, at } = generateLog(lineCount, planted);
  const client = new SessionOrchestrator({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 2 });

  log(`log-audit: ${int(lineCount)} log lines (${int(text.length)} characters), ${planted.length} planted incidents, chunks of ${int(chunkTokens)} tokens`);
  const task = await client.tasks.create({
    goal: 'Audit this application log: list every incident with its id, time, service and cause, and anything that repeats.',
    inputs: [{ title: 'app.log', content: text }],
    split: { strategy: 'token_chunks', chunk_tokens: chunkTokens },
    max_parallel: 4,
  });
  log(`task ${task.id}, master session ${task.master_session_id}`);
  log('');

  // Progress straight from the task's event stream.
  let last = '';
  let done = task;
  for await (const ev of client.tasks.events(task.id)) {
    const p = ev.progress;
    const line = `  ${ev.status.padEnd(9)} chunks ${String(p.succeeded + p.failed).padStart(3)}/${p.total} done, ${p.running} running, ${p.queued} queued`;
    if (line !== last) log((last = line));
    done = ev;
  }
  log('');

  // Which planted incident ids reached the master, and through which chunk's outline.
  const ctx = await client.sessions.context(task.master_session_id);
  const outlines = (ctx.messages as Array<{ content: string | null }>).map((m) => m.content ?? '').filter((c) => c.startsWith('[outline'));
  const t = new Table([
    { title: 'incident', width: 8 },
    { title: 'log line', width: 8, align: 'right' },
    { title: 'service', width: 9 },
    { title: 'in master outline', width: 40 },
  ]);
  log(`the master holds ${outlines.length} chunk outlines (${int(ctx.tokens.outlines)} tokens) for a ${int(text.length)}-character log:`);
  log(t.header());
  log(t.rule());
  const found: string[] = [];
  for (const inc of planted) {
    const hit = outlines.find((o) => o.includes(inc.id));
    const part = hit ? /\[part (\d+): ([^\]]*)\]/.exec(hit) : null;
    if (hit) found.push(inc.id);
    log(t.row([inc.id, int(at.get(inc.id) ?? 0), inc.service, hit ? `yes, outline of ${part?.[2] ?? '?'}` : 'MISSING']));
  }
  log(`incidents found in the master's outlines: ${found.length}/${planted.length}`);
  log('');

  // Questions to the master, as any OpenAI client would ask them: only the new message, plus session_id.
  const answers: LogAuditResult['answers'] = [];
  const questions = opts.quick ? QUESTIONS.slice(0, 2) : QUESTIONS;
  const { model } = await client.sessions.retrieve(task.master_session_id);
  for (const q of questions) {
    const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming & { session_id: string } = { model, session_id: task.master_session_id, messages: [{ role: 'user', content: q }], max_tokens: 400 };
    const c = await client.chat.completions.create(body);
    const answer = c.choices[0].message.content ?? '';
    answers.push({ question: q, answer });
    log(`Q: ${q}`);
    for (const l of wrap(answer, 96, '   ').slice(0, 4)) log(l);
  }
  const master = await client.sessions.retrieve(task.master_session_id);
  log('');
  log(`master session: ${int(master.usage.window_tokens)} tokens in its window, ${usd(master.usage.cost_usd)} spent on it`);

  return { taskId: task.id, masterSessionId: task.master_session_id, status: done.status, lines: lineCount, chunks: done.progress.total, planted: planted.map((i) => i.id), found, answers };
}

if (require.main === module) {
  runFromCli((opts, argv) => {
    const lines = argValue(argv, 'lines');
    const chunk = argValue(argv, 'chunk-tokens');
    return run({ ...opts, lines: lines ? Number(lines) : undefined, chunkTokens: chunk ? Number(chunk) : undefined });
  });
}
