import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeHttpFetch } from './node-http-fetch';

describe('nodeHttpFetch', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ method: string; headers: Record<string, unknown>; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, headers: req.headers, body });
        if (req.url === '/stream') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: one\n\n');
          // the rest never comes: the client aborts
          return;
        }
        if (req.url === '/cut') {
          // a JSON answer that promises more than it sends, then the connection drops
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"partial":');
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        }
        if (req.url === '/slow') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"slow":');
          return;
        }
        res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'r-1' });
        res.end(JSON.stringify({ echo: JSON.parse(body || 'null') }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('sends the JSON body with its length and headers, and answers with status, headers and body', async () => {
    const f = nodeHttpFetch();
    const res = await f(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer k' }, body: JSON.stringify({ a: 'é' }) });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe('r-1');
    expect(await res.json()).toEqual({ echo: { a: 'é' } });
    const last = seen[seen.length - 1];
    expect(last).toMatchObject({ method: 'POST', headers: { authorization: 'Bearer k', 'content-length': String(Buffer.byteLength('{"a":"é"}')) } });
  });

  it('streams the body as it arrives, and an abort ends the stream with an AbortError', async () => {
    const f = nodeHttpFetch();
    const ac = new AbortController();
    const res = await f(`${base}/stream`, { method: 'POST', body: '{}', signal: ac.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value).toString()).toBe('data: one\n\n');
    ac.abort();
    await expect(reader.read()).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('fails, not hangs, when a JSON answer is cut before its end, and an abort during its body ends it', async () => {
    const f = nodeHttpFetch();
    await expect(f(`${base}/cut`, { method: 'POST', body: '{}' })).rejects.toThrow(/closed before the response body ended|aborted|socket hang up/);
    const ac = new AbortController();
    const pending = f(`${base}/slow`, { method: 'POST', body: '{}', signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('refuses at once when the signal is already aborted, and fails on a refused connection', async () => {
    const f = nodeHttpFetch();
    const ac = new AbortController();
    ac.abort();
    await expect(f(`${base}/x`, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(f('http://127.0.0.1:9/x', { method: 'GET' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
