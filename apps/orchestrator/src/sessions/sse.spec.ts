import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Response } from 'express';
import { SseWriter } from './sse';

/** Serves one SSE response written by `script`; answers the raw chunks the client received and how many socket writes were made. */
async function serve(script: (sse: SseWriter) => Promise<void>): Promise<{ text: string; headers: Record<string, unknown>; writes: number }> {
  let writes = 0;
  const server: Server = createServer((req, res) => {
    const socket = res.socket as Socket & { _writeGeneric: (...a: unknown[]) => unknown };
    const orig = socket._writeGeneric.bind(socket);
    socket._writeGeneric = (...a: unknown[]) => {
      writes++;
      return orig(...a);
    };
    const r = res as unknown as Response;
    (r as unknown as { status: (n: number) => void }).status = (n: number) => void (res.statusCode = n);
    void script(new SseWriter(r));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ text, headers: res.headers, writes }));
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('SseWriter', () => {
  it('sends events in order with the SSE headers, ending with [DONE]', async () => {
    const r = await serve(async (sse) => {
      sse.send({ n: 1 });
      await new Promise((x) => setTimeout(x, 5));
      sse.send({ n: 2 });
      sse.done();
    });
    expect(r.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(r.text).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n');
  });

  it('sends the headers with the first events in one write, and never holds an event past its tick', async () => {
    const together = await serve(async (sse) => {
      sse.send({ n: 1 });
      sse.send({ n: 2 });
      sse.send({ n: 3 });
      await new Promise((x) => setTimeout(x, 20));
      sse.done();
    });
    expect(together.text).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\ndata: [DONE]\n\n');
    const apart = await serve(async (sse) => {
      for (let n = 1; n <= 3; n++) {
        sse.send({ n });
        await new Promise((x) => setTimeout(x, 20));
      }
      sse.done();
    });
    expect(apart.text).toBe(together.text);
    // the headers and three events in one write, then [DONE] and the end in another
    expect(together.writes).toBe(2);
    expect(apart.writes).toBe(4);
  });
});
