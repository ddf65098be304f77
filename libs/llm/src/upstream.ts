import type { ChatMessage, ToolCall, ToolDefinition } from '@so/domain';
import type { CacheTtl } from './model-registry';

/** Where a call goes: the account's own upstream, or the service default. */
export interface UpstreamTarget {
  baseUrl: string;
  apiKey: string;
}

export interface UpstreamChatRequest {
  model: string;
  messages: ChatMessage[];
  tools?: ToolDefinition[] | null;
  tool_choice?: unknown;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  response_format?: unknown;
  /** Other OpenAI parameters passed through as given (seed, penalties, user, ...). */
  extra?: Record<string, unknown>;
  /** Why the call is made; sent as `x-purpose` so upstream-side stats can tell calls apart. */
  purpose: string;
  /** How long the upstream keeps the prefix this call writes to its cache; sent as body field `cache_ttl`. */
  cacheTtl?: CacheTtl;
}

export interface UpstreamUsage {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  /** Prompt tokens written to the upstream's prefix cache (`prompt_tokens_details.cache_write_tokens`; 0 when absent). */
  cacheWriteTokens: number;
  /** True when the upstream sent no usage and the numbers are local estimates. */
  estimated: boolean;
}

export interface UpstreamReply {
  id: string;
  model: string;
  created: number;
  content: string | null;
  toolCalls: ToolCall[] | null;
  finishReason: string | null;
  usage: UpstreamUsage;
  upstreamRequestId: string | null;
  latencyMs: number;
  attempts: number;
  /** The upstream's own `x-ratelimit-*` figures for the key, when it sent them. */
  rateLimit?: UpstreamRateLimit;
}

/** OpenAI-style `x-ratelimit-{limit,remaining}-{requests,tokens}` response headers. */
export interface UpstreamRateLimit {
  limitRequests?: number;
  remainingRequests?: number;
  limitTokens?: number;
  remainingTokens?: number;
}

/** The `x-ratelimit-*` headers of a response; undefined when it has none. */
export function rateLimitOf(h: { get(name: string): string | null } | undefined): UpstreamRateLimit | undefined {
  if (!h) return undefined;
  const num = (name: string) => {
    const v = h.get(name);
    const n = v === null || v.trim() === '' ? NaN : Number(v);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  const r: UpstreamRateLimit = {
    limitRequests: num('x-ratelimit-limit-requests'),
    remainingRequests: num('x-ratelimit-remaining-requests'),
    limitTokens: num('x-ratelimit-limit-tokens'),
    remainingTokens: num('x-ratelimit-remaining-tokens'),
  };
  return Object.values(r).some((v) => v !== undefined) ? r : undefined;
}

/** One streamed chunk, already in OpenAI's `chat.completion.chunk` shape, to forward as-is. */
export interface UpstreamChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{ index: number; delta: Record<string, unknown>; finish_reason: string | null; logprobs?: unknown }>;
  usage?: unknown;
}

export type UpstreamErrorCode = 'upstream_error' | 'upstream_timeout' | 'rate_limited' | 'invalid_request';

/** A failed upstream call after retries, mapped to the error the client sees. */
export class UpstreamError extends Error {
  constructor(
    readonly code: UpstreamErrorCode,
    message: string,
    readonly attempts: number,
    readonly retryAfterSeconds: number | null = null,
    readonly upstreamStatus: number | null = null,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }

  /**
   * What a stream cut after its first chunk had already delivered (the upstream bills it): the prompt
   * and the completion tokens received, estimated locally unless the upstream sent usage.
   */
  partialUsage?: UpstreamUsage;

  get httpStatus(): number {
    switch (this.code) {
      case 'upstream_timeout':
        return 504;
      case 'rate_limited':
        return 429;
      case 'invalid_request':
        return 400;
      default:
        return 502;
    }
  }
}

export interface CallOptions {
  /** Aborts the call (for example when a task is cancelled). */
  signal?: AbortSignal;
  /** Per-call overrides of the adapter's deadline and attempt budget (the summarizer has its own). */
  timeoutMs?: number;
  maxAttempts?: number;
}

/** The one place that calls the upstream. */
export interface UpstreamPort {
  complete(target: UpstreamTarget, req: UpstreamChatRequest, opts?: CallOptions): Promise<UpstreamReply>;
  /** Streams chunks to `onChunk` as they arrive; retries only while nothing has been forwarded. */
  stream(target: UpstreamTarget, req: UpstreamChatRequest, onChunk: (c: UpstreamChunk) => void, opts?: CallOptions): Promise<UpstreamReply>;
}

export const UPSTREAM = Symbol('UPSTREAM');
