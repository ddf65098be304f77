// Extracts the schemas the tests validate against (and everything they reference) from OpenAI's
// OpenAPI document into schemas.json, so the tests never read outside the repository.
// Usage: node test/support/openai-schemas/extract.js <path to openapi.json>
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const ROOTS = [
  'Response', 'ResponseStreamEvent', 'ConversationResource', 'ConversationItem', 'ConversationItemList', 'DeletedConversationResource',
  'ResponseItemList', 'CompactResource', 'Error', 'ErrorResponse', 'CreateChatCompletionResponse', 'CreateChatCompletionStreamResponse',
];
const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const all = doc.components.schemas;
const out = {};
const visit = (name) => {
  if (out[name]) return;
  if (!all[name]) throw new Error(`no schema ${name}`);
  out[name] = all[name];
  JSON.stringify(all[name], (k, v) => {
    if (k === '$ref' && typeof v === 'string') visit(v.replace('#/components/schemas/', ''));
    return v;
  });
};
ROOTS.forEach(visit);
// OpenAPI 3.0's `nullable: true` (left in a few chat schemas) as JSON Schema: the type list gains null,
// or, without a type, the schema becomes anyOf [itself, null].
const denull = (v) => {
  if (Array.isArray(v)) return v.map(denull);
  if (!v || typeof v !== 'object') return v;
  const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'properties' || k === 'components' || k === 'schemas' ? Object.fromEntries(Object.entries(x).map(([n, y]) => [n, denull(y)])) : denull(x)]));
  if (o.nullable === true) {
    delete o.nullable;
    if (Array.isArray(o.enum) && !o.enum.includes(null)) o.enum = [...o.enum, null];
    if (typeof o.type === 'string') return { ...o, type: [o.type, 'null'] };
    return { anyOf: [o, { type: 'null' }] };
  }
  delete o.nullable;
  return o;
};
for (const k of Object.keys(out)) out[k] = denull(out[k]);
writeFileSync(join(__dirname, 'schemas.json'), JSON.stringify({ source: 'openai/openai-openapi openapi.json, commit f85dbe223d40e1a31cba812ab2d755c7e98a92a3 (2026-08-21), MIT (see LICENSE)', roots: ROOTS, components: { schemas: out } }) + '\n');
console.log(`${Object.keys(out).length} schemas`);
