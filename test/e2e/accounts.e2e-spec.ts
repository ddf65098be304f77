import { createHash } from 'node:crypto';
import { ADMIN_KEY, TestHarness } from '../support/harness';

describe('admin accounts', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => h?.stop());

  const admin = (method: string, path: string, body?: unknown) => h.api(ADMIN_KEY, method, path, body);
  const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
  const upstreamKey = () => `sk-upstream-secret-${Math.random().toString(36).slice(2)}`;

  it('creates an account and shows its API key in the create response only', async () => {
    const secret = upstreamKey();
    const r = await admin('POST', '/admin/accounts', { name: 'acme', session_limit: 7, upstream: { base_url: h.sim.baseUrl, model: 'kimi-k2-0905-preview', api_key: secret } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      object: 'account',
      name: 'acme',
      session_limit: 7,
      upstream: { base_url: h.sim.baseUrl, model: 'kimi-k2-0905-preview', api_key_set: true },
    });
    expect(r.body.api_key).toMatch(/^sk-so-[A-Za-z0-9_-]{20,}$/);
    expect(r.body.api_key.startsWith(r.body.api_key_prefix)).toBe(true);
    expect(JSON.stringify(r.body)).not.toContain(secret);

    const got = await admin('GET', `/admin/accounts/${r.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty('api_key');
    expect(JSON.stringify(got.body)).not.toContain(r.body.api_key);
    expect(JSON.stringify(got.body)).not.toContain(secret);

    // The key works at once.
    expect((await h.api(r.body.api_key, 'GET', '/v1/sessions')).status).toBe(200);
  });

  it('defaults session_limit to SESSION_LIMIT and upstream to null', async () => {
    const r = await admin('POST', '/admin/accounts', { name: 'defaults' });
    expect(r.status).toBe(201);
    expect(r.body.session_limit).toBe(100);
    expect(r.body.upstream).toBeNull();
  });

  it('never returns keys from GET /admin/accounts, and pages the list', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await admin('POST', '/admin/accounts', { name: `lister-${i}`, upstream: { base_url: h.sim.baseUrl, api_key: `upstream-${i}-${upstreamKey()}` } })).body);
    const all: any[] = [];
    let after: string | null = null;
    for (let i = 0; i < 50; i++) {
      const r = await admin('GET', `/admin/accounts?limit=2${after ? `&after=${after}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.object).toBe('list');
      all.push(...r.body.data);
      const text = JSON.stringify(r.body);
      for (const c of created) expect(text).not.toContain(c.api_key);
      expect(text).not.toMatch(/upstream-\d-sk-upstream-secret/);
      for (const row of r.body.data) {
        expect(row).not.toHaveProperty('api_key');
        expect(row).not.toHaveProperty('api_key_hash');
        if (row.upstream) expect(Object.keys(row.upstream).sort()).toEqual(['api_key_set', 'base_url', 'model']);
      }
      if (!r.body.has_more) break;
      after = r.body.last_id;
    }
    const ids = all.map((x) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of created) expect(ids).toContain(c.id);
  });

  it('stores only a hash of the API key and the upstream key encrypted', async () => {
    const secret = upstreamKey();
    const r = await admin('POST', '/admin/accounts', { name: 'vault', upstream: { base_url: h.sim.baseUrl, api_key: secret } });
    const [row] = await h.handle.dataSource.query('SELECT * FROM accounts WHERE id = $1', [r.body.id]);
    const dump = JSON.stringify(row);
    expect(dump).not.toContain(r.body.api_key);
    expect(dump).not.toContain(secret);
    expect(row.api_key_hash).toBe(sha256(r.body.api_key));
    expect(row.upstream_api_key_enc).toEqual(expect.any(String));
    expect(row.upstream_api_key_enc).not.toContain(secret);
    expect(row.upstream_api_key_enc).not.toContain(Buffer.from(secret).toString('base64'));
    // Two accounts with the same upstream key get different ciphertexts (random IV).
    const twin = await admin('POST', '/admin/accounts', { name: 'vault-twin', upstream: { base_url: h.sim.baseUrl, api_key: secret } });
    const [twinRow] = await h.handle.dataSource.query('SELECT upstream_api_key_enc FROM accounts WHERE id = $1', [twin.body.id]);
    expect(twinRow.upstream_api_key_enc).not.toBe(row.upstream_api_key_enc);
    // No column anywhere in the table holds a plaintext key.
    const everything = JSON.stringify(await h.handle.dataSource.query('SELECT * FROM accounts'));
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(r.body.api_key);
  });

  it('uses the decrypted upstream key for the account\'s calls', async () => {
    const a = await h.createAccount('uses-upstream');
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', {});
    const t = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'hello' }] });
    expect(t.status).toBe(200);
    expect(h.simStatsFor(a.simKey).requests).toBe(1);
  });

  it('rotates the key: the old one answers 401 at once, the new one works', async () => {
    const a = await h.createAccount('rotator');
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', {});
    expect(s.status).toBe(201);
    const r = await admin('PATCH', `/admin/accounts/${a.id}`, { rotate_key: true });
    expect(r.status).toBe(200);
    expect(r.body.api_key).toMatch(/^sk-so-/);
    expect(r.body.api_key).not.toBe(a.apiKey);
    expect(r.body.api_key_prefix).toBe(r.body.api_key.slice(0, r.body.api_key_prefix.length));

    const old = await h.api(a.apiKey, 'GET', '/v1/sessions');
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe('unauthorized');
    const fresh = await h.api(r.body.api_key, 'GET', `/v1/sessions/${s.body.id}`);
    expect(fresh.status).toBe(200);

    const [row] = await h.handle.dataSource.query('SELECT api_key_hash FROM accounts WHERE id = $1', [a.id]);
    expect(row.api_key_hash).toBe(sha256(r.body.api_key));
    // A PATCH without rotate_key shows no key.
    const plain = await admin('PATCH', `/admin/accounts/${a.id}`, { name: 'rotator-renamed' });
    expect(plain.status).toBe(200);
    expect(plain.body).not.toHaveProperty('api_key');
    expect(plain.body.name).toBe('rotator-renamed');
    expect((await h.api(r.body.api_key, 'GET', '/v1/sessions')).status).toBe(200);
  });

  it('updates session_limit', async () => {
    const a = await h.createAccount('limits');
    const r = await admin('PATCH', `/admin/accounts/${a.id}`, { session_limit: 3 });
    expect(r.status).toBe(200);
    expect(r.body.session_limit).toBe(3);
    expect((await admin('GET', `/admin/accounts/${a.id}`)).body.session_limit).toBe(3);
    const [row] = await h.handle.dataSource.query('SELECT session_limit FROM accounts WHERE id = $1', [a.id]);
    expect(row.session_limit).toBe(3);
  });

  it('replaces and removes the upstream', async () => {
    const a = await h.createAccount('switcher');
    const secret = upstreamKey();
    const r = await admin('PATCH', `/admin/accounts/${a.id}`, { upstream: { base_url: h.sim.baseUrl, api_key: secret } });
    expect(r.status).toBe(200);
    expect(r.body.upstream).toMatchObject({ base_url: h.sim.baseUrl, api_key_set: true });
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', {});
    await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'via the new key' }] });
    expect(h.simStatsFor(secret).requests).toBe(1);

    const removed = await admin('PATCH', `/admin/accounts/${a.id}`, { upstream: null });
    expect(removed.status).toBe(200);
    expect(removed.body.upstream).toBeNull();
    await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'via the default' }] });
    expect(h.simStatsFor(secret).requests).toBe(1);
    expect(h.simStatsFor('sim-default').requests).toBeGreaterThanOrEqual(1);
  });

  describe('validation', () => {
    it.each([
      ['a missing name', {}, 'name'],
      ['an empty name', { name: '' }, 'name'],
      ['a numeric name', { name: 5 }, 'name'],
      ['session_limit 0', { name: 'x', session_limit: 0 }, 'session_limit'],
      ['a fractional session_limit', { name: 'x', session_limit: 1.5 }, 'session_limit'],
      ['a session_limit string', { name: 'x', session_limit: '10' }, 'session_limit'],
      ['an upstream without a key', { name: 'x', upstream: { base_url: 'http://127.0.0.1:1/v1' } }, 'upstream.api_key'],
      ['an upstream with a bad URL', { name: 'x', upstream: { base_url: 'not a url', api_key: 'k' } }, 'upstream.base_url'],
      ['an upstream with a non-http URL', { name: 'x', upstream: { base_url: 'ftp://example.com/v1', api_key: 'k' } }, 'upstream.base_url'],
      ['an unknown field', { name: 'x', api_key: 'chosen-by-caller' }, 'api_key'],
    ])('answers 400 with param on create with %s', async (_case, body, param) => {
      const before = await h.handle.dataSource.query('SELECT count(*)::int AS n FROM accounts');
      const r = await admin('POST', '/admin/accounts', body);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param });
      const after = await h.handle.dataSource.query('SELECT count(*)::int AS n FROM accounts');
      expect(after[0].n).toBe(before[0].n);
    });

    it.each([
      ['session_limit -1', { session_limit: -1 }, 'session_limit'],
      ['rotate_key as a string', { rotate_key: 'yes' }, 'rotate_key'],
      ['an unknown field', { api_key_hash: 'x' }, 'api_key_hash'],
      ['an empty name', { name: '' }, 'name'],
    ])('answers 400 with param on update with %s, and changes nothing', async (_case, body, param) => {
      const a = await h.createAccount('patch-validate');
      const before = await admin('GET', `/admin/accounts/${a.id}`);
      const r = await admin('PATCH', `/admin/accounts/${a.id}`, body);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', param });
      expect((await admin('GET', `/admin/accounts/${a.id}`)).body).toEqual(before.body);
      expect((await h.api(a.apiKey, 'GET', '/v1/sessions')).status).toBe(200);
    });

    it('answers 404 to an unknown or malformed account id on PATCH and GET', async () => {
      for (const id of ['00000000-0000-7000-8000-000000000000', 'abc']) {
        expect((await admin('PATCH', `/admin/accounts/${id}`, { rotate_key: true })).status).toBe(404);
        expect((await admin('GET', `/admin/accounts/${id}`)).status).toBe(404);
      }
    });
  });
});
