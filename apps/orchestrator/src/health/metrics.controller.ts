import { Controller, Get, Header, Inject, Req } from '@nestjs/common';
import type { Request } from 'express';
import { bearer } from '../auth/auth.guards';
import { ApiError } from '../common/api-error';
import { safeEqual } from '../common/secrets';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/api-docs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { UpstreamMetrics } from '../upstream/upstream-metrics';

/** Prometheus text format: process metrics plus upstream calls, tokens and cost. */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  private readonly process = new Registry();

  constructor(
    private readonly upstream: UpstreamMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    collectDefaultMetrics({ register: this.process, prefix: 'so_' });
  }

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics (text format). With METRICS_TOKEN set, send it as a bearer token.' })
  @ApiOkResponse({ description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } })
  @ApiErrors(401)
  async metrics(@Req() req: Request): Promise<string> {
    // With METRICS_TOKEN set, scrapers send it as a bearer token.
    const token = this.config.metricsToken;
    if (token !== null) {
      const given = bearer(req);
      if (given === null || !safeEqual(given, token)) throw new ApiError('unauthorized', 'This /metrics needs METRICS_TOKEN as "Authorization: Bearer <token>".');
    }
    return Registry.merge([this.process, this.upstream.registry]).metrics();
  }
}
