/** The one error the service raises on purpose; the filter renders it in OpenAI's error shape. */
export type ApiErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'model_not_found'
  | 'conflict'
  | 'conversation_locked'
  | 'append_too_large'
  | 'budget_exceeded'
  | 'request_too_large'
  | 'unsupported_media_type'
  | 'session_pool_exhausted'
  | 'rate_limited'
  | 'upstream_error'
  | 'upstream_timeout'
  | 'internal_error'
  | 'service_unavailable';

const STATUS: Record<ApiErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  model_not_found: 400,
  conflict: 409,
  conversation_locked: 409,
  append_too_large: 413,
  budget_exceeded: 402,
  request_too_large: 413,
  unsupported_media_type: 415,
  session_pool_exhausted: 429,
  rate_limited: 429,
  upstream_error: 502,
  upstream_timeout: 504,
  internal_error: 500,
  service_unavailable: 503,
};

/** OpenAI's `type` values, so SDKs that branch on it behave. */
const TYPE: Record<ApiErrorCode, string> = {
  invalid_request: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  not_found: 'not_found_error',
  model_not_found: 'invalid_request_error',
  conflict: 'conflict_error',
  conversation_locked: 'invalid_request_error',
  append_too_large: 'invalid_request_error',
  budget_exceeded: 'insufficient_quota',
  request_too_large: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error',
  session_pool_exhausted: 'rate_limit_error',
  rate_limited: 'rate_limit_error',
  upstream_error: 'upstream_error',
  upstream_timeout: 'upstream_error',
  internal_error: 'server_error',
  service_unavailable: 'server_error',
};

/** Headers for an error that a retry cannot fix (the official SDK retries 409 unless told not to). */
export const FINAL: Record<string, string> = { 'x-should-retry': 'false' };

export interface ApiErrorBody {
  error: { message: string; type: string; code: string; param: string | null; [extra: string]: unknown };
}

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
    /** More fields of the error object (a refused budget names itself and what remains). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = STATUS[code];
  }

  body(): ApiErrorBody {
    return { error: { message: this.message, type: TYPE[this.code], code: this.code, param: this.param, ...this.extra } };
  }

  static notFound(what: string, id: string, param: string | null = null): ApiError {
    return new ApiError('not_found', `No ${what} found with id '${id}'.`, param);
  }
}
