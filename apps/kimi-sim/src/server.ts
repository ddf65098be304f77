import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, invalidFaultPlan, type Fault, type FaultPlan } from './faults';
import { cacheWriteCostUsd, costUsd, findModel, KIMI_MODELS, MODELS_CREATED_AT, type KimiModel } from './models';
import { DEFAULT_OPTIONS, InvalidOptionError, mergeOptions, type KimiSimOptions, type KimiSimOptionsPatch } from './options';
import { PrefixCache, prefixChain } from './prefix-cache';
import { lastUserText, planReply, requestedMaxTokens, type ReplyPlan } from './reply';
import { isSummarizerStyleOption, SUMMARIZER_STYLE_OPTIONS } from './summarizer';
import { LAST_USER_MAX_CHARS, RequestLog, StatsBook, type ErrorKind, type RequestSummary, type SimStats } from './stats';
import { TokenCounter, type PromptBlock } from './token-counter';
import {
  apiError,
  CACHE_TTL_MS,
  invalidChatRequest,
  invalidKimiFields,
  type ApiError,
  type ChatCompletionRequest,
  type SimMessage,
  type SimTool,
  type Usage,
} from './wire';

export interface KimiSim {
  /** OpenAI SDK `baseURL`, e.g. http://127.0.0.1:PORT/v1 */
  baseUrl: string;
  port: number;
  stats(): SimStats;
  /** Clears stats, the prefix cache, the request log and queued faults; options stay. */
  reset(): void;
  /** Merges options at runtime (host and port are fixed once listening); throws on invalid values. */
  configure(patch: KimiSimOptionsPatch): void;
  injectFaults(plan: FaultPlan): void;
  /** Most recent chat request summaries, oldest first. */
  requests(limit?: number): RequestSummary[];
  options(): KimiSimOptions;
  /** Moves the simulator's clock forward (prefix-cache TTLs), as `POST /sim/clock {advance_ms}` does. */
  advanceClock(ms: number): void;
  /** The simulator's clock: Date.now() plus every advance since the last reset. */
  now(): number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;
const MAX_REPLY_TOKENS_HEADER = 1_000_000;

class BodyTooLarge extends Error {}
class ClientGone extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => (size > MAX_BODY_BYTES ? reject(new BodyTooLarge()) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', () => reject(new ClientGone()));
    req.on('close', () => {
      if (!req.complete) reject(new ClientGone());
    });
  });
}

function bearerKey(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? m[1].trim() || null : null;
}

function headerValue(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : Array.isArray(v) && v[0] ? v[0] : null;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

/** One chat exchange's connection state: pauses end early and release runs once when the client leaves. */
class Exchange {
  closed = false;
  private readonly pending = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly onClose: (() => void)[] = [];

  constructor(readonly res: ServerResponse) {
    res.once('close', () => {
      this.closed = true;
      for (const p of this.pending) {
        clearTimeout(p.timer);
        p.resolve();
      }
      this.pending.clear();
      for (const f of this.onClose.splice(0)) f();
    });
  }

  whenClosed(f: () => void): void {
    if (this.closed) f();
    else this.onClose.push(f);
  }

  pause(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.pending.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.pending.add(entry);
    });
  }

  destroySocket(): void {
    this.res.socket?.destroy();
  }

  /** Ends the connection mid-body once what was written has been flushed, so the client sees a cut. */
  cutAfterFlush(): void {
    const socket = this.res.socket;
    socket?.end(() => socket.destroy());
  }
}

/** One accepted chat request on its way out: where to write, what to report, and its bookkeeping hooks. */
interface ReplyTarget {
  exchange: Exchange;
  id: string;
  created: number;
  model: string;
  fault: Fault | null;
  summary: RequestSummary;
  usage(completion: number): Usage;
  /** Streamed tokens so far, billed if the connection ends early. */
  progress(delivered: number): void;
  /** Bills and frees the slot before the last bytes go out, so stats are current when the client sees the end. */
  finish(completion: number): void;
}

