import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';
import type { UpstreamUsage } from '@so/llm';

/** Prometheus series for upstream calls; the registry is served at /metrics. */
@Injectable()
export class UpstreamMetrics {
  readonly registry = new Registry();
  private readonly calls = new Counter({ name: 'so_upstream_calls_total', help: 'Upstream calls by purpose and outcome', labelNames: ['purpose', 'outcome'], registers: [this.registry] });
  private readonly latency = new Histogram({ name: 'so_upstream_latency_seconds', help: 'Upstream call latency', labelNames: ['purpose'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [this.registry] });
  private readonly tokens = new Counter({ name: 'so_upstream_tokens_total', help: 'Tokens billed by kind', labelNames: ['kind'], registers: [this.registry] });
  private readonly cost = new Counter({ name: 'so_upstream_cost_usd_total', help: 'Upstream cost in USD', registers: [this.registry] });

  private readonly usageWriteFailures = new Counter({ name: 'so_usage_write_failures_total', help: 'Usage rows of upstream calls that could not be written (the call was still made, and maybe billed)', labelNames: ['outcome'], registers: [this.registry] });

  usageWriteFailed(outcome: string): void {
    this.usageWriteFailures.inc({ outcome });
  }

  observe(purpose: string, outcome: string, latencyMs: number, usage: UpstreamUsage | null, costUsd: number): void {
    this.calls.inc({ purpose, outcome });
    this.latency.observe({ purpose }, latencyMs / 1000);
    if (usage) {
      this.tokens.inc({ kind: 'prompt' }, usage.promptTokens);
      this.tokens.inc({ kind: 'cached' }, usage.cachedTokens);
      this.tokens.inc({ kind: 'completion' }, usage.completionTokens);
      this.tokens.inc({ kind: 'cache_write' }, usage.cacheWriteTokens ?? 0);
      this.cost.inc(costUsd);
    }
  }
}
