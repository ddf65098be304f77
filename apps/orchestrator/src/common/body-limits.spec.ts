import express, { json, type NextFunction, type Request, type Response } from 'express';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { ApiError } from './api-error';
import { BODY_LIMITS, DEFAULT_BODY_LIMIT, jsonBodies, jsonDepthExceeds, MAX_JSON_DEPTH, BodyTooDeepError, notJson } from './body-limits';
import { toApiError } from './error.filter';

/** jsonBodies as it was before the fast read: body-parser for every JSON body (its parse errors mapped by notJson). */
function bodyParserOnly() {
  const verify = (_req: unknown, _res: unknown, buf: Buffer) => {
    if (jsonDepthExceeds(buf, MAX_JSON_DEPTH)) throw new BodyTooDeepError();
  };
  const parsers = BODY_LIMITS.map(({ route, limit }) => ({ route, parser: json({ limit, verify }) }));
  const fallback = json({ limit: DEFAULT_BODY_LIMIT, verify });
  return (req: Request, res: Response, next: NextFunction) => {
    const len = req.headers['content-length'];
    if (!(req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0'))) return next();
    if (!req.is(['application/json', 'application/*+json'])) {
      const given = req.headers['content-type'];
      return next(new ApiError('unsupported_media_type', `The request body must be JSON (Content-Type: application/json)${given ? `, not ${given.split(';')[0]}` : ''}.`, 'Content-Type'));
    }
    const hit = parsers.find((p) => p.route.test(req.path));
    return (hit ? hit.parser : fallback)(req, res, (err?: unknown) => next(notJson(err)));
  };
}

function app(mw: express.RequestHandler) {
  const a = express();
  a.use(mw);
  a.use((req: Request, res: Response) => {
    res.json({ body: (req as Request & { body?: unknown }).body ?? '(undefined)' });
  });
  a.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const api = toApiError(err);
    res.status(api.status).json(api.body());
  });
  return a;
}

let fast: Server;
let slow: Server;
beforeAll(async () => {
  fast = app(jsonBodies()).listen(0, '127.0.0.1');
  slow = app(bodyParserOnly()).listen(0, '127.0.0.1');
  await Promise.all([fast, slow].map((s) => new Promise((r) => s.once('listening', r))));
});
afterAll(async () => {
  await Promise.all([fast, slow].map((s) => new Promise((r) => s.close(r))));
});

function send(server: Server, path: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const chunked = headers['transfer-encoding'] === 'chunked';
    const r = httpRequest({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, method: 'POST', headers: { ...(chunked ? {} : { 'content-length': String(data.length) }), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    r.on('error', reject);
    r.end(data);
  });
}

const JSON_CT = { 'content-type': 'application/json' };
const bom = Buffer.from([0xef, 0xbb, 0xbf]);
const cases: Array<[string, string, Buffer | string, Record<string, string>]> = [
  ['object', '/v1/chat/completions', '{"messages":[{"role":"user","content":"hi"}]}', JSON_CT],
  ['array', '/v1/x', '[1,2]', JSON_CT],
  ['leading whitespace', '/v1/x', ' \n\t{"a":1}', JSON_CT],
  ['BOM', '/v1/x', Buffer.concat([bom, Buffer.from('{"a":"é"}')]), JSON_CT],
  ['BOM only', '/v1/x', bom, JSON_CT],
  ['whitespace only', '/v1/x', '   ', JSON_CT],
  ['a number', '/v1/x', ' 12', JSON_CT],
  ['null', '/v1/x', 'null', JSON_CT],
  ['a string', '/v1/x', '"x"', JSON_CT],
  ['broken JSON', '/v1/x', '{"a":', JSON_CT],
  ['invalid UTF-8', '/v1/x', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28, 0xff, 0xe2, 0x82]), Buffer.from('"}')]), JSON_CT],
  ['too deep', '/v1/x', '['.repeat(65) + ']'.repeat(65), JSON_CT],
  ['deep enough', '/v1/x', '['.repeat(64) + ']'.repeat(64), JSON_CT],
  ['charset utf-8', '/v1/x', '{"a":1}', { 'content-type': 'application/json; charset=UTF-8' }],
  ['quoted charset', '/v1/x', '{"a":1}', { 'content-type': 'application/json;charset="utf-8"' }],
  ['charset latin1', '/v1/x', '{"a":1}', { 'content-type': 'application/json; charset=latin1' }],
  ['charset utf-16', '/v1/x', '{"a":1}', { 'content-type': 'application/json; charset=utf-16' }],
  ['+json type', '/v1/x', '{"a":1}', { 'content-type': 'application/vnd.api+json' }],
  ['text', '/v1/x', '{"a":1}', { 'content-type': 'text/plain' }],
  ['no type', '/v1/x', '{"a":1}', {}],
  ['over the default limit', '/v1/x', `{"a":"${'x'.repeat(1024 * 1024)}"}`, JSON_CT],
  ['within a route limit', '/v1/sessions/s1/messages', `{"a":"${'x'.repeat(1024 * 1024)}"}`, JSON_CT],
  ['over a route limit', '/v1/sessions/s1/messages', `{"a":"${'x'.repeat(2 * 1024 * 1024)}"}`, JSON_CT],
  ['gzip', '/v1/x', gzipSync('{"a":1}'), { ...JSON_CT, 'content-encoding': 'gzip' }],
  ['chunked', '/v1/x', '{"a":1}', { ...JSON_CT, 'transfer-encoding': 'chunked' }],
];

describe('jsonBodies', () => {
  it.each(cases)('%s: the same answer as body-parser', async (_name, path, body, headers) => {
    const [a, b] = await Promise.all([send(fast, path, body, headers), send(slow, path, body, headers)]);
    expect(a).toEqual(b);
  });
});
