import { TestAccount, TestHarness } from '../support/harness';

describe('fragments: reusable pinned context', () => {
  let h: TestHarness;
  let a: TestAccount;
  let b: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount();
    b = await h.createAccount();
  });
  afterAll(async () => h?.stop());

  it('creates a versioned, content-hashed fragment; PUT makes a new version, the same content keeps it', async () => {
    const c = await h.api(a.apiKey, 'POST', '/v1/fragments', { name: 'standards', content: 'Use tabs. FACT-1: max line 120.' });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ object: 'fragment', name: 'standards', version: 1 });
    expect(c.body.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(c.body.token_count).toBeGreaterThan(5);
    const same = await h.api(a.apiKey, 'PUT', `/v1/fragments/${c.body.id}`, { content: 'Use tabs. FACT-1: max line 120.' });
    expect(same.body.version).toBe(1);
    const v2 = await h.api(a.apiKey, 'PUT', `/v1/fragments/${c.body.id}`, { content: 'Use spaces.' });
    expect(v2.body.version).toBe(2);
    const got = await h.api(a.apiKey, 'GET', `/v1/fragments/${c.body.id}`);
    expect(got.body).toMatchObject({ version: 2, content: 'Use spaces.' });
    const list = await h.api(a.apiKey, 'GET', '/v1/fragments');
    expect(list.body.data.map((f: { id: string }) => f.id)).toContain(c.body.id);
  });

  it('pins fragments after the system prompt, counts their tokens once, and keeps the version until upgraded', async () => {
    const f = await h.api(a.apiKey, 'POST', '/v1/fragments', { name: 'tools-doc', content: 'Tool grep searches files.' });
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'You review code.', fragment_ids: [f.body.id] });
    expect(s.status).toBe(201);
    expect(s.body.fragments).toEqual([{ id: f.body.id, version: 1, name: 'tools-doc', tokens: f.body.token_count }]);
    await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'hi' }] });
    const ctx = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}/context`);
    expect(ctx.body.messages[0]).toEqual({ role: 'system', content: 'You review code.' });
    expect(ctx.body.messages[1]).toEqual({ role: 'system', content: '[fragment tools-doc v1]\nTool grep searches files.' });
    expect(ctx.body.messages.filter((m: { content: string }) => m.content?.includes('Tool grep')).length).toBe(1);
    expect(ctx.body.tokens.pinned).toBeGreaterThanOrEqual(f.body.token_count);

    await h.api(a.apiKey, 'PUT', `/v1/fragments/${f.body.id}`, { content: 'Tool grep searches files fast.' });
    const still = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}/context`);
    expect(still.body.messages[1].content).toContain('v1');
    const up = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/fragments/upgrade`);
    expect(up.status).toBe(200);
    expect(up.body.upgraded).toEqual([{ id: f.body.id, version: 2 }]);
    const after = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}/context`);
    expect(after.body.messages[1].content).toBe('[fragment tools-doc v2]\nTool grep searches files fast.');
  });

  it("hides another account's fragments (404) and rejects unknown fragment ids on session create", async () => {
    const f = await h.api(a.apiKey, 'POST', '/v1/fragments', { name: 'secret', content: 'x' });
    expect((await h.api(b.apiKey, 'GET', `/v1/fragments/${f.body.id}`)).status).toBe(404);
    const s = await h.api(b.apiKey, 'POST', '/v1/sessions', { fragment_ids: [f.body.id] });
    expect(s.status).toBe(404);
    expect(s.body.error.param).toBe('fragment_ids');
    expect((await h.api(a.apiKey, 'POST', '/v1/fragments', { name: '', content: 'x' })).status).toBe(400);
  });

  it('a deleted fragment is gone for new sessions but sessions that pinned it keep working', async () => {
    const f = await h.api(a.apiKey, 'POST', '/v1/fragments', { name: 'temp', content: 'Temporary rule.' });
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { fragment_ids: [f.body.id] });
    expect((await h.api(a.apiKey, 'DELETE', `/v1/fragments/${f.body.id}`)).status).toBe(200);
    expect((await h.api(a.apiKey, 'GET', `/v1/fragments/${f.body.id}`)).status).toBe(404);
    expect((await h.api(a.apiKey, 'POST', '/v1/sessions', { fragment_ids: [f.body.id] })).status).toBe(404);
    const turn = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'go' }] });
    expect(turn.status).toBe(200);
  });

  it('restore and fork bring back the fragment versions pinned when the snapshot was taken', async () => {
    const f = await h.api(a.apiKey, 'POST', '/v1/fragments', { name: 'style', content: 'Rule one.' });
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { fragment_ids: [f.body.id] });
    await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'hello' }] });
    const before = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}/context`);
    const snap = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/snapshots`, {});
    await h.api(a.apiKey, 'PUT', `/v1/fragments/${f.body.id}`, { content: 'Rule one. Rule two, which is much longer than the first rule was.' });
    await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/fragments/upgrade`);
    const upgraded = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}/context`);
    expect(upgraded.body.prefix_hash).not.toBe(before.body.prefix_hash);

    await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/restore`, { snapshot_id: snap.body.id });
    const restored = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}/context`);
    expect(restored.body.prefix_hash).toBe(before.body.prefix_hash);
    expect(restored.body.messages).toEqual(before.body.messages);
    const session = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}`);
    expect(session.body.usage.window_tokens).toBe(restored.body.tokens.total);

    const fork = await h.api(a.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/fork`, {});
    const forked = await h.api(a.apiKey, 'GET', `/v1/sessions/${fork.body.id}/context`);
    expect(forked.body.messages).toEqual(before.body.messages);
  });
});
