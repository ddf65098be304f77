import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { startKimiSim, type KimiSim, type KimiSimOptions, type RequestSummary } from '@so/kimi-sim';
import { createScratchDatabase, DEFAULT_ADMIN_DATABASE_URL } from '@so/persistence/cli/scratch-database';
import { startOrchestrator, type OrchestratorHandle } from '../../apps/orchestrator/src/bootstrap';
import { ADMIN_KEY, deleteRedisKeys, ENCRYPTION_KEY, http, REDIS_URL } from './test-env';

export interface SseResult {
  status: number;
  headers: Headers;
  raw: string;
  /** Parsed JSON payloads of the `data:` lines, in order ([DONE] excluded). */
  events: any[];
  /** Whether the stream ended with `data: [DONE]`. */
  done: boolean;
}

/** Splits an SSE body into its `data:` payloads. */
export function parseSse(raw: string): { events: any[]; done: boolean } {
  const events: any[] = [];
  let done = false;
  for (const block of raw.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data) continue;
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    try {
      events.push(JSON.parse(data));
    } catch {
      events.push(data);
    }
  }
  return { events, done };
}

export { ADMIN_KEY, REDIS_URL } from './test-env';

export interface TestAccount {
  id: string;
  apiKey: string;
  /** The kimi-sim key this account's upstream calls use, for per-account sim stats. */
  simKey: string;
  /** The official SDK pointed at this service with this account's key. */
  openai: OpenAI;
}

/**
 * One service instance for a test file: a throwaway database on the real Postgres, a unique key
 * prefix on the real Redis, and kimi-sim over HTTP.
 */
export class TestHarness {
  sim!: KimiSim;
  handle!: OrchestratorHandle;
  private dropDb!: () => Promise<void>;
  private baseEnv: Record<string, string> = {};

  /** Stops the service and starts it again on the same database, Redis prefix and kimi-sim, with `env` changed. */
  async restart(env: Record<string, string> = {}): Promise<void> {
    await this.handle.close();
    this.baseEnv = { ...this.baseEnv, ...env };
    this.handle = await startOrchestrator(this.baseEnv);
  }

  /** A second instance on the same database, Redis prefix and kimi-sim (close it before `stop`). */
  startPeer(env: Record<string, string> = {}): Promise<OrchestratorHandle> {
    return startOrchestrator({ ...this.baseEnv, ...env });
  }

  /** The scratch database, for tests that must move time (an expiry) or inspect rows directly. */
  databaseUrl!: string;
  readonly queuePrefix = `sotest_${randomBytes(4).toString('hex')}`;

  get url(): string {
    return this.handle.url;
  }

  static async start(opts: { env?: Record<string, string>; sim?: Partial<KimiSimOptions>; redis?: boolean; databaseUrl?: (scratchUrl: string) => string } = {}): Promise<TestHarness> {
    const h = new TestHarness();
    const db = await createScratchDatabase(DEFAULT_ADMIN_DATABASE_URL, 'sotest');
    h.dropDb = db.drop;
    h.databaseUrl = db.url;
    h.sim = await startKimiSim({ port: 0, ...opts.sim });
    h.baseEnv = {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: opts.databaseUrl ? opts.databaseUrl(db.url) : db.url,
      ...(opts.redis === false ? {} : { REDIS_URL: REDIS_URL }),
      QUEUE_PREFIX: h.queuePrefix,
      LLM_BASE_URL: h.sim.baseUrl,
      LLM_API_KEY: 'sim-default',
      ADMIN_API_KEY: ADMIN_KEY,
      ENCRYPTION_KEY,
      LOG_LEVEL: 'silent',
      UPSTREAM_RETRY_BASE_MS: '5',
      UPSTREAM_MAX_ATTEMPTS: '3',
      SUMMARIZER_MAX_ATTEMPTS: '3',
      UPSTREAM_TIMEOUT_MS: '3000',
      UPSTREAM_STREAM_IDLE_MS: '3000',
      DB_POOL_SIZE: '5',
      // A test that leaves a stream open must not hold its teardown for the production grace period.
      SHUTDOWN_GRACE_MS: '2000',
      ...opts.env,
    };
    h.handle = await startOrchestrator(h.baseEnv);
    return h;
  }

  async createAccount(name = `acct-${randomBytes(3).toString('hex')}`, extra: Record<string, unknown> = {}): Promise<TestAccount> {
    const simKey = `sim-${name}-${randomBytes(3).toString('hex')}`;
    const res = await fetch(`${this.url}/admin/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, upstream: { base_url: this.sim.baseUrl, api_key: simKey }, ...extra }),
    });
    if (res.status !== 201) throw new Error(`account create failed: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { id: string; api_key: string };
    return { id: body.id, apiKey: body.api_key, simKey, openai: new OpenAI({ apiKey: body.api_key, baseURL: `${this.url}/v1`, maxRetries: 0 }) };
  }

  /** JSON request with an account key; returns status, body and headers. */
  api<T = any>(key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
    return http<T>(this.url, key, method, path, body, headers);
  }

  /** POSTs a streamed request and reads the whole SSE body: every `data:` payload, parsed when JSON. */
  async apiStream(key: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<SseResult> {
    const res = await fetch(`${this.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const raw = await res.text();
    return { status: res.status, headers: res.headers, raw, ...parseSse(raw) };
  }

  /** kimi-sim's log of recent chat requests made with `simKey`, oldest first. */
  simRequestsFor(simKey: string): RequestSummary[] {
    return this.sim.requests().filter((r) => r.key === simKey);
  }

  simStatsFor(simKey: string): { requests: number; prompt_tokens: number; cached_tokens: number; completion_tokens: number; peak_concurrency: number } {
    const stats = this.sim.stats() as unknown as { keys?: Record<string, any>; by_key?: Record<string, any> };
    const perKey = stats.keys ?? stats.by_key ?? {};
    return perKey[simKey] ?? { requests: 0, prompt_tokens: 0, cached_tokens: 0, completion_tokens: 0, peak_concurrency: 0 };
  }

  async stop(): Promise<void> {
    await this.handle?.close();
    await this.sim?.close();
    await this.dropDb?.();
    await deleteRedisKeys(this.queuePrefix);
  }
}
