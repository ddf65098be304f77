import { ADMIN_KEY, TestHarness, TestAccount } from '../support/harness';
import { http } from '../support/test-env';

// Issue 11, item 7: rotating ENCRYPTION_KEY keeps every account's upstream working (a key ring), and a
// rotated account key stops working on every instance at once.

describe('encryption key rotation', () => {
  const K1 = 'rotation-key-one-0123456789';
  const K2 = 'rotation-key-two-0123456789';
  const K3 = 'rotation-key-three-0123456789';
  let h: TestHarness;
  let a: TestAccount;
  let sid: string;

  beforeAll(async () => {
    h = await TestHarness.start({ env: { ENCRYPTION_KEY: K1 } });
    a = await h.createAccount('rotation'); // its own upstream key, sealed with K1
    sid = (await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id;
    expect((await h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'sealed with K1' }], max_tokens: 16 })).status).toBe(200);
  });
  afterAll(async () => {
    await h?.stop();
  });

  const turn = (content: string) => h.api(a.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content }], max_tokens: 16 });

  it('keeps calling the account upstream after ENCRYPTION_KEY changes, with the old key in ENCRYPTION_KEYS_OLD', async () => {
    await h.restart({ ENCRYPTION_KEY: K2, ENCRYPTION_KEYS_OLD: K1 });
    const calls = h.simRequestsFor(a.simKey).length;
    expect((await turn('after the rotation')).status).toBe(200);
    expect(h.simRequestsFor(a.simKey).length).toBe(calls + 1); // still the account's own upstream key
  });

  it('re-seals every upstream key with the new key, after which the old one can go', async () => {
    const r = await h.api(ADMIN_KEY, 'POST', '/admin/accounts/reseal-upstream-keys');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ resealed: 1, unreadable: 0 });
    expect((await h.api(ADMIN_KEY, 'POST', '/admin/accounts/reseal-upstream-keys')).body).toMatchObject({ resealed: 0, current: 1 });
    await h.restart({ ENCRYPTION_KEY: K2, ENCRYPTION_KEYS_OLD: '' });
    expect((await turn('the old key is gone')).status).toBe(200);
  });

  it('answers 503 (not 500) for calls of an account whose key no configured key opens, and serves everything else', async () => {
    const before = (await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}`)).body;
    await h.restart({ ENCRYPTION_KEY: K3, ENCRYPTION_KEYS_OLD: '' });
    const r = await turn('unreadable');
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('service_unavailable');
    expect(r.body.error.message).toMatch(/ENCRYPTION_KEYS_OLD/);
    expect((await h.api(a.apiKey, 'GET', `/v1/sessions/${sid}`)).body).toEqual(before);
    expect((await h.api(ADMIN_KEY, 'POST', '/admin/accounts/reseal-upstream-keys')).body).toMatchObject({ resealed: 0, unreadable: 1, unreadable_account_ids: [a.id] });
    // Setting the upstream again heals it.
    expect((await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { upstream: { base_url: h.sim.baseUrl, api_key: a.simKey } })).status).toBe(200);
    expect((await turn('healed')).status).toBe(200);
  });
});

describe('account key rotation across instances', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('stops the old key on another instance at once, although that instance had it cached', async () => {
    const peer = await h.startPeer();
    try {
      const a = await h.createAccount('rotate-everywhere');
      // Both instances have looked the key up (and cached it).
      expect((await h.api(a.apiKey, 'GET', '/v1/sessions')).status).toBe(200);
      expect((await http(peer.url, a.apiKey, 'GET', '/v1/sessions')).status).toBe(200);
      const rotated = await h.api(ADMIN_KEY, 'PATCH', `/admin/accounts/${a.id}`, { rotate_key: true });
      expect(rotated.status).toBe(200);
      const fresh = rotated.body.api_key as string;
      expect((await http(peer.url, a.apiKey, 'GET', '/v1/sessions')).status).toBe(401);
      expect((await h.api(a.apiKey, 'GET', '/v1/sessions')).status).toBe(401);
      expect((await http(peer.url, fresh, 'GET', '/v1/sessions')).status).toBe(200);
    } finally {
      await peer.close();
    }
  });
});
