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

function verifyDepth(_req: unknown, _res: unknown, buf: Buffer): void {
  if (jsonDepthExceeds(buf, MAX_JSON_DEPTH)) throw new BodyTooDeepError();
}

function hasBody(req: Request): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/**
 * JSON bodies only, with a size limit per route and a depth limit everywhere. A body in any other
 * format is refused with 415 rather than parsed as nothing (which used to create a session with its
 * system prompt silently dropped).
 */
export function jsonBodies(): RequestHandler {
  const parsers = BODY_LIMITS.map(({ route, limit }) => ({ route, parser: json({ limit, verify: verifyDepth }) }));
  const fallback = json({ limit: DEFAULT_BODY_LIMIT, verify: verifyDepth });
  return (req: Request, res: Response, next: NextFunction) => {
    if (!hasBody(req)) return next();
    if (!req.is(['application/json', 'application/*+json'])) {
      const given = req.headers['content-type'];
      return next(new ApiError('unsupported_media_type', `The request body must be JSON (Content-Type: application/json)${given ? `, not ${given.split(';')[0]}` : ''}.`, 'Content-Type'));
    }
    const path = req.path;
    const hit = parsers.find((p) => p.route.test(path));
    return (hit ? hit.parser : fallback)(req, res, next);
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
