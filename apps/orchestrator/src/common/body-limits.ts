import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { json } from 'express';
import { ApiError } from './api-error';

/** Deepest JSON nesting a body may have; tool parameter schemas need about ten. */
export const MAX_JSON_DEPTH = 64;

/**
 * Body size per route: generous where the contract allows large text (a task's inputs, a stateless
 * pass-through of a whole window), tight everywhere else. Bytes on the wire, so escaped text counts more.
 */
export const BODY_LIMITS: Array<{ route: RegExp; limit: string }> = [
  { route: /^\/v1\/tasks\/?$/, limit: '32mb' },
  { route: /^\/v1\/chat\/completions\/?$/, limit: '12mb' },
  { route: /^\/v1\/sessions\/[^/]+\/messages\/?$/, limit: '2mb' },
  { route: /^\/v1\/(responses(\/compact)?|conversations(\/[^/]+\/items)?)\/?$/, limit: '2mb' },
  { route: /^\/v1\/(sessions|fragments)(\/[^/]+)?\/?$/, limit: '4mb' },
];
export const DEFAULT_BODY_LIMIT = '1mb';

/** Error raised from the parser's verify step; the error filter renders it as a 400. */
export class BodyTooDeepError extends Error {
  readonly status = 400;
  readonly type = 'entity.too.deep';
  readonly expose = true;
  constructor() {
    super(`The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`);
  }
}

/**
 * Nesting depth of a JSON text, by one pass over its bytes (strings skipped), before it is parsed:
 * a body nested thousands of levels deep would otherwise overflow the stack in validation.
 */
export function jsonDepthExceeds(buf: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (inString) {
      if (b === 0x5c) i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
      continue;
    }
    if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > max) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

/**
 * A body that does not parse as JSON. Not a SyntaxError on purpose: Nest turns any SyntaxError raised
 * by Express middleware into a BadRequestException carrying the parser's bare message, before the error
 * filter sees it, which lost this error's type and therefore its message.
 */
export class BodyNotJsonError extends Error {
  readonly status = 400;
  readonly statusCode = 400;
  readonly expose = true;
  readonly type = 'entity.parse.failed';
  constructor(readonly detail: string) {
    super(`The request body is not valid JSON (${detail.replace(/\.$/, '')}).`);
  }
}

const NOT_A_CONTAINER = 'the body must be a JSON object or array';

/** Whether a JSON text starts (after whitespace) with `{` or `[`: the only bodies taken (body-parser's strict mode). */
function startsAsContainer(text: string): boolean {
  const first = /^[ \t\n\r]*([^ \t\n\r]|$)/.exec(text)?.[1];
  return first === '{' || first === '[';
}

/**
 * The parser's error as a BodyNotJsonError: a SyntaxError from JSON.parse, or from body-parser, which
 * keeps the text it read in `body` and words its refusal of a top-level scalar its own way.
 */
export function notJson(err: unknown): unknown {
  if (!(err instanceof SyntaxError)) return err;
  const body = (err as { body?: unknown }).body;
  return new BodyNotJsonError(typeof body === 'string' && !startsAsContainer(body) ? NOT_A_CONTAINER : err.message);
}

function verifyDepth(_req: unknown, _res: unknown, buf: Buffer): void {
  if (jsonDepthExceeds(buf, MAX_JSON_DEPTH)) throw new BodyTooDeepError();
}

function hasBody(req: Request): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/** body-parser's reading of a limit ('12mb': 1024-based). */
function limitBytes(limit: string): number {
  const m = /^(\d+)(kb|mb)$/.exec(limit);
  if (!m) throw new Error(`body limit ${limit} is not <n>kb or <n>mb`);
  return Number(m[1]) * (m[2] === 'kb' ? 1024 : 1024 * 1024);
}

/** `application/json`, optionally with charset utf-8: what the fast read takes; anything else goes to body-parser. */
const PLAIN_JSON = /^application\/json[\t ]*(?:;[\t ]*charset=(?:utf-8|"utf-8")[\t ]*)?$/i;

/** An error as body-parser raises it for a request that stops early (the error filter reads status, expose and type). */
function readError(message: string, type?: string): Error {
  return Object.assign(new Error(message), { status: 400, statusCode: 400, expose: true, ...(type ? { type } : {}) });
}