/** Runs `f` at most once; used for bookkeeping that both completion and disconnect may trigger. */
function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      f();
    }
  };
}

function usageOf(prompt: number, cached: number, completion: number, cacheWrite: number): Usage {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    cached_tokens: cached,
    prompt_tokens_details: { cached_tokens: cached, cache_write_tokens: cacheWrite },
  };
}

function modelObject(m: KimiModel) {
  return { id: m.id, object: 'model', created: MODELS_CREATED_AT, owned_by: 'moonshot', context_length: m.contextWindow };
}

function modelNotFound(model: string): ApiError {
  return {
    error: {
      message: `The model \`${model}\` does not exist or you do not have access to it.`,
      type: 'invalid_request_error',
      param: null,
      code: 'model_not_found',
    },
  };
}

function summaryFields(body: unknown): Partial<RequestSummary> {
  if (body === null || typeof body !== 'object') return {};
  const b = body as Partial<ChatCompletionRequest>;
  const messages = Array.isArray(b.messages) ? b.messages.filter((m) => m && typeof m === 'object') : [];
  const user = lastUserText(messages);
  return {
    model: typeof b.model === 'string' ? b.model : null,
    stream: b.stream === true,
    messages: Array.isArray(b.messages) ? b.messages.length : 0,
    last_user: user !== null && user.length > LAST_USER_MAX_CHARS ? user.slice(0, LAST_USER_MAX_CHARS) : user,
  };
}

/** Splits a reply into stream deltas of 1-4 tokens, the sizes drawn from the reply's own seed. */
function streamGroups(pieces: { text: string; tokens: number }[], seed: number): { text: string; tokens: number }[] {
  let state = seed >>> 0 || 1;
  const groups: { text: string; tokens: number }[] = [];
  let i = 0;
  while (i < pieces.length) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const want = 1 + (state >>> 30);
    let text = '';
    let tokens = 0;
    while (i < pieces.length && tokens < want) {
      text += pieces[i].text;
      tokens += pieces[i].tokens;
      i++;
    }
    groups.push({ text, tokens });
  }
  return groups;
}

class KimiSimServer {
  private opts: KimiSimOptions;
  private readonly counter = new TokenCounter();
  private readonly prefixCache = new PrefixCache();
  private readonly faults: FaultInjector;
  private readonly statsBook = new StatsBook();
  private readonly rpmWindows = new Map<string, { minute: number; used: number }>();
  private readonly log: RequestLog;
  private readonly idPrefix = randomBytes(3).toString('hex');
  private nextId = 0;
  private clockOffsetMs = 0;
  readonly server: Server;

  constructor(options: KimiSimOptions) {
    this.opts = options;
    this.counter.skew = options.tokenizerSkew;
    this.faults = new FaultInjector(options.seed);
    this.log = new RequestLog(options.requestLogSize);
    this.server = createServer({ noDelay: true, keepAlive: true }, (req, res) => {
      this.route(req, res).catch((err: unknown) => this.internalError(res, err));
    });
  }

  options(): KimiSimOptions {
    return { ...this.opts, faultProbabilities: { ...this.opts.faultProbabilities } };
  }

