import { TestHarness, TestAccount } from '../support/harness';
import { factLine, filler, OUTLINE_HEADER, sessionApi, userMsg, WORDS } from '../support/session-api';

/**
 * Session state operations end to end: the rolling policy over a long session, restore, fork/share,
 * truncate, compress, the rolling fallback, the event log and tenant isolation.
 * Token numbers are the service's local o200k estimates; kimi-sim replies are deterministic.
 */

const SYSTEM = 'You are a careful assistant. Keep answers short.';
const ATTEMPTS = 3; // UPSTREAM_MAX_ATTEMPTS in the harness

interface Ctx {
  messages: Array<{ role: string; content: string | null; tool_calls?: any[]; tool_call_id?: string }>;
  tokens: { pinned: number; outlines: number; recent: number; total: number; context_window: number; reply_reserve: number };
  prefix_hash: string;
  window: any;
}

describe('session state operations', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => h?.stop());

  // A title keeps the background title job (an upstream call) out of the request counts.
  const api = sessionApi(() => h, { system: SYSTEM, title: 'state test' });
  const { path, createSession, turn, allMessages } = api;
  const context = (a: TestAccount, id: string) => api.context<Ctx>(a, id);

  async function events(a: TestAccount, id: string): Promise<any[]> {
    const r = await h.api(a.apiKey, 'GET', path(id, '/events?limit=100'));
    expect(r.status).toBe(200);
    return r.body.data;
  }

  async function snapshots(a: TestAccount, id: string): Promise<any[]> {
    const r = await h.api(a.apiKey, 'GET', path(id, '/snapshots?limit=100'));
    expect(r.status).toBe(200);
    return r.body.data;
  }

  const upstreamCount = (a: TestAccount) => h.simRequestsFor(a.simKey).length;

  /** The context must be exactly: system, in-window outlines (with header), in-window messages, in seq order. */
  function expectContextMatchesHistory(ctx: Ctx, history: any[], system: string | null = SYSTEM) {
    const expected: Array<{ role: string; content: string | null }> = [];
    if (system) expected.push({ role: 'system', content: system });
    const inWindow = history.filter((m) => m.in_window);
    for (const o of inWindow.filter((m) => m.kind === 'outline')) expected.push({ role: 'system', content: OUTLINE_HEADER + o.content });
    for (const m of inWindow.filter((x) => x.kind === 'message')) expected.push({ role: m.role, content: m.content });
    expect(ctx.messages.map((m) => ({ role: m.role, content: m.content }))).toEqual(expected);
  }

  /** The session's running window_tokens equals what /context assembles (the rolling policy budgets with it). */
  async function expectBookkeeping(a: TestAccount, id: string) {
    const ctx = await context(a, id);
    const s = (await h.api(a.apiKey, 'GET', path(id))).body;
    expect(s.usage.window_tokens).toBe(ctx.tokens.total);
  }

  const sameWindow = (a: Ctx, b: Ctx) => {
    expect(a.messages).toEqual(b.messages);
    expect(a.prefix_hash).toBe(b.prefix_hash);
    expect({ ...a.tokens }).toEqual({ ...b.tokens });
  };

  // ---------------------------------------------------------------------------------------------
  it('rolls a 60-round session: compactions keep the last rounds verbatim, fit the context, lose no history, keep facts and a stable prefix', async () => {
    const a = await h.createAccount('roll60');
    // An 8K-context model makes "window + reserve fits the context" a real constraint.
    const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { trigger_tokens: 6000, preserve_len: 4096, keep_rounds: 3, compress_ratio: 4 } });
    const MAX_TOKENS = 256;
    const ROUNDS = 60;
    const compactions: any[] = [];
    let prev: { ctx: Ctx; promptTokens: number } | null = null;
    let stablePairs = 0;
    let cacheHits = 0;

    for (let n = 1; n <= ROUNDS; n++) {
      const r = await turn(a, id, userMsg(n), { max_tokens: MAX_TOKENS });
      const ctx = await context(a, id);

      // The pinned system prompt is always first.
      expect(ctx.messages[0]).toEqual({ role: 'system', content: SYSTEM });
      // Window + reply reserve fits the model's context (8192), by the local estimate and upstream (no 400 -> 200 above).
      expect(ctx.tokens.context_window).toBe(8192);
      expect(ctx.tokens.total + MAX_TOKENS).toBeLessThanOrEqual(8192);
      expect(r.usage.prompt_tokens + MAX_TOKENS).toBeLessThanOrEqual(8192);
      // The last 3 rounds are verbatim, in order, at the end of the window.
      const tail = ctx.messages.slice(-6);
      for (let k = 0; k < 3; k++) {
        const round = n - 2 + k;
        if (round < 1) continue;
        expect(ctx.messages.filter((m) => m.role === 'user').map((m) => m.content)).toContain(userMsg(round));
      }
      if (n >= 3) expect(tail.filter((m) => m.role === 'user').map((m) => m.content)).toEqual([userMsg(n - 2), userMsg(n - 1), userMsg(n)]);
      expect(ctx.messages[ctx.messages.length - 1]).toEqual({ role: 'assistant', content: r.message.content });

      if (r.compaction) {
        compactions.push({ n, ...r.compaction });
        expect(r.compaction.action).toBe('compressed');
        expect(typeof r.compaction.snapshot_id).toBe('string');
        expect(r.compaction.outline_seq).toBeGreaterThan(0);
        expect(r.compaction.compressed_seqs[0]).toBeLessThanOrEqual(r.compaction.compressed_seqs[1]);
        expect(r.compaction.achieved_ratio).toBeGreaterThan(1);
        // Nothing falls between the compressed range and the kept rounds, and the keep_rounds rounds that
        // existed before this turn are all still verbatim (plus the new one).
        expect(r.compaction.keep_from_seq).toBe(r.compaction.compressed_seqs[1] + 1);
        expect(r.compaction.compressed_seqs[0]).toBe(compactions.length === 1 ? 1 : compactions[compactions.length - 2].keep_from_seq);
        expect(ctx.messages.filter((m) => m.role === 'user').map((m) => m.content).slice(-4)).toEqual([userMsg(n - 3), userMsg(n - 2), userMsg(n - 1), userMsg(n)]);
        // The new outline is in the window, right after the pinned prefix.
        const outlines = ctx.messages.filter((m) => m.role === 'system' && m.content!.startsWith(OUTLINE_HEADER));
        expect(outlines.length).toBeGreaterThanOrEqual(1);
        if (prev) expect(ctx.prefix_hash).not.toBe(prev.ctx.prefix_hash);
      } else if (prev) {
        // No compaction between two turns: the prefix is byte-identical and the upstream cache hits.
        expect(ctx.prefix_hash).toBe(prev.ctx.prefix_hash);
        stablePairs++;
        const prevHead = prev.ctx.messages;
        expect(ctx.messages.slice(0, prevHead.length)).toEqual(prevHead);
        expect(r.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
        // The whole previous request is a prefix of this one.
        expect(r.usage.prompt_tokens_details.cached_tokens).toBeGreaterThanOrEqual(prev.promptTokens);
        cacheHits++;
      }
      prev = { ctx, promptTokens: r.usage.prompt_tokens };
      if (r.compaction || n % 10 === 0) await expectBookkeeping(a, id);
    }

    // Several compactions, each one visible in the response and in the event log.
    expect(compactions.length).toBeGreaterThanOrEqual(3);
    const ev = await events(a, id);
    const compactionEvents = ev.filter((e) => e.type === 'compaction');
    expect(compactionEvents.length).toBe(compactions.length);
    expect(compactionEvents.map((e) => e.data.compressed_seqs)).toEqual(compactions.map((c) => c.compressed_seqs));
    expect(compactionEvents.map((e) => e.data.snapshot_id)).toEqual(compactions.map((c) => c.snapshot_id));
    expect(ev.filter((e) => e.type === 'compaction_fallback')).toHaveLength(0);
    const snaps = await snapshots(a, id);
    for (const c of compactions) expect(snaps.find((s) => s.id === c.snapshot_id)?.reason).toBe('rolling');

    // Nothing deleted: every message ever appended, seqs 1..N contiguous, outlines as kind 'outline'.
    const history = await allMessages(a, id);
    expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
    const session = (await h.api(a.apiKey, 'GET', path(id))).body;
    expect(history.length).toBe(session.last_seq);
    expect(history.length).toBe(ROUNDS * 2 + compactions.length);
    const outlines = history.filter((m) => m.kind === 'outline');
    expect(outlines.map((o) => o.seq)).toEqual(compactions.map((c) => c.outline_seq));
    expect(history.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(Array.from({ length: ROUNDS }, (_, i) => userMsg(i + 1)));
    expect(history.filter((m) => m.kind === 'message' && m.role === 'assistant')).toHaveLength(ROUNDS);
    // Every compressed range is disjoint and ordered, and outlines never sit inside a compressed range.
    for (let i = 1; i < compactions.length; i++) expect(compactions[i].compressed_seqs[0]).toBeGreaterThan(compactions[i - 1].compressed_seqs[1]);

    // The window shown by /context is exactly the in-window part of the history.
    const ctx = await context(a, id);
    expectContextMatchesHistory(ctx, history);

    // Planted facts of compressed rounds survive in the outlines.
    const outlineText = ctx.messages.filter((m) => m.content?.startsWith(OUTLINE_HEADER)).map((m) => m.content).join('\n');
    const verbatimUsers = new Set(ctx.messages.filter((m) => m.role === 'user').map((m) => m.content));
    const compressed = Array.from({ length: ROUNDS }, (_, i) => i + 1).filter((n) => !verbatimUsers.has(userMsg(n)));
    const survived = compressed.filter((n) => outlineText.includes(factLine(n)));
    const share = survived.length / compressed.length;
    console.log(`[rolling] ${compactions.length} compactions at rounds ${compactions.map((c) => c.n).join(',')}; ratios ${compactions.map((c) => c.achieved_ratio).join(',')}; folded ${compactions.filter((c) => c.folded_outlines).length}; fact survival ${survived.length}/${compressed.length}; stable prefixes ${stablePairs}, cache hits ${cacheHits}`);
    expect(compressed.length).toBeGreaterThan(40);
    expect(share).toBeGreaterThanOrEqual(0.95);
    expect(stablePairs).toBeGreaterThan(ROUNDS / 2);
  });

  // ---------------------------------------------------------------------------------------------
  it('restores to each of several snapshots without re-inferring anything', async () => {
    const a = await h.createAccount('restore');
    const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { trigger_tokens: 6000, preserve_len: 4096, keep_rounds: 3 } });
    const saved = new Map<string, { ctx: Ctx; atSeq: number }>();
    const order: string[] = [];
    let compactionsSeen = 0;
    for (let n = 1; n <= 30; n++) {
      const r = await turn(a, id, userMsg(n), { max_tokens: 256 });
      if (r.compaction) compactionsSeen++;
      if ([4, 12, 20, 27].includes(n)) {
        const s = await h.api(a.apiKey, 'POST', path(id, '/snapshots'), { label: `after round ${n}` });
        expect(s.status).toBe(201);
        expect(s.body.session_id).toBe(id);
        expect(s.body.reason).toBe('manual');
        expect(s.body.label).toBe(`after round ${n}`);
        saved.set(s.body.id, { ctx: await context(a, id), atSeq: s.body.at_seq });
        order.push(s.body.id);
      }
    }
    expect(compactionsSeen).toBeGreaterThanOrEqual(1); // some snapshots hold outlines, others predate them
    const listed = await snapshots(a, id);
    for (const sid of order) expect(listed.find((s) => s.id === sid)).toBeDefined();

    let preRestores = listed.filter((s) => s.reason === 'pre-restore').length;
    expect(preRestores).toBe(0);
    for (const sid of [order[1], order[3], order[0], order[2]]) {
      const before = await context(a, id);
      const lastSeq = (await h.api(a.apiKey, 'GET', path(id))).body.last_seq;
      const calls = upstreamCount(a);
      const r = await h.api(a.apiKey, 'POST', path(id, '/restore'), { snapshot_id: sid });
      expect(r.status).toBe(200);
      expect(r.body.last_seq).toBe(lastSeq); // history is not rewound
      expect(upstreamCount(a)).toBe(calls); // restore is metadata work: zero upstream calls
      const { ctx: expected, atSeq } = saved.get(sid)!;
      sameWindow(await context(a, id), expected);
      await expectBookkeeping(a, id);

      // Later messages stay in history, out of the window.
      const history = await allMessages(a, id);
      expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
      expect(history.filter((m) => m.seq > atSeq).every((m) => m.in_window === false)).toBe(true);
      expectContextMatchesHistory(await context(a, id), history);

      // A pre-restore snapshot of the window being replaced appeared; restoring it undoes the restore.
      const snaps = await snapshots(a, id);
      expect(snaps.filter((s) => s.reason === 'pre-restore')).toHaveLength(++preRestores);
      const pre = snaps.find((s) => s.id === r.body.pre_restore_snapshot_id);
      expect(pre).toMatchObject({ reason: 'pre-restore', at_seq: lastSeq });
      const back = await h.api(a.apiKey, 'POST', path(id, '/restore'), { snapshot_id: pre.id });
      expect(back.status).toBe(200);
      preRestores++;
      sameWindow(await context(a, id), before);
      const again = await h.api(a.apiKey, 'POST', path(id, '/restore'), { snapshot_id: sid });
      expect(again.status).toBe(200);
      preRestores++;
      sameWindow(await context(a, id), expected);
      expect(upstreamCount(a)).toBe(calls);
    }

    // Snapshot paging (limit/after) walks the same list in order.
    const full = await snapshots(a, id);
    expect(full.length).toBeGreaterThan(10);
    const paged: any[] = [];
    let after = '';
    for (;;) {
      const p = await h.api(a.apiKey, 'GET', path(id, `/snapshots?limit=4${after ? `&after=${after}` : ''}`));
      expect(p.status).toBe(200);
      paged.push(...p.body.data);
      if (!p.body.has_more) break;
      after = p.body.last_id;
    }
    expect(paged.map((x) => x.id)).toEqual(full.map((x) => x.id));

    // A new append after the restore works, continues the seqs and sends exactly the restored window.
    const restored = saved.get(order[2])!;
    const lastSeq = (await h.api(a.apiKey, 'GET', path(id))).body.last_seq;
    const calls = upstreamCount(a);
    const r = await turn(a, id, 'A short question after the restore', { max_tokens: 256 });
    expect(r.compaction).toBeNull();
    expect(r.seqs).toEqual([lastSeq + 1, lastSeq + 2]);
    expect(upstreamCount(a)).toBe(calls + 1); // only the new turn, nothing re-inferred
    const req = h.simRequestsFor(a.simKey).slice(-1)[0];
    expect(req.messages).toBe(restored.ctx.messages.length + 1);
    expect(req.cached_tokens).toBeGreaterThan(0);
    const ctx = await context(a, id);
    expect(ctx.messages.slice(0, restored.ctx.messages.length)).toEqual(restored.ctx.messages);
    expect(ctx.messages.slice(restored.ctx.messages.length)).toEqual([
      { role: 'user', content: 'A short question after the restore' },
      { role: 'assistant', content: r.message.content },
    ]);
    const history = await allMessages(a, id);
    expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
    expectContextMatchesHistory(ctx, history);

    // A snapshot of another session (same account) or an unknown id is a 404.
    const other = await createSession(a);
    const foreign = await h.api(a.apiKey, 'POST', path(other, '/snapshots'), {});
    expect((await h.api(a.apiKey, 'POST', path(id, '/restore'), { snapshot_id: foreign.body.id })).status).toBe(404);
    expect((await h.api(a.apiKey, 'POST', path(id, '/restore'), { snapshot_id: 'nope' })).status).toBe(404);
    expect((await h.api(a.apiKey, 'POST', path(id, '/restore'), {})).status).toBe(400);
  });

  // ---------------------------------------------------------------------------------------------
  it('forks a snapshot into an independent session, shows it in the lineage, and shares it across accounts', async () => {
    const a = await h.createAccount('forker');
    const b = await h.createAccount('sharee');
    const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { trigger_tokens: 6000, preserve_len: 4096, keep_rounds: 3 } });
    let compactions = 0;
    for (let n = 1; n <= 20; n++) if ((await turn(a, id, userMsg(n), { max_tokens: 256 })).compaction) compactions++;
    expect(compactions).toBeGreaterThanOrEqual(1);
    const snap = await h.api(a.apiKey, 'POST', path(id, '/snapshots'), { label: 'fork point' });
    expect(snap.status).toBe(201);
    const atSnap = await context(a, id);
    const sourceHistory = await allMessages(a, id);

    const calls = upstreamCount(a);
    const f = await h.api(a.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/fork`, {});
    expect(f.status).toBe(201);
    expect(upstreamCount(a)).toBe(calls);
    const source = (await h.api(a.apiKey, 'GET', path(id))).body;
    expect(f.body.id).not.toBe(id);
    expect(f.body.parent_id).toBe(id);
    expect(f.body.root_id).toBe(source.root_id);
    expect(f.body.status).toBe('active');
    expect(f.body.last_seq).toBe(snap.body.at_seq);
    const fork = f.body.id;

    // The fork's window equals the snapshot; its history is the source's up to the snapshot.
    sameWindow(await context(a, fork), atSnap);
    await expectBookkeeping(a, fork);
    const forkHistory = await allMessages(a, fork);
    expect(forkHistory.map(({ seq, role, content, kind, in_window }) => ({ seq, role, content, kind, in_window })))
      .toEqual(sourceHistory.filter((m) => m.seq <= snap.body.at_seq).map(({ seq, role, content, kind, in_window }) => ({ seq, role, content, kind, in_window })));

    // Appending to the fork leaves the source alone, and vice versa.
    const fr = await turn(a, fork, 'Only the fork hears this', { max_tokens: 256 });
    expect(fr.seqs[0]).toBe(snap.body.at_seq + 1);
    sameWindow(await context(a, id), atSnap);
    expect((await h.api(a.apiKey, 'GET', path(id))).body.last_seq).toBe(source.last_seq);
    const forkCtx = await context(a, fork);
    expect(forkCtx.messages.slice(-2)[0]).toEqual({ role: 'user', content: 'Only the fork hears this' });
    const sr = await turn(a, id, 'Only the source hears this', { max_tokens: 256 });
    expect(sr.seqs[0]).toBe(source.last_seq + 1);
    expect(await context(a, fork)).toEqual(forkCtx);
    expect((await allMessages(a, fork)).some((m) => m.content === 'Only the source hears this')).toBe(false);
    expect((await allMessages(a, id)).some((m) => m.content === 'Only the fork hears this')).toBe(false);
    expectContextMatchesHistory(await context(a, fork), await allMessages(a, fork));

    // A fork of the fork (its history spans the source and the first fork).
    const fsnap = await h.api(a.apiKey, 'POST', path(fork, '/snapshots'), {});
    expect(fsnap.status).toBe(201);
    const atFsnap = await context(a, fork);
    const ff = await h.api(a.apiKey, 'POST', `/v1/snapshots/${fsnap.body.id}/fork`, {});
    expect(ff.status).toBe(201);
    expect(ff.body.parent_id).toBe(fork);
    sameWindow(await context(a, ff.body.id), atFsnap);
    await turn(a, ff.body.id, 'The grandchild speaks', { max_tokens: 256 });
    expectContextMatchesHistory(await context(a, ff.body.id), await allMessages(a, ff.body.id));

    // Lineage: the fork (and its fork) as children, snapshots and outlines with provenance.
    const lin = await h.api(a.apiKey, 'GET', path(id, '/lineage'));
    expect(lin.status).toBe(200);
    const root = lin.body.root;
    expect(root.id).toBe(id);
    expect(lin.body.total_sessions).toBe(3);
    expect(root.children.map((c: any) => c.id)).toEqual([fork]);
    expect(root.children[0].children.map((c: any) => c.id)).toEqual([ff.body.id]);
    expect(root.children[0].snapshots.map((s: any) => s.id)).toContain(fsnap.body.id);
    expect(root.snapshots.map((s: any) => s.id)).toContain(snap.body.id);
    expect(root.outlines.length).toBe(compactions);
    const outlineSeqs = new Set(sourceHistory.filter((m) => m.kind === 'outline').map((m) => m.seq));
    for (const o of root.outlines) {
      expect(outlineSeqs.has(o.outline_seq)).toBe(true);
      expect(o.session_id).toBe(id);
      expect(o.seq_range[0]).toBeLessThanOrEqual(o.seq_range[1]);
      expect(o.seq_range[1]).toBeLessThan(o.outline_seq);
      expect(root.snapshots.find((s: any) => s.id === o.snapshot_id)?.reason).toBe('rolling');
    }
    const ev = await events(a, id);
    expect(ev.filter((e) => e.type === 'fork').map((e) => e.data.child_session_id)).toEqual([fork]);
    const fev = await events(a, fork);
    expect(fev[0]).toMatchObject({ type: 'fork', data: { from_session_id: id, snapshot_id: snap.body.id, at_seq: snap.body.at_seq } });

    // Share: another account may fork with the token (not without it, not with a wrong one).
    expect((await h.api(b.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/fork`, {})).status).toBe(404);
    expect((await h.api(b.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/share`, {})).status).toBe(404);
    const sh = await h.api(a.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/share`, {});
    expect(sh.status).toBe(200);
    expect(typeof sh.body.share_token).toBe('string');
    expect((await snapshots(a, id)).find((s) => s.id === snap.body.id).shared).toBe(true);
    expect((await h.api(b.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/fork`, { share_token: 'shr-wrong' })).status).toBe(404);
    expect((await h.api(b.apiKey, 'POST', `/v1/snapshots/${fsnap.body.id}/fork`, { share_token: sh.body.share_token })).status).toBe(404);
    const bf = await h.api(b.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/fork`, { share_token: sh.body.share_token });
    expect(bf.status).toBe(201);
    const bfork = bf.body.id;
    expect((await h.api(b.apiKey, 'GET', path(bfork))).status).toBe(200);
    expect((await h.api(a.apiKey, 'GET', path(bfork))).status).toBe(404);
    expect((await h.api(b.apiKey, 'GET', path(id))).status).toBe(404);
    sameWindow(await context(b, bfork), atSnap);
    // The shared fork holds a copy of the snapshot's window and nothing of the history around it.
    const copied = await allMessages(b, bfork);
    expect(copied.every((m: any) => m.in_window)).toBe(true);
    expect(copied.map((m: any) => m.seq)).toEqual(copied.map((_: unknown, i: number) => i + 1));
    const bcalls = upstreamCount(b);
    const acalls = upstreamCount(a);
    const br = await turn(b, bfork, 'The other account continues', { max_tokens: 256 });
    expect(br.seqs[0]).toBe(copied.length + 1);
    expect(upstreamCount(b)).toBe(bcalls + 1); // billed to the other account's upstream
    expect(upstreamCount(a)).toBe(acalls);
    expectContextMatchesHistory(await context(b, bfork), await allMessages(b, bfork));
    // The owner's lineage does not list the other account's fork.
    const lin2 = await h.api(a.apiKey, 'GET', path(id, '/lineage'));
    expect(lin2.body.total_sessions).toBe(3);
    expect(JSON.stringify(lin2.body)).not.toContain(bfork);
  });

  // ---------------------------------------------------------------------------------------------
  it('truncates to preserve_len: 400 below 4096, keeps the newest rounds that fit, keeps the system prompt first', async () => {
    const a = await h.createAccount('truncate');
    const id = await createSession(a, { policy: { auto_compact: false } });
    const bad = await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: 100 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect((await h.api(a.apiKey, 'POST', path(id, '/truncate'), {})).status).toBe(400);

    for (let n = 1; n <= 12; n++) await turn(a, id, userMsg(n, 600));
    const before = await allMessages(a, id);
    expect(before.reduce((s, m) => s + m.tokens, 0)).toBeGreaterThan(6000);
    const calls = upstreamCount(a);
    const t = await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: 4096 });
    expect(t.status).toBe(200);
    expect(upstreamCount(a)).toBe(calls);
    const ctx = await context(a, id);
    expect(t.body.messages).toEqual(ctx.messages);
    expect(ctx.messages[0]).toEqual({ role: 'system', content: SYSTEM });
    const history = await allMessages(a, id);
    expect(history).toHaveLength(before.length); // nothing deleted
    const kept = history.filter((m) => m.in_window);
    const keptFrom = kept[0].seq;
    // The kept part is the newest suffix of the history, starting at a round, within the budget ...
    expect(kept.map((m) => m.seq)).toEqual(history.filter((m) => m.seq >= keptFrom).map((m) => m.seq));
    expect(kept[0].role).toBe('user');
    const keptTokens = kept.reduce((s, m) => s + m.tokens, 0);
    expect(keptTokens).toBeLessThanOrEqual(4096);
    expect(ctx.tokens.recent).toBe(keptTokens);
    await expectBookkeeping(a, id);
    // ... and as large as possible: the previous round would not fit.
    const prevRound = history.filter((m) => m.seq < keptFrom).slice(-2);
    expect(prevRound[0].role).toBe('user');
    expect(keptTokens + prevRound[0].tokens + prevRound[1].tokens).toBeGreaterThan(4096);
    expectContextMatchesHistory(ctx, history);
    const ev = await events(a, id);
    expect(ev.map((e) => e.type)).toEqual(['truncation']);
    expect(ev[0].data).toMatchObject({ reason: 'manual', keep_from_seq: keptFrom, preserve_len: 4096 });
    // Truncating again to the same budget changes nothing.
    const t2 = await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: 4096 });
    expect(t2.status).toBe(200);
    sameWindow(await context(a, id), ctx);
    // A bigger budget does not bring truncated messages back (history stays, window does not grow).
    await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: 100000 });
    sameWindow(await context(a, id), ctx);
    // The next turn sends exactly the truncated window.
    const r = await turn(a, id, 'next');
    expect(h.simRequestsFor(a.simKey).slice(-1)[0].messages).toBe(ctx.messages.length + 1);
    expect(r.seqs[0]).toBe(history.length + 1);
  });

  it('never separates a tool call from its result when truncating', async () => {
    const a = await h.createAccount('tools');
    const tools = [{ type: 'function', function: { name: 'lookup_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { input: { type: 'string' } } } } }];
    const id = await createSession(a, { tools, policy: { auto_compact: false } });
    for (let n = 1; n <= 3; n++) await turn(a, id, userMsg(n, 600));
    const call = await turn(a, id, 'Please use lookup_weather for Paris today');
    expect(call.message.tool_calls?.length).toBe(1);
    const callId = call.message.tool_calls[0].id;
    const toolResult = filler(99, 4400);
    const tr = await h.api(a.apiKey, 'POST', path(id, '/messages'), { messages: [{ role: 'tool', tool_call_id: callId, content: toolResult }], generate: false });
    expect(tr.status).toBe(200);
    const history = await allMessages(a, id);
    const toolMsg = history[history.length - 1];
    const callMsg = history[history.length - 2];
    expect(toolMsg.role).toBe('tool');
    expect(callMsg.tool_calls[0].id).toBe(callId);
    expect(toolMsg.tokens).toBeGreaterThanOrEqual(4096);
    // A budget that holds the tool result alone but not its call: a naive cut would start at the result.
    const preserve = toolMsg.tokens + 1;
    expect(preserve).toBeLessThan(toolMsg.tokens + callMsg.tokens);
    const t = await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: preserve });
    expect(t.status).toBe(200);
    const expectToolPairsWhole = (ctx: Ctx) => {
      expect(ctx.messages[0]).toEqual({ role: 'system', content: SYSTEM });
      expect(ctx.messages[1].role).not.toBe('tool');
      const calls = new Set<string>();
      for (const m of ctx.messages) {
        for (const c of m.tool_calls ?? []) calls.add(c.id);
        if (m.role === 'tool') expect(calls.has(m.tool_call_id!)).toBe(true);
      }
    };
    let ctx = await context(a, id);
    expectToolPairsWhole(ctx);
    expect(ctx.messages.some((m) => m.role === 'tool')).toBe(true);
    expect(ctx.messages.some((m) => m.tool_calls?.some((c) => c.id === callId))).toBe(true);
    // The session still works: the reply follows the tool result.
    const after = await turn(a, id, 'and what about lookup_weather in Rome');
    expect(after.message).toBeDefined();
    const reply = await h.api(a.apiKey, 'POST', path(id, '/messages'), { messages: [{ role: 'tool', tool_call_id: after.message.tool_calls?.[0]?.id ?? 'x', content: 'Sunny' }] });
    expect(reply.status).toBe(200);
    // Truncating with a budget right at the tool-heavy part still keeps pairs whole.
    for (const p of [4096, 4200, 4500, 5000]) {
      expect((await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: p })).status).toBe(200);
      ctx = await context(a, id);
      expectToolPairsWhole(ctx);
    }
    // And compressing everything keeps the pinned prompt first and no orphan tool result.
    const c = await h.api(a.apiKey, 'POST', path(id, '/compress'), { keep_rounds: 1 });
    if (c.status === 200) expectToolPairsWhole(await context(a, id));
    else expect(c.status).toBe(409);
    expect((await turn(a, id, 'done')).message.content).toMatch(/^Re: done/);
  });

  // ---------------------------------------------------------------------------------------------
  /** Rounds with facts and trimmable content (decisions, open items) so the sim can approach the ratio. */
  const richMsg = (n: number) =>
    [
      `We decided to move the ${WORDS[n % 40]} service behind the ${WORDS[(n + 7) % 40]} gateway because the old path was slow.`,
      `Should we revisit the ${WORDS[(n + 3) % 40]} ${WORDS[(n + 11) % 40]} plan later?`,
      filler(n + 500, 120),
      `We decided to keep the ${WORDS[(n + 5) % 40]} cache since it is simple.`,
      `TODO check the ${WORDS[(n + 9) % 40]} ${WORDS[(n + 13) % 40]} migration.`,
      factLine(n),
    ].join('\n');

  it('compresses into an outline that keeps the facts, with a pre-compress snapshot; 409 when there is nothing to compress', async () => {
    const a = await h.createAccount('compress');
    const id = await createSession(a, { policy: { auto_compact: false } });
    for (let n = 1; n <= 8; n++) await turn(a, id, richMsg(n));
    const before = await allMessages(a, id);
    const lastSeq = before.length;
    const calls = upstreamCount(a);
    const c = await h.api(a.apiKey, 'POST', path(id, '/compress'), { ratio: 4 });
    expect(c.status).toBe(200);
    expect(upstreamCount(a)).toBe(calls + 1);
    expect(h.simRequestsFor(a.simKey).slice(-1)[0].purpose).toBe('compress');
    const body = c.body;
    console.log(`[compress ratio 4] input ${body.input_tokens} output ${body.output_tokens} achieved ${body.achieved_ratio} method ${body.method}`);
    expect(body.method).toBe('upstream');
    expect(body.compressed_seqs).toEqual([1, lastSeq - 6]);
    expect(body.outline_seq).toBe(lastSeq + 1);
    for (let n = 1; n <= 5; n++) expect(body.outline).toContain(factLine(n));
    expect(body.achieved_ratio).toBeCloseTo(body.input_tokens / body.output_tokens, 1);
    expect(body.achieved_ratio).toBeGreaterThan(4 / 3);
    expect(body.achieved_ratio).toBeLessThan(4 * 3);
    const snaps = await snapshots(a, id);
    expect(snaps.find((s) => s.id === body.snapshot_id)).toMatchObject({ reason: 'pre-compress', at_seq: lastSeq });

    const ctx = await context(a, id);
    expect(ctx.messages[0]).toEqual({ role: 'system', content: SYSTEM });
    expect(ctx.messages[1]).toEqual({ role: 'system', content: OUTLINE_HEADER + body.outline });
    expect(ctx.messages.slice(2).filter((m) => m.role === 'user').map((m) => m.content)).toEqual([richMsg(6), richMsg(7), richMsg(8)]);
    expect(ctx.tokens.outlines).toBe(body.output_tokens);
    await expectBookkeeping(a, id);
    const history = await allMessages(a, id);
    expect(history).toHaveLength(lastSeq + 1);
    expect(history[lastSeq]).toMatchObject({ seq: lastSeq + 1, kind: 'outline', in_window: true, content: body.outline });
    expectContextMatchesHistory(ctx, history);
    const ev = await events(a, id);
    expect(ev.map((e) => e.type)).toEqual(['snapshot', 'compression']);
    expect(ev[1].data).toMatchObject({ snapshot_id: body.snapshot_id, outline_seq: body.outline_seq, compressed_seqs: body.compressed_seqs });
    // Lineage carries the outline's provenance.
    const lin = (await h.api(a.apiKey, 'GET', path(id, '/lineage'))).body;
    expect(lin.root.outlines).toEqual([expect.objectContaining({ outline_seq: body.outline_seq, snapshot_id: body.snapshot_id, seq_range: body.compressed_seqs, trigger: 'manual' })]);

    // Nothing left beyond the kept rounds: 409, and no upstream call, no snapshot.
    const n409 = await h.api(a.apiKey, 'POST', path(id, '/compress'), {});
    expect(n409.status).toBe(409);
    expect(n409.body.error.code).toBe('conflict');
    expect(upstreamCount(a)).toBe(calls + 1);
    expect(await snapshots(a, id)).toHaveLength(snaps.length);
    // Validation.
    expect((await h.api(a.apiKey, 'POST', path(id, '/compress'), { ratio: 1 })).status).toBe(400);
    expect((await h.api(a.apiKey, 'POST', path(id, '/compress'), { ratio: 11 })).status).toBe(400);
    expect((await h.api(a.apiKey, 'POST', path(id, '/compress'), { format: 'prose' })).status).toBe(400);

    // keep_rounds 0 compresses the rest; both outlines stay, the next append works and is in the window.
    const all = await h.api(a.apiKey, 'POST', path(id, '/compress'), { keep_rounds: 0 });
    expect(all.status).toBe(200);
    for (let n = 6; n <= 8; n++) expect(all.body.outline).toContain(factLine(n));
    const ctx2 = await context(a, id);
    expect(ctx2.messages.map((m) => m.role)).toEqual(['system', 'system', 'system']);
    expect(ctx2.tokens.recent).toBe(0);
    const r = await turn(a, id, 'And now?');
    expect(r.seqs[0]).toBe(lastSeq + 3);
    const ctx3 = await context(a, id);
    expect(ctx3.messages.slice(3)).toEqual([{ role: 'user', content: 'And now?' }, { role: 'assistant', content: r.message.content }]);
    expectContextMatchesHistory(ctx3, await allMessages(a, id));
  });

  it('reports achieved ratios for several targets', async () => {
    const a = await h.createAccount('ratios');
    const results: string[] = [];
    for (const ratio of [2, 4, 8]) {
      const id = await createSession(a, { policy: { auto_compact: false } });
      for (let n = 1; n <= 10; n++) await turn(a, id, richMsg(n));
      const c = await h.api(a.apiKey, 'POST', path(id, '/compress'), { ratio });
      expect(c.status).toBe(200);
      for (let n = 1; n <= 7; n++) expect(c.body.outline).toContain(factLine(n));
      results.push(`ratio ${ratio}: ${c.body.input_tokens}->${c.body.output_tokens} = ${c.body.achieved_ratio}`);
      expect(c.body.achieved_ratio).toBeGreaterThan(ratio / 3);
      expect(c.body.achieved_ratio).toBeLessThan(ratio * 3);
    }
    console.log(`[compress ratios] ${results.join('; ')}`);
  });

  it('compress with the upstream failing answers 502 and leaves the window unchanged', async () => {
    const a = await h.createAccount('compressfail');
    const id = await createSession(a, { policy: { auto_compact: false } });
    for (let n = 1; n <= 6; n++) await turn(a, id, richMsg(n));
    const ctx = await context(a, id);
    const history = await allMessages(a, id);
    const session = (await h.api(a.apiKey, 'GET', path(id))).body;
    const calls = upstreamCount(a);
    h.sim.injectFaults({ kind: '500', count: ATTEMPTS, key: a.simKey });
    const c = await h.api(a.apiKey, 'POST', path(id, '/compress'), {});
    expect(c.status).toBe(502);
    expect(c.body.error.code).toBe('upstream_error');
    expect(upstreamCount(a)).toBe(calls + ATTEMPTS);
    sameWindow(await context(a, id), ctx);
    expect(await allMessages(a, id)).toEqual(history);
    const after = (await h.api(a.apiKey, 'GET', path(id))).body;
    expect(after.last_seq).toBe(session.last_seq);
    expect(after.usage).toEqual(session.usage);
    expect((await events(a, id)).filter((e) => e.type === 'compression')).toHaveLength(0);
    // The lock was released: the session keeps working, and a retry compresses.
    const ok = await h.api(a.apiKey, 'POST', path(id, '/compress'), {});
    expect(ok.status).toBe(200);
    expect(ok.body.outline_seq).toBe(session.last_seq + 1);
    await turn(a, id, 'still here');
  });

  it('compress on a window too big for one summarizer call compresses what fits instead of failing', async () => {
    const a = await h.createAccount('bigcompress');
    const id = await createSession(a, { policy: { auto_compact: false } });
    // ~190K tokens of history without inference (appends of ~8K each).
    for (let n = 1; n <= 24; n++) {
      const r = await h.api(a.apiKey, 'POST', path(id, '/messages'), { generate: false, messages: [{ role: 'user', content: `${filler(n, 7300)}\n${factLine(n)}` }] });
      expect(r.status).toBe(200);
    }
    const before = await context(a, id);
    expect(before.tokens.total).toBeGreaterThan(180000);
    // Ratio 2 over everything would ask for ~140K reply tokens on top of ~190K prompt: over the 262K context.
    const c = await h.api(a.apiKey, 'POST', path(id, '/compress'), { ratio: 2, keep_rounds: 1 });
    expect(c.status).toBe(200);
    const req = h.simRequestsFor(a.simKey).slice(-1)[0];
    expect(req).toMatchObject({ purpose: 'compress', status: 200 });
    const [from, to] = c.body.compressed_seqs;
    expect(from).toBe(1);
    expect(to).toBeLessThan(23); // capped: the rest stays verbatim for a later compaction
    for (let n = 1; n <= to; n++) expect(c.body.outline).toContain(factLine(n));
    const ctx = await context(a, id);
    expect(ctx.messages[0]).toEqual({ role: 'system', content: SYSTEM });
    expect(ctx.messages.filter((m) => m.role === 'user')).toHaveLength(24 - to);
    expect(ctx.tokens.total).toBeLessThan(before.tokens.total);
    expectContextMatchesHistory(ctx, await allMessages(a, id));
    await expectBookkeeping(a, id);
  });

  it('a summary cut at max_tokens is salvaged (it reached its target) with one call, never requested again, and keeps every fact', async () => {
    const a = await h.createAccount('cut');
    const id = await createSession(a, { policy: { auto_compact: false } });
    let k = 0;
    for (let n = 1; n <= 8; n++) {
      const lines = Array.from({ length: 5 }, () => factLine(++k));
      await turn(a, id, `${filler(100 + n, 120)}\n${lines.join('\n')}`);
    }
    const calls = upstreamCount(a);
    h.sim.configure({ summarizerStyle: 'truncated' });
    try {
      const c = await h.api(a.apiKey, 'POST', path(id, '/compress'), { ratio: 10 });
      expect(c.status).toBe(200);
      expect(c.body.method).toBe('upstream');
      // The cut reply was already past its target (ratio 10): salvaged and trimmed, no second call.
      expect(c.body.path).toMatch(/^model\+salvaged/);
      expect(c.body.summarizer_calls).toBe(1);
      const reqs = h.simRequestsFor(a.simKey).slice(calls);
      expect(reqs.map((q) => [q.purpose, q.status])).toEqual([['compress', 200]]);
      // Every planted value is still in the window (the outline or the kept rounds), or named as dropped: none is lost silently.
      const windowText = (await context(a, id)).messages.map((m: any) => m.content ?? '').join('\n');
      const dropped = new Set<string>(c.body.facts.dropped);
      for (let i = 1; i <= 40; i++) {
        for (const v of [`FACT-${i}`, `Z${i}`]) if (!dropped.has(v)) expect({ v, kept: new RegExp(`\\b${v}\\b`).test(windowText) }).toEqual({ v, kept: true });
      }
      expect(c.body.facts.dropped).toEqual([]);
      expect(c.body.facts.facts_in).toBeGreaterThanOrEqual(2 * (c.body.compressed_seqs[1] >= 9 ? 25 : 20));
      expect(c.body.output_tokens).toBeLessThan(c.body.input_tokens);
      expect(c.body.outline.startsWith('# Outline')).toBe(true);
      console.log(`[compress cut+continued ratio 10] input ${c.body.input_tokens} output ${c.body.output_tokens} achieved ${c.body.achieved_ratio} path ${c.body.path} facts ${JSON.stringify({ ...c.body.facts, dropped: c.body.facts.dropped.length })}`);
      const ev = await events(a, id);
      expect(ev[ev.length - 1]).toMatchObject({ type: 'compression', data: { method: 'upstream', summarizer_calls: 1 } });
      const ctx = await context(a, id);
      expect(ctx.messages[1]).toEqual({ role: 'system', content: OUTLINE_HEADER + c.body.outline });
      await turn(a, id, 'continue');
    } finally {
      h.sim.configure({ summarizerStyle: 'mix' });
    }
  });

  it('window operations wait for nothing: 409 while a turn holds the session, 409 on a closed session', async () => {
    const a = await h.createAccount('busy');
    const id = await createSession(a, { policy: { auto_compact: false } });
    for (let n = 1; n <= 5; n++) await turn(a, id, userMsg(n, 800));
    const snap = await h.api(a.apiKey, 'POST', path(id, '/snapshots'), {});
    h.sim.configure({ firstTokenMs: 2000 });
    try {
      const pending = h.api(a.apiKey, 'POST', path(id, '/messages'), { messages: [{ role: 'user', content: 'slow one' }] });
      // Wait (by polling, not by time) until the turn's upstream call is in flight.
      for (let i = 0; i < 400 && !(h.simStatsFor(a.simKey) as any).in_flight; i++) await new Promise((r) => setTimeout(r, 5));
      expect((h.simStatsFor(a.simKey) as any).in_flight).toBe(1);
      const busy: Array<[string, string, unknown]> = [
        ['POST', path(id, '/truncate'), { preserve_len: 4096 }],
        ['POST', path(id, '/compress'), {}],
        ['POST', path(id, '/restore'), { snapshot_id: snap.body.id }],
        ['POST', path(id, '/snapshots'), {}],
      ];
      for (const [m, p, b] of busy) expect({ p, status: (await h.api(a.apiKey, m, p, b)).status }).toEqual({ p, status: 409 });
      expect((await h.api(a.apiKey, 'GET', path(id, '/context'))).status).toBe(200);
      expect((await pending).status).toBe(200);
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
    expect((await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: 4096 })).status).toBe(200);

    expect((await h.api(a.apiKey, 'DELETE', path(id))).status).toBe(200);
    for (const [m, p, b] of [
      ['POST', path(id, '/truncate'), { preserve_len: 4096 }],
      ['POST', path(id, '/compress'), {}],
      ['POST', path(id, '/restore'), { snapshot_id: snap.body.id }],
      ['POST', path(id, '/snapshots'), {}],
    ] as Array<[string, string, unknown]>) {
      const r = await h.api(a.apiKey, m, p, b);
      expect({ p, status: r.status, code: r.body.error?.code }).toEqual({ p, status: 409, code: 'conflict' });
    }
    // History and state stay readable after close.
    for (const p of ['/context', '/events', '/lineage', '/snapshots', '/messages']) expect((await h.api(a.apiKey, 'GET', path(id, p))).status).toBe(200);
  });

  // ---------------------------------------------------------------------------------------------
  it('falls back to truncation when the summarizer fails; the turn still succeeds', async () => {
    const a = await h.createAccount('fallback');
    const id = await createSession(a, { policy: { trigger_tokens: 8000, preserve_len: 4096, keep_rounds: 3 } });
    // Default reserve (4096 max_tokens) + window: 6 rounds of ~350 tokens stay under 8000.
    for (let n = 1; n <= 6; n++) {
      const r = await turn(a, id, userMsg(n));
      expect(r.compaction).toBeNull();
    }
    const ctxBefore = await context(a, id);
    expect(ctxBefore.tokens.total + 4096).toBeLessThan(8000);
    const calls = upstreamCount(a);
    // The next append (~2,500 tokens) passes the trigger: the compress call fails all its attempts.
    h.sim.injectFaults({ kind: '500', count: ATTEMPTS, key: a.simKey });
    const big = userMsg(7, 2200);
    const r = await turn(a, id, big);
    expect(r.compaction).toMatchObject({ action: 'truncated', reason: 'compression_failed', preserve_len: 4096 });
    expect(typeof r.compaction.error).toBe('string');
    const reqs = h.simRequestsFor(a.simKey).slice(calls);
    expect(reqs.map((q) => [q.purpose, q.status])).toEqual([...Array(ATTEMPTS).fill(['compress', 500]), ['chat', 200]]);
    // The window before the append was cut to preserve_len; nothing was compressed, nothing deleted.
    const history = await allMessages(a, id);
    expect(history.filter((m) => m.kind === 'outline')).toHaveLength(0);
    expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
    const keepFrom = r.compaction.keep_from_seq;
    expect(history.find((m) => m.seq === keepFrom)?.role).toBe('user');
    const keptBefore = history.filter((m) => m.seq >= keepFrom && m.seq < r.seqs[0]).reduce((s, m) => s + m.tokens, 0);
    expect(keptBefore).toBeLessThanOrEqual(4096);
    expect(r.compaction.window_tokens_after).toBe(ctxBefore.tokens.pinned + keptBefore);
    const ctx = await context(a, id);
    expect(ctx.messages[0]).toEqual({ role: 'system', content: SYSTEM });
    expect(ctx.messages.slice(-2)).toEqual([{ role: 'user', content: big }, { role: 'assistant', content: r.message.content }]);
    expectContextMatchesHistory(ctx, history);
    const ev = await events(a, id);
    expect(ev.map((e) => e.type)).toEqual(['snapshot', 'compaction_fallback']);
    expect(ev[0].data.reason).toBe('rolling');
    expect(ev[1].data).toMatchObject({ reason: 'fallback', keep_from_seq: keepFrom });
    // With the upstream healthy again, the next compaction compresses.
    let compressed: any = null;
    for (let n = 8; n <= 30 && !compressed; n++) {
      const t = await turn(a, id, userMsg(n, 800));
      if (t.compaction) compressed = t.compaction;
    }
    expect(compressed).toMatchObject({ action: 'compressed' });
  });

  // ---------------------------------------------------------------------------------------------
  it('logs compaction, snapshot, restore, fork and truncation events in order; another tenant gets 404 everywhere', async () => {
    const a = await h.createAccount('events');
    const b = await h.createAccount('intruder');
    const id = await createSession(a, { policy: { trigger_tokens: 12000, preserve_len: 4096, keep_rounds: 3 } });
    const manual = await h.api(a.apiKey, 'POST', path(id, '/snapshots'), { label: 'start' });
    expect(manual.status).toBe(201);
    for (let n = 1; n <= 4; n++) expect((await turn(a, id, userMsg(n, 1400))).compaction).toBeNull();
    const tr = await h.api(a.apiKey, 'POST', path(id, '/truncate'), { preserve_len: 4096 });
    expect(tr.status).toBe(200);
    let compaction: any = null;
    for (let n = 5; n <= 15 && !compaction; n++) compaction = (await turn(a, id, userMsg(n, 1400))).compaction;
    expect(compaction).toMatchObject({ action: 'compressed' });
    const rs = await h.api(a.apiKey, 'POST', path(id, '/restore'), { snapshot_id: manual.body.id });
    expect(rs.status).toBe(200);
    const fk = await h.api(a.apiKey, 'POST', `/v1/snapshots/${manual.body.id}/fork`, {});
    expect(fk.status).toBe(201);

    const ev = await events(a, id);
    expect(ev.map((e) => e.type)).toEqual(['snapshot', 'truncation', 'snapshot', 'compaction', 'snapshot', 'restore', 'fork']);
    expect(ev.map((e) => e.data.reason ?? null).filter(Boolean)).toEqual(['manual', 'manual', 'rolling', 'pre-restore']);
    for (let i = 1; i < ev.length; i++) expect(ev[i].id).toBeGreaterThan(ev[i - 1].id);
    expect(ev[3].data.snapshot_id).toBe(ev[2].data.snapshot_id);
    expect(ev[5].data).toMatchObject({ snapshot_id: manual.body.id, pre_restore_snapshot_id: ev[4].data.snapshot_id });
    expect(ev[6].data.child_session_id).toBe(fk.body.id);
    // Paging through events.
    const p1 = await h.api(a.apiKey, 'GET', path(id, '/events?limit=3'));
    expect(p1.body.data.map((e: any) => e.id)).toEqual(ev.slice(0, 3).map((e) => e.id));
    expect(p1.body.has_more).toBe(true);
    const p2 = await h.api(a.apiKey, 'GET', path(id, `/events?limit=100&after=${p1.body.data[2].id}`));
    expect(p2.body.data.map((e: any) => e.id)).toEqual(ev.slice(3).map((e) => e.id));
    expect(p2.body.has_more).toBe(false);

    // Another tenant: 404 (never 403) on every route, and nothing changes for the owner.
    const ctxBefore = await context(a, id);
    const snapId = manual.body.id;
    const bSession = await createSession(b);
    const routes: Array<[string, string, unknown?]> = [
      ['GET', path(id)],
      ['GET', path(id, '/messages')],
      ['POST', path(id, '/messages'), { messages: [{ role: 'user', content: 'hi' }] }],
      ['GET', path(id, '/context')],
      ['POST', path(id, '/truncate'), { preserve_len: 4096 }],
      ['POST', path(id, '/snapshots'), {}],
      ['GET', path(id, '/snapshots')],
      ['POST', path(id, '/restore'), { snapshot_id: snapId }],
      ['POST', path(id, '/compress'), { keep_rounds: 0 }],
      ['GET', path(id, '/events')],
      ['GET', path(id, '/lineage')],
      ['POST', `/v1/snapshots/${snapId}/fork`, {}],
      ['POST', `/v1/snapshots/${snapId}/share`, {}],
      ['POST', path(bSession, '/restore'), { snapshot_id: snapId }],
      ['GET', path(fk.body.id, '/context')],
    ];
    const bCalls = upstreamCount(b);
    for (const [method, p, body] of routes) {
      const r = await h.api(b.apiKey, method, p, body);
      expect({ route: `${method} ${p}`, status: r.status, code: r.body?.error?.code }).toEqual({ route: `${method} ${p}`, status: 404, code: 'not_found' });
    }
    expect(upstreamCount(b)).toBe(bCalls);
    expect(await events(a, id)).toEqual(ev);
    sameWindow(await context(a, id), ctxBefore);
    expect(await snapshots(b, bSession)).toHaveLength(0);
  });
});
