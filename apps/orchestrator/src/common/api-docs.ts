import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';

export class ErrorDetail {
  @ApiProperty({ example: 'No session found with id ...' }) message: string;
  @ApiProperty({ example: 'not_found_error' }) type: string;
  @ApiProperty({ example: 'not_found' }) code: string;
  @ApiPropertyOptional({ nullable: true, type: String, example: null }) param: string | null;
}

export class ErrorResponse {
  @ApiProperty({ type: ErrorDetail }) error: ErrorDetail;
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'invalid_request: the body or a parameter is invalid',
  401: 'unauthorized: missing or unknown API key',
  403: 'forbidden: an account key on an admin route',
  404: 'not_found: no such object for this account',
  409: 'conflict: the session is closed, busy with another turn, or the idempotency key was used for another request',
  402: 'budget_exceeded: a budget covering the call cannot afford its worst case (error.budget names it and what remains); nothing was sent upstream',
  413: 'append_too_large: the appended messages exceed 8,192 tokens',
  429: 'session_pool_exhausted or rate_limited (see Retry-After)',
  502: 'upstream_error: the upstream failed after retries; the session is unchanged',
  504: 'upstream_timeout: the upstream did not answer in time; the session is unchanged',
};

/** Documents the error responses of a route, all in the OpenAI error shape. */
export function ApiErrors(...statuses: number[]) {
  return applyDecorators(...statuses.map((status) => ApiResponse({ status, description: DESCRIPTIONS[status] ?? 'error', type: ErrorResponse })));
}
