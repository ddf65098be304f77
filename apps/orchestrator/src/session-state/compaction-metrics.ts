import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { UpstreamMetrics } from '../upstream/upstream-metrics';

/** Compaction series on the /metrics registry: how each compaction went, its cost, facts restored and dropped, fallbacks. */
@Injectable()
export class CompactionMetrics {
  private readonly compactions: Counter;
  private readonly cost: Counter;
  private readonly facts: Counter;
  private readonly fallbacks: Counter;

  constructor(upstream: UpstreamMetrics) {
    const registers = [upstream.registry];
    this.compactions = new Counter({ name: 'so_compactions_total', help: 'Compactions by trigger, method and path (model, continued, salvaged, repaired, extractive, trimmed, facts_restored, condensed)', labelNames: ['trigger', 'method', 'path', 'account'], registers });
    this.cost = new Counter({ name: 'so_compaction_cost_usd_total', help: 'Summarizer spend of compactions in USD', labelNames: ['trigger', 'account'], registers });
    this.facts = new Counter({ name: 'so_compaction_facts_total', help: 'Hard facts of compacted ranges by outcome (kept by the model, restored, dropped)', labelNames: ['outcome'], registers });
    this.fallbacks = new Counter({ name: 'so_compaction_fallbacks_total', help: 'Rolling compactions that failed (upstream error or refused) and fell back to truncation', labelNames: ['account'], registers });
  }

  compacted(account: string, trigger: string, method: string, path: string[], costUsd: number, facts: { kept_by_model: number; restored: number; dropped: string[] }): void {
    this.compactions.inc({ trigger, method, path: path.join('+'), account });
    this.cost.inc({ trigger, account }, costUsd);
    this.facts.inc({ outcome: 'kept_by_model' }, facts.kept_by_model);
    this.facts.inc({ outcome: 'restored' }, facts.restored);
    this.facts.inc({ outcome: 'dropped' }, facts.dropped.length);
  }

  fellBack(account: string): void {
    this.fallbacks.inc({ account });
  }
}
