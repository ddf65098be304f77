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

  // The same per account (an operator's question is usually "who is spending"): separate series, so the totals above keep their labels.
  private readonly accountCalls = new Counter({ name: 'so_upstream_account_calls_total', help: 'Upstream calls by account, purpose and outcome', labelNames: ['account', 'purpose', 'outcome'], registers: [this.registry] });
  private readonly accountTokens = new Counter({ name: 'so_upstream_account_tokens_total', help: 'Tokens billed by account and kind', labelNames: ['account', 'kind'], registers: [this.registry] });
  private readonly accountCost = new Counter({ name: 'so_upstream_account_cost_usd_total', help: 'Upstream cost in USD by account', labelNames: ['account'], registers: [this.registry] });

  private readonly usageWriteFailures = new Counter({ name: 'so_usage_write_failures_total', help: 'Usage rows of upstream calls that could not be written (the call was still made, and maybe billed)', labelNames: ['outcome'], registers: [this.registry] });

  usageWriteFailed(outcome: string): void {
    this.usageWriteFailures.inc({ outcome });
  }

  observe(purpose: string, outcome: string, latencyMs: number, usage: UpstreamUsage | null, costUsd: number, account?: string): void {
    this.calls.inc({ purpose, outcome });
    this.latency.observe({ purpose }, latencyMs / 1000);
    if (account) this.accountCalls.inc({ account, purpose, outcome });
    if (usage) {
      const kinds: Array<[string, number]> = [['prompt', usage.promptTokens], ['cached', usage.cachedTokens], ['completion', usage.completionTokens], ['cache_write', usage.cacheWriteTokens ?? 0]];
      for (const [kind, n] of kinds) {
        this.tokens.inc({ kind }, n);
        if (account) this.accountTokens.inc({ account, kind }, n);
      }
      this.cost.inc(costUsd);
      if (account) this.accountCost.inc({ account }, costUsd);
    }
  }
}
