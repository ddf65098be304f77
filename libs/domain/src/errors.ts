// The one error shape the domain throws; the API layer maps `code` to an HTTP status and `param` as is.

export type DomainErrorCode = 'invalid_request' | 'append_too_large' | 'conflict';

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  /** The request field at fault, in the API's spelling (e.g. `preserve_len`), or null. */
  readonly param: string | null;

  constructor(code: DomainErrorCode, message: string, param: string | null = null) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.param = param;
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
