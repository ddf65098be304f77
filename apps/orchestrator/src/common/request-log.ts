import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { Options } from 'pino-http';

/** pino-http's options: one line per request (method, path, status, ids), at a level by status. */
export function requestLogOptions(level: string): Options {
  return {
    level,
    genReqId: (req, res) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    // Never log keys or bodies: only method, path and ids. The serializers read the request and the response
    // themselves (as pino's standard ones would give them: originalUrl, and no status before the headers are
    // sent), without first building the standard objects (headers, parsed query) that they would drop.
    wrapSerializers: false,
    serializers: {
      req: (req: { id: string; method: string; originalUrl?: string; url: string }) => ({ id: req.id, method: req.method, url: (req.originalUrl || req.url)?.split('?')[0] }),
      res: (res: { statusCode: number; headersSent: boolean }) => ({ statusCode: res.headersSent ? res.statusCode : null }),
      err: pino.stdSerializers.err,
    },
    redact: { paths: ['req.headers', 'res.headers', '*.authorization', '*.api_key', '*.apiKey'], remove: true },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/health' || req.url === '/metrics' },
  };
}
