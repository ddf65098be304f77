import { Logger, OnModuleDestroy } from '@nestjs/common';
import { admissionBlock, admissionWindow, type AdmissionBlock, type AdmissionLimits } from '@so/domain';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';

export const ADMISSION_STORE = Symbol('ADMISSION_STORE');

export interface AdmissionCheck {
  key: string;
  limits: AdmissionLimits;
}

export type AdmitResult = { ok: true } | { ok: false; block: AdmissionBlock; retryAfterMs: number };

/** The shared state of the upstream limiter: Redis when REDIS_URL is set, Postgres otherwise. */
export interface AdmissionStore {
  /** Atomically: if every key can take one more call of `tokens`, count it in all of them (and hold a lease); else change nothing. */
  tryAdmit(checks: AdmissionCheck[], tokens: number, leaseId: string, leaseMs: number): Promise<AdmitResult>;
  release(keys: string[], leaseId: string): Promise<void>;
  /** Accounts that called through an upstream key in the last minute (this one included, once it is counted). */
  activeAccounts(keyId: string, accountId: string): Promise<number>;
  /** Raises a key's counts in the current minute to at least what the upstream says it used (its x-ratelimit-* headers). */
  correct(key: string, used: { requests?: number; tokens?: number }): Promise<void>;
  /** For the admin views: in flight and this minute's counts of keys. */
  state(keys: string[]): Promise<Array<{ key: string; in_flight: number; requests: number; tokens: number }>>;
}

const ADMIT = `
local n = #KEYS / 3
local now = tonumber(ARGV[1])
local tokens = tonumber(ARGV[4])
local winTtl = tonumber(ARGV[5])
for i = 1, n do
  local c = tonumber(ARGV[5 + 3 * (i - 1) + 1])
  local r = tonumber(ARGV[5 + 3 * (i - 1) + 2])
  local t = tonumber(ARGV[5 + 3 * (i - 1) + 3])
  if c > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3 * i - 2], '-inf', now)
    if redis.call('ZCARD', KEYS[3 * i - 2]) >= c then return {0, i, 1} end
  end
  if r > 0 and tonumber(redis.call('GET', KEYS[3 * i - 1]) or '0') + 1 > r then return {0, i, 2} end
  if t > 0 then
    local used = tonumber(redis.call('GET', KEYS[3 * i]) or '0')
    if used + tokens > t and not (tokens > t and used == 0) then return {0, i, 3} end
  end
end
for i = 1, n do
  local c = tonumber(ARGV[5 + 3 * (i - 1) + 1])
  local r = tonumber(ARGV[5 + 3 * (i - 1) + 2])
  local t = tonumber(ARGV[5 + 3 * (i - 1) + 3])
  if c > 0 then
    redis.call('ZADD', KEYS[3 * i - 2], ARGV[3], ARGV[2])
    redis.call('PEXPIRE', KEYS[3 * i - 2], tonumber(ARGV[3]) - now + 1000)
  end
  -- Counted whatever the limits, so the admin views show a key's minute.
  redis.call('INCR', KEYS[3 * i - 1]); redis.call('PEXPIRE', KEYS[3 * i - 1], winTtl)
  redis.call('INCRBY', KEYS[3 * i], tokens); redis.call('PEXPIRE', KEYS[3 * i], winTtl)
end
return {1, 0, 0}
`;

const WHICH: AdmissionBlock['which'][] = ['concurrency', 'rpm', 'tpm'];

function retryAfter(which: AdmissionBlock['which'], now: number): number {
  // A minute counter frees up when the minute turns; a concurrent slot when some call ends (soon, usually).
  return which === 'concurrency' ? 1000 : admissionWindow(now) + 60_000 - now;
}

