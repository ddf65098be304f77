import type { INestApplication } from '@nestjs/common';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullAdapter } from '@bull-board/api/bullAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { BullJobQueue, JOB_QUEUE, type JobQueue } from '@so/queue';
import { ApiError } from '../common/api-error';
import { safeEqual } from '../common/secrets';

export const QUEUE_UI_PATH = '/admin/queues/ui';

/** Browsers send Basic auth (any user, ADMIN_API_KEY as password); scripts may send the bearer key. */
function adminOnly(adminKey: string | null) {
  return (req: Request, res: Response, next: NextFunction) => {
    const h = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(.+)$/i.exec(h)?.[1];
    const basic = /^Basic\s+(.+)$/i.exec(h)?.[1];
    const password = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':') : undefined;
    const given = bearer ?? password;
    if (adminKey && given && safeEqual(given, adminKey)) return next();
    res.setHeader('WWW-Authenticate', 'Basic realm="session-orchestrator admin"');
    res.status(401).json(new ApiError('unauthorized', 'The queue UI needs the admin key (Basic auth password or Bearer).').body());
  };
}

/** bull-board under /admin/queues/ui when the Bull driver runs; with the in-process driver it says why there is none. */
export function mountQueueUi(app: INestApplication, adminKey: string | null): void {
  const queue = app.get<JobQueue>(JOB_QUEUE);
  const http = app.getHttpAdapter().getInstance() as Express;
  if (!(queue instanceof BullJobQueue)) {
    http.use(QUEUE_UI_PATH, adminOnly(adminKey), (_req: Request, res: Response) => {
      res.status(404).json(new ApiError('not_found', 'The queue UI needs the Bull driver (set REDIS_URL); GET /admin/queues shows the in-process counts.').body());
    });
    return;
  }
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_UI_PATH);
  createBullBoard({ queues: queue.queueNames().map((n) => new BullAdapter(queue.bullQueue(n), { readOnlyMode: false })), serverAdapter });
  http.use(QUEUE_UI_PATH, adminOnly(adminKey), serverAdapter.getRouter() as RequestHandler);
}
