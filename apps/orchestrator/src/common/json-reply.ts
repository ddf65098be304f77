import { StreamableFile } from '@nestjs/common';
import type { Application, Response } from 'express';

interface ReplyingAdapter {
  reply(response: unknown, body: unknown, statusCode?: number): unknown;
  getInstance(): Application;
}

/**
 * Nest answers a handler's object with Express's res.json(), whose generic steps (settings look-ups,
 * Content-Type parsed back to add its charset, freshness) cost more than the answer. For a POST answered
 * 200 or 201 with an object, this writes what res.json would: the same status, `Content-Type:
 * application/json; charset=utf-8`, `Content-Length` and JSON.stringify(body). Everything else, and any
 * app with JSON settings or ETags, goes through res.json as before.
 */
export function directJsonReplies(adapter: ReplyingAdapter): void {
  const app = adapter.getInstance();
  if (app.get('json replacer') !== undefined || app.get('json spaces') !== undefined || app.get('json escape') || app.get('etag fn') !== undefined) return;
  const reply = adapter.reply.bind(adapter);
  adapter.reply = (response: unknown, body: unknown, statusCode?: number) => {
    const res = response as Response;
    const status = statusCode ?? res.statusCode;
    if (
      (status !== 200 && status !== 201) ||
      res.req.method !== 'POST' ||
      res.headersSent ||
      body === null ||
      typeof body !== 'object' ||
      ArrayBuffer.isView(body) ||
      body instanceof StreamableFile ||
      res.getHeader('content-type') !== undefined ||
      res.getHeader('etag') !== undefined
    ) {
      return reply(response, body, statusCode);
    }
    const text = JSON.stringify(body) as string | undefined;
    if (typeof text !== 'string') return reply(response, body, statusCode);
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', String(Buffer.byteLength(text)));
    res.end(text, 'utf8');
    return res;
  };
}
