import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/**
 * The `fetch` the openai SDK is given: node:http over keep-alive agents. The request's headers and JSON
 * body leave in one write (the global fetch streams a string body as a separate web stream, with its
 * own writes and promise hops). A streamed answer (text/event-stream) is wrapped in a WHATWG Response
 * whose body is the socket's stream, so it is read as it arrives; any other answer is read whole first.
 * An abort (the SDK's timeout, our deadlines) destroys the request or the response mid-way. Bodies that are not a string or bytes (none on the chat
 * route) go to the global fetch.
 */
export function nodeHttpFetch(): typeof fetch {
  const agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: Infinity }), 'https:': new https.Agent({ keepAlive: true, maxSockets: Infinity }) };
  return (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const body = init.body;
    if (input instanceof Request || (body != null && typeof body !== 'string' && !(body instanceof Uint8Array))) return fetch(input, init);
    const url = input instanceof URL ? input : new URL(input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fetch(input, init);
    const signal = init.signal ?? null;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    if (body != null) headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    return new Promise<Response>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      let response: http.IncomingMessage | null = null;
      const req = mod.request(url, { method: init.method ?? 'GET', headers, agent: agents[url.protocol as 'http:' | 'https:'] }, (res) => {
        response = res;
        const h = new Headers();
        const raw = res.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) h.append(raw[i], raw[i + 1]);
        const status = res.statusCode ?? 0;
        const empty = status === 204 || status === 304 || init.method === 'HEAD';
        const meta = { status, statusText: res.statusMessage ?? '', headers: h };
        if (empty) {
          res.resume();
          resolve(new Response(null, meta));
        } else if (/^text\/event-stream/i.test(res.headers['content-type'] ?? '')) {
          resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, meta));
        } else {
          // A whole JSON answer is read on the socket's own stream and handed over as one buffer: a web
          // stream bridge over it costs a promise hop per chunk, about 0.1 ms a call here.
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () => resolve(new Response(Buffer.concat(chunks), meta)));
          res.once('error', reject);
          res.once('close', () => {
            if (!res.complete) reject(signal?.aborted ? abortError(signal) : new Error('the connection closed before the response body ended'));
          });
        }
      });
      // Before the answer the request fails with the abort; after it, the body stream does.
      const onAbort = () => (response ? response.destroy(abortError(signal!)) : req.destroy(abortError(signal!)));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal?.removeEventListener('abort', onAbort));
      req.once('error', reject);
      req.end(body ?? undefined);
    });
  };
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason as unknown;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}
