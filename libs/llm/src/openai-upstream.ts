import http from 'node:http';
import https from 'node:https';
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

/**
 * The upstream adapter: OpenAI's chat-completions protocol over node:http keep-alive connections, with
 * our own retry loop so streams retry safely. It sends the body the official SDK would send and reads
 * the same JSON and SSE answers, without the SDK's per-call machinery (header objects, web streams,
 * abort controllers, log formatting): measured on a 2-core VM against kimi-sim, a call through the SDK
 * took 0.84 ms at the median against 0.52 ms for the bare request, and this adapter's whole call about
 * the bare request's. Errors are classified by HTTP status as before (429 rate_limited, 5xx/408/409
 * retryable, 400/404/413/422 invalid_request, other refusals upstream_error), connection failures and
 * cut streams by what was already forwarded.
 */
export class OpenAIUpstream implements UpstreamPort {
  private readonly agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: Infinity }), 'https:': new https.Agent({ keepAlive: true, maxSockets: Infinity }) };
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly opts: OpenAIUpstreamOptions, private readonly estimator = new TokenEstimator()) {
    this.sleep = opts.sleep ?? defaultSleep;
  }

  async complete(target: UpstreamTarget, req: UpstreamChatRequest, callOpts: CallOptions = {}): Promise<UpstreamReply> {
    return this.withRetries(req, callOpts, async (attempt) => {
      const started = Date.now();
      const timeoutMs = callOpts.timeoutMs ?? this.opts.timeoutMs;
      // One deadline over the whole call, headers and body.
      const call = this.send(target, req, false, callOpts.signal, timeoutMs);
      let answer: { res: http.IncomingMessage; body: string };
      try {
        answer = await call.whole();
      } catch (err) {
        if (call.timedOut()) throw new AttemptFailure(new UpstreamError('upstream_timeout', `the upstream did not answer within ${timeoutMs} ms`, attempt), true, null);
        throw this.connectionFailure(err, attempt);
      } finally {
        call.done();
      }
      const { res, body } = answer;
      if (!isOk(res)) throw this.statusFailure(res, body, attempt);
      const data = parseJson(body) as ChatCompletion | null;
      if (!data || typeof data !== 'object' || !Array.isArray(data.choices)) {
        throw new AttemptFailure(new UpstreamError('upstream_error', 'the upstream answered with a body that is not a chat completion', attempt), true, null);
      }
      const choice = data.choices[0];
      const content = typeof choice?.message?.content === 'string' ? choice.message.content : null;
      const toolCalls = choice?.message?.tool_calls;
      return {
        id: data.id ?? '',
        model: data.model ?? req.model,
        created: data.created ?? Math.floor(Date.now() / 1000),
        content,
        toolCalls: Array.isArray(toolCalls) && toolCalls.length ? (toolCalls as ToolCall[]) : null,
        finishReason: choice?.finish_reason ?? null,
        usage: this.usageFrom(data.usage, req, content),
        upstreamRequestId: requestIdOf(res),
        rateLimit: rateLimitOf(headersOf(res)),
        latencyMs: Date.now() - started,
        attempts: attempt,
      };
    });
  }

  async stream(target: UpstreamTarget, req: UpstreamChatRequest, onChunk: (c: UpstreamChunk) => void, callOpts: CallOptions = {}): Promise<UpstreamReply> {
    let forwarded = false;
    // What the attempt that forwarded chunks received, for the bill of a cut stream.
    let received: { content: string | null; toolArgs: string; usage: Usage | undefined } = { content: null, toolArgs: '', usage: undefined };
    return this.withRetries(req, callOpts, async (attempt) => {
      const started = Date.now();
      const idleMs = this.opts.streamIdleTimeoutMs;
      const call = this.send(target, req, true, callOpts.signal, idleMs);
      let id = '';
      let model = req.model;
      let created = Math.floor(Date.now() / 1000);
      let content: string | null = null;
      let finishReason: string | null = null;
      let rawUsage: Usage | undefined;
      const toolCalls: ToolCall[] = [];
      let res: http.IncomingMessage | null = null;
      try {
        res = await call.headers();
        if (!isOk(res)) {
          const body = await call.whole().then((a) => a.body);
          throw this.statusFailure(res, body, attempt);
        }
        await call.events((data) => {
          // The idle deadline restarts with every event.
          call.rearm();
          const chunk = parseJson(data) as ChatCompletionChunk | null;
          if (!chunk || typeof chunk !== 'object') throw new StreamError('the upstream sent an event that is not JSON');
          if ((chunk as { error?: unknown }).error !== undefined) throw new StreamError(`the upstream sent an error: ${errorMessage((chunk as { error?: unknown }).error)}`);
          id = chunk.id || id;
          model = chunk.model || model;
          created = chunk.created || created;
          if (chunk.usage) rawUsage = chunk.usage;
          const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
          for (const c of choices) {
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
          if (choices.length > 0) {
            forwarded = true;
            received = { content, toolArgs: toolCalls.map((t) => t.function.name + t.function.arguments).join(''), usage: rawUsage };
            onChunk({ id: chunk.id, object: 'chat.completion.chunk', created: chunk.created, model: chunk.model, choices: choices as UpstreamChunk['choices'] });
          }
        });
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
          upstreamRequestId: requestIdOf(res),
          rateLimit: rateLimitOf(headersOf(res)),
          latencyMs: Date.now() - started,
          attempts: attempt,
        };
      } catch (err) {
        if (err instanceof AttemptFailure) throw err;
        if (call.timedOut()) {
          const error = new UpstreamError('upstream_timeout', `the upstream sent nothing for ${idleMs} ms`, attempt);
          if (forwarded) error.partialUsage = this.usageFrom(received.usage, req, (received.content ?? '') + received.toolArgs || null);
          throw new AttemptFailure(error, !forwarded, null);
        }
        const failure = err instanceof StreamError ? new AttemptFailure(new UpstreamError('upstream_error', err.message, attempt), true, null) : this.connectionFailure(err, attempt);
        if (!forwarded) throw failure;
        // Once a chunk reached the client, a retry would send a second, different reply: fail instead,
        // carrying what was received so the call is billed as the upstream bills it.
        const error = new UpstreamError('upstream_error', `the upstream stream was interrupted: ${failure.error.message}`, attempt);
        error.partialUsage = this.usageFrom(received.usage, req, (received.content ?? '') + received.toolArgs || null);
        throw new AttemptFailure(error, false, null);
      } finally {
        call.done();
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
        const failure = err instanceof AttemptFailure ? err : this.connectionFailure(err, attempt);
        if (callOpts.signal?.aborted) throw new UpstreamError('upstream_error', 'the call was cancelled', attempt);
        if (!failure.retryable || attempt >= maxAttempts) throw withAttempts(failure.error, attempt);
        if (failure.retryAfterMs !== null && failure.retryAfterMs > maxRetryAfterMs) throw withAttempts(failure.error, attempt);
        const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        const jittered = backoff / 2 + Math.random() * (backoff / 2);
        await this.sleep(Math.max(failure.retryAfterMs ?? 0, jittered), callOpts.signal).catch(() => undefined);
      }
    }
  }

  /** A non-2xx answer, by status: what it means for the client and whether another attempt may help. */
  private statusFailure(res: http.IncomingMessage, body: string, attempt: number): AttemptFailure {
    const status = res.statusCode ?? 0;
    const retryAfter = retryAfterMs(res);
    const parsed = parseJson(body) as { error?: unknown; message?: unknown } | null;
    const upstreamMessage =
      parsed && typeof parsed === 'object' && parsed.error !== undefined
        ? errorMessage(parsed.error)
        : parsed && typeof parsed === 'object' && typeof parsed.message === 'string'
          ? parsed.message
          : body.trim()
            ? body.trim().slice(0, 300)
            : `${status} status code (no body)`;
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

  private connectionFailure(err: unknown, attempt: number): AttemptFailure {
    if (err instanceof AttemptFailure) return err;
    if (err instanceof UpstreamError) return new AttemptFailure(err, err.code !== 'invalid_request', null);
    const message = err instanceof Error ? err.message : String(err);
    return new AttemptFailure(new UpstreamError('upstream_error', `the upstream connection failed: ${message}`, attempt), true, null);
  }

  /**
   * Sends one attempt. `deadlineMs` bounds the whole call (complete) or the time between events
   * (stream, re-armed per event); an outer abort or the deadline destroys the request or its answer.
   */
  private send(target: UpstreamTarget, req: UpstreamChatRequest, stream: boolean, signal: AbortSignal | undefined, deadlineMs: number) {
    const url = new URL(`${target.baseUrl.replace(/\/+$/, '')}/chat/completions`);
    const payload = encodeBody(this.body(req, stream));
    const mod = url.protocol === 'https:' ? https : http;
    const agent = this.agents[url.protocol === 'https:' ? 'https:' : 'http:'];
    let timedOut = false;
    let failure: Error | null = null;
    let response: http.IncomingMessage | null = null;
    const request = mod.request(url, {
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        accept: stream ? 'text/event-stream' : 'application/json',
        authorization: `Bearer ${target.apiKey}`,
        'content-length': payload.length,
        'x-purpose': req.purpose,
        'user-agent': 'session-orchestrator',
      },
    });
    const fail = (err: Error) => {
      failure ??= err;
      if (response) response.destroy(err);
      request.destroy(err);
    };
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        fail(new Error('timeout'));
      }, deadlineMs);
    };
    arm();
    const onAbort = () => fail(new Error('aborted'));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const headers = new Promise<http.IncomingMessage>((resolve, reject) => {
      request.once('response', (res) => {
        response = res;
        resolve(res);
      });
      // `on`, not `once`: a request destroyed after an error may emit another, which must not go unhandled.
      request.on('error', (err) => reject(failure ?? err));
    });
    request.end(payload);
    return {
      headers: () => headers,
      timedOut: () => timedOut,
      rearm: arm,
      /** The whole answer as text. */
      whole: async (): Promise<{ res: http.IncomingMessage; body: string }> => {
        const res = await headers;
        const body = await new Promise<string>((resolve, reject) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', (err) => reject(failure ?? err));
          res.once('close', () => {
            if (!res.complete) reject(failure ?? new Error('the connection closed before the answer ended'));
          });
        });
        return { res, body };
      },
      /** Calls `onData` with each SSE event's data, in order, until [DONE] or the end of the answer. */
      events: async (onData: (data: string) => void): Promise<void> => {
        const res = await headers;
        await new Promise<void>((resolve, reject) => {
          const decoder = new SseDecoder();
          let finished = false;
          const finish = (err: Error | null) => {
            if (finished) return;
            finished = true;
            res.removeAllListeners('data');
            if (err) reject(err);
            else resolve();
          };
          res.setEncoding('utf8');
          res.on('data', (text: string) => {
            try {
              for (const data of decoder.push(text)) {
                if (data === '[DONE]') {
                  // The rest of the answer is not needed; the socket goes back to the pool once read.
                  res.resume();
                  return finish(null);
                }
                onData(data);
              }
            } catch (err) {
              fail(err as Error);
              finish(err as Error);
            }
          });
          res.once('end', () => {
            try {
              for (const data of decoder.end()) if (data !== '[DONE]') onData(data);
              finish(null);
            } catch (err) {
              finish(err as Error);
            }
          });
          res.on('error', (err) => finish(failure ?? err));
          res.once('close', () => {
            if (!res.complete) finish(failure ?? new Error('the connection closed before the stream ended'));
          });
        });
      },
      done: () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      },
    };
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
    // Not an OpenAI parameter: Kimi reads it.
    if (req.cacheTtl !== undefined) body.cache_ttl = req.cacheTtl;
    if (stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    return body;
  }

  private usageFrom(u: Usage | null | undefined, req: UpstreamChatRequest, content: string | null): UpstreamUsage {
    if (u && typeof u === 'object') {
      const details = u.prompt_tokens_details;
      return {
        promptTokens: count(u.prompt_tokens),
        cachedTokens: count(details?.cached_tokens ?? u.cached_tokens),
        completionTokens: count(u.completion_tokens),
        cacheWriteTokens: count(details?.cache_write_tokens ?? u.cache_write_tokens),
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
}

/** An event the stream cannot go on from (not JSON, or the upstream's own error event). */
class StreamError extends Error {}

/**
 * Server-sent events, as the upstream writes them: events end at a blank line; an event's `data:` lines
 * are joined with newlines; comments (`:`) and other fields are ignored. Accepts \n, \r\n and \r.
 */
export class SseDecoder {
  private buffer = '';
  private data: string[] = [];

  push(text: string): string[] {
    this.buffer += text;
    const out: string[] = [];
    let at = 0;
    for (;;) {
      const nl = this.nextLineEnd(at);
      if (nl === -1) break;
      const line = this.buffer.slice(at, nl);
      at = nl + (this.buffer[nl] === '\r' && this.buffer[nl + 1] === '\n' ? 2 : 1);
      this.line(line, out);
    }
    this.buffer = this.buffer.slice(at);
    return out;
  }

  /** At the end of the answer: an event not closed by a blank line still counts. */
  end(): string[] {
    const out: string[] = [];
    if (this.buffer !== '') this.line(this.buffer, out);
    this.buffer = '';
    this.line('', out);
    return out;
  }

  private nextLineEnd(from: number): number {
    const n = this.buffer.indexOf('\n', from);
    const r = this.buffer.indexOf('\r', from);
    if (r === -1) return n;
    // A \r at the very end may be the first half of \r\n: wait for more.
    if (r === this.buffer.length - 1) return n === -1 || n > r ? -1 : n;
    return n === -1 ? r : Math.min(n, r);
  }

  private line(line: string, out: string[]): void {
    if (line === '') {
      if (this.data.length) out.push(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.data.push(value);
  }
}

interface Usage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  cached_tokens?: unknown;
  cache_write_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown; cache_write_tokens?: unknown } | null;
}

interface ChatCompletion {
  id?: string;
  model?: string;
  created?: number;
  choices: Array<{ message?: { content?: unknown; tool_calls?: unknown }; finish_reason?: string | null }>;
  usage?: Usage | null;
}

interface ChatCompletionChunk {
  id: string;
  model: string;
  created: number;
  choices?: Array<{
    delta?: { content?: unknown; tool_calls?: Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }> };
    finish_reason?: string | null;
  }>;
  usage?: Usage | null;
}

/** Encoded JSON of frozen messages: a frozen object cannot change, so neither can its encoding. */
const encodedMessages = new WeakMap<object, Buffer>();

function encodedMessage(m: unknown): Buffer {
  if (m === null || typeof m !== 'object' || !Object.isFrozen(m)) return Buffer.from(JSON.stringify(m) ?? 'null');
  let b = encodedMessages.get(m);
  if (!b) {
    b = Buffer.from(JSON.stringify(m));
    encodedMessages.set(m, b);
  }
  return b;
}

const OPEN_BRACE = Buffer.from('{');
const COMMA = Buffer.from(',');
const MESSAGES_KEY = Buffer.from('"messages":[');
const CLOSE_ARRAY = Buffer.from(']');
const CLOSE_BRACE = Buffer.from('}');

/**
 * The request body as UTF-8 JSON, byte for byte `JSON.stringify(body)`, with each frozen message's
 * encoding made once and kept (see encodedMessages). A session's window is the same frozen message
 * objects from one turn to the next (toChatMessage in @so/domain), so a turn encodes only what is new
 * instead of the whole window: at 200K tokens, serializing it took 4 to 6 ms a turn on a 2-core VM,
 * and measuring its UTF-8 length one more. A body without a frozen message is serialized at once.
 */
export function encodeBody(body: Record<string, unknown>): Buffer {
  const messages = body.messages;
  if (!Array.isArray(messages) || !messages.some((m) => m !== null && typeof m === 'object' && Object.isFrozen(m))) return Buffer.from(JSON.stringify(body));
  const parts: Buffer[] = [OPEN_BRACE];
  let first = true;
  const member = (key: string, value: unknown) => {
    const json = JSON.stringify(value);
    if (json === undefined) return; // as JSON.stringify leaves out an undefined member
    if (!first) parts.push(COMMA);
    first = false;
    parts.push(Buffer.from(`${JSON.stringify(key)}:${json}`));
  };
  for (const key of Object.keys(body)) {
    if (key !== 'messages') {
      member(key, body[key]);
      continue;
    }
    if (!first) parts.push(COMMA);
    first = false;
    parts.push(MESSAGES_KEY);
    messages.forEach((m, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push(encodedMessage(m));
    });
    parts.push(CLOSE_ARRAY);
  }
  parts.push(CLOSE_BRACE);
  return Buffer.concat(parts);
}

function isOk(res: http.IncomingMessage): boolean {
  const s = res.statusCode ?? 0;
  return s >= 200 && s < 300;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorMessage(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  return JSON.stringify(e);
}

function headersOf(res: http.IncomingMessage): { get(name: string): string | null } {
  return { get: (name) => header(res, name) };
}

function header(res: http.IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? null) : null;
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

function requestIdOf(res: http.IncomingMessage): string | null {
  return header(res, 'x-request-id') ?? header(res, 'msh-request-id');
}

function retryAfterMs(res: http.IncomingMessage): number | null {
  const ms = header(res, 'retry-after-ms');
  if (ms && !Number.isNaN(Number(ms))) return Number(ms);
  const v = header(res, 'retry-after');
  if (!v) return null;
  const secs = Number(v);
  if (!Number.isNaN(secs)) return secs * 1000;
  const date = Date.parse(v);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}
