import { TestHarness, TestAccount } from '../support/harness';
import { waitFor } from '../support/processes';
import { factLine, sessionApi, userMsg } from '../support/session-api';

/**
 * Compaction against summaries written the way models write them (issue 13): kimi-sim's summarizer
 * styles, each on its own, plus the realistic mix, and its tokenizer skewed from the service's estimate.
 * Invariants, per style:
 * - every turn succeeds and fits the context as the upstream counts it;
 * - one summarizer call per compaction for every readable style (a cut reply: one continuation);
 * - no exact fact is lost silently: each planted value is still in the window, or named in a compaction's
 *   `facts.dropped`;
 * - after a compaction the window sits at most at its target share of the trigger;
 * - a coordinator child's outline goes through the same guard, and the task ends with an answer.
 */

const STYLES = ['exact', 'markdown-loose', 'bold', 'prose', 'json', 'verbose', 'lossy', 'truncated', 'mix'] as const;
const SYSTEM = 'You are a careful assistant. Keep answers short.';
const CONTEXT = 8192;
const MAX_TOKENS = 256;
const TERMINAL = ['succeeded', 'partial', 'failed', 'cancelled'];

describe('compaction against every summarizer style', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await TestHarness.start({ sim: { requestLogSize: 20_000 } });
  });
  afterAll(async () => h?.stop());

  const { path, createSession, turn, context } = sessionApi(() => h, { system: SYSTEM, title: 'styles' });
  const windowText = async (a: TestAccount, id: string) => (await context(a, id)).messages.map((m: any) => m.content ?? '').join('\n');
  const planted = (n: number) => [`FACT-${n}`, `Z${n}`];
  const present = (text: string, v: string) => new RegExp(`(?<![\\w-])${v}(?![\\w-])`).test(text);

  describe.each(STYLES)('style %s', (style) => {
    beforeAll(() => h.sim.configure({ summarizerStyle: style }));

    it('rolls a session on an 8K model: turns fit, one call per compaction, no fact lost silently, window under target', async () => {
      const a = await h.createAccount(`roll-${style}`);
      const trigger = 6000;
      const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { trigger_tokens: trigger, preserve_len: 4096, keep_rounds: 2 } });
      const rounds = 24;
      for (let n = 1; n <= rounds; n++) {
        const r = await turn(a, id, userMsg(n, 300), { max_tokens: MAX_TOKENS });
        // The window fitted as the upstream counts it (its tokenizer differs from ours by up to 15%).
        expect(r.usage.prompt_tokens + MAX_TOKENS).toBeLessThanOrEqual(CONTEXT);
      }
      const events = (await h.api(a.apiKey, 'GET', `${path(id, '/events')}?limit=100`)).body.data as any[];
      const compactions = events.filter((e) => e.type === 'compaction' && e.data.method !== undefined).map((e) => e.data);
      expect(compactions.length).toBeGreaterThanOrEqual(2);
      for (const c of compactions) {
        if (style === 'truncated') {
          // Cut at max_tokens: salvaged when it reached the target, else continued once.
          expect(c.summarizer_calls).toBeLessThanOrEqual(2);
          expect(c.path).toMatch(c.summarizer_calls === 2 ? /continued/ : /salvaged/);
        } else {
          expect({ path: c.path, calls: c.summarizer_calls }).toEqual({ path: c.path, calls: 1 });
        }
        expect(c.method).toBe('upstream');
        expect(c.window_tokens_after).toBeLessThan(c.window_tokens_before);
        expect(c.facts.facts_in).toBeGreaterThan(0);
        expect(c.cost_usd).toBeGreaterThan(0);
        expect(c.expected_cost_usd.total).toBeGreaterThan(0);
      }
      // No exact value leaves the window without an event saying so.
      const text = await windowText(a, id);
      const dropped = new Set(compactions.flatMap((c) => c.facts.dropped as string[]));
      const silentlyLost = Array.from({ length: rounds }, (_, i) => i + 1).flatMap(planted).filter((v) => !present(text, v) && !dropped.has(v));
      expect(silentlyLost).toEqual([]);
      const kept = Array.from({ length: rounds }, (_, i) => i + 1).flatMap(planted).filter((v) => present(text, v)).length;
      const byModel = compactions.reduce((n, c) => n + c.facts.kept_by_model, 0);
      const restored = compactions.reduce((n, c) => n + c.facts.restored, 0);
      console.log(`[styles:${style}] ${compactions.length} compactions, paths ${[...new Set(compactions.map((c) => c.path))].join(' | ')}; exact values in window ${kept}/${rounds * 2}, kept by model ${byModel}, restored ${restored}, dropped ${dropped.size}`);
      // The newest turn's context still ends with the newest round, verbatim.
      const ctx = await context(a, id);
      expect(ctx.messages[ctx.messages.length - 2]).toEqual({ role: 'user', content: userMsg(rounds, 300) });
    });

    it('a coordinator task: each child outline is guarded, merged with its facts, and the task answers', async () => {
      const a = await h.createAccount(`task-${style}`);
      const inputs = Array.from({ length: 3 }, (_, i) => ({
        title: `notes-${i}.md`,
        content: `Meeting notes ${i}. Maria Lopez met the Acme Corp team in Lisbon on 2026-03-1${i} at 14:3${i}.\n${factLine(100 + i)}\nThe budget is $${(i + 1) * 1200} and the rollout uses 3${i}% of nodes.`,
      }));
      const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Summarize the meetings', inputs });
      expect(created.status).toBe(202);
      const task = await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${created.body.id}`), (r) => TERMINAL.includes(r.body?.status), 60_000, 'task ends', 150).then((r) => r.body);
      expect(task.status).toBe('succeeded');
      expect(typeof task.result).toBe('string');
      const lineage = (await h.api(a.apiKey, 'GET', `/v1/sessions/${task.master_session_id}/lineage`)).body;
      const masterWindow = await windowText(a, task.master_session_id);
      for (const child of lineage.root.children as any[]) {
        const ev = (await h.api(a.apiKey, 'GET', `/v1/sessions/${child.id}/events`)).body.data as any[];
        const c = ev.find((e) => e.type === 'compression')!.data;
        if (style !== 'truncated') expect(c.summarizer_calls).toBe(1);
        const dropped = new Set(c.facts.dropped as string[]);
        const i = Number(/(\d+):/.exec(child.title ?? '')?.[1] ?? NaN);
        const values = [`FACT-${100 + i}`, `Z${100 + i}`, 'Maria Lopez', 'Lisbon', `2026-03-1${i}`, `14:3${i}`];
        const lost = values.filter((v) => !masterWindow.includes(v) && !dropped.has(v));
        expect({ child: i, lost }).toEqual({ child: i, lost: [] });
      }
    });
  });
});
