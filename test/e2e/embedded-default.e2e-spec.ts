import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve(__dirname, '../../dist/apps/orchestrator/src/main.js');

interface Running {
  proc: ChildProcess;
  url: string;
  apiKey: string;
  output: () => string;
}

/** Starts the built service exactly as `npm start` does, with nothing configured but a data dir and port. */
function startEmbedded(dataDir: string): Promise<Running> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn' };
  const proc = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start:\n${out}`)), 90_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const url = /API\s+(http:\/\/\S+)\/v1/.exec(out)?.[1];
      const apiKey = /API key\s+(\S+)/.exec(out)?.[1];
      if (url && apiKey) {
        clearTimeout(timer);
        resolvePromise({ proc, url, apiKey, output: () => out });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code}:\n${out}`));
    });
  });
}

function stop(r: Running): Promise<void> {
  return new Promise((res) => {
    r.proc.removeAllListeners('exit');
    r.proc.once('exit', () => res());
    r.proc.kill('SIGTERM');
  });
}

describe('the embedded default (npm start with nothing configured)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'so-embedded-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('serves /docs, lets the printed key create a session and get a reply, and keeps the session across a restart', async () => {
    expect(existsSync(MAIN)).toBe(true);
    const first = await startEmbedded(dataDir);
    let sessionId: string;
    try {
      const docs = await fetch(`${first.url}/docs`);
      expect(docs.status).toBe(200);
      expect(await docs.text()).toContain('swagger');

      const auth = { authorization: `Bearer ${first.apiKey}`, 'content-type': 'application/json' };
      const created = await fetch(`${first.url}/v1/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ system: 'You are terse.' }) });
      expect(created.status).toBe(201);
      sessionId = ((await created.json()) as { id: string }).id;

      const turn = await fetch(`${first.url}/v1/sessions/${sessionId}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ messages: [{ role: 'user', content: 'hello from the smoke test' }] }) });
      expect(turn.status).toBe(200);
      const body = (await turn.json()) as { message: { role: string; content: string } };
      expect(body.message.role).toBe('assistant');
      expect(body.message.content.length).toBeGreaterThan(0);
    } finally {
      await stop(first);
    }

    const second = await startEmbedded(dataDir);
    try {
      expect(second.apiKey).toBe(first.apiKey);
      const got = await fetch(`${second.url}/v1/sessions/${sessionId!}/messages`, { headers: { authorization: `Bearer ${second.apiKey}` } });
      expect(got.status).toBe(200);
      const history = (await got.json()) as { data: Array<{ role: string; content: string }> };
      expect(history.data.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(history.data[0].content).toBe('hello from the smoke test');
    } finally {
      await stop(second);
    }
  }, 180_000);
});
