// Shapes of the OpenAI/Kimi chat API as the simulator reads and writes them.

export interface SimContentPart {
  type?: string;
  text?: string;
  [field: string]: unknown;
}

export interface SimToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface SimMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content?: string | SimContentPart[] | null;
  name?: string;
  tool_call_id?: string;
  tool_calls?: SimToolCall[];
  /** Kimi partial mode: on a trailing assistant message, the reply continues its content. */
  partial?: boolean;
}

export interface SimTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: unknown };
}

export type SimToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatCompletionRequest {
  model: string;
  messages: SimMessage[];
  tools?: SimTool[];
  tool_choice?: SimToolChoice;
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  response_format?: { type: string } | null;
  n?: number;
  /** Lifetime of the prefix-cache entry this request writes; billed per write (5m at 1x, 1h at 2x input). */
  cache_ttl?: CacheTtl;
}

export const CACHE_TTLS = ['5m', '1h'] as const;
export type CacheTtl = (typeof CACHE_TTLS)[number];
export const CACHE_TTL_MS: Record<CacheTtl, number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Kimi reports it here as well as in prompt_tokens_details. */
  cached_tokens: number;
  prompt_tokens_details: { cached_tokens: number; cache_write_tokens: number };
}

export interface ApiError {
  error: { message: string; type: string; code?: string | null; param?: string | null };
}

export function apiError(message: string, type: string, code?: string, param?: string): ApiError {
  const error: ApiError['error'] = code === undefined ? { message, type } : { message, type, code };
  if (param !== undefined) error.param = param;
  return { error };
}

/** A 400 answer: its message, and the request field it is about when there is one. */
export interface InvalidRequest {
  message: string;
  param?: string;
}

/** Checks the Kimi extensions of a chat request (cache_ttl, partial); null when they are fine. */
export function invalidKimiFields(body: Record<string, unknown>): InvalidRequest | null {
  const ttl = body.cache_ttl;
  if (ttl !== undefined && ttl !== null && !(CACHE_TTLS as readonly unknown[]).includes(ttl)) {
    return { message: `Invalid request: cache_ttl must be "5m" or "1h", got ${JSON.stringify(ttl)}`, param: 'cache_ttl' };
  }
  const messages = body.messages as Record<string, unknown>[];
  for (const [i, m] of messages.entries()) {
    if (m.partial !== undefined && typeof m.partial !== 'boolean') {
      return { message: `Invalid request: messages[${i}].partial must be a boolean`, param: `messages[${i}].partial` };
    }
    if (m.partial === true && (m.role !== 'assistant' || i !== messages.length - 1)) {
      return { message: 'Invalid request: partial is only allowed on the last message, which must be an assistant message', param: `messages[${i}].partial` };
    }
  }
  return null;
}

/** Checks the fields the simulator relies on; returns an error message for a 400, or null. */
export function invalidChatRequest(body: unknown): string | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'Invalid request: body must be a JSON object';
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') return 'Invalid request: model is required';
  if (!Array.isArray(b.messages) || b.messages.length === 0) return 'Invalid request: messages must be a non-empty array';
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    if (m === null || typeof m !== 'object') return `Invalid request: messages[${i}] must be an object`;
    const role = (m as Record<string, unknown>).role;
    if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'tool') {
      return `Invalid request: messages[${i}].role must be system, user, assistant or tool`;
    }
    const content = (m as Record<string, unknown>).content;
    if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
      return `Invalid request: messages[${i}].content must be a string, an array of parts or null`;
    }
  }
  for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
    const v = b[field];
    if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
      return `Invalid request: ${field} must be a positive integer`;
    }
  }
  if (b.tools !== undefined && b.tools !== null) {
    if (!Array.isArray(b.tools)) return 'Invalid request: tools must be an array';
    for (const [i, t] of (b.tools as unknown[]).entries()) {
      const fn = t && typeof t === 'object' ? (t as Record<string, unknown>).function : undefined;
      if (!fn || typeof fn !== 'object' || typeof (fn as Record<string, unknown>).name !== 'string') {
        return `Invalid request: tools[${i}].function.name is required`;
      }
    }
  }
  if (typeof b.n === 'number' && b.n !== 1) return 'Invalid request: kimi-sim answers with exactly one choice (n must be 1)';
  return null;
}
