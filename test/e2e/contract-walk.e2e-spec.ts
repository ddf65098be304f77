import Ajv, { type ValidateFunction } from 'ajv';
import { ADMIN_KEY, TestHarness, TestAccount } from '../support/harness';
import { waitFor } from '../support/processes';

// Issue 11, item 12: the contract is checked, not hoped for. Every route in /docs-json has a 2xx
// response schema, and this walk calls every one of them for real and validates the answer against
// what the document promises. A route added without a recipe here fails the walk.

type Call = { status: number; body: unknown; contentType: string };
type Recipe = () => Promise<Call>;

/** OpenAPI 3.0 schema -> JSON Schema for Ajv: `nullable` becomes a null branch; local $refs point into the registered document. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/')) out[k] = `doc${v}`;
    else if (k !== 'nullable') out[k] = toJsonSchema(v);
  }
  if ((node as { nullable?: unknown }).nullable === true) return { anyOf: [out, { type: 'null' }] };
  return out;
}

describe('contract walk', () => {
  let h: TestHarness;
  let a: TestAccount;
  let doc: any;
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const fx: Record<string, string> = {};

  const call = async (key: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Call> => {
    const res = await fetch(`${h.url}${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const contentType = res.headers.get('content-type') ?? '';
    const text = await res.text();
    return { status: res.status, contentType, body: contentType.includes('application/json') ? JSON.parse(text) : text };
  };
  const acct = (method: string, path: string, body?: unknown) => () => call(a.apiKey, method, path, body);
  const admin = (method: string, path: string, body?: unknown) => () => call(ADMIN_KEY, method, path, body);

  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('contract');
    doc = await (await fetch(`${h.url}/docs-json`)).json();
    ajv.addSchema(toJsonSchema(doc) as object, 'doc');

    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'Be brief.', title: 'walk' });
    fx.session = s.body.id;
    for (const text of ['first question', 'second question']) {
      await h.api(a.apiKey, 'POST', `/v1/sessions/${fx.session}/messages`, { messages: [{ role: 'user', content: text }], max_tokens: 32 });
    }
    fx.snapshot = (await h.api(a.apiKey, 'POST', `/v1/sessions/${fx.session}/snapshots`, { label: 'walk' })).body.id;
    fx.closing = (await h.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id;
    fx.fragment = (await h.api(a.apiKey, 'POST', '/v1/fragments', { name: 'rules', content: 'Always cite the file.' })).body.id;
    fx.doomedFragment = (await h.api(a.apiKey, 'POST', '/v1/fragments', { name: 'old', content: 'Obsolete.' })).body.id;
    const task = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'List the owners', subtasks: [{ title: 'a', prompt: 'Who owns a?' }, { title: 'b', prompt: 'Who owns b?' }] });
    fx.task = task.body.id;
    await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${fx.task}`), (r) => ['succeeded', 'partial', 'failed'].includes(r.body.status), 45_000, 'the walk task to end');
    const running = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Cancel me', subtasks: Array.from({ length: 40 }, (_, i) => ({ title: `t${i}`, prompt: `item ${i}` })), max_parallel: 1 });
    fx.runningTask = running.body.id;

    const conv = await h.api(a.apiKey, 'POST', '/v1/conversations', { items: [{ type: 'message', role: 'user', content: 'Remember: the build id is B-77.' }], metadata: { topic: 'walk' } });
    fx.conversation = conv.body.id;
    fx.response = (await h.api(a.apiKey, 'POST', '/v1/responses', { conversation: fx.conversation, input: 'What is the build id?', max_output_tokens: 32 })).body.id;
    fx.doomedConversation = (await h.api(a.apiKey, 'POST', '/v1/conversations', { items: [{ type: 'message', role: 'user', content: 'to be deleted' }] })).body.id;
    fx.itemConversation = (await h.api(a.apiKey, 'POST', '/v1/conversations', { items: [{ type: 'message', role: 'user', content: 'an item to delete' }] })).body.id;
    fx.doomedItem = (await h.api(a.apiKey, 'GET', `/v1/conversations/${fx.itemConversation}/items`)).body.data[0].id;
    fx.doomedResponse = (await h.api(a.apiKey, 'POST', '/v1/responses', { input: 'A throwaway question.', max_output_tokens: 16 })).body.id;
    for (const [k, v] of Object.entries(fx)) if (typeof v !== 'string') throw new Error(`fixture ${k} was not created`);
  });
  afterAll(async () => {
    await h?.stop();
  });

  function recipes(): Record<string, Recipe> {
    const sid = fx.session;
    return {
      'GET /health': admin('GET', '/health'),
      'GET /metrics': () => call(null, 'GET', '/metrics'),
      'GET /v1/models': acct('GET', '/v1/models'),
      'POST /v1/chat/completions': acct('POST', '/v1/chat/completions', { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 }),
      'POST /v1/sessions': acct('POST', '/v1/sessions', { title: 'created by the walk' }),
      'GET /v1/sessions': acct('GET', '/v1/sessions'),
      'GET /v1/sessions/{id}': acct('GET', `/v1/sessions/${sid}`),
      'DELETE /v1/sessions/{id}': acct('DELETE', `/v1/sessions/${fx.closing}`),
      'POST /v1/sessions/{id}/messages': acct('POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'third question' }], max_tokens: 32 }),
      'GET /v1/sessions/{id}/messages': acct('GET', `/v1/sessions/${sid}/messages`),
      'POST /v1/sessions/{id}/truncate': acct('POST', `/v1/sessions/${sid}/truncate`, { preserve_len: 4096 }),
      'POST /v1/sessions/{id}/fragments/upgrade': acct('POST', `/v1/sessions/${sid}/fragments/upgrade`, {}),
      'POST /v1/sessions/{id}/snapshots': acct('POST', `/v1/sessions/${sid}/snapshots`, { label: 'another' }),
      'GET /v1/sessions/{id}/snapshots': acct('GET', `/v1/sessions/${sid}/snapshots`),
      'POST /v1/sessions/{id}/restore': acct('POST', `/v1/sessions/${sid}/restore`, { snapshot_id: fx.snapshot }),
      'POST /v1/sessions/{id}/compress': acct('POST', `/v1/sessions/${sid}/compress`, { keep_rounds: 0 }),
      'GET /v1/sessions/{id}/context': acct('GET', `/v1/sessions/${sid}/context`),
      'GET /v1/sessions/{id}/events': acct('GET', `/v1/sessions/${sid}/events`),
      'GET /v1/sessions/{id}/lineage': acct('GET', `/v1/sessions/${sid}/lineage`),
      'POST /v1/snapshots/{id}/fork': acct('POST', `/v1/snapshots/${fx.snapshot}/fork`, {}),
      'POST /v1/snapshots/{id}/share': acct('POST', `/v1/snapshots/${fx.snapshot}/share`, {}),
      'DELETE /v1/snapshots/{id}/share': acct('DELETE', `/v1/snapshots/${fx.snapshot}/share`),
      'POST /v1/fragments': acct('POST', '/v1/fragments', { name: 'walk', content: 'A fragment.' }),
      'GET /v1/fragments': acct('GET', '/v1/fragments'),
      'GET /v1/fragments/{id}': acct('GET', `/v1/fragments/${fx.fragment}`),
      'PUT /v1/fragments/{id}': acct('PUT', `/v1/fragments/${fx.fragment}`, { content: 'Always cite the file and line.' }),
      'DELETE /v1/fragments/{id}': acct('DELETE', `/v1/fragments/${fx.doomedFragment}`),
      'POST /v1/tasks': acct('POST', '/v1/tasks', { goal: 'One more', subtasks: [{ title: 'x', prompt: 'x?' }] }),
      'GET /v1/tasks': acct('GET', '/v1/tasks'),
      'GET /v1/tasks/{id}': acct('GET', `/v1/tasks/${fx.task}`),
      'POST /v1/tasks/{id}/cancel': acct('POST', `/v1/tasks/${fx.runningTask}/cancel`),
      'GET /v1/tasks/{id}/events': acct('GET', `/v1/tasks/${fx.task}/events`),
      'POST /v1/responses': acct('POST', '/v1/responses', { previous_response_id: fx.response, input: 'And the one before?', max_output_tokens: 32 }),
      'POST /v1/responses/compact': acct('POST', '/v1/responses/compact', { conversation: fx.conversation, keep_rounds: 0 }),
      'GET /v1/responses/{id}': acct('GET', `/v1/responses/${fx.response}`),
      'DELETE /v1/responses/{id}': acct('DELETE', `/v1/responses/${fx.doomedResponse}`),
      'GET /v1/responses/{id}/input_items': acct('GET', `/v1/responses/${fx.response}/input_items`),
      'POST /v1/conversations': acct('POST', '/v1/conversations', {}),
      'GET /v1/conversations/{id}': acct('GET', `/v1/conversations/${fx.conversation}`),
      'POST /v1/conversations/{id}': acct('POST', `/v1/conversations/${fx.conversation}`, { metadata: { topic: 'walked' } }),
      'DELETE /v1/conversations/{id}': acct('DELETE', `/v1/conversations/${fx.doomedConversation}`),
      'GET /v1/conversations/{id}/items': acct('GET', `/v1/conversations/${fx.conversation}/items`),
      'POST /v1/conversations/{id}/items': acct('POST', `/v1/conversations/${fx.conversation}/items`, { items: [{ type: 'message', role: 'user', content: 'One more note.' }] }),
      'GET /v1/conversations/{id}/items/{itemId}': acct('GET', `/v1/conversations/${fx.itemConversation}/items/${fx.doomedItem}`),
      'DELETE /v1/conversations/{id}/items/{itemId}': acct('DELETE', `/v1/conversations/${fx.itemConversation}/items/${fx.doomedItem}`),
      'GET /v1/pool': acct('GET', '/v1/pool'),
      'GET /v1/usage/timeline': acct('GET', '/v1/usage/timeline'),
      'GET /v1/usage': acct('GET', '/v1/usage'),
      'GET /admin/usage/timeline': admin('GET', '/admin/usage/timeline'),
      'GET /v1/whoami': acct('GET', '/v1/whoami'),
      'GET /admin/accounts/{account_id}/tasks': admin('GET', `/admin/accounts/${a.id}/tasks`),
      'GET /admin/accounts/{account_id}/tasks/{id}': admin('GET', `/admin/accounts/${a.id}/tasks/${fx.task}`),
      'GET /admin/accounts/{account_id}/sessions': admin('GET', `/admin/accounts/${a.id}/sessions`),
      'GET /admin/accounts/{account_id}/sessions/{id}': admin('GET', `/admin/accounts/${a.id}/sessions/${sid}`),
      'GET /admin/accounts/{account_id}/sessions/{id}/messages': admin('GET', `/admin/accounts/${a.id}/sessions/${sid}/messages`),
      'GET /admin/accounts/{account_id}/sessions/{id}/context': admin('GET', `/admin/accounts/${a.id}/sessions/${sid}/context`),
      'GET /admin/accounts/{account_id}/sessions/{id}/events': admin('GET', `/admin/accounts/${a.id}/sessions/${sid}/events`),
      'GET /admin/accounts/{account_id}/sessions/{id}/snapshots': admin('GET', `/admin/accounts/${a.id}/sessions/${sid}/snapshots`),
      'GET /admin/accounts/{account_id}/sessions/{id}/lineage': admin('GET', `/admin/accounts/${a.id}/sessions/${sid}/lineage`),
      'POST /admin/accounts': admin('POST', '/admin/accounts', { name: 'walk-created' }),
      'GET /admin/accounts': admin('GET', '/admin/accounts'),
      'POST /admin/accounts/reseal-upstream-keys': admin('POST', '/admin/accounts/reseal-upstream-keys'),
      'GET /admin/accounts/{id}': admin('GET', `/admin/accounts/${a.id}`),
      'PATCH /admin/accounts/{id}': admin('PATCH', `/admin/accounts/${a.id}`, { session_limit: 50 }),
      'GET /admin/pool': admin('GET', '/admin/pool'),
      'GET /admin/queues': admin('GET', '/admin/queues'),
      'GET /admin/usage': admin('GET', '/admin/usage'),
    };
  }

  it('has a recipe for every documented route, and every route has a 2xx response with a schema', () => {
    const have = recipes();
    const missing: string[] = [];
    const noSchema: string[] = [];
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        const key = `${method.toUpperCase()} ${path}`;
        if (!have[key]) missing.push(key);
        const ok = Object.entries<any>(op.responses ?? {}).filter(([s]) => s.startsWith('2'));
        if (!ok.length || !ok.every(([, r]) => r.content && Object.values<any>(r.content).every((c) => c.schema))) noSchema.push(key);
      }
    }
    expect(missing).toEqual([]);
    expect(noSchema).toEqual([]);
  });

  it('calls every documented route and validates each answer against its documented schema', async () => {
    const problems: string[] = [];
    const have = recipes();
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        const key = `${method.toUpperCase()} ${path}`;
        const recipe = have[key];
        if (!recipe) continue; // reported by the test above
        const r = await recipe();
        const documented = op.responses?.[String(r.status)];
        if (!documented || r.status >= 300) {
          problems.push(`${key}: answered ${r.status} (${JSON.stringify(r.body).slice(0, 200)}), documented 2xx: ${Object.keys(op.responses ?? {}).filter((s) => s.startsWith('2')).join(', ')}`);
          continue;
        }
        const mediaType = r.contentType.split(';')[0].trim();
        const media = documented.content?.[mediaType];
        if (!media) {
          problems.push(`${key}: answered ${mediaType}, documented ${Object.keys(documented.content ?? {}).join(', ') || 'no content'}`);
          continue;
        }
        if (mediaType !== 'application/json') continue; // SSE and Prometheus text: the media type is the contract
        let validate: ValidateFunction;
        try {
          validate = ajv.compile(toJsonSchema(media.schema) as object);
        } catch (err) {
          problems.push(`${key}: schema does not compile: ${String(err)}`);
          continue;
        }
        if (!validate(r.body)) problems.push(`${key}: ${ajv.errorsText(validate.errors, { separator: '; ' })} in ${JSON.stringify(r.body).slice(0, 300)}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
