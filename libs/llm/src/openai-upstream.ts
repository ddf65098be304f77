import OpenAI from 'openai';
import { nodeHttpFetch } from './node-http-fetch';
import type { ToolCall } from '@so/domain';
import { TokenEstimator } from './token-estimator';
import {
  CallOptions,
  UpstreamChatRequest,
  UpstreamChunk,
  UpstreamError,
  UpstreamPort,
  UpstreamReply,
  UpstreamTarget,
  UpstreamUsage,
  rateLimitOf,
} from './upstream';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the call fails with rate_limited at once. */
  maxRetryAfterMs: number;
}

export interface OpenAIUpstreamOptions {
  timeoutMs: number;
  /** A stream with no chunk for this long is abandoned as a timeout. */
  streamIdleTimeoutMs: number;
  retry: RetryPolicy;
  /** Injected so tests and benches can make backoff instant. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

class AttemptFailure extends Error {
  constructor(readonly error: UpstreamError, readonly retryable: boolean, readonly retryAfterMs: number | null) {
    super(error.message);
  }
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const onAbort = () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    };
    // The listener goes when the sleep ends: a long-lived signal must not collect one per retry.
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** The upstream adapter: the official `openai` SDK, with our own retry loop so streams retry safely. */
export class OpenAIUpstream implements UpstreamPort {
  private readonly clients = new Map<string, OpenAI>();
  /** One keep-alive fetch for every upstream client (see nodeHttpFetch). */
  private readonly fetch = nodeHttpFetch();
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly opts: OpenAIUpstreamOptions, private readonly estimator = new TokenEstimator()) {
    this.sleep = opts.sleep ?? defaultSleep;
  }

  async complete(target: UpstreamTarget, req: UpstreamChatRequest, callOpts: CallOptions = {}): Promise<UpstreamReply> {
    return this.withRetries(req, callOpts, async (attempt) => {
      const started = Date.now();
      // Our own deadline over the whole call (headers and body): the SDK's timeout stops at the headers,
      // and which error class it raises on a timeout depends on the fetch implementation.
      const deadline = new AbortController();
      const onOuterAbort = () => deadline.abort();
      callOpts.signal?.addEventListener('abort', onOuterAbort, { once: true });
      let timedOut = false;
      const timeoutMs = callOpts.timeoutMs ?? this.opts.timeoutMs;
      const timer = setTimeout(() => {
        timedOut = true;
        deadline.abort();
      }, timeoutMs);
      let data: OpenAI.Chat.ChatCompletion;
      let response: Response;
      try {
        ({ data, response } = await this.client(target)
          .chat.completions.create(this.body(req, false) as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, {
            signal: deadline.signal,
            headers: { 'x-purpose': req.purpose },
          })
          .withResponse());
      } catch (err) {
        if (timedOut) throw new AttemptFailure(new UpstreamError('upstream_timeout', `the upstream did not answer within ${timeoutMs} ms`, attempt), true, null);
        throw err;
      } finally {
        clearTimeout(timer);
        callOpts.signal?.removeEventListener('abort', onOuterAbort);
      }
      const choice = data.choices[0];
      const usage = this.usageFrom(data.usage, req, choice?.message?.content ?? null);
      return {
        id: data.id,
        model: data.model ?? req.model,
        created: data.created ?? Math.floor(Date.now() / 1000),
        content: choice?.message?.content ?? null,
        toolCalls: (choice?.message?.tool_calls as ToolCall[] | undefined)?.length ? (choice.message.tool_calls as ToolCall[]) : null,
        finishReason: choice?.finish_reason ?? null,
        usage,
        upstreamRequestId: requestIdOf(response.headers),
        rateLimit: rateLimitOf(response.headers),
        latencyMs: Date.now() - started,
        attempts: attempt,
      };
    });
  }

