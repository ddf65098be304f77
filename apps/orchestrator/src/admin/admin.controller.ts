import { Controller, Get, Inject, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { DataSource } from 'typeorm';
import { JOB_QUEUE, type JobQueue } from '@so/queue';
import { AdminGuard } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { isUuid } from '../common/ids';
import { PoolService } from '../pool/pool.service';

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
  constructor(private readonly pool: PoolService, @Inject(JOB_QUEUE) private readonly queue: JobQueue, private readonly ds: DataSource) {}

  @Get('pool')
  @ApiOperation({ summary: 'Per account: limit, in use, waiting, parked, acquire wait p50/p99 (last 15 min), reclaimed leases' })
  @ApiOkResponse({ description: '{object: "list", data: [...]}' })
  @ApiErrors(401, 403)
  async poolStats(@Query() q: PoolQuery) {
    const data = q.account_id !== undefined && !isUuid(q.account_id) ? [] : await this.pool.stats(q.account_id);
    return { object: 'list', data, totals: { in_use: data.reduce((n, d) => n + d.in_use, 0), waiting: data.reduce((n, d) => n + d.waiting, 0) } };
  }

  @Get('queues')
  @ApiOperation({ summary: 'Job counts per queue and state (the queue UI is at /admin/queues/ui with the Bull driver)' })
  @ApiErrors(401, 403)
  async queues() {
    const names = this.queue.queueNames();
    const data = await Promise.all(names.map(async (name) => ({ name, ...(await this.queue.counts(name)) })));
    return { object: 'list', driver: this.queue.driver, data };
  }

  @Get('usage')
  @ApiOperation({ summary: 'Upstream usage and cost per account and purpose over the last `hours`' })
  @ApiErrors(400, 401, 403)
  async usage(@Query() q: UsageQuery) {
    const hours = q.hours ?? 24;
    const params: unknown[] = [String(hours)];
    let filter = '';
    if (q.account_id !== undefined) {
      if (!isUuid(q.account_id)) return { object: 'list', hours, data: [] };
      params.push(q.account_id);
      filter = 'AND u.account_id = $2';
    }
    const rows: Array<Record<string, unknown>> = await this.ds.query(
      `SELECT u.account_id, u.purpose, u.model, count(*)::int AS calls,
              sum(CASE WHEN u.outcome = 'ok' THEN 0 ELSE 1 END)::int AS failed_calls,
              sum(u.prompt_tokens)::bigint AS prompt_tokens, sum(u.cached_tokens)::bigint AS cached_tokens,
              sum(u.completion_tokens)::bigint AS completion_tokens, sum(u.cache_write_tokens)::bigint AS cache_write_tokens, sum(u.cost_usd) AS cost_usd,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY u.latency_ms) AS latency_p50_ms
       FROM usage_events u WHERE u.created_at > now() - ($1 || ' hours')::interval ${filter}
       GROUP BY u.account_id, u.purpose, u.model ORDER BY u.account_id, u.purpose`,
      params,
    );
    return {
      object: 'list',
      hours,
      data: rows.map((r) => ({
        account_id: r.account_id,
        purpose: r.purpose,
        model: r.model,
        calls: Number(r.calls),
        failed_calls: Number(r.failed_calls),
        prompt_tokens: Number(r.prompt_tokens),
        cached_tokens: Number(r.cached_tokens),
        completion_tokens: Number(r.completion_tokens),
        cache_write_tokens: Number(r.cache_write_tokens),
        cost_usd: Math.round(Number(r.cost_usd) * 1e8) / 1e8,
        latency_p50_ms: r.latency_p50_ms === null ? null : Math.round(Number(r.latency_p50_ms)),
      })),
    };
  }
}
