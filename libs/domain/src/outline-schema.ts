// The JSON form of an outline: the schema the summarizer is asked to follow (printed in its prompt)
// and the reader validates against. Extra keys are allowed; the reader maps common synonyms.

export const OUTLINE_JSON_SCHEMA = {
  type: 'object',
  properties: {
    goal: { type: 'string', description: 'one line' },
    decisions: {
      type: 'array',
      items: {
        anyOf: [
          {
            type: 'object',
            properties: {
              decision: { type: 'string' },
              why: { type: 'string', description: "the reason, or 'not stated'" },
            },
            required: ['decision'],
          },
          { type: 'string' },
        ],
      },
    },
    facts: { type: 'array', items: { type: 'string' } },
    open_items: { type: 'array', items: { type: 'string' } },
    artifacts: { type: 'array', items: { type: 'string' } },
  },
  required: ['goal', 'decisions', 'facts', 'open_items', 'artifacts'],
  additionalProperties: true,
} as const;

/** The canonical JSON keys, in order. */
export const OUTLINE_JSON_KEYS = ['goal', 'decisions', 'facts', 'open_items', 'artifacts'] as const;
