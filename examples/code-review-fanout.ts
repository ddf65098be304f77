/**
 * Code review fan-out: one coordinator task over a directory of source files, one child session per
 * file. While it runs, the account's session pool is polled (/admin/pool: in_use and waiting), so you
 * watch it fill up to the task's max_parallel and drain back to zero. At the end: the merged review the
 * master session wrote from the children's outlines alone, and what it cost.
 *
 *   node dist/examples/code-review-fanout.js [--quick] [--dir path] [--parallel N]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { SessionOrchestrator } from '@so/client';
import { accountIdForKey, adminGet, argValue, ExampleOptions, int, runFromCli, sleep, Table, usd, wrap } from './common';

const GOAL =
  'Review this TypeScript service file by file: bugs, risky error handling, missing tests and unclear names. ' +
  'For every finding name the file and the function, and say how to fix it.';

export interface CodeReviewResult {
  taskId: string;
  masterSessionId: string;
  status: string;
  files: string[];
  /** One reading of the pool per change while the task ran (empty without an admin key). */
  pool: Array<{ atMs: number; inUse: number; waiting: number; done: number; running: number }>;
  peakInUse: number;
  peakWaiting: number;
  /** in_use of the account once the task ended (null without an admin key), and before it started. */
  inUseAfter: number | null;
  inUseBefore: number;
  review: string | null;
  mergedOutlines: number;
}

/** Source files under `dir` (TypeScript, no tests or declarations), sorted, as task inputs. */
export function sourceFiles(dir: string, limit?: number): Array<{ title: string; content: string }> {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.tsx?$/.test(name) && !/\.(spec|test|e2e-spec|d)\.tsx?$/.test(name)) out.push(p);
    }
  };
  walk(dir);
  return out.slice(0, limit ?? out.length).map((p) => ({ title: relative(dir, p), content: readFileSync(p, 'utf8') }));
}