  configure(patch: KimiSimOptionsPatch): void {
    for (const fixed of ['host', 'port'] as const) {
      if (patch && typeof patch === 'object' && fixed in patch && patch[fixed] !== this.opts[fixed]) {
        throw new InvalidOptionError(fixed, 'is fixed once the simulator listens');
      }
    }
    const next = mergeOptions(this.opts, patch);
    if (next.seed !== this.opts.seed) this.faults.reset(next.seed);
    this.log.resize(next.requestLogSize);
    this.counter.skew = next.tokenizerSkew;
    this.opts = next;
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  advanceClock(ms: number): void {
    if (!(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0)) throw new InvalidOptionError('advance_ms', 'must be a number >= 0');
    this.clockOffsetMs += ms;
  }

  /** Clears stats, the prefix cache, the request log, queued faults and clock advances. */
  reset(): void {
    this.clockOffsetMs = 0;
    this.statsBook.reset();
    this.prefixCache.clear();
    this.log.clear();
    this.faults.reset(this.opts.seed);
  }

  injectFaults(plan: FaultPlan): void {
    this.faults.inject(plan);
  }

  stats(): SimStats {
    return this.statsBook.snapshot();
  }

  requests(limit = this.opts.requestLogSize): RequestSummary[] {
    return this.log.recent(limit);
  }

  private internalError(res: ServerResponse, err: unknown): void {
    console.error('kimi-sim: unexpected error', err);
    if (!res.headersSent) sendJson(res, 500, apiError('kimi-sim internal error', 'server_error'));
    else res.socket?.destroy();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    const query = new URLSearchParams(q >= 0 ? url.slice(q + 1) : '');
    const requestId = `${path === '/v1/chat/completions' ? 'chatcmpl-' : 'req-'}${this.idPrefix}${String(++this.nextId).padStart(6, '0')}`;
    res.setHeader('x-request-id', requestId);
    res.setHeader('msh-request-id', requestId);

    switch (`${req.method} ${path}`) {
      case 'POST /v1/chat/completions':
        return this.chatCompletion(req, res, requestId);
      case 'GET /v1/models':
        if (!this.authorized(req, res)) return;
        return sendJson(res, 200, { object: 'list', data: KIMI_MODELS.map(modelObject) });
      case 'POST /v1/tokenizers/estimate-token-count':
        return this.estimateTokenCount(req, res);
      case 'GET /sim/stats':
        return sendJson(res, 200, this.stats());
      case 'POST /sim/reset':
        this.reset();
        return sendJson(res, 200, { ok: true });
      case 'GET /sim/config':
        return sendJson(res, 200, this.options());
      case 'POST /sim/config':
        return this.postConfig(req, res);
      case 'GET /sim/clock':
        return sendJson(res, 200, { now_ms: this.now(), offset_ms: this.clockOffsetMs });
      case 'POST /sim/clock':
        return this.postClock(req, res);
      case 'GET /sim/faults':
        return sendJson(res, 200, { pending: this.faults.pending() });
      case 'POST /sim/faults':
        return this.postFaults(req, res);
      case 'GET /sim/requests': {
        const raw = query.get('limit');
        const limit = raw === null ? this.opts.requestLogSize : Number(raw);
        if (!Number.isInteger(limit) || limit < 0) {
          return sendJson(res, 400, apiError('limit must be a non-negative integer', 'invalid_request_error'));
        }
        return sendJson(res, 200, this.requests(limit));
      }
    }
    if (req.method === 'GET' && path.startsWith('/v1/models/')) {
      if (!this.authorized(req, res)) return;
      const model = findModel(decodeURIComponent(path.slice('/v1/models/'.length)));
      return model ? sendJson(res, 200, modelObject(model)) : sendJson(res, 404, modelNotFound(path.slice('/v1/models/'.length)));
    }
    sendJson(res, 404, apiError(`No route for ${req.method} ${path}`, 'not_found_error', 'not_found'));
  }

  private authorized(req: IncomingMessage, res: ServerResponse): string | null {
    const key = bearerKey(req);
    if (key) return key;
    this.statsBook.failed(null, '401');
    sendJson(res, 401, apiError('Invalid Authentication', 'invalid_authentication_error', 'unauthorized'));
    return null;
  }

  /** Reads and parses a JSON body; on failure answers 400/413 through `fail` and returns undefined. */
  private async jsonBody(
    req: IncomingMessage,
    fail: (status: number, kind: ErrorKind, body: ApiError) => void,
  ): Promise<{ body: unknown } | undefined> {
    let raw: string;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (err instanceof BodyTooLarge) fail(413, '413', apiError(`Invalid request: body exceeds ${MAX_BODY_BYTES} bytes`, 'invalid_request_error'));
      return undefined;
    }
    try {
      return { body: raw === '' ? undefined : JSON.parse(raw) };
    } catch {
      fail(400, '400', apiError('Invalid request: body is not valid JSON', 'invalid_request_error'));
      return undefined;
    }
  }

