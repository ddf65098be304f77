import express, { type Request, type Response } from 'express';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { directJsonReplies } from './json-reply';

/** An app whose handler answers like Nest's Express adapter: status, then res.json (or the direct reply). */
function server(direct: boolean): Server {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const adapter = {
    reply(res: Response, body: unknown, statusCode?: number) {
      if (statusCode) res.status(statusCode);
      if (body === null || body === undefined) return res.send();
      return res.json(body);
    },
    getInstance: () => app,
  };
  if (direct) directJsonReplies(adapter);
  app.all('/{*path}', (req: Request, res: Response) => {
    const { body, status, passStatus, header } = JSON.parse(decodeURIComponent(req.path.slice(1))) as { body: unknown; status: number; passStatus: boolean; header?: [string, string] };
    res.setHeader('x-request-id', 'r1');
    if (header) res.setHeader(header[0], header[1]);
    if (!passStatus) res.status(status);
    adapter.reply(res, body, passStatus ? status : undefined);
  });
  return app.listen(0, '127.0.0.1');
}

/** The raw answer (Date removed): status line, headers in order, body bytes. */
function raw(s: Server, method: string, spec: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect((s.address() as AddressInfo).port, '127.0.0.1');
    let out = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => (out += c));
    sock.on('end', () => resolve(out.replace(/\r\nDate: [^\r]*/, '')));
    sock.on('error', reject);
    sock.end(`${method} /${encodeURIComponent(JSON.stringify(spec))} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
}

let direct: Server;
let plain: Server;
beforeAll(async () => {
  direct = server(true);
  plain = server(false);
  await Promise.all([direct, plain].map((s) => new Promise((r) => s.once('listening', r))));
});
afterAll(async () => {
  await Promise.all([direct, plain].map((s) => new Promise((r) => s.close(r))));
});

const long = { text: 'é😀x'.repeat(400), nested: { a: [1, null, true, 'x'] } };
const specs: Array<[string, unknown]> = [
  ['POST', { body: { id: 'x', usage: { total: 3 }, list: [] }, status: 200, passStatus: false }],
  ['POST', { body: { id: 'x' }, status: 201, passStatus: true }],
  ['POST', { body: long, status: 200, passStatus: false }],
  ['POST', { body: [1, 2], status: 200, passStatus: false }],
  ['POST', { body: { toJSON: null, a: 1 }, status: 200, passStatus: false }],
  ['POST', { body: { a: 1 }, status: 202, passStatus: false }],
  ['POST', { body: 'a string', status: 200, passStatus: false }],
  ['POST', { body: null, status: 200, passStatus: false }],
  ['POST', { body: { a: 1 }, status: 200, passStatus: false, header: ['content-type', 'application/vnd.x+json'] }],
  ['GET', { body: { a: 1 }, status: 200, passStatus: false }],
  ['HEAD', { body: { a: 1 }, status: 200, passStatus: false }],
];

describe('directJsonReplies', () => {
  it.each(specs)('%s, case %#: the same bytes as res.json', async (method, spec) => {
    const [a, b] = await Promise.all([raw(direct, method, spec), raw(plain, method, spec)]);
    expect(a).toBe(b);
    expect(a.startsWith('HTTP/1.1 ')).toBe(true);
  });
});
