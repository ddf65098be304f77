import { Client } from 'pg';
import { TestHarness, TestAccount } from '../support/harness';

// Issue 11, item 8: sharing shares the snapshot, not the past. A fork made with a share token holds a
// copy of the snapshot's window (pinned prefix, outlines, in-window messages) and nothing the owner cut
// away or wrote later; it outlives the owner's session; tokens expire and can be revoked.

describe('sharing a snapshot', () => {
  let h: TestHarness;
  let owner: TestAccount;
  let other: TestAccount;

  beforeAll(async () => {
    h = await TestHarness.start();
    owner = await h.createAccount('share-owner');
    other = await h.createAccount('share-other');
  });
  afterAll(async () => {
    await h?.stop();
  });

  const history = async (a: TestAccount, id: string) => (await h.api(a.apiKey, 'GET', `/v1/sessions/${id}/messages?limit=100`)).body.data as any[];
  const context = async (a: TestAccount, id: string) => (await h.api(a.apiKey, 'GET', `/v1/sessions/${id}/context`)).body;

  async function sharedSnapshot(): Promise<{ sid: string; snapId: string; token: string; secret: string }> {
    const sid = (await h.api(owner.apiKey, 'POST', '/v1/sessions', { system: 'You are terse.', title: 'owner' })).body.id;
    const secret = `owner-secret-${Math.random().toString(36).slice(2)}`;
    // A first message long enough that keeping the last 4,096 tokens cuts it out of the window.
    const filler = Array.from({ length: 700 }, (_, i) => `line ${i} of the build log`).join('\n');
    for (const text of [`The deploy password is ${secret}.\n${filler}`, 'Second message.', 'Third message.']) {
      expect((await h.api(owner.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: text }], max_tokens: 32 })).status).toBe(200);
    }
    // The owner cuts the first round out of the window before sharing.
    expect((await h.api(owner.apiKey, 'POST', `/v1/sessions/${sid}/truncate`, { preserve_len: 4096 })).status).toBe(200);
    expect((await history(owner, sid)).find((m) => m.content?.includes(secret)).in_window).toBe(false);
    const snap = await h.api(owner.apiKey, 'POST', `/v1/sessions/${sid}/snapshots`, { label: 'shared' });
    expect(snap.status).toBe(201);
    const sh = await h.api(owner.apiKey, 'POST', `/v1/snapshots/${snap.body.id}/share`, {});
    expect(sh.status).toBe(200);
    // Written after the snapshot: not part of what is shared.
    expect((await h.api(owner.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'After the share: private.' }], max_tokens: 32 })).status).toBe(200);
    return { sid, snapId: snap.body.id, token: sh.body.share_token, secret };
  }

  it('gives the other account exactly the snapshot window: nothing truncated away, nothing later, and the same context', async () => {
    const { sid, snapId, token, secret } = await sharedSnapshot();
    const ownerAtSnap = await (async () => {
      const f = await h.api(owner.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, {});
      return context(owner, f.body.id);
    })();
    const fork = await h.api(other.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, { share_token: token });
    expect(fork.status).toBe(201);
    const msgs = await history(other, fork.body.id);
    const text = JSON.stringify(msgs);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('After the share');
    expect(msgs.every((m) => m.in_window)).toBe(true);
    const ctx = await context(other, fork.body.id);
    expect(ctx.messages).toEqual(ownerAtSnap.messages);
    expect(JSON.stringify(ctx)).not.toContain(secret);
    // The owner's session id appears nowhere the other account can read.
    expect(JSON.stringify(fork.body)).not.toContain(sid);
    expect(JSON.stringify((await h.api(other.apiKey, 'GET', `/v1/sessions/${fork.body.id}/lineage`)).body)).not.toContain(sid);
  });

  it('keeps working after the owner closes the session', async () => {
    const { sid, snapId, token } = await sharedSnapshot();
    const fork = (await h.api(other.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, { share_token: token })).body.id;
    expect((await h.api(owner.apiKey, 'DELETE', `/v1/sessions/${sid}`)).status).toBe(200);
    const before = await history(other, fork);
    const r = await h.api(other.apiKey, 'POST', `/v1/sessions/${fork}/messages`, { messages: [{ role: 'user', content: 'Continue on my own.' }], max_tokens: 32 });
    expect(r.status).toBe(200);
    expect(r.body.seqs[0]).toBe(before.length + 1);
    expect((await history(other, fork)).slice(0, before.length)).toEqual(before);
  });

  it('revokes a token at once; forks already made keep their copy; a new share works again', async () => {
    const { snapId, token } = await sharedSnapshot();
    const early = (await h.api(other.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, { share_token: token })).body.id;
    expect((await h.api(other.apiKey, 'DELETE', `/v1/snapshots/${snapId}/share`)).status).toBe(404);
    const rv = await h.api(owner.apiKey, 'DELETE', `/v1/snapshots/${snapId}/share`);
    expect(rv.status).toBe(200);
    expect(rv.body).toEqual({ snapshot_id: snapId, shared: false, revoked: true });
    expect((await h.api(other.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, { share_token: token })).status).toBe(404);
    expect((await h.api(other.apiKey, 'POST', `/v1/sessions/${early}/messages`, { messages: [{ role: 'user', content: 'still mine' }], max_tokens: 16 })).status).toBe(200);
    // Revoking twice says nothing was working.
    expect((await h.api(owner.apiKey, 'DELETE', `/v1/snapshots/${snapId}/share`)).body.revoked).toBe(false);
    const again = await h.api(owner.apiKey, 'POST', `/v1/snapshots/${snapId}/share`, {});
    expect(again.body.share_token).not.toBe(token);
    expect((await h.api(other.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, { share_token: token })).status).toBe(404);
    expect((await h.api(other.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, { share_token: again.body.share_token })).status).toBe(201);
  });

  it('gives a token an expiry (expires_in, default 7 days) and refuses it once expired', async () => {
    const { sid, snapId, token } = await sharedSnapshot();
    const listed = (await h.api(owner.apiKey, 'GET', `/v1/sessions/${sid}/snapshots`)).body.data.find((s: any) => s.id === snapId);
    expect(listed.shared).toBe(true);
    const week = Math.floor(Date.now() / 1000) + 7 * 86_400;
    expect(Math.abs(listed.share_expires_at - week)).toBeLessThan(120);
    const short = await h.api(owner.apiKey, 'POST', `/v1/snapshots/${snapId}/share`, { expires_in: 600 });
    expect(Math.abs(short.body.expires_at - (Math.floor(Date.now() / 1000) + 600))).toBeLessThan(120);
    expect((await h.api(other.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, { share_token: token })).status).toBe(404); // replaced
    expect((await h.api(owner.apiKey, 'POST', `/v1/snapshots/${snapId}/share`, { expires_in: 10 })).status).toBe(400);
    expect((await h.api(owner.apiKey, 'POST', `/v1/snapshots/${snapId}/share`, { expires_in: 91 * 86_400 })).status).toBe(400);
    // Time passes: the database clock decides, so move the expiry into the past.
    const db = new Client({ connectionString: h.databaseUrl });
    await db.connect();
    try {
      await db.query(`UPDATE snapshots SET share_expires_at = now() - interval '1 second' WHERE id = $1`, [snapId]);
    } finally {
      await db.end();
    }
    expect((await h.api(other.apiKey, 'POST', `/v1/snapshots/${snapId}/fork`, { share_token: short.body.share_token })).status).toBe(404);
    const after = (await h.api(owner.apiKey, 'GET', `/v1/sessions/${sid}/snapshots`)).body.data.find((s: any) => s.id === snapId);
    expect(after.shared).toBe(false);
  });
});