/** The limiter on Redis: one Lua script checks and counts every key of a call atomically, across instances. */
export class RedisAdmissionStore implements AdmissionStore, OnModuleDestroy {
  private readonly redis: Redis;
  constructor(redisUrl: string, private readonly prefix: string) {
    this.redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2000 });
    this.redis.on('error', () => undefined);
    void this.redis.connect().catch(() => undefined);
    this.redis.defineCommand('soAdmit', { lua: ADMIT });
  }

  private k(key: string, part: string, win?: number): string {
    return `${this.prefix}:adm:{${key}}:${part}${win === undefined ? '' : `:${win}`}`;
  }

  async tryAdmit(checks: AdmissionCheck[], tokens: number, leaseId: string, leaseMs: number): Promise<AdmitResult> {
    const now = Date.now();
    const win = admissionWindow(now);
    const keys = checks.flatMap((c) => [this.k(c.key, 'conc'), this.k(c.key, 'rpm', win), this.k(c.key, 'tpm', win)]);
    const args = [now, leaseId, now + leaseMs, tokens, 120_000, ...checks.flatMap((c) => [c.limits.concurrency ?? 0, c.limits.rpm ?? 0, c.limits.tpm ?? 0])];
    const [ok, i, w] = (await (this.redis as unknown as { soAdmit(n: number, ...a: unknown[]): Promise<number[]> }).soAdmit(keys.length, ...keys, ...args)) ?? [1, 0, 0];
    if (ok === 1) return { ok: true };
    const which = WHICH[w - 1];
    return { ok: false, block: { index: i - 1, which }, retryAfterMs: retryAfter(which, now) };
  }

  async release(keys: string[], leaseId: string): Promise<void> {
    if (keys.length) await this.redis.pipeline(keys.map((k) => ['zrem', this.k(k, 'conc'), leaseId])).exec();
  }

  async activeAccounts(keyId: string, accountId: string): Promise<number> {
    const set = this.k(keyId, 'accounts');
    const now = Date.now();
    const r = await this.redis.multi().zadd(set, now, accountId).zremrangebyscore(set, '-inf', now - 60_000).zcard(set).pexpire(set, 120_000).exec();
    return Number(r?.[2]?.[1] ?? 1);
  }

  async correct(key: string, used: { requests?: number; tokens?: number }): Promise<void> {
    const win = admissionWindow(Date.now());
    const raise = async (k: string, v: number | undefined) => {
      if (v === undefined) return;
      const cur = Number((await this.redis.get(k)) ?? 0);
      if (v > cur) await this.redis.multi().incrby(k, v - cur).pexpire(k, 120_000).exec();
    };
    await raise(this.k(key, 'rpm', win), used.requests);
    await raise(this.k(key, 'tpm', win), used.tokens);
  }

  async state(keys: string[]) {
    const now = Date.now();
    const win = admissionWindow(now);
    return Promise.all(
      keys.map(async (key) => ({
        key,
        in_flight: await this.redis.zcount(this.k(key, 'conc'), now, '+inf'),
        requests: Number((await this.redis.get(this.k(key, 'rpm', win))) ?? 0),
        tokens: Number((await this.redis.get(this.k(key, 'tpm', win))) ?? 0),
      })),
    );
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }
}

/** The limiter on Postgres (no Redis): the keys' advisory locks make a check-and-count atomic across instances. */
export class PgAdmissionStore implements AdmissionStore {
  private readonly log = new Logger('Admission');
  constructor(private readonly ds: DataSource) {}

