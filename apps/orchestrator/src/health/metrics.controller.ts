import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { UpstreamMetrics } from '../upstream/upstream-metrics';

/** Prometheus text format: process metrics plus upstream calls, tokens and cost. */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  private readonly process = new Registry();

  constructor(private readonly upstream: UpstreamMetrics) {
    collectDefaultMetrics({ register: this.process, prefix: 'so_' });
  }

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(): Promise<string> {
    return Registry.merge([this.process, this.upstream.registry]).metrics();
  }
}
