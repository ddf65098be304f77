import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { createScratchDatabase, DEFAULT_ADMIN_DATABASE_URL } from '@so/persistence/cli/scratch-database';
import type { PoolAccountStats } from '@so/pool';
import { ADMIN_KEY, deleteRedisKeys, ENCRYPTION_KEY, http, REDIS_URL } from './test-env';

export { deleteRedisKeys, ENCRYPTION_KEY, http, type HttpResult } from './test-env';

/** The built service, started exactly as `npm run start:prod` does. */
export const MAIN_JS = process.env.TEST_MAIN_JS ? resolve(process.env.TEST_MAIN_JS) : resolve(__dirname, '../../dist/apps/orchestrator/src/main.js');

/** Fails with a message that says what to do, instead of a spawn error or a timeout. */
export function assertBuilt(): void {
  if (!existsSync(MAIN_JS)) {
    throw new Error(`${MAIN_JS} does not exist: build first (npm run build, or npm test which builds before Jest).`);
  }
}

/** Polls `fn` until `ok` holds; throws with the last value after `timeoutMs`. No timing is asserted. */
export async function waitFor<T>(fn: () => Promise<T>, ok: (t: T) => boolean, timeoutMs = 45_000, what = 'condition', intervalMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms; last value: ${JSON.stringify(v).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** One account's row of GET /admin/pool. */
export type PoolRow = PoolAccountStats;

/** `/admin/pool` for one account. */
export async function poolStats(baseUrl: string, accountId: string): Promise<PoolRow> {
  const r = await http<{ data: PoolRow[] }>(baseUrl, ADMIN_KEY, 'GET', `/admin/pool?account_id=${accountId}`);
  if (r.status !== 200 || !r.body.data?.[0]) throw new Error(`/admin/pool answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.data[0];
}

/** Reads an SSE response to its end: the `event:` names and parsed `data:` payloads, in order. */
export async function readSse(url: string, key: string): Promise<{ status: number; events: Array<{ event: string; data: any }>; raw: string }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' } });
  const raw = await res.text();
  const events: Array<{ event: string; data: any }> = [];
  for (const block of raw.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/);
    const event = lines.find((l) => l.startsWith('event:'))?.slice(6).trim() ?? 'message';
    const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (!data) continue;
    let parsed: unknown = data;
    try {
      parsed = JSON.parse(data);
    } catch {
      /* not JSON */
    }
    events.push({ event, data: parsed });
  }
  return { status: res.status, events, raw };
}

export interface ServiceProcess {
  name: string;
  role: 'all' | 'api' | 'worker';
  proc: ChildProcess;
  pid: number;
  url: string;
  /** Everything it printed (stdout and stderr), for failure messages. */
  output(): string;
  exited: boolean;
  /** Resolves when the process has exited. */
  whenExited: Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** If Jest itself dies, don't leave services running. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/** Spawns `node dist/.../main.js` and resolves once its banner names the port. */
export function spawnService(name: string, env: Record<string, string>, startTimeoutMs = 60_000): Promise<ServiceProcess> {
  assertBuilt();
  installExitHook();
  const role = (env.ROLE ?? 'all') as ServiceProcess['role'];
  const proc = spawn(process.execPath, [MAIN_JS], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    // Keep the head (start-up) and the recent tail only.
    if (out.length > 400_000) out = out.slice(0, 20_000) + '\n…\n' + out.slice(-200_000);
  };
  proc.stdout.on('data', append);
  proc.stderr.on('data', append);
  let exited = false;
  const whenExited = new Promise<void>((res) => {
    proc.once('exit', () => {
      exited = true;
      live.delete(proc);
      res();
    });
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name} did not print its banner within ${startTimeoutMs} ms:\n${out.slice(-5000)}`));
    }, startTimeoutMs);
    const check = () => {
      const url = /API\s+(http:\/\/\S+)\/v1/.exec(out)?.[1];
      if (!url) return;
      clearTimeout(timer);
      proc.stdout.off('data', check);
      const handle: ServiceProcess = {
        name,
        role,
        proc,
        pid: proc.pid!,
        url,
        output: () => out,
        get exited() {
          return exited;
        },
        whenExited,
      };
      resolvePromise(handle);
    };
    proc.stdout.on('data', check);
    void whenExited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it started:\n${out.slice(-5000)}`));
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopService(p: ServiceProcess, graceMs = 3000): Promise<void> {
  if (p.exited) return;
  p.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (!p.exited) p.proc.kill('SIGKILL');
  }, graceMs);
  await p.whenExited;
  clearTimeout(timer);
}

export async function killService(p: ServiceProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.exited) return;
  p.proc.kill(signal);
  await p.whenExited;
}

/**
 * A shared Postgres database and Redis prefix for several service processes, like a real scale-out:
 * every process gets the same DATABASE_URL, REDIS_URL and QUEUE_PREFIX.
 */
export class Cluster {
  readonly queuePrefix = `somp_${randomBytes(4).toString('hex')}`;
  readonly processes: ServiceProcess[] = [];
  dbUrl!: string;
  private dropDb?: () => Promise<void>;
  private pg?: Client;

  static async create(): Promise<Cluster> {
    assertBuilt();
    const c = new Cluster();
    const db = await createScratchDatabase(DEFAULT_ADMIN_DATABASE_URL, 'somp');
    c.dbUrl = db.url;
    c.dropDb = db.drop;
    return c;
  }

  baseEnv(llmBaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: this.dbUrl,
      REDIS_URL,
      QUEUE_PREFIX: this.queuePrefix,
      LLM_BASE_URL: llmBaseUrl,
      LLM_API_KEY: 'sim-default',
      ADMIN_API_KEY: ADMIN_KEY,
      ENCRYPTION_KEY,
      LOG_LEVEL: 'warn',
      UPSTREAM_RETRY_BASE_MS: '5',
      UPSTREAM_MAX_ATTEMPTS: '3',
      UPSTREAM_TIMEOUT_MS: '10000',
      DB_POOL_SIZE: '10',
      SHUTDOWN_GRACE_MS: '1000',
      // One process per instance unless a suite tests API_WORKERS itself.
      API_WORKERS: '1',
      ...extra,
    };
  }

  async spawn(name: string, env: Record<string, string>): Promise<ServiceProcess> {
    const p = await spawnService(name, env);
    this.processes.push(p);
    return p;
  }

  /** A direct connection to the shared database, for cross-checks the API does not expose. */
  async db(): Promise<Client> {
    if (!this.pg) {
      this.pg = new Client({ connectionString: this.dbUrl });
      await this.pg.connect();
    }
    return this.pg;
  }

  /** Output of every process, for a failure message. */
  logs(tail = 4000): string {
    return this.processes.map((p) => `----- ${p.name} (pid ${p.pid}, ${p.exited ? 'exited' : 'running'})\n${p.output().slice(-tail)}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => stopService(p).catch(() => undefined)));
    await this.pg?.end().catch(() => undefined);
    await this.dropDb?.().catch(() => undefined);
    await deleteRedisKeys(this.queuePrefix);
  }
}

/** Creates an account through `/admin/accounts` with its own upstream key, so sim stats per key are per account. */
export async function createAccount(baseUrl: string, simBaseUrl: string, name: string, sessionLimit: number): Promise<{ id: string; apiKey: string; simKey: string }> {
  const simKey = `sim-${name}-${randomBytes(3).toString('hex')}`;
  const r = await http<{ id: string; api_key: string }>(baseUrl, ADMIN_KEY, 'POST', '/admin/accounts', {
    name: `${name}-${randomBytes(2).toString('hex')}`,
    session_limit: sessionLimit,
    upstream: { base_url: simBaseUrl, api_key: simKey },
  });
  if (r.status !== 201) throw new Error(`account create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.id, apiKey: r.body.api_key, simKey };
}
