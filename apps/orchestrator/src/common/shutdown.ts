import { Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { setMaxListeners } from 'node:events';
import type { Server } from 'node:http';
import { ApiError } from './api-error';

let shuttingDown = false;

/** Whether this process is draining (the error filter answers what shutdown cut short with 503). */
export function isShuttingDown(): boolean {
  return shuttingDown;
}

/**
 * Graceful shutdown. On SIGTERM the server stops accepting, answers requests on kept-alive
 * connections with 503 (a load balancer retries them elsewhere), and lets the requests in flight
 * (turns, streams) finish within SHUTDOWN_GRACE_MS. What is still running then is aborted through
 * `signal`: its upstream call stops, the turn writes nothing and releases its lock, and its client
 * gets an error it can retry. Only then do the queue, the pool and the database close.
 */
@Injectable()
export class Shutdown {
  private readonly controller = Shutdown.unboundedController();
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private draining = false;

  /** Every turn derives its signal from this one: no listener-count warning however many run at once. */
  private static unboundedController(): AbortController {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  }

  /** Aborted when the grace period ends with work still running. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      if (this.draining) {
        // The error filter renders it like every other error.
        res.setHeader('Connection', 'close');
        return next(new ApiError('service_unavailable', 'This instance is shutting down; retry the request (another instance answers it).', null, { 'Retry-After': '1' }));
      }
      this.inFlight++;
      res.once('close', () => {
        this.inFlight--;
        if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
      next();
    };
  }

  /** Stops taking requests, waits up to `graceMs` for those in flight, then aborts the rest and waits `settleMs` for them to end. */
  async drain(server: Server, graceMs: number, settleMs = 5000): Promise<{ finished: boolean; aborted: number }> {
    this.draining = true;
    shuttingDown = true;
    server.close();
    server.closeIdleConnections();
    if (await this.idle(graceMs)) return { finished: true, aborted: 0 };
    const aborted = this.inFlight;
    this.controller.abort(new Error('the service is shutting down'));
    await this.idle(settleMs);
    server.closeAllConnections();
    return { finished: false, aborted };
  }

  private idle(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      timer.unref();
      this.idleWaiters.push(done);
    });
  }
}
