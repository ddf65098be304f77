import { TestHarness, TestAccount } from '../support/harness';

describe('sessions: first light', () => {
  let h: TestHarness;
  let a: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount();
  });
  afterAll(async () => h?.stop());

  it('creates a session and appends a message that gets a reply', async () => {
    const created = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'You are terse.' });
    expect(created.status).toBe(201);
    const r = await h.api(a.apiKey, 'POST', `/v1/sessions/${created.body.id}/messages`, { messages: [{ role: 'user', content: 'hello there' }] });
    expect(r.status).toBe(200);
    expect(r.body.message.role).toBe('assistant');
    expect(r.body.seqs).toEqual([1, 2]);
  });
});