export async function run(opts: ExampleOptions & { dir?: string; maxParallel?: number }): Promise<CodeReviewResult> {
  const { log } = opts;
  const dir = resolve(opts.dir ?? 'apps/orchestrator/src');
  const inputs = sourceFiles(dir, opts.quick ? 6 : undefined);
  if (!inputs.length) throw new Error(`no TypeScript files under ${dir}`);
  const maxParallel = opts.maxParallel ?? (opts.quick ? 3 : 8);
  const client = new SessionOrchestrator({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 2 });

  const account = opts.adminKey ? await accountIdForKey(opts.baseURL, opts.adminKey, opts.apiKey).catch(() => null) : null;
  const chars = inputs.reduce((n, f) => n + f.content.length, 0);
  const shown = relative(process.cwd(), dir);
  log(`code-review-fanout: ${inputs.length} files from ${shown && !shown.startsWith('..') ? shown : dir} (${int(chars)} characters), one child session per file, max_parallel ${maxParallel}`);
  if (account) log(`account "${account.name}": pool limit ${account.session_limit} sessions`);
  else log('(no admin key for this account: showing task progress only, not the pool)');

  const poolOf = async () => (await adminGet<{ data: Array<{ in_use: number; waiting: number }> }>(opts.baseURL, opts.adminKey!, `/admin/pool?account_id=${account!.id}`)).data[0];
  // Slots the account's other sessions hold already (they count in in_use too).
  const baseline = account ? (await poolOf()).in_use : 0;
  if (account && baseline) log(`${baseline} slot(s) already held by other sessions of this account`);

  const task = await client.tasks.create({ goal: GOAL, inputs, split: { strategy: 'per_input' }, max_parallel: maxParallel });
  log(`task ${task.id}, master session ${task.master_session_id}`);
  log('');
  const t = new Table([
    { title: 'time', width: 6, align: 'right' },
    { title: 'in_use', width: 6, align: 'right' },
    { title: 'waiting', width: 7, align: 'right' },
    { title: 'running', width: 7, align: 'right' },
    { title: 'done', width: 9, align: 'right' },
    { title: 'pool (# in use, . waiting)', width: 26 },
  ]);
  log(t.header());
  log(t.rule());

  const started = Date.now();
  const pool: CodeReviewResult['pool'] = [];
  let last = '';
  let status = task.status;
  let view = task;
  for (;;) {
    view = await client.tasks.retrieve(task.id);
    status = view.status;
    const p = account ? await poolOf() : null;
    const done = view.progress.succeeded + view.progress.failed;
    const sample = { atMs: Date.now() - started, inUse: p?.in_use ?? 0, waiting: p?.waiting ?? 0, done, running: view.progress.running };
    const key = `${sample.inUse}/${sample.waiting}/${done}/${sample.running}/${status}`;
    if (key !== last) {
      last = key;
      pool.push(sample);
      const bar = account ? '#'.repeat(Math.min(sample.inUse, 20)) + '.'.repeat(Math.min(sample.waiting, Math.max(0, 20 - Math.min(sample.inUse, 20)))) : '';
      log(t.row([`${(sample.atMs / 1000).toFixed(1)}s`, account ? sample.inUse : '-', account ? sample.waiting : '-', sample.running, `${done}/${view.progress.total}`, bar]));
    }
    if (['succeeded', 'partial', 'failed', 'cancelled'].includes(status)) break;
    await sleep(opts.quick ? 50 : 100);
  }
  let inUseAfter: number | null = null;
  if (account) {
    // The master's slot goes back right after its final answer; read until the pool is back where it was.
    for (let i = 0; i < 50; i++) {
      inUseAfter = (await poolOf()).in_use;
      if (inUseAfter <= baseline) break;
      await sleep(100);
    }
    log(t.row([`${((Date.now() - started) / 1000).toFixed(1)}s`, inUseAfter!, 0, 0, `${view.progress.succeeded + view.progress.failed}/${view.progress.total}`, 'drained']));
  }
  const peakInUse = Math.max(0, ...pool.map((x) => x.inUse - baseline));
  const peakWaiting = Math.max(0, ...pool.map((x) => x.waiting));

  // What it cost, and what the master holds: the children's outlines, not their files.
  const children = await allChildren(client, task.master_session_id);
  const childCost = children.reduce((n, c) => n + c.usage.cost_usd, 0);
  const childPrompt = children.reduce((n, c) => n + c.usage.prompt_tokens, 0);
  const master = await client.sessions.retrieve(task.master_session_id);
  const ctx = await client.sessions.context(task.master_session_id);
  const mergedOutlines = (ctx.messages as Array<{ content: string | null }>).filter((m) => m.content?.startsWith('[outline')).length;

  log('');
  log(`task ${status}: ${view.progress.succeeded} files reviewed, ${view.progress.failed} failed, in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  if (account) log(`pool: this task held at most ${peakInUse} slots (max_parallel ${maxParallel}), ${peakWaiting} children waited at the peak; ${inUseAfter} in use after it (${baseline} before)`);
  log(`children read ${int(childPrompt)} prompt tokens in total; the master holds ${mergedOutlines} outlines in ${int(ctx.tokens.outlines)} tokens`);
  log(`cost: children ${usd(childCost)} + master ${usd(master.usage.cost_usd)} = ${usd(childCost + master.usage.cost_usd)}`);
  log('');
  log('merged review (the master session, answering from the outlines):');
  for (const line of wrap(view.result ?? '(no result)')) log(line);

  return { taskId: task.id, masterSessionId: task.master_session_id, status, files: inputs.map((f) => f.title), pool, peakInUse, peakWaiting, inUseAfter, inUseBefore: baseline, review: view.result, mergedOutlines };
}

async function allChildren(client: SessionOrchestrator, masterId: string) {
  const out: Awaited<ReturnType<typeof client.sessions.list>>['data'] = [];
  let after: string | undefined;
  for (;;) {
    const page = await client.sessions.list({ parent_id: masterId, limit: 100, after });
    out.push(...page.data);
    if (!page.has_more || !page.last_id) return out;
    after = page.last_id;
  }
}

if (require.main === module) {
  runFromCli((opts, argv) => {
    const parallel = argValue(argv, 'parallel');
    return run({ ...opts, dir: argValue(argv, 'dir'), maxParallel: parallel ? Number(parallel) : undefined });
  });
}