  async stream(target: UpstreamTarget, req: UpstreamChatRequest, onChunk: (c: UpstreamChunk) => void, callOpts: CallOptions = {}): Promise<UpstreamReply> {
    let forwarded = false;
    // What the attempt that forwarded chunks received, for the bill of a cut stream.
    let received: { content: string | null; toolArgs: string; usage: OpenAI.CompletionUsage | undefined } = { content: null, toolArgs: '', usage: undefined };
    return this.withRetries(req, callOpts, async (attempt) => {
      const started = Date.now();
      const idle = new AbortController();
      const onOuterAbort = () => idle.abort();
      callOpts.signal?.addEventListener('abort', onOuterAbort, { once: true });
      let idleTimer: NodeJS.Timeout | undefined;
      let timedOut = false;
      const armIdle = () => {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          timedOut = true;
          idle.abort();
        }, this.opts.streamIdleTimeoutMs);
      };
      armIdle();
      try {
        const { data: stream, response } = await this.client(target)
          .chat.completions.create(this.body(req, true) as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming, {
            signal: idle.signal,
            headers: { 'x-purpose': req.purpose },
          })
          .withResponse();
        let id = '';
        let model = req.model;
        let created = Math.floor(Date.now() / 1000);
        let content: string | null = null;
        let finishReason: string | null = null;
        let rawUsage: OpenAI.CompletionUsage | undefined;
        const toolCalls: ToolCall[] = [];
        for await (const chunk of stream) {
          armIdle();
          id = chunk.id || id;
          model = chunk.model || model;
          created = chunk.created || created;
          if (chunk.usage) rawUsage = chunk.usage;
          for (const c of chunk.choices ?? []) {
            const d = c.delta ?? {};
            if (typeof d.content === 'string') content = (content ?? '') + d.content;
            for (const tc of d.tool_calls ?? []) {
              const slot = (toolCalls[tc.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
              if (tc.id) slot.id = tc.id;
              if (tc.function?.name) slot.function.name += tc.function.name;
              if (tc.function?.arguments) slot.function.arguments += tc.function.arguments;
            }
            if (c.finish_reason) finishReason = c.finish_reason;
          }
          if ((chunk.choices ?? []).length > 0) {
            forwarded = true;
            received = { content, toolArgs: toolCalls.map((t) => t.function.name + t.function.arguments).join(''), usage: rawUsage };
            onChunk({ id: chunk.id, object: 'chat.completion.chunk', created: chunk.created, model: chunk.model, choices: chunk.choices as UpstreamChunk['choices'] });
          }
        }
        if (!finishReason) {
          // The SSE stream ended without a finish_reason: the connection was cut.
          const error = new UpstreamError('upstream_error', 'the upstream stream ended before the reply was complete', attempt);
          if (forwarded) error.partialUsage = this.usageFrom(rawUsage, req, (content ?? '') + toolCalls.map((t) => t.function.name + t.function.arguments).join('') || null);
          throw new AttemptFailure(error, !forwarded, null);
        }
        return {
          id,
          model,
          created,
          content,
          toolCalls: toolCalls.length ? toolCalls : null,
          finishReason,
          usage: this.usageFrom(rawUsage, req, content),
          upstreamRequestId: requestIdOf(response.headers),
          rateLimit: rateLimitOf(response.headers),
          latencyMs: Date.now() - started,
          attempts: attempt,
        };
      } catch (err) {
        if (err instanceof AttemptFailure) throw err;
        if (timedOut) {
          const error = new UpstreamError('upstream_timeout', `the upstream sent nothing for ${this.opts.streamIdleTimeoutMs} ms`, attempt);
          if (forwarded) error.partialUsage = this.usageFrom(received.usage, req, (received.content ?? '') + received.toolArgs || null);
          throw new AttemptFailure(error, !forwarded, null);
        }
        const failure = this.classify(err, attempt);
        if (!forwarded) throw failure;
        // Once a chunk reached the client, a retry would send a second, different reply: fail instead,
        // carrying what was received so the call is billed as the upstream bills it.
        const error = failure.error.code === 'upstream_timeout' ? failure.error : new UpstreamError('upstream_error', `the upstream stream was interrupted: ${failure.error.message}`, attempt);
        error.partialUsage = this.usageFrom(received.usage, req, (received.content ?? '') + received.toolArgs || null);
        throw new AttemptFailure(error, false, null);
      } finally {
        clearTimeout(idleTimer);
        callOpts.signal?.removeEventListener('abort', onOuterAbort);
      }
    });
  }