  async tryAdmit(checks: AdmissionCheck[], tokens: number, leaseId: string, leaseMs: number): Promise<AdmitResult> {
    const now = Date.now();
    const win = new Date(admissionWindow(now));
    const keys = checks.map((c) => c.key);
    return this.ds.transaction(async (m) => {
      for (const k of [...keys].sort()) await m.query(`SELECT pg_advisory_xact_lock(hashtext('so-admission:' || $1))`, [k]);
      await m.query('DELETE FROM upstream_admission_leases WHERE key = ANY($1) AND expires_at < now()', [keys]);
      await m.query('DELETE FROM upstream_admission_windows WHERE key = ANY($1) AND window_start < $2', [keys, new Date(win.getTime() - 60_000)]);
      const leases: Array<{ key: string; n: number }> = await m.query('SELECT key, count(*)::int AS n FROM upstream_admission_leases WHERE key = ANY($1) GROUP BY key', [keys]);
      const windows: Array<{ key: string; requests: number; tokens: string }> = await m.query('SELECT key, requests, tokens FROM upstream_admission_windows WHERE key = ANY($1) AND window_start = $2', [keys, win]);
      const states = checks.map((c) => {
        const w = windows.find((x) => x.key === c.key);
        return { limits: c.limits, inFlight: leases.find((x) => x.key === c.key)?.n ?? 0, requests: w?.requests ?? 0, tokens: Number(w?.tokens ?? 0) };
      });
      const block = admissionBlock(states, tokens);
      if (block) return { ok: false as const, block, retryAfterMs: retryAfter(block.which, now) };
      for (const c of checks) {
        if (c.limits.concurrency) await m.query('INSERT INTO upstream_admission_leases (lease_id, key, expires_at) VALUES ($1, $2, $3)', [leaseId, c.key, new Date(now + leaseMs)]);
        await m.query(
          `INSERT INTO upstream_admission_windows (key, window_start, requests, tokens) VALUES ($1, $2, 1, $3)
           ON CONFLICT (key, window_start) DO UPDATE SET requests = upstream_admission_windows.requests + 1, tokens = upstream_admission_windows.tokens + EXCLUDED.tokens`,
          [c.key, win, tokens],
        );
      }
      return { ok: true as const };
    });
  }

  async release(keys: string[], leaseId: string): Promise<void> {
    if (keys.length) await this.ds.query('DELETE FROM upstream_admission_leases WHERE lease_id = $1', [leaseId]);
  }

  async activeAccounts(keyId: string, accountId: string): Promise<number> {
    const win = new Date(admissionWindow(Date.now()));
    const [r]: Array<{ n: number }> = await this.ds.query(
      `SELECT count(DISTINCT key)::int AS n FROM upstream_admission_windows WHERE key LIKE $1 AND key <> $2 AND window_start >= $3`,
      [`${keyId}:account:%`, `${keyId}:account:${accountId}`, new Date(win.getTime() - 60_000)],
    );
    return (r?.n ?? 0) + 1;
  }

  async correct(key: string, used: { requests?: number; tokens?: number }): Promise<void> {
    const win = new Date(admissionWindow(Date.now()));
    await this.ds.query(
      `INSERT INTO upstream_admission_windows (key, window_start, requests, tokens) VALUES ($1, $2, $3, $4)
       ON CONFLICT (key, window_start) DO UPDATE SET requests = GREATEST(upstream_admission_windows.requests, EXCLUDED.requests), tokens = GREATEST(upstream_admission_windows.tokens, EXCLUDED.tokens)`,
      [key, win, used.requests ?? 0, used.tokens ?? 0],
    ).catch((e) => this.log.warn(`could not correct the limiter: ${String(e)}`));
  }

  async state(keys: string[]) {
    const win = new Date(admissionWindow(Date.now()));
    const leases: Array<{ key: string; n: number }> = await this.ds.query('SELECT key, count(*)::int AS n FROM upstream_admission_leases WHERE key = ANY($1) AND expires_at >= now() GROUP BY key', [keys]);
    const windows: Array<{ key: string; requests: number; tokens: string }> = await this.ds.query('SELECT key, requests, tokens FROM upstream_admission_windows WHERE key = ANY($1) AND window_start = $2', [keys, win]);
    return keys.map((key) => {
      const w = windows.find((x) => x.key === key);
      return { key, in_flight: leases.find((x) => x.key === key)?.n ?? 0, requests: w?.requests ?? 0, tokens: Number(w?.tokens ?? 0) };
    });
  }
}
