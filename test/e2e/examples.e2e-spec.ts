import { run as codeReviewFanout } from '../../examples/code-review-fanout';
import { run as logAudit } from '../../examples/log-audit';
import { factOf, run as rollingSnapshot } from '../../examples/rolling-snapshot';
import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';

/**
 * The three examples, in quick mode, against a running service: each must reach its outcome
 * (compactions with surviving facts; a fan-out task that fills and drains the pool; incidents found
 * in the master's outlines), and print readable progress.
 */
describe('examples (quick mode)', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => h?.stop());

  const optsFor = (a: TestAccount, lines: string[]) => ({ baseURL: `${h.url}/v1`, apiKey: a.apiKey, adminKey: ADMIN_KEY, quick: true, log: (l: string) => lines.push(l) });
  const show = (name: string, lines: string[]) => {
    if (process.env.SHOW_EXAMPLES) console.log(`[${name}]\n${lines.join('\n')}`);
  };

  it('rolling-snapshot: compacts several times, keeps every planted fact, prints the bill against a full resend', async () => {
    const a = await h.createAccount('ex-rolling');
    const lines: string[] = [];
    const r = await rollingSnapshot(optsFor(a, lines));
    show('rolling-snapshot', lines);
    expect(r.compactions.length).toBeGreaterThanOrEqual(2);
    for (const c of r.compactions) {
      expect(c.action).toBe('compressed');
      expect(c.snapshotId).toEqual(expect.any(String));
      expect(c.windowAfter!).toBeLessThan(c.windowBefore!);
      expect(c.ratio!).toBeGreaterThan(1);
    }
    expect(r.facts).toMatchObject({ total: r.rounds, kept: r.rounds, lost: [] });
    expect(r.facts.inOutlines).toBeGreaterThan(0);
    // The bill is the session's own accounting, and the resend estimate is the bigger prompt volume.
    const s = await h.api(a.apiKey, 'GET', `/v1/sessions/${r.sessionId}`);
    expect(r.bill.costUsd).toBe(s.body.usage.cost_usd);
    expect(r.fullHistory.promptTokens).toBeGreaterThan(r.bill.promptTokens - r.bill.cachedTokens);
    // One upstream chat call per round (plus one summarizer call per compaction), the last carrying the last fact.
    const sent = h.simRequestsFor(a.simKey).filter((x) => x.purpose === 'chat');
    expect(sent).toHaveLength(r.rounds);
    expect(sent[sent.length - 1].last_user).toContain(factOf(r.rounds));
    expect(h.simRequestsFor(a.simKey).filter((x) => x.purpose === 'compress')).toHaveLength(r.compactions.length);
    // Readable output: the compaction rows and the closing lines.
    expect(lines.filter((l) => /^\s+\d+\s+compressed\s/.test(l))).toHaveLength(r.compactions.length);
    expect(lines.some((l) => l.startsWith('facts surviving in the final context: '))).toBe(true);
    expect(lines.some((l) => l.startsWith('full history resent, prefix cached'))).toBe(true);
  });

  it('code-review-fanout: one child per file, the pool fills up to max_parallel and drains, a merged review', async () => {
    const a = await h.createAccount('ex-review');
    const lines: string[] = [];
    // A little upstream latency, so the pool is seen busy by the example's polling.
    h.sim.configure({ firstTokenMs: 150 });
    try {
      const r = await codeReviewFanout(optsFor(a, lines));
      show('code-review-fanout', lines);
      expect(r.status).toBe('succeeded');
      expect(r.files).toHaveLength(6);
      expect(r.mergedOutlines).toBe(6);
      expect(r.peakInUse).toBeGreaterThanOrEqual(1);
      expect(r.peakInUse).toBeLessThanOrEqual(3);
      expect(r.inUseAfter).toBe(0);
      expect(r.review).toEqual(expect.any(String));
      const task = await h.api(a.apiKey, 'GET', `/v1/tasks/${r.taskId}`);
      expect(task.body.progress).toMatchObject({ total: 6, succeeded: 6, failed: 0 });
      // One child session per file, titled after it.
      const children = await h.api(a.apiKey, 'GET', `/v1/sessions?parent_id=${r.masterSessionId}&limit=100`);
      expect(children.body.data).toHaveLength(6);
      expect(lines.some((l) => /\bdrained$/.test(l))).toBe(true);
      expect(lines).toContain('merged review (the master session, answering from the outlines):');
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
  });

  it('log-audit: token chunks, outlines merged into the master, every planted incident found, questions answered in session mode', async () => {
    const a = await h.createAccount('ex-logs');
    const lines: string[] = [];
    const r = await logAudit(optsFor(a, lines));
    show('log-audit', lines);
    expect(r.status).toBe('succeeded');
    expect(r.chunks).toBeGreaterThanOrEqual(3);
    expect(r.planted).toHaveLength(3);
    expect(r.found).toEqual(r.planted);
    expect(r.answers).toHaveLength(2);
    for (const x of r.answers) expect(x.answer).toMatch(/^Re: /);
    // The questions went to the master as appends: its history ends with them and their answers.
    const msgs = await h.api(a.apiKey, 'GET', `/v1/sessions/${r.masterSessionId}/messages?limit=100`);
    const tail = msgs.body.data.slice(-4).map((m: { role: string; content: string }) => [m.role, m.role === 'user' ? m.content : 'answer']);
    expect(tail).toEqual([['user', r.answers[0].question], ['assistant', 'answer'], ['user', r.answers[1].question], ['assistant', 'answer']]);
    const asked = h.simRequestsFor(a.simKey).filter((x) => x.purpose === 'chat').slice(-2);
    expect(asked.map((x) => x.last_user)).toEqual(r.answers.map((x) => x.question));
    expect(lines).toContain(`incidents found in the master's outlines: 3/3`);
  });
});