/**
 * What body-parser's json() does for the common request (Content-Length, no Content-Encoding, JSON in
 * UTF-8, within the limit), without its generic machinery (type, charset and decoder look-ups, decompression,
 * async resources): the same depth check on the bytes, the same UTF-8 decoding (BOM dropped), the same
 * strict parse (an object or an array), the same error types. Returns false when the request is not one of those.
 */
function readPlainJson(req: Request, limit: number, next: NextFunction): boolean {
  const type = req.headers['content-type'];
  const len = req.headers['content-length'];
  if (type === undefined || len === undefined || req.headers['content-encoding'] !== undefined || req.headers['transfer-encoding'] !== undefined) return false;
  if (!PLAIN_JSON.test(type) || !/^\d{1,15}$/.test(len)) return false;
  const length = Number(len);
  if (length > limit || length === 0) return false;
  const chunks: Buffer[] = [];
  let received = 0;
  let done = false;
  const finish = (err?: Error) => {
    if (done) return;
    done = true;
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('aborted', onAborted);
    req.removeListener('error', onError);
    next(err);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    chunks.push(chunk);
  };
  const onAborted = () => finish(readError('request aborted', 'request.aborted'));
  const onError = (err: Error) => finish(readError(err.message));
  const onEnd = () => {
    if (received !== length) return finish(readError('request size did not match content length', 'request.size.invalid'));
    const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received);
    if (jsonDepthExceeds(buf, MAX_JSON_DEPTH)) return finish(new BodyTooDeepError());
    let text = buf.toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      let body: unknown = {};
      if (text.length > 0) {
        if (!startsAsContainer(text)) throw new SyntaxError(NOT_A_CONTAINER);
        body = JSON.parse(text);
      }
      (req as Request & { body: unknown }).body = body;
    } catch (err) {
      return finish(notJson(err) as Error);
    }
    finish();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('aborted', onAborted);
  req.on('error', onError);
  return true;
}

/**
 * JSON bodies only, with a size limit per route and a depth limit everywhere. A body in any other
 * format is refused with 415 rather than parsed as nothing (which used to create a session with its
 * system prompt silently dropped). The common request is read by readPlainJson, the others by body-parser.
 */
export function jsonBodies(): RequestHandler {
  const parsers = BODY_LIMITS.map(({ route, limit }) => ({ route, limit: limitBytes(limit), parser: json({ limit, verify: verifyDepth }) }));
  const fallback = { limit: limitBytes(DEFAULT_BODY_LIMIT), parser: json({ limit: DEFAULT_BODY_LIMIT, verify: verifyDepth }) };
  return (req: Request, res: Response, next: NextFunction) => {
    if (!hasBody(req)) return next();
    const path = req.path;
    const hit = parsers.find((p) => p.route.test(path)) ?? fallback;
    if (readPlainJson(req, hit.limit, next)) return;
    if (!req.is(['application/json', 'application/*+json'])) {
      const given = req.headers['content-type'];
      return next(new ApiError('unsupported_media_type', `The request body must be JSON (Content-Type: application/json)${given ? `, not ${given.split(';')[0]}` : ''}.`, 'Content-Type'));
    }
    return hit.parser(req, res, (err?: unknown) => next(notJson(err)));
  };
}

/**
 * Node answers a request it cannot parse (headers over its limit, say an over-long Idempotency-Key)
 * with a bare status line. This answers those in the OpenAI error shape, so SDKs raise a typed error.
 */
export function answerClientErrors(server: { on(event: 'clientError', fn: (err: NodeJS.ErrnoException, socket: import('node:net').Socket) => void): unknown }): void {
  server.on('clientError', (err, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason, error] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [400, 'Bad Request', new ApiError('invalid_request', 'The request headers are too large (an Idempotency-Key is at most 255 characters).', 'headers')]
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', new ApiError('invalid_request', 'The request took too long to arrive.')]
          : [400, 'Bad Request', new ApiError('invalid_request', 'The request is not valid HTTP.')];
    const body = JSON.stringify(error.body());
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}
