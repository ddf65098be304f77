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
writeFileSync(join(__dirname, 'schemas.json'), JSON.stringify({ source: 'openai/openai-openapi openapi.json, commit f85dbe223d40e1a31cba812ab2d755c7e98a92a3 (2026-08-21), MIT (see LICENSE)', roots: ROOTS, components: { schemas: out } }) + '\n');
console.log(`${Object.keys(out).length} schemas`);
