import { Inject, Injectable } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import type { Response } from 'express';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';

export const RATE_LIMIT_STORAGE = Symbol('RATE_LIMIT_STORAGE');
const WINDOW_MS = 60_000;

/**
 * Requests per minute per account on /v1/* (the account's `rate_limit_per_minute`, else
 * RATE_LIMIT_PER_MINUTE; 0: unlimited), counted in @nestjs/throttler's storage (Redis when REDIS_URL
 * is set, so the limit holds across instances). Over the limit: 429 `rate_limited` with Retry-After;
 * every answer carries OpenAI's x-ratelimit-*-requests headers.
 */
@Injectable()
export class AccountRateLimit {
  constructor(@Inject(RATE_LIMIT_STORAGE) private readonly storage: ThrottlerStorage) {}

  async admit(account: ResolvedAccount, res: Response | undefined): Promise<void> {
    const limit = account.rateLimitPerMinute;
    if (!limit) return;
    const rec = await this.storage.increment(account.id, WINDOW_MS, limit, 0, 'account');
    if (rec.totalHits === 0) return; // the storage could not count (Redis away): not enforced
    if (res && !res.headersSent) {
      res.setHeader('x-ratelimit-limit-requests', String(limit));
      res.setHeader('x-ratelimit-remaining-requests', String(Math.max(0, limit - rec.totalHits)));
      res.setHeader('x-ratelimit-reset-requests', `${rec.timeToExpire}s`);
    }
    if (rec.isBlocked || rec.totalHits > limit) {
      const retry = Math.max(1, rec.isBlocked && rec.timeToBlockExpire > 0 ? rec.timeToBlockExpire : rec.timeToExpire);
      throw new ApiError('rate_limited', `Rate limit reached: ${limit} requests per minute for this account. Retry after ${retry} s.`, null, { 'Retry-After': String(retry) });
    }
  }
}
