import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ApiError } from '../common/api-error';

export const DASHBOARD_PATH = '/dashboard';

/**
 * Where `npm run build` puts the dashboard: `dist/dashboard`. From the compiled service
 * (dist/apps/orchestrator/src) that is three levels up; from the sources (tests run them) it is under dist/.
 */
export function dashboardDir(): string | null {
  const candidates = [resolve(__dirname, '../../../../dashboard'), resolve(__dirname, '../../../../dist/dashboard')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? null;
}

/**
 * The dashboard's static files under /dashboard, without auth (the page holds no data; its API calls
 * carry the key). GET and HEAD only: anything else falls through to the API's 404 in the error shape,
 * and no body parser is involved, so the JSON-only body rules are untouched.
 */
export function mountDashboard(app: INestApplication, dir: string | null = dashboardDir()): void {
  const http = app.getHttpAdapter().getInstance() as express.Express;
  if (!dir) {
    http.get([DASHBOARD_PATH, `${DASHBOARD_PATH}/`], (_req: Request, res: Response) => {
      res.status(404).json(new ApiError('not_found', 'The dashboard is not built: run `npm run build`.').body());
    });
    return;
  }
  const headers = (res: Response) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
  };
  http.get([DASHBOARD_PATH, `${DASHBOARD_PATH}/`], (_req: Request, res: Response) => {
    headers(res);
    res.sendFile(join(dir, 'index.html'));
  });
  const files = express.static(dir, { index: false, redirect: false, setHeaders: headers, fallthrough: true });
  http.use(DASHBOARD_PATH, (req: Request, res: Response, next: NextFunction) => (req.method === 'GET' || req.method === 'HEAD' ? files(req, res, next) : next()));
}
