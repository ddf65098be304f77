import OpenAI from 'openai';
import { SessionOrchestrator, type AppendStreamChunk, type TaskResponse } from '@so/client';
import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';

/**
 * The typed client (`@so/client`): every method of SessionOrchestrator against a running service,
 * asserting what the call did, not only that it answered.
 */

const SYSTEM = 'You are a careful refactoring assistant.';
const OUTLINE_HEADER = '[outline of earlier conversation]\n';
const WORDS = ['river', 'stone', 'garden', 'window', 'ladder', 'candle', 'meadow', 'harbor', 'silver', 'forest', 'pencil', 'orange', 'bridge', 'castle', 'pillow', 'rocket'];

/** Deterministic prose with nothing an outline keeps, then one FACT line. */
function roundText(n: number, words: number): string {
  let x = n * 2654435761 + 7;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(WORDS[x % WORDS.length] + (i % 10 === 9 ? '.' : ''));
  }
  return `${out.join(' ')}.\nFACT-${n}: module m${n} moves to pkg/core${n}.`;
}

const rejection = (p: PromiseLike<unknown>): Promise<any> =>
  Promise.resolve(p).then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v).slice(0, 300)}`);
    },
    (e: unknown) => e,
  );

describe('typed client (SessionOrchestrator)', () => {
  let h: TestHarness;
  let a: TestAccount;
  let client: SessionOrchestrator;
  const clientFor = (acct: TestAccount) => new SessionOrchestrator({ apiKey: acct.apiKey, baseURL: `${h.url}/v1`, maxRetries: 0 });

  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('client');
    client = clientFor(a);
  });
  afterAll(async () => h?.stop());

  it('is the official OpenAI client: chat.completions and models work, with session_id too', async () => {
    expect(client).toBeInstanceOf(OpenAI);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('kimi-k2-0905-preview');
    const s = await client.sessions.create({ title: 'compat' });
    // Existing OpenAI code: the session's model satisfies the SDK's types; session_id rides along in the body.
    const params: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming & { session_id: string } = { model: s.model, session_id: s.id, messages: [{ role: 'user', content: 'hello through the client' }] };
    const c = await client.chat.completions.create(params);
    expect(c.choices[0].message.content).toMatch(/^Re: hello through the client/);
    expect((await client.sessions.messages(s.id)).data).toHaveLength(2);
  });

  it('sessions: create, retrieve, list, append, appendStream (with usage), idempotent append, messages, close', async () => {
    const s = await client.sessions.create({ system: SYSTEM, title: 'lifecycle', metadata: { ticket: 'REF-1' }, policy: { keep_rounds: 2 } });
    expect(s).toMatchObject({ object: 'session', status: 'active', title: 'lifecycle', metadata: { ticket: 'REF-1' }, role: 'standalone', parent_id: null, last_seq: 0 });
    expect(s.policy.keep_rounds).toBe(2);
    expect(await client.sessions.retrieve(s.id)).toMatchObject({ id: s.id, title: 'lifecycle' });

    const listed = await client.sessions.list({ status: 'active', limit: 100 });
    expect(listed.object).toBe('list');
    expect(listed.data.map((x) => x.id)).toContain(s.id);

    const r1 = await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'Extract the parser from main.ts' }] });
    expect(r1.object).toBe('session.turn');
    expect(r1.seqs).toEqual([1, 2]);
    expect(r1.message!.content).toMatch(/^Re: Extract the parser from main.ts/);
    expect(r1.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(r1.session_usage.completion_tokens).toBe(r1.usage!.completion_tokens);

    const stream = await client.sessions.appendStream(s.id, { messages: [{ role: 'user', content: 'Now add tests for the parser' }] });
    const chunks: AppendStreamChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toMatch(/^Re: Now add tests for the parser/);
    const last = chunks[chunks.length - 1];
    expect(last.usage!.prompt_tokens).toBeGreaterThan(r1.usage!.prompt_tokens);
    expect(last.seqs).toEqual([3, 4]);
    expect(last.session_usage!.completion_tokens).toBeGreaterThan(r1.session_usage.completion_tokens);

    const upstreamBefore = h.simRequestsFor(a.simKey).length;
    const k1 = await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'Rename it to Lexer' }] }, { idempotencyKey: 'rename-1' });
    const k2 = await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'Rename it to Lexer' }] }, { idempotencyKey: 'rename-1' });
    expect(h.simRequestsFor(a.simKey).length).toBe(upstreamBefore + 1);
    expect(k2.idempotent_replay).toBe(true);
    expect(k2.message!.content).toBe(k1.message!.content);

    const stored = await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'A note, no reply needed' }], generate: false });
    expect(stored.message).toBeNull();
    expect(h.simRequestsFor(a.simKey).length).toBe(upstreamBefore + 1);

    const page1 = await client.sessions.messages(s.id, { limit: 4 });
    expect(page1.data.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(page1.has_more).toBe(true);
    const page2 = await client.sessions.messages(s.id, { after_seq: 4, limit: 100 });
    expect(page2.data.map((m) => m.seq)).toEqual([5, 6, 7]);
    expect(page2.data[2]).toMatchObject({ role: 'user', content: 'A note, no reply needed', in_window: true });
    expect(page1.data[3].content).toBe(text);

    const closed = await client.sessions.close(s.id);
    expect(closed.status).toBe('closed');
    expect((await client.sessions.list({ status: 'closed', limit: 100 })).data.map((x) => x.id)).toContain(s.id);
    const err = await rejection(client.sessions.append(s.id, { messages: [{ role: 'user', content: 'too late' }] }));
    expect(err).toBeInstanceOf(OpenAI.ConflictError);
    // Data is kept after close.
    expect((await client.sessions.messages(s.id, { limit: 100 })).data).toHaveLength(7);
  });

  it('snapshots: create, list, append, restore -> the context equals the snapshot; later messages stay out of the window; events', async () => {
    const s = await client.sessions.create({ system: SYSTEM, title: 'restore' });
    await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'Step one: split utils.ts' }] });
    await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'Step two: move helpers to lib/' }] });
    const atSnapshot = await client.sessions.context(s.id);
    const snap = await client.sessions.snapshots.create(s.id, { label: 'after step two' });
    expect(snap).toMatchObject({ object: 'session.snapshot', session_id: s.id, at_seq: 4, reason: 'manual', label: 'after step two' });

    await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'Step three: a risky rewrite' }] });
    expect((await client.sessions.context(s.id)).messages.length).toBe(atSnapshot.messages.length + 2);

    const calls = h.simRequestsFor(a.simKey).length;
    const restored = await client.sessions.restore(s.id, { snapshot_id: snap.id });
    expect(restored.restored_snapshot_id).toBe(snap.id);
    expect(restored.last_seq).toBe(6);
    expect(h.simRequestsFor(a.simKey).length).toBe(calls); // nothing re-inferred
    const now = await client.sessions.context(s.id);
    expect(now.messages).toEqual(atSnapshot.messages);
    expect(now.prefix_hash).toBe(atSnapshot.prefix_hash);
    const history = (await client.sessions.messages(s.id, { limit: 100 })).data;
    expect(history.map((m) => m.in_window)).toEqual([true, true, true, true, false, false]);

    const snaps = (await client.sessions.snapshots.list(s.id)).data;
    expect(snaps.map((x) => x.id)).toContain(snap.id);
    expect(snaps.find((x) => x.id === restored.pre_restore_snapshot_id)).toMatchObject({ reason: 'pre-restore', at_seq: 6 });

    const events = (await client.sessions.events(s.id)).data.map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(['snapshot', 'restore']));
    expect(events.indexOf('restore')).toBeGreaterThan(events.indexOf('snapshot'));
    const later = await client.sessions.events(s.id, { after: (await client.sessions.events(s.id)).data[0].id });
    expect(later.data.length).toBe(events.length - 1);
  });

  it('snapshots: fork (same account, in the lineage) and share (another account forks with the token)', async () => {
    const s = await client.sessions.create({ system: SYSTEM, title: 'fork source' });
    await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'Design the plugin API' }] });
    const ctx = await client.sessions.context(s.id);
    const snap = await client.sessions.snapshots.create(s.id);

    const fork = await client.snapshots.fork(snap.id, { title: 'alternative design' });
    expect(fork).toMatchObject({ parent_id: s.id, root_id: s.root_id, title: 'alternative design', status: 'active' });
    expect((await client.sessions.context(fork.id)).messages).toEqual(ctx.messages);
    // The fork is independent: appending to it leaves the source alone.
    await client.sessions.append(fork.id, { messages: [{ role: 'user', content: 'Try a hook-based variant' }] });
    expect((await client.sessions.context(s.id)).messages).toEqual(ctx.messages);
    expect((await client.sessions.list({ parent_id: s.id })).data.map((x) => x.id)).toEqual([fork.id]);
    const lineage = await client.sessions.lineage(s.id);
    expect(lineage.object).toBe('session.lineage');
    expect(lineage.root.id).toBe(s.id);
    expect(lineage.root.children.map((c) => c.id)).toEqual([fork.id]);
    expect(lineage.root.snapshots.map((x) => x.id)).toContain(snap.id);
    expect(lineage.total_sessions).toBe(2);

    const b = await h.createAccount('client-b');
    const other = clientFor(b);
    const hidden = await rejection(other.snapshots.fork(snap.id));
    expect(hidden).toBeInstanceOf(OpenAI.NotFoundError);
    const { share_token, snapshot_id } = await client.snapshots.share(snap.id);
    expect(snapshot_id).toBe(snap.id);
    expect(share_token).toEqual(expect.any(String));
    const theirs = await other.snapshots.fork(snap.id, { share_token });
    expect((await other.sessions.context(theirs.id)).messages).toEqual(ctx.messages);
    const reply = await other.sessions.append(theirs.id, { messages: [{ role: 'user', content: 'Continue from the shared state' }] });
    expect(reply.seqs[0]).toBeGreaterThan(2);
    // Still invisible to the other account as a session.
    expect(await rejection(other.sessions.retrieve(s.id))).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('truncate keeps preserve_len of recent history; compress turns the window into an outline that keeps the facts', async () => {
    const s = await client.sessions.create({ system: SYSTEM, title: 'cut and compress' });
    for (let n = 1; n <= 8; n++) await client.sessions.append(s.id, { messages: [{ role: 'user', content: roundText(n, 900) }], max_tokens: 64 });
    const before = await client.sessions.context(s.id);
    expect(before.tokens.recent).toBeGreaterThan(8000);

    const cut = await client.sessions.truncate(s.id, { preserve_len: 4096 });
    expect(cut.tokens.recent).toBeLessThanOrEqual(4096);
    expect(cut.tokens.recent).toBeGreaterThan(0);
    expect(cut.messages[0]).toEqual({ role: 'system', content: SYSTEM });
    expect(await rejection(client.sessions.truncate(s.id, { preserve_len: 1000 }))).toBeInstanceOf(OpenAI.BadRequestError);

    const s2 = await client.sessions.create({ system: SYSTEM, title: 'compress' });
    for (let n = 1; n <= 6; n++) await client.sessions.append(s2.id, { messages: [{ role: 'user', content: roundText(n, 400) }], max_tokens: 64 });
    const c = await client.sessions.compress(s2.id, { ratio: 4, keep_rounds: 1 });
    expect(c.achieved_ratio).toBeGreaterThan(2);
    expect(c.input_tokens).toBeGreaterThan(c.output_tokens);
    for (let n = 1; n <= 5; n++) expect(c.outline).toContain(`FACT-${n}: module m${n} moves to pkg/core${n}.`);
    const snaps = (await client.sessions.snapshots.list(s2.id)).data;
    expect(snaps.find((x) => x.id === c.snapshot_id)?.reason).toBe('pre-compress');
    const ctx = await client.sessions.context(s2.id);
    expect(ctx.messages.filter((m: any) => m.content?.startsWith(OUTLINE_HEADER))).toHaveLength(1);
    expect(ctx.tokens.outlines).toBeGreaterThan(0);
    const types = (await client.sessions.events(s2.id)).data.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['snapshot', 'compression']));
    expect((await client.sessions.events(s.id)).data.map((e) => e.type)).toContain('truncation');
  });

  it('fragments: create, retrieve, list, update (new version), pinned version until upgradeFragments, del', async () => {
    const f = await client.fragments.create({ name: 'coding-standards', content: 'Use early returns.' });
    expect(f).toMatchObject({ object: 'fragment', name: 'coding-standards', version: 1 });
    expect(f.token_count).toBeGreaterThan(0);
    expect(await client.fragments.retrieve(f.id)).toMatchObject({ id: f.id, version: 1, content: 'Use early returns.' });
    expect((await client.fragments.list({ limit: 100 })).data.map((x) => x.id)).toContain(f.id);

    const s = await client.sessions.create({ system: SYSTEM, fragment_ids: [f.id], title: 'with fragment' });
    const v2 = await client.fragments.update(f.id, { content: 'Use early returns. Keep functions under 40 lines.' });
    expect(v2.version).toBe(2);
    expect(v2.hash).not.toBe(f.hash);
    expect((await client.fragments.retrieve(f.id)).version).toBe(2);
    expect((await client.sessions.context(s.id)).messages[1]).toEqual({ role: 'system', content: '[fragment coding-standards v1]\nUse early returns.' });

    const up = await client.sessions.upgradeFragments(s.id);
    expect(up.upgraded).toEqual([{ id: f.id, version: 2 }]);
    expect((await client.sessions.context(s.id)).messages[1]).toEqual({ role: 'system', content: '[fragment coding-standards v2]\nUse early returns. Keep functions under 40 lines.' });

    expect(await client.fragments.del(f.id)).toMatchObject({ id: f.id, deleted: true });
    expect(await rejection(client.fragments.retrieve(f.id))).toBeInstanceOf(OpenAI.NotFoundError);
    // The session that pinned it keeps working.
    const turn = await client.sessions.append(s.id, { messages: [{ role: 'user', content: 'apply the standards' }] });
    expect(turn.message!.content).toMatch(/^Re: apply the standards/);
  });

  it('tasks: create, events() as an async iterator ending with done, retrieve, list; the master holds the merged outlines', async () => {
    const inputs = Array.from({ length: 4 }, (_, i) => ({ title: `src/file${i}.ts`, content: `export const v${i} = ${i};\n// FACT-${i}: owner of file${i} is team-${i}` }));
    const created = await client.tasks.create({ goal: 'Review these files', inputs, max_parallel: 2 });
    expect(created.id).toEqual(expect.any(String));
    expect(created.master_session_id).toEqual(expect.any(String));

    const events: Array<TaskResponse & { event: string }> = [];
    for await (const ev of client.tasks.events(created.id)) events.push(ev);
    const last = events[events.length - 1];
    expect(last.event).toBe('done');
    expect(events.slice(0, -1).every((e) => e.event === 'progress')).toBe(true);
    expect(last.status).toBe('succeeded');
    expect(last.progress).toMatchObject({ total: 4, succeeded: 4, failed: 0 });

    const t = await client.tasks.retrieve(created.id);
    expect(t).toMatchObject({ id: created.id, status: 'succeeded', master_session_id: created.master_session_id });
    expect(t.result).toEqual(expect.any(String));
    expect((await client.tasks.list({ limit: 100 })).data.map((x) => x.id)).toContain(created.id);

    const ctx = await client.sessions.context(created.master_session_id);
    const outlines = (ctx.messages as Array<{ content: string }>).filter((m) => m.content?.startsWith('[outline'));
    expect(outlines).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(outlines.some((o) => o.content.includes(`FACT-${i}`))).toBe(true);
    const lineage = await client.sessions.lineage(created.master_session_id);
    expect(lineage.total_sessions).toBe(5);
    expect(lineage.root.merged_outlines).toHaveLength(4);

    // events() of a finished task yields done at once; of an unknown task, a typed error.
    const again: string[] = [];
    for await (const ev of client.tasks.events(created.id)) again.push(ev.event);
    expect(again[again.length - 1]).toBe('done');
    const missing = await rejection(client.tasks.events('00000000-0000-7000-8000-000000000000').next());
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('tasks: cancel stops queued children and closes running ones; a second cancel is a 409', async () => {
    const acct = await h.createAccount('client-cancel', { session_limit: 2 });
    const c = clientFor(acct);
    // Every upstream call of this account hangs, so children stay running until cancelled.
    h.sim.injectFaults({ kind: 'hang', count: 50, key: acct.simKey });
    const inputs = Array.from({ length: 5 }, (_, i) => ({ title: `part${i}`, content: `content of part ${i}` }));
    const created = await c.tasks.create({ goal: 'Never finishes on its own', inputs, max_parallel: 1 });
    for await (const ev of c.tasks.events(created.id)) {
      if (ev.progress.running >= 1 || ev.event === 'done') break;
    }
    const cancelled = await c.tasks.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.progress.succeeded).toBe(0);
    expect(cancelled.progress.cancelled).toBe(5);
    const t = await c.tasks.retrieve(created.id);
    expect(t.status).toBe('cancelled');
    expect(t.finished_at).toEqual(expect.any(Number));
    const again = await rejection(c.tasks.cancel(created.id));
    expect(again).toBeInstanceOf(OpenAI.ConflictError);
    // The children that had a session when cancel answered are closed, and every slot is given back.
    const atCancel = (await c.sessions.list({ parent_id: created.master_session_id, limit: 100 })).data;
    expect(atCancel.length).toBeGreaterThanOrEqual(1);
    expect(atCancel.map((x) => x.status)).toEqual(atCancel.map(() => 'closed'));
    const pool = async () => {
      const r = await fetch(`${h.url}/admin/pool?account_id=${acct.id}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      return ((await r.json()) as { data: Array<{ in_use: number }> }).data[0].in_use;
    };
    const end = Date.now() + 30_000;
    let inUse = await pool();
    while (inUse > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      inUse = await pool();
    }
    expect(inUse).toBe(0);
    // No child started after the cancel: every child session there is, is closed.
    const all = (await c.sessions.list({ parent_id: created.master_session_id, limit: 100 })).data;
    expect(all.map((x) => x.status)).toEqual(all.map(() => 'closed'));
  });
});
