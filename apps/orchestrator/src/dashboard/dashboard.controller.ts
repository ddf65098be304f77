import { CanActivate, Controller, ExecutionContext, Get, Inject, Injectable, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { AccountsService, type ResolvedAccount } from '../accounts/accounts.service';
import { AccountGuard, AdminGuard, bearer, CurrentAccount } from '../auth/auth.guards';
import { ApiError } from '../common/api-error';
import { safeEqual } from '../common/secrets';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ApiErrors } from '../common/api-docs';
import { AdminUsageTimelineQuery, PoolListResponse, UsageTimelineResponse, UsageTimelineQuery, WhoAmIResponse } from './dashboard.dto';
import { DashboardService } from './dashboard.service';

/** The caller's own pool and usage over time (read-only; what the dashboard shows an account key). */
@ApiTags('dashboard')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1')
export class AccountDashboardController {
  constructor(private readonly dashboard: DashboardService) {}

  @Get('pool')
  @ApiOperation({ summary: "The caller's pool: limit, in use, waiting, parked, acquire wait p50/p99 (last 15 min)" })
  @ApiOkResponse({ type: PoolListResponse })
  @ApiErrors(401)
  pool(@CurrentAccount() a: ResolvedAccount) {
    return this.dashboard.pool(a.id);
  }

  @Get('usage/timeline')
  @ApiOperation({ summary: "The caller's upstream tokens and cost in time buckets, split by purpose" })
  @ApiOkResponse({ type: UsageTimelineResponse })
  @ApiErrors(400, 401)
  usage(@CurrentAccount() a: ResolvedAccount, @Query() q: UsageTimelineQuery) {
    return this.dashboard.usageTimeline(q.hours ?? 24, q.bucket_minutes ?? 60, a.id);
  }
}

/** Every account's usage over time (the admin view of the dashboard). */
@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin')
export class AdminDashboardController {
  constructor(private readonly dashboard: DashboardService) {}

  @Get('usage/timeline')
  @ApiOperation({ summary: 'Upstream tokens and cost per account in time buckets, split by purpose' })
  @ApiOkResponse({ type: UsageTimelineResponse })
  @ApiErrors(400, 401, 403)
  usage(@Query() q: AdminUsageTimelineQuery) {
    return this.dashboard.usageTimeline(q.hours ?? 24, q.bucket_minutes ?? 60, q.account_id ?? null);
  }
}

type WhoRequest = Request & { who?: WhoAmIResponse };

/** Either key: the admin key or an account key; anything else is 401. Records who it is on the request. */
@Injectable()
export class AnyKeyGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig, private readonly accounts: AccountsService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<WhoRequest>();
    const key = bearer(req);
    if (!key) throw new ApiError('unauthorized', 'Missing API key. Send it as "Authorization: Bearer <key>".');
    if (this.config.adminApiKey && safeEqual(key, this.config.adminApiKey)) {
      req.who = { kind: 'admin', account_id: null, name: null, session_limit: null };
      return true;
    }
    const a = await this.accounts.authenticate(key);
    if (!a) throw new ApiError('unauthorized', 'Invalid API key.');
    req.who = { kind: 'account', account_id: a.id, name: a.name, session_limit: a.sessionLimit };
    return true;
  }
}

/** Which kind of key this is, so a client (the dashboard) can sign in with either without probing routes. */
@ApiTags('dashboard')
@ApiBearerAuth('account')
@ApiBearerAuth('admin')
@UseGuards(AnyKeyGuard)
@Controller('v1/whoami')
export class WhoAmIController {
  @Get()
  @ApiOperation({ summary: 'The caller: the admin key, or an account key with its account (id, name, session limit)' })
  @ApiOkResponse({ type: WhoAmIResponse })
  @ApiErrors(401)
  whoami(@Req() req: WhoRequest): WhoAmIResponse {
    return req.who!;
  }
}
