import { TestHarness, TestAccount } from '../support/harness';
import { factLine, OUTLINE_HEADER, sessionApi, userMsg } from '../support/session-api';

/**
 * The rolling policy under pressure: big rounds on a small (8K) context, the default reply reserve,
 * streamed turns, compactions after a restore, and the session's token bookkeeping.
 */

const SYSTEM = 'You are a careful assistant. Keep answers short.';

describe('rolling policy under pressure', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => h?.stop());

  const { path, createSession, turn, context, allMessages } = sessionApi(() => h, { system: SYSTEM, title: 'rolling test' });
  /** The session's running window_tokens equals the window /context assembles. */
  async function expectBookkeeping(a: TestAccount, id: string) {
    const ctx = await context(a, id);
    const s = (await h.api(a.apiKey, 'GET', path(id))).body;
    expect(s.usage.window_tokens).toBe(ctx.tokens.total);
    const history = await allMessages(a, id);
    expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
    const inWindow = history.filter((m) => m.in_window);
    const expected = [
      { role: 'system', content: SYSTEM },
      ...inWindow.filter((m) => m.kind === 'outline').map((o) => ({ role: 'system', content: OUTLINE_HEADER + o.content })),
      ...inWindow.filter((m) => m.kind === 'message').map((m) => ({ role: m.role, content: m.content })),
    ];
    expect(ctx.messages.map((m: any) => ({ role: m.role, content: m.content }))).toEqual(expected);
    return { ctx, history };
  }

  it('big rounds on an 8K model: every turn succeeds and fits, even when keep_rounds cannot be honoured', async () => {
    const a = await h.createAccount('big8k');
    const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { trigger_tokens: 6000, preserve_len: 4096, keep_rounds: 3 } });
    const actions: string[] = [];
    for (let n = 1; n <= 14; n++) {
      const r = await turn(a, id, userMsg(n, 2300), { max_tokens: 256 });
      actions.push(r.compaction ? `${n}:${r.compaction.action}${r.compaction.capped ? '(capped)' : ''}` : `${n}:-`);
      // What was sent plus the reserve fitted the context, as the upstream counts it (kimi-sim's tokenizer differs
      // from the service's estimate by up to 15% per message; the service's calibration must absorb that).
      expect(r.usage.prompt_tokens + 256).toBeLessThanOrEqual(8192);
      const { ctx } = await expectBookkeeping(a, id);
      // The newest round is always verbatim.
      expect(ctx.messages.slice(-2)).toEqual([{ role: 'user', content: userMsg(n, 2300) }, { role: 'assistant', content: r.message.content }]);
    }
    console.log(`[big8k] ${actions.join(' ')}`);
    expect(actions.filter((x) => x.includes('compressed')).length).toBeGreaterThanOrEqual(2);
    // Facts of compressed rounds survive in the outline.
    const ctx = await context(a, id);
    const outline = ctx.messages.filter((m: any) => m.content?.startsWith(OUTLINE_HEADER)).map((m: any) => m.content).join('\n');
    const verbatim = new Set(ctx.messages.filter((m: any) => m.role === 'user').map((m: any) => m.content));
    const compressed = Array.from({ length: 14 }, (_, i) => i + 1).filter((n) => !verbatim.has(userMsg(n, 2300)));
    const lost = compressed.filter((n) => !outline.includes(factLine(n)));
    console.log(`[big8k] fact survival ${compressed.length - lost.length}/${compressed.length}`);
    expect(lost).toEqual([]);
  });

  it('the default reply reserve on an 8K model: turns keep succeeding', async () => {
    const a = await h.createAccount('reserve8k');
    const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { trigger_tokens: 6000, preserve_len: 4096, keep_rounds: 2 } });
    const actions: string[] = [];
    for (let n = 1; n <= 12; n++) {
      const r = await turn(a, id, userMsg(n, 900));
      actions.push(r.compaction ? `${n}:${r.compaction.action}` : `${n}:-`);
      expect(r.usage.prompt_tokens).toBeLessThan(8192);
      await expectBookkeeping(a, id);
    }
    console.log(`[reserve8k] ${actions.join(' ')}`);
  });

  it('a streamed turn reports its compaction in the final chunk', async () => {
    const a = await h.createAccount('stream');
    const id = await createSession(a, { policy: { trigger_tokens: 8000, preserve_len: 4096, keep_rounds: 2 } });
    let compaction: any = null;
    for (let n = 1; n <= 20 && !compaction; n++) {
      const r = await h.apiStream(a.apiKey, path(id, '/messages'), { messages: [{ role: 'user', content: userMsg(n, 800) }], stream: true });
      expect(r.status).toBe(200);
      expect(r.done).toBe(true);
      const last = r.events[r.events.length - 1];
      expect(last.session_id).toBe(id);
      compaction = last.compaction;
    }
    expect(compaction).toMatchObject({ action: 'compressed' });
    const ev = (await h.api(a.apiKey, 'GET', path(id, '/events'))).body.data;
    expect(ev.filter((e: any) => e.type === 'compaction').map((e: any) => e.data.outline_seq)).toEqual([compaction.outline_seq]);
    await expectBookkeeping(a, id);
  });

  it('after a restore, the next compaction compresses only the restored window', async () => {
    const a = await h.createAccount('restoreroll');
    const id = await createSession(a, { policy: { trigger_tokens: 9000, preserve_len: 4096, keep_rounds: 2 } });
    for (let n = 1; n <= 3; n++) expect((await turn(a, id, userMsg(n, 600))).compaction).toBeNull();
    const snap = await h.api(a.apiKey, 'POST', path(id, '/snapshots'), {});
    expect(snap.status).toBe(201);
    // Rounds 4..5 are abandoned by the restore.
    for (let n = 4; n <= 5; n++) await turn(a, id, userMsg(n, 600));
    expect((await h.api(a.apiKey, 'POST', path(id, '/restore'), { snapshot_id: snap.body.id })).status).toBe(200);
    await expectBookkeeping(a, id);
    let compaction: any = null;
    let n = 100;
    while (!compaction && n < 120) {
      const r = await turn(a, id, userMsg(++n, 600));
      compaction = r.compaction;
      await expectBookkeeping(a, id);
    }
    expect(compaction).toMatchObject({ action: 'compressed' });
    const ctx = await context(a, id);
    const outline = ctx.messages.filter((m: any) => m.content?.startsWith(OUTLINE_HEADER)).map((m: any) => m.content).join('\n');
    for (const k of [1, 2, 3]) expect(outline).toContain(factLine(k));
    // Abandoned rounds are in history but neither in the window nor in the outline.
    for (const k of [4, 5]) expect(outline).not.toContain(factLine(k));
    expect(ctx.messages.some((m: any) => m.content === userMsg(4, 600) || m.content === userMsg(5, 600))).toBe(false);
    // The lineage's seq_range covers only what was compressed.
    const lin = (await h.api(a.apiKey, 'GET', path(id, '/lineage'))).body;
    const [from, to] = lin.root.outlines[0].seq_range;
    expect(from).toBe(1);
    expect(to).toBeGreaterThan(6);
  });

  it('a summarizer that hangs (timeouts) also falls back to truncation; the turn succeeds', async () => {
    const a = await h.createAccount('hang');
    const id = await createSession(a, { policy: { trigger_tokens: 8000, preserve_len: 4096, keep_rounds: 3 } });
    for (let n = 1; n <= 6; n++) expect((await turn(a, id, userMsg(n))).compaction).toBeNull();
    const calls = h.simRequestsFor(a.simKey).length;
    h.sim.injectFaults({ kind: 'hang', count: 3, key: a.simKey });
    const r = await turn(a, id, userMsg(7, 2200));
    expect(r.compaction).toMatchObject({ action: 'truncated', reason: 'compression_failed' });
    const reqs = h.simRequestsFor(a.simKey).slice(calls);
    expect(reqs.filter((q) => q.purpose === 'compress').length).toBeGreaterThanOrEqual(1);
    expect(reqs[reqs.length - 1]).toMatchObject({ purpose: 'chat', status: 200 });
    await expectBookkeeping(a, id);
    expect((await allMessages(a, id)).filter((m) => m.kind === 'outline')).toHaveLength(0);
  }, 40_000);

  it('without auto_compact a window over the context is refused (400) without an upstream call, and nothing changes', async () => {
    const a = await h.createAccount('nocompact');
    const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { auto_compact: false } });
    for (let n = 1; n <= 4; n++) {
      const r = await h.api(a.apiKey, 'POST', path(id, '/messages'), { generate: false, messages: [{ role: 'user', content: userMsg(n, 2000) }] });
      expect(r.status).toBe(200);
    }
    const before = await context(a, id);
    expect(before.tokens.total).toBeGreaterThan(8192);
    const calls = h.simRequestsFor(a.simKey).length;
    const r = await h.api(a.apiKey, 'POST', path(id, '/messages'), { messages: [{ role: 'user', content: 'answer please' }] });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(h.simRequestsFor(a.simKey).length).toBe(calls);
    expect(await context(a, id)).toEqual(before);
    expect((await h.api(a.apiKey, 'GET', path(id, '/events'))).body.data).toEqual([]);
    // The client's way out: truncate, then the turn goes through.
    expect((await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: 4096 })).status).toBe(200);
    const ok = await turn(a, id, 'answer please', { max_tokens: 256 });
    expect(ok.compaction).toBeNull();
    await expectBookkeeping(a, id);
  });
});