  private plainFail(res: ServerResponse): (status: number, kind: ErrorKind, body: ApiError) => void {
    return (status, _kind, body) => sendJson(res, status, body);
  }

  private async postConfig(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = await this.jsonBody(req, this.plainFail(res));
    if (!parsed) return;
    try {
      this.configure(parsed.body as KimiSimOptionsPatch);
    } catch (err) {
      if (!(err instanceof InvalidOptionError)) throw err;
      return sendJson(res, 400, apiError(err.message, 'invalid_request_error'));
    }
    sendJson(res, 200, this.options());
  }

  private async postClock(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = await this.jsonBody(req, this.plainFail(res));
    if (!parsed) return;
    const advance = (parsed.body as { advance_ms?: unknown } | undefined)?.advance_ms;
    try {
      this.advanceClock(advance as number);
    } catch (err) {
      if (!(err instanceof InvalidOptionError)) throw err;
      return sendJson(res, 400, apiError(err.message, 'invalid_request_error'));
    }
    sendJson(res, 200, { now_ms: this.now(), offset_ms: this.clockOffsetMs });
  }

  private async postFaults(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = await this.jsonBody(req, this.plainFail(res));
    if (!parsed) return;
    const plans = Array.isArray(parsed.body) ? parsed.body : [parsed.body];
    for (const plan of plans) {
      const reason = invalidFaultPlan(plan);
      if (reason) return sendJson(res, 400, apiError(reason, 'invalid_request_error'));
    }
    for (const plan of plans) this.faults.inject(plan as FaultPlan);
    sendJson(res, 200, { pending: this.faults.pending() });
  }

  /** Prompt blocks as prefix caching sees them: model + tools first, then one per message. */
  private promptBlocks(model: string, tools: SimTool[] | undefined, messages: SimMessage[]): PromptBlock[] {
    const blocks = [this.counter.head(model, tools)];
    for (const m of messages) blocks.push(this.counter.message(m));
    return blocks;
  }

