import { startKimiSim, type KimiSim } from '@so/kimi-sim';
import { Cluster, createAccount, http, ServiceProcess, waitFor } from '../support/processes';

// Issue 11, item 11: SIGTERM stops accepting, lets turns and streams in flight finish within
// SHUTDOWN_GRACE_MS, aborts what is left cleanly (nothing half-written, the lock released), and a
// restarted process picks up where this one stopped.

/** Starts a streamed turn and resolves once its first chunk arrived; `rest` reads the remainder. */
async function startStream(url: string, key: string, sessionId: string, content: string): Promise<{ first: string; rest: Promise<string> }> {
  const res = await fetch(`${url}/v1/sessions/${sessionId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content }], stream: true }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('chat.completion.chunk')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const rest = (async () => {
    let more = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        more += decoder.decode(value, { stream: true });
      }
    } catch {
      /* the connection was closed */
    }
    return more;
  })();
  return { first: text, rest };
}

/** After SIGTERM: a new request is refused (connection refused, or 503 on a kept-alive connection), never served. */
async function refusedDuringDrain(url: string, key: string): Promise<string> {
  try {
    const r = await http(url, key, 'GET', '/v1/sessions');
    return String(r.status);
  } catch {
    return 'refused';
  }
}

describe('graceful shutdown', () => {
  let sim: KimiSim;
  let cluster: Cluster;

  beforeAll(async () => {
    // About 2.5 s per reply: long enough to send SIGTERM mid-stream.
    sim = await startKimiSim({ port: 0, tokensPerSecond: 20, replyTokens: 50 });
    cluster = await Cluster.create();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await sim?.close();
  });

  async function spawn(name: string, graceMs: number): Promise<ServiceProcess> {
    return cluster.spawn(name, cluster.baseEnv(sim.baseUrl, { ROLE: 'all', SHUTDOWN_GRACE_MS: String(graceMs), LOG_LEVEL: 'warn' }));
  }

  it('lets a stream in flight finish after SIGTERM, refuses new requests, exits 0, and the reply is stored', async () => {
    const p = await spawn('grace-long', 30_000);
    const acct = await createAccount(p.url, sim.baseUrl, 'grace-long', 10);
    const sid = (await http(p.url, acct.apiKey, 'POST', '/v1/sessions', {})).body.id as string;
    const stream = await startStream(p.url, acct.apiKey, sid, 'finish this even while shutting down');
    p.proc.kill('SIGTERM');
    await waitFor(() => Promise.resolve(p.output()), (out) => out.includes('received SIGTERM'), 10_000, 'the process to start draining');
    expect(['refused', '503']).toContain(await refusedDuringDrain(p.url, acct.apiKey));
    const rest = await stream.rest;
    expect(rest).toContain('data: [DONE]');
    await p.whenExited;
    expect(p.proc.exitCode).toBe(0);

    const next = await spawn('grace-long-2', 30_000);
    const msgs = (await http(next.url, acct.apiKey, 'GET', `/v1/sessions/${sid}/messages`)).body.data as any[];
    expect(msgs.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(msgs[1].content.length).toBeGreaterThan(0);
  });

  it('aborts a stream still running when the grace period ends: an error event, nothing written, the lock released', async () => {
    const p = await spawn('grace-short', 300);
    const acct = await createAccount(p.url, sim.baseUrl, 'grace-short', 10);
    const sid = (await http(p.url, acct.apiKey, 'POST', '/v1/sessions', {})).body.id as string;
    // A long reply: about 10 s at 20 tokens per second.
    sim.configure({ replyTokens: 200 });
    const stream = await startStream(p.url, acct.apiKey, sid, 'a long answer please');
    p.proc.kill('SIGTERM');
    const rest = await stream.rest;
    sim.configure({ replyTokens: 50 });
    expect(rest).not.toContain('[DONE]');
    expect(rest).toContain('"service_unavailable"');
    await p.whenExited;
    expect(p.proc.exitCode).toBe(0);

    const next = await spawn('grace-short-2', 300);
    expect((await http(next.url, acct.apiKey, 'GET', `/v1/sessions/${sid}/messages`)).body.data).toEqual([]);
    // The turn lock went with the aborted turn: the next turn runs at once instead of answering 409.
    const again = await http(next.url, acct.apiKey, 'POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content: 'again, after the restart' }] });
    expect(again.status).toBe(200);
    expect((await http(next.url, acct.apiKey, 'GET', `/v1/sessions/${sid}/messages`)).body.data.map((m: any) => m.seq)).toEqual([1, 2]);
  });
});
