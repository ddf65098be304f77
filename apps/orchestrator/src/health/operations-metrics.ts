import { Inject, Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram } from 'prom-client';
import { JOB_QUEUE, type JobQueue } from '@so/queue';
import { PoolService } from '../pool/pool.service';
import { UpstreamMetrics } from '../upstream/upstream-metrics';

type AuthedRequest = Request & { account?: { id: string } };

/**
 * What an operator watches besides upstream calls: HTTP requests by route, status and account; the
 * pool per account; queue depth and job outcomes. Pool and queue figures are read at scrape time.
 */
@Injectable()
export class OperationsMetrics {
  private readonly requests: Counter;
  private readonly duration: Histogram;
  private readonly jobOutcomes: Counter;

  constructor(upstream: UpstreamMetrics, pool: PoolService, @Inject(JOB_QUEUE) queue: JobQueue) {
    const registers = [upstream.registry];
    this.requests = new Counter({ name: 'so_http_requests_total', help: 'HTTP requests by route (the matched pattern), method, status and account (none: unauthenticated or admin)', labelNames: ['route', 'method', 'status', 'account'], registers });
    this.duration = new Histogram({ name: 'so_http_request_duration_seconds', help: 'HTTP request duration until the answer is complete (streams included)', labelNames: ['route', 'method'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120], registers });
    this.jobOutcomes = new Counter({ name: 'so_queue_job_outcomes_total', help: 'Jobs this instance processed, by queue and outcome (completed, retrying, failed)', labelNames: ['queue', 'outcome'], registers });
    queue.onEvent((e) => this.jobOutcomes.inc({ queue: e.queue, outcome: e.type }));
    const poolGauge = (name: string, help: string, pick: (s: Awaited<ReturnType<PoolService['stats']>>[number]) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['account'],
        registers,
        async collect() {
          this.reset();
          for (const s of await pool.stats().catch(() => [])) this.set({ account: s.account_id }, pick(s));
        },
      });
    poolGauge('so_pool_limit', 'Live sessions each account may hold at once', (s) => s.limit);
    poolGauge('so_pool_in_use', 'Pool slots held per account', (s) => s.in_use);
    poolGauge('so_pool_waiting', 'Acquirers waiting for a slot per account', (s) => s.waiting);
    poolGauge('so_pool_parked', 'Open sessions without a slot per account', (s) => s.parked);
    new Gauge({
      name: 'so_queue_jobs',
      help: 'Jobs per queue and state (the depth: waiting + delayed)',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const name of queue.queueNames()) {
          const counts = await queue.counts(name).catch(() => null);
          if (!counts) continue;
          for (const [state, n] of Object.entries(counts)) if (typeof n === 'number') this.set({ queue: name, state }, n);
        }
      },
    });
  }

  /** Express middleware: counts each request when its answer is complete. */
  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const started = process.hrtime.bigint();
      res.once('close', () => {
        const r = req as AuthedRequest;
        // The matched route pattern (bounded); an unmatched path is "unmatched", never the raw URL.
        const matched = r.route as { path?: string } | undefined;
        const route = matched?.path ? `${r.baseUrl ?? ''}${String(matched.path)}` : 'unmatched';
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.requests.inc({ route, method: req.method, status: String(res.statusCode), account: r.account?.id ?? 'none' });
        this.duration.observe({ route, method: req.method }, seconds);
      });
      next();
    };
  }
}