  private async estimateTokenCount(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorized(req, res)) return;
    const parsed = await this.jsonBody(req, this.plainFail(res));
    if (!parsed) return;
    const invalid = invalidChatRequest(parsed.body);
    if (invalid) return sendJson(res, 400, apiError(invalid, 'invalid_request_error'));
    const body = parsed.body as ChatCompletionRequest;
    if (!findModel(body.model)) return sendJson(res, 404, modelNotFound(body.model));
    const total = this.promptBlocks(body.model, body.tools ?? undefined, body.messages).reduce((n, b) => n + b.tokens, 0);
    sendJson(res, 200, { code: 0, data: { total_tokens: total }, scode: '0x0', status: true });
  }

  private async chatCompletion(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const key = this.authorized(req, res);
    if (!key) return;
    const purpose = headerValue(req, 'x-purpose');
    const summary: RequestSummary = {
      id,
      key,
      model: null,
      stream: false,
      purpose,
      messages: 0,
      last_user: null,
      prompt_tokens: 0,
      cached_tokens: 0,
      completion_tokens: 0,
      cache_write_tokens: 0,
      cache_ttl: null,
      summarizer_style: null,
      status: null,
      fault: null,
    };
    this.statsBook.requestArrived(key, purpose);
    this.log.add(summary);
    // Replaced by the in-flight release once the request counts against the key's concurrency.
    let release = () => {};
    const fail = (status: number, kind: ErrorKind, body: ApiError, headers?: Record<string, string>) => {
      summary.status = status;
      this.statsBook.failed(key, kind);
      release();
      sendJson(res, status, body, headers);
    };

    const parsed = await this.jsonBody(req, fail);
    if (!parsed) return;
    const body = parsed.body;
    Object.assign(summary, summaryFields(body));

    const opts = this.opts;
    if (this.statsBook.inFlight(key) >= opts.concurrencyPerKey) {
      return fail(
        429,
        '429',
        apiError(
          `Your account request reached max concurrency: ${opts.concurrencyPerKey}, please try again after ${opts.retryAfterSeconds} seconds`,
          'rate_limit_reached_error',
          'rate_limited',
        ),
        { 'retry-after': String(opts.retryAfterSeconds) },
      );
    }
    if (opts.rpmPerKey > 0) {
      // Requests per key per minute, told on every answer as OpenAI does (x-ratelimit-*-requests).
      const minute = Math.floor(Date.now() / 60_000);
      const w = this.rpmWindows.get(key);
      const used = (w && w.minute === minute ? w.used : 0) + 1;
      this.rpmWindows.set(key, { minute, used });
      res.setHeader('x-ratelimit-limit-requests', String(opts.rpmPerKey));
      res.setHeader('x-ratelimit-remaining-requests', String(Math.max(0, opts.rpmPerKey - used)));
      res.setHeader('x-ratelimit-reset-requests', `${60 - Math.floor((Date.now() / 1000) % 60)}s`);
      if (used > opts.rpmPerKey) {
        return fail(429, '429', apiError(`Your account reached max RPM: ${opts.rpmPerKey}`, 'rate_limit_reached_error', 'rate_limited'), { 'retry-after': String(opts.retryAfterSeconds) });
      }
    }
    const exchange = new Exchange(res);
    release = once(() => this.statsBook.finished(key));
    this.statsBook.started(key);
    exchange.whenClosed(release);

    const invalid = invalidChatRequest(body);
    if (invalid) return fail(400, '400', apiError(invalid, 'invalid_request_error'));
    const kimiInvalid = invalidKimiFields(body as Record<string, unknown>);
    if (kimiInvalid) return fail(400, '400', apiError(kimiInvalid.message, 'invalid_request_error', 'invalid_request', kimiInvalid.param));
    const request = body as ChatCompletionRequest;
    summary.cache_ttl = request.cache_ttl ?? null;
    const model = findModel(request.model);
    if (!model) return fail(404, '404', modelNotFound(request.model));

    let summarizerStyle = opts.summarizerStyle;
    const styleHeader = headerValue(req, 'x-sim-summarizer-style');
    if (styleHeader !== null) {
      if (!isSummarizerStyleOption(styleHeader)) {
        return fail(400, '400', apiError(`Invalid request: x-sim-summarizer-style must be one of ${SUMMARIZER_STYLE_OPTIONS.join(', ')}`, 'invalid_request_error'));
      }
      summarizerStyle = styleHeader;
    }

    let replyTokens = opts.replyTokens;
    const override = headerValue(req, 'x-sim-reply-tokens');
    if (override !== null) {
      replyTokens = Number(override);
      if (!Number.isInteger(replyTokens) || replyTokens < 1 || replyTokens > MAX_REPLY_TOKENS_HEADER) {
        return fail(400, '400', apiError(`Invalid request: x-sim-reply-tokens must be an integer from 1 to ${MAX_REPLY_TOKENS_HEADER}`, 'invalid_request_error'));
      }
    }

    const blocks = this.promptBlocks(model.id, request.tools ?? undefined, request.messages);
    const promptTokens = blocks.reduce((n, b) => n + b.tokens, 0);
    summary.prompt_tokens = promptTokens;
    const tokenLimit = Math.min(model.contextWindow, opts.contextWindow);
    if (promptTokens + (requestedMaxTokens(request) ?? replyTokens) > tokenLimit) {
      return fail(400, '400', apiError(`Invalid request: Your request exceeded model token limit: ${tokenLimit}`, 'invalid_request_error', 'context_length_exceeded'));
    }

    const fault = this.faults.next(key, opts.faultProbabilities);
    summary.fault = fault?.kind ?? null;
    if (fault?.kind === '429') {
      return fail(
        429,
        '429',
        apiError('Your account request reached max request rate, please try again later (injected by kimi-sim)', 'rate_limit_reached_error', 'rate_limited'),
        { 'retry-after': String(opts.retryAfterSeconds) },
      );
    }
    if (fault?.kind === '500') {
      return fail(500, '500', apiError('The server had an error while processing your request (injected by kimi-sim)', 'server_error'));
    }
    if (fault?.kind === 'hang') {
      this.statsBook.failed(key, 'hang');
      const timer = setTimeout(() => exchange.destroySocket(), opts.hangMs);
      exchange.whenClosed(() => clearTimeout(timer));
      return;
    }

    const chain = prefixChain(blocks);
    const now = this.now();
    const cachedTokens = this.prefixCache.cachedTokens(key, chain, now);
    // Every request is cacheable: what was not a hit is written, for the TTL the request asked for.
    const writeTier = request.cache_ttl ?? '5m';
    const ttlMs = request.cache_ttl ? CACHE_TTL_MS[request.cache_ttl] : opts.cacheTtlMs;
    this.prefixCache.record(key, chain, now, ttlMs, opts.cacheEntriesPerKey);
    const writeTokens = promptTokens - cachedTokens;
    summary.cached_tokens = cachedTokens;
    summary.cache_write_tokens = writeTokens;

    const plan = planReply(request, { counter: this.counter, seed: opts.seed, replyTokens, summarizerStyle, lossyDropShare: opts.lossyDropShare });
    if (plan.summarizerStyle !== null) {
      summary.summarizer_style = plan.summarizerStyle;
      this.statsBook.summarized(key, plan.summarizerStyle);
      res.setHeader('x-sim-summarizer-style', plan.summarizerStyle);
    }
    let delivered = 0;
    const bill = once(() => {
      summary.completion_tokens = delivered;
      const writeCost = cacheWriteCostUsd(model, writeTokens, writeTier);
      const cost = costUsd(model, promptTokens, cachedTokens, delivered, writeTokens, writeTier);
      this.statsBook.billed(key, promptTokens, cachedTokens, delivered, cost, writeTokens, writeCost);
    });
    exchange.whenClosed(bill);
    if (fault?.kind === 'cut') this.statsBook.failed(key, 'cut');

    const target: ReplyTarget = {
      exchange,
      id,
      created: Math.floor(now / 1000),
      model: model.id,
      fault,
      summary,
      usage: (completion) => usageOf(promptTokens, cachedTokens, completion, writeTokens),
      // Streamed o200k tokens, reported in the simulator's (skewed) count.
      progress: (n) => (delivered = Math.min(plan.completionTokens, Math.ceil((n * plan.completionTokens) / Math.max(1, plan.rawTokens)))),
      finish: (completion) => {
        delivered = completion;
        bill();
        release();
      },
    };
    if (request.stream === true) await this.streamReply(target, plan, request.stream_options?.include_usage === true);
    else await this.jsonReply(target, plan);
  }

  private completionTokens(plan: ReplyPlan): number {
    return plan.completionTokens;
  }

  private async jsonReply(target: ReplyTarget, plan: ReplyPlan): Promise<void> {
    const { exchange, fault } = target;
    const { firstTokenMs, tokensPerSecond } = this.opts;
    const completion = this.completionTokens(plan);
    const producedTokens = fault?.kind === 'cut' ? Math.min(fault.afterTokens, completion) : completion;
    await exchange.pause(firstTokenMs + (tokensPerSecond > 0 ? (producedTokens * 1000) / tokensPerSecond : 0));
    if (exchange.closed) return;
    if (fault?.kind === 'cut') return exchange.destroySocket();

    const message =
      plan.kind === 'text'
        ? { role: 'assistant', content: plan.content }
        : { role: 'assistant', content: null, tool_calls: [plan.toolCall] };
    target.summary.status = 200;
    target.finish(completion);
    sendJson(exchange.res, 200, {
      id: target.id,
      object: 'chat.completion',
      created: target.created,
      model: target.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finishReason }],
      usage: target.usage(completion),
    });
  }

  private async streamReply(target: ReplyTarget, plan: ReplyPlan, includeUsage: boolean): Promise<void> {
    const { exchange, fault } = target;
    const { firstTokenMs, tokensPerSecond } = this.opts;
    const res = exchange.res;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    target.summary.status = 200;

    const head = `data: {"id":${JSON.stringify(target.id)},"object":"chat.completion.chunk","created":${target.created},"model":${JSON.stringify(target.model)},"choices":`;
    const chunk = (delta: unknown, finishReason: string | null = null) =>
      `${head}[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${JSON.stringify(finishReason)}}]}\n\n`;

    const deltas: { delta: unknown; tokens: number }[] = [];
    if (plan.kind === 'text') {
      deltas.push({ delta: { role: 'assistant', content: '' }, tokens: 0 });
      for (const g of streamGroups(this.counter.pieces(plan.tokens), plan.streamSeed)) deltas.push({ delta: { content: g.text }, tokens: g.tokens });
    } else {
      const { id, function: fn } = plan.toolCall;
      const nameTokens = plan.rawTokens - this.counter.countText(fn.arguments);
      deltas.push({
        delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id, type: 'function', function: { name: fn.name, arguments: '' } }] },
        tokens: nameTokens,
      });
      for (const g of streamGroups(this.counter.pieces(this.counter.encode(fn.arguments)), plan.streamSeed)) {
        deltas.push({ delta: { tool_calls: [{ index: 0, function: { arguments: g.text } }] }, tokens: g.tokens });
      }
    }

    const startedAt = performance.now();
    let sent = 0;
    for (const { delta, tokens } of deltas) {
      if (fault?.kind === 'cut' && sent >= fault.afterTokens) return exchange.cutAfterFlush();
      const dueAt = startedAt + firstTokenMs + (tokensPerSecond > 0 ? (sent * 1000) / tokensPerSecond : 0);
      await exchange.pause(dueAt - performance.now());
      if (exchange.closed) return;
      res.write(chunk(delta));
      sent += tokens;
      target.progress(sent);
    }
    if (fault?.kind === 'cut') return exchange.cutAfterFlush();

    const completion = this.completionTokens(plan);
    target.finish(completion);
    res.write(chunk({}, plan.finishReason));
    if (includeUsage) res.write(`${head}[],"usage":${JSON.stringify(target.usage(completion))}}\n\n`);
    res.end('data: [DONE]\n\n');
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      // Hanging and idle keep-alive connections would otherwise hold close() open.
      this.server.closeAllConnections();
    });
  }
}

/** Starts the simulator; `port: 0` (the default) picks a free port. */
export async function startKimiSim(options: KimiSimOptionsPatch = {}): Promise<KimiSim> {
  const sim = new KimiSimServer(mergeOptions(DEFAULT_OPTIONS, options));
  await sim.listen();
  const { port } = sim.server.address() as AddressInfo;
  const host = sim.options().host;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    baseUrl: `http://${urlHost}:${port}/v1`,
    port,
    stats: () => sim.stats(),
    reset: () => sim.reset(),
    configure: (patch) => sim.configure(patch),
    injectFaults: (plan) => sim.injectFaults(plan),
    requests: (limit) => sim.requests(limit),
    options: () => sim.options(),
    advanceClock: (ms) => sim.advanceClock(ms),
    now: () => sim.now(),
    close: () => sim.close(),
  };
}
