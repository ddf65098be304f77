import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startKimiSim, type KimiSim } from '@so/kimi-sim';
import { Cluster, createAccount, ServiceProcess, waitFor } from '../support/processes';

// API_WORKERS=2: one service (built output, `node dist/.../main.js`) whose primary forks two API
// processes on one port. Which process answered a request is read from the service's own request log
// (pino writes the pid on every line) by the request id the test sends. Every request goes on a new
// connection, so the primary hands them to the workers in turn.

interface Answer {
  status: number;
  body: any;
  /** The pid of the API process that answered, from its request log line. */
  pid: number;
}

describe('multi-process: API_WORKERS=2 share one port', () => {
  let sim: KimiSim;
  let cluster: Cluster;
  let svc: ServiceProcess;
  let port: number;
  let apiKey: string;

  beforeAll(async () => {
    sim = await startKimiSim({ port: 0, requestLogSize: 500 });
    cluster = await Cluster.create();
    svc = await cluster.spawn('workers', cluster.baseEnv(sim.baseUrl, { ROLE: 'all', API_WORKERS: '2', LOG_LEVEL: 'info' }));
    port = Number(new URL(svc.url).port);
    apiKey = (await createAccount(svc.url, sim.baseUrl, 'workers', 10)).apiKey;
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await sim?.close();
  });

  /** The pid on the request log line of `requestId` (waits for the line: the log is written after the answer). */
  const pidOf = (requestId: string) =>
    waitFor(
      // eslint-disable-next-line @typescript-eslint/require-await -- waitFor's probe returns a promise; this one reads the log in memory
      async () => {
        for (const line of svc.output().split('\n')) {
          if (!line.includes(requestId) || !line.startsWith('{')) continue;
          try {
            const j = JSON.parse(line) as { pid?: number; req?: { id?: string }; res?: unknown };
            if (j.req?.id === requestId && j.res && typeof j.pid === 'number') return j.pid;
          } catch {
            /* not a log line */
          }
        }
        return 0;
      },
      (pid) => pid > 0,
      10_000,
      `request log line of ${requestId}`,
      20,
    );

  /** One request on a new connection (no keep-alive), so the primary picks the process. */
  const call = (method: string, path: string, body?: unknown): Promise<Answer> => {
    const requestId = `mpw-${randomBytes(6).toString('hex')}`;
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path,
          method,
          agent: false,
          headers: { authorization: `Bearer ${apiKey}`, 'x-request-id': requestId, connection: 'close', ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    }).then(async ({ status, text }) => ({ status, body: text ? JSON.parse(text) : null, pid: await pidOf(requestId) }));
  };

  /** Calls until a process other than `not` answers (the primary alternates, so this takes a few calls at most). */
  const callOn = async (not: number, method: string, path: string, body?: (i: number) => unknown, onAnswer?: (a: Answer) => void): Promise<Answer> => {
    for (let i = 0; i < 12; i++) {
      const a = await call(method, path, body?.(i));
      onAnswer?.(a);
      if (a.pid !== not) return a;
    }
    throw new Error(`no process other than ${not} answered in 12 calls:\n${cluster.logs()}`);
  };

  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it('a session created through one process is served by the other; a killed process is replaced while the other keeps serving; SIGTERM drains all', async () => {
    expect(svc.output()).toMatch(/2 API workers on one port/);

    // Created through one process (a title, so no background job calls the upstream) ...
    const created = await call('POST', '/v1/sessions', { system: 'You are terse.', title: 'workers' });
    expect(created.status).toBe(201);
    const sid = created.body.id as string;
    expect(created.pid).not.toBe(svc.pid);
    const first = created.pid;
    let turns = 0;
    const append = async (content: string, not: number | null): Promise<Answer> => {
      const check = (a: Answer) => {
        expect(a.status).toBe(200);
        expect(a.body.message.content).toEqual(expect.any(String));
        turns++;
      };
      if (not !== null) return callOn(not, 'POST', `/v1/sessions/${sid}/messages`, (i) => ({ messages: [{ role: 'user', content: `${content} (${i})` }] }), check);
      const a = await call('POST', `/v1/sessions/${sid}/messages`, { messages: [{ role: 'user', content }] });
      check(a);
      return a;
    };

    // ... its first turn answered by the other process, which read the session from the database.
    const t1 = await append('turn one', first);
    const second = t1.pid;
    expect(second).not.toBe(svc.pid);

    // A turn on the first process sees every turn the other one persisted: the upstream gets them all.
    let t2: Answer;
    let n = 0;
    do {
      const before = turns;
      t2 = await append(`turn two (${++n})`, null);
      const sent = sim.requests().filter((r) => r.last_user === `turn two (${n})`);
      expect(sent).toHaveLength(1);
      // system + a user and an assistant message per earlier turn + the new user message
      expect(sent[0].messages).toBe(1 + 2 * before + 1);
    } while (t2.pid !== first);

    // Kill one API process: the primary notices, and the other one answers every request meanwhile.
    process.kill(first, 'SIGKILL');
    await waitFor(() => Promise.resolve(svc.output()), (out) => out.includes(`worker ${first} exited`), 20_000, 'the primary noticed the kill');
    const during = [] as Answer[];
    for (let i = 0; i < 4; i++) during.push(await call('GET', `/v1/sessions/${sid}`));
    for (const a of during) expect({ status: a.status, pid: a.pid }).toEqual({ status: 200, pid: second });
    expect(svc.exited).toBe(false);

    // A replacement starts and takes its share; the session is served there too.
    await waitFor(() => Promise.resolve(svc.output()), (out) => /worker \d+ is serving/.test(out), 60_000, 'a replacement worker');
    const t3 = await append('turn three', second);
    expect([first, second, svc.pid]).not.toContain(t3.pid);
    const replacement = t3.pid;

    // SIGTERM to the primary drains both API processes and exits cleanly.
    svc.proc.kill('SIGTERM');
    await svc.whenExited;
    expect(svc.proc.exitCode).toBe(0);
    await waitFor(() => Promise.resolve([second, replacement].filter(alive)), (l) => l.length === 0, 20_000, 'API processes gone');
    expect(svc.output()).toMatch(/draining 2 API workers/);
  }, 180_000);
});
