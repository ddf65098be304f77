import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { QueryFailedError } from 'typeorm';
import { DomainError } from '@so/domain';
import { UpstreamError } from '@so/llm';
import { PoolExhaustedError } from '@so/pool';
import { ApiError, ApiErrorCode } from './api-error';
import { BodyNotJsonError } from './body-limits';
import { isShuttingDown } from './shutdown';

const CODE_FOR_STATUS: Record<number, ApiErrorCode> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'invalid_request',
  409: 'conflict',
  413: 'request_too_large',
  415: 'invalid_request',
  429: 'rate_limited',
  503: 'service_unavailable',
};

/** Postgres "data exception" codes that only bad input can cause. */
const PG_BAD_INPUT: Record<string, string> = {
  '22001': 'A value is too long.',
  '22003': 'A number is out of range.',
  '22021': 'A string contains a character that cannot be stored (such as \\u0000).',
  '22P02': 'A value has an invalid format.',
  '22P05': 'A string contains an unsupported Unicode escape (such as \\u0000).',
};

const OUTAGE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const OUTAGE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Connection is closed|connection error|max retries per request|Client was closed|Stream isn't writeable|the database system is (shutting down|starting up)|terminating connection due to administrator command/i;

/**
 * Postgres or Redis out of reach: the request could not be served now but may be later (503 with
 * Retry-After), which is not the server failing (500). Reads pg's SQLSTATE classes 08 (connection),
 * 57P (shutdown) and 53300 (too many connections), errno codes, and the drivers' messages.
 */
export function isDependencyOutage(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const o = e as { code?: unknown; name?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
    const code = typeof o.code === 'string' ? o.code : '';
    if (OUTAGE_ERRNO.has(code) || code.startsWith('08') || code.startsWith('57P') || code === '53300') return true;
    if (o.name === 'MaxRetriesPerRequestError') return true;
    if (typeof o.message === 'string' && OUTAGE_MESSAGE.test(o.message)) return true;
    if (Array.isArray(o.errors) && o.errors.some((x) => isDependencyOutage(x))) return true;
    e = o.driverError ?? o.cause;
  }
  return false;
}

/** Renders every failure as OpenAI's error shape; a stack trace goes to the log, never to the client. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof DomainError) return new ApiError(err.code, err.message, err.param ?? null);
  if (err instanceof PoolExhaustedError) {
    return new ApiError('session_pool_exhausted', `${err.message} Close a session or retry later (or pass wait_ms to wait for a slot).`, null, { 'Retry-After': String(err.retryAfterSeconds) });
  }
  if (err instanceof UpstreamError && isShuttingDown() && /cancelled/.test(err.message)) {
    return new ApiError('service_unavailable', 'This instance shut down before the turn finished; nothing was written. Retry the request.', null, { 'Retry-After': '1' });
  }
  if (err instanceof UpstreamError) {
    const headers: Record<string, string> = err.retryAfterSeconds !== null ? { 'Retry-After': String(err.retryAfterSeconds) } : {};
    return new ApiError(err.code, err.message, null, headers);
  }
  // body-parser errors (malformed JSON, body over the limit) carry `type` and `status`.
  const e = err as { type?: string; status?: number; message?: string };
  if (e && e.type === 'entity.parse.failed') return new ApiError('invalid_request', err instanceof BodyNotJsonError ? err.message : 'The request body is not valid JSON.');
  if (e && e.type === 'entity.too.large') {
    const limit = (err as { limit?: number }).limit;
    return new ApiError('request_too_large', `The request body is too large${typeof limit === 'number' ? ` (at most ${limit} bytes on this route)` : ''}.`);
  }
  if (e && e.type === 'entity.too.deep') return new ApiError('invalid_request', e.message ?? 'The request body is nested too deeply.');
  if (e && typeof e.type === 'string' && (e.type.startsWith('encoding.') || e.type.startsWith('charset.'))) return new ApiError('invalid_request', 'The request body encoding is not supported.');
  // Any other client error from body-parser (e.g. a Content-Encoding body that does not decompress).
  if (e && !(err instanceof HttpException) && (err as { expose?: unknown }).expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new ApiError(CODE_FOR_STATUS[e.status] ?? 'invalid_request', `The request body could not be read: ${e.message ?? 'invalid body'}`);
  }
  // Values Postgres refuses (a NUL character in text, a number beyond its column) are bad input, not a 500.
  if (err instanceof QueryFailedError) {
    const pgCode = (err as { driverError?: { code?: string } }).driverError?.code;
    if (pgCode && PG_BAD_INPUT[pgCode]) return new ApiError('invalid_request', PG_BAD_INPUT[pgCode]);
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code = CODE_FOR_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'invalid_request');
    const resp = err.getResponse() as string | { message?: string | string[] };
    const msg = typeof resp === 'string' ? resp : Array.isArray(resp.message) ? resp.message.join('; ') : resp.message ?? err.message;
    return new ApiError(code, status === 404 && /^Cannot /.test(msg) ? `Unknown route: ${msg.replace(/^Cannot /, '')}` : msg);
  }
  if (isDependencyOutage(err)) {
    return new ApiError('service_unavailable', 'The service cannot reach its database or queue right now; nothing was changed. Retry shortly.', null, { 'Retry-After': '5' });
  }
  return new ApiError('internal_error', 'The server failed to process the request.');
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ErrorFilter');

  catch(err: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const api = toApiError(err);
    if (api.status === 503 && !(err instanceof ApiError)) {
      this.logger.warn({ err: err instanceof Error ? { name: err.name, message: err.message } : String(err) }, 'dependency unavailable');
    } else if (api.status >= 500 && !(err instanceof UpstreamError)) {
      this.logger.error({ err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err) }, 'unhandled error');
    }
    if (res.headersSent) {
      // A stream already started: end it with an error event the SDK understands.
      if (!res.writableEnded) {
        res.write(`data: ${JSON.stringify(api.body())}\n\n`);
        res.end();
      }
      return;
    }
    for (const [k, v] of Object.entries(api.headers)) res.setHeader(k, v);
    res.status(api.status).json(api.body());
  }
}
