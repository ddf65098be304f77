import { TestHarness } from '../support/harness';
import { http, waitFor } from '../support/processes';

// The tree merge: a task of 1,000 children whose outlines are realistic in size (hundreds of tokens)
// overflows any window when appended one by one; folded level by level into outlines of outlines, it
// ends `succeeded` with a final answer whose request fits the window. The model is a 32K one
// (moonshot-v1-32k, known to kimi-sim), so several levels of folds happen; kimi-sim answers at once.

const MODEL = 'moonshot-v1-32k';
const WINDOW = 32_768;
const N = Number(process.env.TEST_TREE_N ?? 1000);
const PART = /\[part (\d+): /;
const FOLD = /\[merged parts ([\d, -]+) \| level (\d+)\]/;

function parts(list: string): number[] {
  const out: number[] = [];
  for (const r of list.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [a, b] = r.split('-').map(Number);
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

/** About 500 tokens of varied text per child, with facts the outlines should carry. */
function childInput(i: number): { title: string; content: string } {
  const lines = Array.from({ length: 12 }, (_, k) =>
    `Line ${k} of report ${i}: the service shard-${i}-${k} answered ${(i * 31 + k * 7) % 997} requests with latency ${(i + k) % 89} ms; owner team-${(i + k) % 23} reviewed it.`,
  );
  lines.splice(5, 0, `FACT-${i}: incident INC-${100000 + i} was caused by config key pool_size=${i % 50 + 1} in src/shard${i}.ts.`);
  return { title: `report-${i}.log`, content: lines.join('\n') };
}

describe('tree merge: 1,000 children with realistic outlines', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({
      sim: { requestLogSize: 100 },
      env: {
        DB_POOL_SIZE: '20',
        ...(process.env.TEST_TREE_LOG ? { LOG_LEVEL: process.env.TEST_TREE_LOG } : {}),
        MODEL_PRICES: JSON.stringify({ [MODEL]: { context_window: WINDOW, input_cache_miss: 0.6, input_cache_hit: 0.15, output: 2.5 } }),
      },
    });
  });
  afterAll(async () => h?.stop());

  it('ends succeeded with a final answer that fits: the master window covers every child exactly once, folded into levels', async () => {
    const a = await h.createAccount('thousand', { session_limit: 100 });
    const inputs = Array.from({ length: N }, (_, i) => childInput(i));
    const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Find the cause of each incident', model: MODEL, inputs });
    expect(created.status).toBe(202);
    const id = created.body.id;
    const masterId = created.body.master_session_id;
    const task = await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${id}`), (r) => ['succeeded', 'partial', 'failed', 'cancelled'].includes(r.body.status), 280_000, 'task ends', 500).then((r) => r.body);
    expect(task).toMatchObject({ status: 'succeeded', progress: { total: N, succeeded: N, failed: 0 }, error: null });
    expect(typeof task.result).toBe('string');
    expect(task.result.length).toBeGreaterThan(0);

    // Every child merged once (the ledger), and its outline was realistic in size.
    const lineage = (await h.api(a.apiKey, 'GET', `/v1/sessions/${masterId}/lineage`)).body;
    expect(lineage.root.merged_outlines).toHaveLength(N);

    // The master's window now: outlines (folds and leaves) whose parts cover 0..N-1 exactly once, within budget.
    const ctx = (await h.api(a.apiKey, 'GET', `/v1/sessions/${masterId}/context`)).body;
    const covered: number[] = [];
    const levels: number[] = [];
    for (const m of ctx.messages as Array<{ role: string; content: string }>) {
      const head = typeof m.content === 'string' ? m.content.slice(0, 400) : '';
      const fold = FOLD.exec(head);
      const part = PART.exec(head);
      if (fold) {
        covered.push(...parts(fold[1]));
        levels.push(Number(fold[2]));
      } else if (part && head.startsWith('[outline')) {
        covered.push(Number(part[1]));
        levels.push(0);
      }
    }
    expect(covered.length).toBe(N);
    expect(new Set(covered).size).toBe(N);
    expect(Math.max(...levels)).toBeGreaterThanOrEqual(2);
    expect(ctx.tokens.outlines).toBeLessThanOrEqual(WINDOW / 2);
    // The final call's request fitted the window: the last assistant message is the answer.
    expect(ctx.tokens.context_window).toBe(WINDOW);
    expect(ctx.tokens.total).toBeLessThan(WINDOW);

    // Leaves were realistic (hundreds of tokens each) and every one is still in the master's history.
    const history: Array<{ kind: string; content: string; seq: number }> = [];
    let after = 0;
    for (;;) {
      const page = await h.api(a.apiKey, 'GET', `/v1/sessions/${masterId}/messages?limit=100&after_seq=${after}`);
      history.push(...page.body.data);
      if (!page.body.has_more) break;
      after = page.body.data[page.body.data.length - 1].seq;
    }
    const leaves = history.filter((m) => m.kind === 'outline' && PART.test(m.content.slice(0, 200)) && m.content.startsWith('[part '));
    expect(leaves).toHaveLength(N);
    const avgChars = leaves.reduce((n, m) => n + m.content.length, 0) / N;
    expect(avgChars).toBeGreaterThan(400);
    const folds = history.filter((m) => m.kind === 'outline' && m.content.startsWith('[merged parts '));
    expect(folds.length).toBeGreaterThan(10);
    // A fold names its sources: the master messages it folded.
    for (const f of folds.slice(0, 5)) expect(f.content).toMatch(new RegExp(`^- session=${masterId} snapshot=none seqs=\\d+-\\d+$`, 'm'));
    const usage = await http(h.url, 'test-admin-key-0123456789', 'GET', `/admin/usage?account_id=${a.id}`);
    expect(usage.status).toBe(200);
  }, 300_000);
});
