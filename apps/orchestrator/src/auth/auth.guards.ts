import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ApiError } from '../common/api-error';
import { safeEqual } from '../common/secrets';
import { AccountsService, ResolvedAccount } from '../accounts/accounts.service';
import { AccountRateLimit } from '../rate-limit/account-rate-limit';

export function bearer(req: Pick<Request, 'headers'>): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1].trim() : null;
}

type AuthedRequest = Request & { account?: ResolvedAccount };

/** `/v1/*`: the caller's account from its bearer key; unknown or missing key is 401; then the account's rate limit. */
@Injectable()
export class AccountGuard implements CanActivate {
  constructor(private readonly accounts: AccountsService, private readonly rateLimit: AccountRateLimit) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const key = bearer(req);
    if (!key) throw new ApiError('unauthorized', 'Missing API key. Send it as "Authorization: Bearer <key>".');
    const account = await this.accounts.authenticate(key);
    if (!account) throw new ApiError('unauthorized', 'Invalid API key.');
    req.account = account;
    await this.rateLimit.admit(account, ctx.switchToHttp().getResponse<Response>());
    return true;
  }
}

/** `/admin/*`: only ADMIN_API_KEY; an account key is recognised and refused with 403. */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig, private readonly accounts: AccountsService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const key = bearer(req);
    if (!key) throw new ApiError('unauthorized', 'Missing admin key. Send it as "Authorization: Bearer <ADMIN_API_KEY>".');
    if (this.config.adminApiKey && safeEqual(key, this.config.adminApiKey)) return true;
    if (await this.accounts.authenticate(key)) throw new ApiError('forbidden', 'An account key cannot call admin routes.');
    throw new ApiError('unauthorized', 'Invalid admin key.');
  }
}

export const CurrentAccount = createParamDecorator((_: unknown, ctx: ExecutionContext): ResolvedAccount => {
  const account = ctx.switchToHttp().getRequest<AuthedRequest>().account;
  if (!account) throw new ApiError('unauthorized', 'Missing API key.');
  return account;
});
