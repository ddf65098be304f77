import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pinoHttp, type Options } from 'pino-http';
import { requestLogOptions } from './request-log';

/** The options as they were before the serializers read the request and response themselves. */
function previousOptions(level: string): Options {
  const o = requestLogOptions(level);
  return {
    ...o,
    wrapSerializers: true,
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url?.split('?')[0] }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

function logged(options: Options) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) {
        const { time: _t, responseTime: _r, ...rest } = JSON.parse(l) as Record<string, unknown>;
        lines.push(rest);
      }
      cb();
    },
  });
  const app = express();
  const v1 = Router();
  v1.use(pinoHttp(options, stream));
  v1.get('/ok', (req: Request, res: Response) => {
    req.log.info({ api_key: 'sk-1', nested: { authorization: 'Bearer x', kept: 1 } }, 'inside');
    res.json({ ok: true });
  });
  v1.post('/bad', (_req: Request, res: Response) => {
    res.status(400).json({ error: 'bad' });
  });
  v1.get('/boom', (req: Request, _res: Response, next: NextFunction) => {
    req.log.error({ err: new TypeError('boom') }, 'failed');
    next(new Error('boom'));
  });
  app.use('/v1', v1);
  app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: 'internal' });
  });
  return { app, lines };
}

function get(server: Server, method: string, path: string, id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, method, headers: { 'x-request-id': id, authorization: 'Bearer sk-secret' } }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    r.on('error', reject);
    r.end();
  });
}

describe('request log options', () => {
  it('log the same lines as the standard serializers did', async () => {
    const before = logged(previousOptions('info'));
    const after = logged(requestLogOptions('info'));
    const servers = [before.app.listen(0, '127.0.0.1'), after.app.listen(0, '127.0.0.1')];
    await Promise.all(servers.map((s) => new Promise((r) => s.once('listening', r))));
    try {
      for (const s of servers) {
        await get(s, 'GET', '/v1/ok?api_key=secret&x=1', 'r1');
        await get(s, 'POST', '/v1/bad', 'r2');
        await get(s, 'GET', '/v1/boom', 'r3');
        await get(s, 'GET', '/v1/missing', 'r4');
      }
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(after.lines.length).toBeGreaterThanOrEqual(6);
    // The error stack names this file's lines: equal as long as the same error is logged.
    const strip = (ls: Array<Record<string, unknown>>) => ls.map((l) => JSON.parse(JSON.stringify(l).replace(/"stack":"[^"]*"/g, '"stack":""')) as unknown);
    expect(strip(after.lines)).toEqual(strip(before.lines));
    expect(JSON.stringify(after.lines)).not.toContain('sk-secret');
    expect(after.lines[1]).toMatchObject({ req: { id: 'r1', method: 'GET', url: '/v1/ok' }, res: { statusCode: 200 }, msg: 'request completed' });
  });
});
