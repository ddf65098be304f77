import { Logger, OnModuleDestroy } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import Redis from 'ioredis';

// One fixed window per key: the first hit sets its expiry; the reply is [hits, ms left].
const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {hits, ttl}
`;

/**
 * @nestjs/throttler's storage on Redis, so an account's limit holds across every instance that shares
 * the Redis. Without Redis the service uses throttler's in-memory storage (one process).
 */
export class RedisThrottlerStorage implements ThrottlerStorage, OnModuleDestroy {
  private readonly log = new Logger('RateLimit');
  private readonly redis: Redis;
  private lastWarning = 0;

  constructor(redisUrl: string, private readonly prefix: string) {
    this.redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 1000 });
    this.redis.on('error', () => undefined);
    void this.redis.connect().catch(() => undefined);
    this.redis.defineCommand('soRateIncrement', { numberOfKeys: 1, lua: INCREMENT });
  }

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    try {
      const [hits, pttl] = (await (this.redis as unknown as { soRateIncrement(k: string, ttl: number): Promise<[number, number]> }).soRateIncrement(`${this.prefix}:rl:${throttlerName}:${key}`, ttl)) ?? [0, ttl];
      const timeToExpire = Math.max(1, Math.ceil(pttl / 1000));
      return { totalHits: hits, timeToExpire, isBlocked: hits > limit, timeToBlockExpire: hits > limit ? timeToExpire : 0 };
    } catch (err) {
      // Redis away: requests pass rather than the whole API failing with it (the limit is a guard, not a gate).
      if (Date.now() - this.lastWarning > 60_000) {
        this.lastWarning = Date.now();
        this.log.warn(`rate limits not enforced while Redis does not answer: ${err instanceof Error ? err.message : String(err)}`);
      }
      return { totalHits: 0, timeToExpire: Math.ceil(ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }
}

/**
 * Without Redis (one process): the same fixed window per key as RedisThrottlerStorage, O(1) per request.
 * @nestjs/throttler's own in-memory storage keeps every hit's expiry and filters that list on each
 * request, up to the whole minute's hits for a busy account.
 */
export class MemoryThrottlerStorage implements ThrottlerStorage, OnModuleDestroy {
  private readonly windows = new Map<string, { hits: number; expiresAt: number }>();
  // Windows that ended are forgotten once a minute, so the map holds only the accounts seen lately.
  private readonly sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, w] of this.windows) if (w.expiresAt <= now) this.windows.delete(k);
  }, 60_000).unref();

  increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const k = `${throttlerName}:${key}`;
    const now = Date.now();
    let w = this.windows.get(k);
    if (!w || w.expiresAt <= now) {
      w = { hits: 0, expiresAt: now + ttl };
      this.windows.set(k, w);
    }
    w.hits++;
    const timeToExpire = Math.max(1, Math.ceil((w.expiresAt - now) / 1000));
    return Promise.resolve({ totalHits: w.hits, timeToExpire, isBlocked: w.hits > limit, timeToBlockExpire: w.hits > limit ? timeToExpire : 0 });
  }

  /** How many windows it holds (for tests). */
  get size(): number {
    return this.windows.size;
  }

  onModuleDestroy(): void {
    clearInterval(this.sweep);
  }
}
