import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { bearer } from '../auth/auth.guards';
import { safeEqual } from '../common/secrets';
import { DataSource } from 'typeorm';
import { JOB_QUEUE, type JobQueue } from '@so/queue';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ModelCheck } from '../upstream/model-check';
import { CHILD_QUEUE, FINAL_QUEUE } from '../tasks/coordinator.service';

class CheckView {
  @ApiProperty({ enum: ['up', 'down'] }) status: 'up' | 'down';
  @ApiProperty({ required: false }) detail?: string;
  @ApiProperty({ required: false, description: 'Upstream check only: the configured LLM_MODEL.' }) model?: string;
  @ApiProperty({
    required: false,
    nullable: true,
    type: Boolean,
    description: "Upstream check only: whether the upstream's /models lists LLM_MODEL (null when it could not be asked).",
  })
  model_served?: boolean | null;
}

class HealthResponse {
  @ApiProperty({ enum: ['ok', 'degraded', 'down'] }) status: string;
  @ApiProperty({ required: false, description: 'With the admin key only.' }) role?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: { $ref: '#/components/schemas/CheckView' }, description: 'With the admin key only: each check with its detail.' })
  checks?: Record<string, CheckView>;
}

/** Liveness of the three things a turn needs. Only the database being down makes it 503. */
@ApiTags('operations')
// HealthResponse.checks refers to CheckView by $ref: register it, or the document has a dangling reference.
@ApiExtraModels(CheckView)
@Controller('health')
export class HealthController {
  private upstreamCache: { at: number; check: CheckView } | null = null;

  constructor(
    private readonly ds: DataSource,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly models: ModelCheck,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Database, queue and upstream status (the details with the admin key)' })
  @ApiOkResponse({ type: HealthResponse })
  @ApiServiceUnavailableResponse({ type: HealthResponse })
  async health(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<HealthResponse> {
    const [database, queue, upstream, workers] = await Promise.all([this.database(), this.queueCheck(), this.upstream(), this.workersCheck()]);
    const status = database.status === 'down' ? 'down' : queue.status === 'down' || upstream.status === 'down' || workers?.status === 'down' ? 'degraded' : 'ok';
    if (status === 'down') res.status(503);
    // Error texts and hosts are for operators: anyone else learns only whether the service is up.
    const key = bearer(req);
    const admin = key !== null && this.config.adminApiKey !== null && safeEqual(key, this.config.adminApiKey);
    return admin ? { status, role: this.config.role, checks: { database, queue, upstream, ...(workers ? { workers } : {}) } } : { status };
  }

  private async database(): Promise<CheckView> {
    try {
      await this.ds.query('SELECT 1');
      return { status: 'up' };
    } catch (err) {
      return { status: 'down', detail: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * ROLE=api runs no jobs: it counts on ROLE=worker (or all) instances on the same Redis. None there
   * means tasks are accepted and never run, so it is reported (degraded), not left to be found out.
   */
  private async workersCheck(): Promise<CheckView | null> {
    if (this.config.role !== 'api') return null;
    try {
      const counts = await Promise.all([CHILD_QUEUE, FINAL_QUEUE].map((q) => this.queue.workers(q)));
      if (counts.some((n) => n === null)) return null;
      const n = Math.min(...(counts as number[]));
      return n > 0
        ? { status: 'up', detail: `${n} worker process(es) on the queue` }
        : { status: 'down', detail: 'ROLE=api, and no ROLE=worker or ROLE=all instance takes task jobs on this Redis: tasks are accepted but do not run' };
    } catch (err) {
      return { status: 'down', detail: err instanceof Error ? err.message : String(err) };
    }
  }

  private async queueCheck(): Promise<CheckView> {
    try {
      const h = await this.queue.health();
      return { status: h.ok ? 'up' : 'down', detail: `${this.queue.driver}${h.detail ? `: ${h.detail}` : ''}` };
    } catch (err) {
      return { status: 'down', detail: err instanceof Error ? err.message : String(err) };
    }
  }

  /** GET {base}/models with a short timeout, cached for 10 s so health checks never load the upstream; also whether LLM_MODEL is listed. */
  private async upstream(): Promise<CheckView> {
    if (this.upstreamCache && Date.now() - this.upstreamCache.at < 10_000) return this.upstreamCache.check;
    const { served, result } = await this.models.probe(2000);
    const model = { model: result.model, model_served: result.served };
    const check: CheckView = served.ok
      ? { status: 'up', detail: new URL(this.config.llmBaseUrl!).host, ...model }
      : // A 200 that is not a model list still means the upstream answers.
        { status: served.status !== null && served.status < 300 ? 'up' : 'down', detail: served.error, ...model };
    this.upstreamCache = { at: Date.now(), check };
    return check;
  }
}
