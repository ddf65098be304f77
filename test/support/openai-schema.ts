import Ajv2020 from 'ajv/dist/2020';
import schemas from './openai-schemas/schemas.json';

/** OpenAI's own schemas (test/support/openai-schemas), compiled once: validates bodies and stream events. */
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
ajv.addSchema({ $id: 'openai', components: schemas.components });

const compiled = new Map<string, ReturnType<typeof ajv.compile>>();

/** The problems of `value` against OpenAI's schema `name`, or null when it validates. */
export function schemaErrors(name: string, value: unknown): string | null {
  let v = compiled.get(name);
  if (!v) {
    v = ajv.compile({ $ref: `openai#/components/schemas/${name}` });
    compiled.set(name, v);
  }
  if (v(value)) return null;
  return JSON.stringify(v.errors?.slice(0, 5)) + ' in ' + JSON.stringify(value).slice(0, 600);
}

/** Throws (a test failure with the reasons) unless `value` validates against OpenAI's schema `name`. */
export function expectSchema(name: string, value: unknown): void {
  const e = schemaErrors(name, value);
  if (e) throw new Error(`does not validate against OpenAI's ${name}: ${e}`);
}