  private async withRetries(req: UpstreamChatRequest, callOpts: CallOptions, run: (attempt: number) => Promise<UpstreamReply>): Promise<UpstreamReply> {
    const { baseDelayMs, maxDelayMs, maxRetryAfterMs } = this.opts.retry;
    const maxAttempts = callOpts.maxAttempts ?? this.opts.retry.maxAttempts;
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(attempt);
      } catch (err) {
        const failure = err instanceof AttemptFailure ? err : this.classify(err, attempt);
        if (callOpts.signal?.aborted) throw new UpstreamError('upstream_error', 'the call was cancelled', attempt);
        if (!failure.retryable || attempt >= maxAttempts) throw withAttempts(failure.error, attempt);
        if (failure.retryAfterMs !== null && failure.retryAfterMs > maxRetryAfterMs) throw withAttempts(failure.error, attempt);
        const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        const jittered = backoff / 2 + Math.random() * (backoff / 2);
        await this.sleep(Math.max(failure.retryAfterMs ?? 0, jittered), callOpts.signal).catch(() => undefined);
      }
    }
  }

  private classify(err: unknown, attempt: number): AttemptFailure {
    if (err instanceof AttemptFailure) return err;
    if (err instanceof UpstreamError) return new AttemptFailure(err, err.code !== 'invalid_request', null);
    if (err instanceof OpenAI.APIConnectionTimeoutError) {
      return new AttemptFailure(new UpstreamError('upstream_timeout', `the upstream did not answer within ${this.opts.timeoutMs} ms`, attempt), true, null);
    }
    if (err instanceof OpenAI.APIUserAbortError) {
      return new AttemptFailure(new UpstreamError('upstream_error', 'the upstream call was aborted', attempt), false, null);
    }
    if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
      const status = err.status;
      const retryAfter = retryAfterMs(err.headers as Headers | undefined);
      const upstreamMessage = (err.error as { message?: string } | undefined)?.message ?? err.message;
      if (status === 429) {
        return new AttemptFailure(new UpstreamError('rate_limited', `the upstream is rate limiting: ${upstreamMessage}`, attempt, retryAfter !== null ? Math.ceil(retryAfter / 1000) : null, 429), true, retryAfter);
      }
      if (status >= 500 || status === 408 || status === 409) {
        return new AttemptFailure(new UpstreamError('upstream_error', `the upstream failed with HTTP ${status}: ${upstreamMessage}`, attempt, null, status), true, retryAfter);
      }
      if (status === 400 || status === 404 || status === 413 || status === 422) {
        return new AttemptFailure(new UpstreamError('invalid_request', `the upstream rejected the request: ${upstreamMessage}`, attempt, null, status), false, null);
      }
      // 401/403 mean the upstream key is wrong: the client's request is fine, the service's config is not.
      return new AttemptFailure(new UpstreamError('upstream_error', `the upstream refused the call with HTTP ${status}: ${upstreamMessage}`, attempt, null, status), false, null);
    }
    if (err instanceof OpenAI.APIConnectionError || err instanceof OpenAI.APIError) {
      return new AttemptFailure(new UpstreamError('upstream_error', `the upstream connection failed: ${err.message}`, attempt), true, null);
    }
    const message = err instanceof Error ? err.message : String(err);
    return new AttemptFailure(new UpstreamError('upstream_error', `the upstream call failed: ${message}`, attempt), true, null);
  }

  private body(req: UpstreamChatRequest, stream: boolean): Record<string, unknown> {
    const body: Record<string, unknown> = { ...(req.extra ?? {}), model: req.model, messages: req.messages };
    if (req.tools?.length) body.tools = req.tools;
    if (req.tool_choice !== undefined) body.tool_choice = req.tool_choice;
    if (req.max_tokens !== undefined) body.max_tokens = req.max_tokens;
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.top_p !== undefined) body.top_p = req.top_p;
    if (req.stop !== undefined) body.stop = req.stop;
    if (req.response_format !== undefined) body.response_format = req.response_format;
    // Not an OpenAI parameter: the SDK sends unknown body fields as given, and Kimi reads it.
    if (req.cacheTtl !== undefined) body.cache_ttl = req.cacheTtl;
    if (stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    return body;
  }

  private usageFrom(u: OpenAI.CompletionUsage | null | undefined, req: UpstreamChatRequest, content: string | null): UpstreamUsage {
    if (u) {
      const details = u.prompt_tokens_details;
      return {
        promptTokens: u.prompt_tokens ?? 0,
        cachedTokens: count(details?.cached_tokens ?? (u as { cached_tokens?: number }).cached_tokens),
        completionTokens: u.completion_tokens ?? 0,
        cacheWriteTokens: count(details?.cache_write_tokens ?? (u as { cache_write_tokens?: number }).cache_write_tokens),
        estimated: false,
      };
    }
    return {
      promptTokens: this.estimator.countMessages(req.messages) + this.estimator.countTools(req.tools),
      cachedTokens: 0,
      completionTokens: this.estimator.countText(content),
      cacheWriteTokens: 0,
      estimated: true,
    };
  }

  private client(target: UpstreamTarget): OpenAI {
    const key = `${target.baseUrl}\u0000${target.apiKey}`;
    let c = this.clients.get(key);
    if (!c) {
      c = new OpenAI({ baseURL: target.baseUrl, apiKey: target.apiKey, maxRetries: 0, timeout: this.opts.timeoutMs, fetch: this.fetch });
      this.clients.set(key, c);
    }
    return c;
  }
}

/** A token count from the upstream's usage: a non-negative integer, 0 when absent or malformed. */
function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

function withAttempts(e: UpstreamError, attempts: number): UpstreamError {
  if (e.attempts === attempts) return e;
  const copy = new UpstreamError(e.code, e.message, attempts, e.retryAfterSeconds, e.upstreamStatus);
  copy.partialUsage = e.partialUsage;
  return copy;
}

function requestIdOf(h: Headers | undefined): string | null {
  return h?.get('x-request-id') ?? h?.get('msh-request-id') ?? null;
}

function retryAfterMs(h: Headers | undefined): number | null {
  const ms = h?.get('retry-after-ms');
  if (ms && !Number.isNaN(Number(ms))) return Number(ms);
  const v = h?.get('retry-after');
  if (!v) return null;
  const secs = Number(v);
  if (!Number.isNaN(secs)) return secs * 1000;
  const date = Date.parse(v);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}
