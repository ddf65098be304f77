import { Controller, Get, Inject, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { JOB_QUEUE, type JobQueue } from '@so/queue';
import { AdminGuard } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { isUuid } from '../common/ids';
import { PoolService } from '../pool/pool.service';
import { AdminPoolResponse, AdminQueuesResponse, AdminUsageResponse } from './admin.dto';
import { UsageRepository } from './usage.repository';
import { UpstreamLimiter } from '../admission/upstream-limiter';
import { AccountsService } from '../accounts/accounts.service';
import { BudgetsRepository } from '../budgets/budgets.repository';
import { UsageRecorder } from '../upstream/usage-recorder';

class UsageQuery {
  @ApiPropertyOptional({ description: 'Hours back from now (default 24).', minimum: 1, maximum: 8760 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(8760) hours?: number;

  @ApiPropertyOptional() @IsOptional() @IsString() account_id?: string;
}

class PoolQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() account_id?: string;
}

/** Operator views: the pool per account, the queues, and the bill. */
@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin')
export class AdminController {
  constructor(
    private readonly pool: PoolService,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    private readonly usageRows: UsageRepository,
    private readonly limiter: UpstreamLimiter,
    private readonly accounts: AccountsService,
    private readonly budgets: BudgetsRepository,
    private readonly usageWrites: UsageRecorder,
  ) {}

  @Get('pool')
  @ApiOperation({ summary: 'Per account: limit, in use, waiting, parked, acquire wait p50/p99 (last 15 min), reclaimed leases' })
  @ApiOkResponse({ type: AdminPoolResponse })
  @ApiErrors(401, 403)
  async poolStats(@Query() q: PoolQuery): Promise<AdminPoolResponse> {
    const pool = q.account_id !== undefined && !isUuid(q.account_id) ? [] : await this.pool.stats(q.account_id);
    // The upstream limiter's state next to each account's pool.
    const data = await Promise.all(
      pool.map(async (d) => ({ ...d, upstream_admission: await this.accounts.resolveById(d.account_id).then((a) => this.limiter.accountState(a)).catch(() => undefined) })),
    );
    return { object: 'list' as const, data, totals: { in_use: data.reduce((n, d) => n + d.in_use, 0), waiting: data.reduce((n, d) => n + d.waiting, 0) } };
  }

  @Get('queues')
  @ApiOperation({ summary: 'Job counts per queue and state (the queue UI is at /admin/queues/ui with the Bull driver)' })
  @ApiOkResponse({ type: AdminQueuesResponse })
  @ApiErrors(401, 403)
  async queues(): Promise<AdminQueuesResponse> {
    const names = this.queue.queueNames();
    const data = await Promise.all(names.map(async (name) => ({ name, ...(await this.queue.counts(name)) })));
    return { object: 'list' as const, driver: this.queue.driver, data };
  }

  @Get('usage')
  @ApiOperation({ summary: 'Upstream usage and cost per account and purpose over the last `hours`' })
  @ApiOkResponse({ type: AdminUsageResponse })
  @ApiErrors(400, 401, 403)
  async usage(@Query() q: UsageQuery): Promise<AdminUsageResponse> {
    const hours = q.hours ?? 24;
    if (q.account_id !== undefined && !isUuid(q.account_id)) return { object: 'list', hours, data: [], reservations: [] };
    // This process's usage rows still being written are counted (see UsageRecorder).
    await this.usageWrites.flush();
    return { object: 'list', hours, data: await this.usageRows.summary(hours, q.account_id), reservations: await this.budgets.reservationsByAccount(q.account_id) };
  }
}
