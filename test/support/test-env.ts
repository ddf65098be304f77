import Redis from 'ioredis';

// What every test-started service shares: keys, the Redis URL, and small HTTP and cleanup helpers.
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_KEY = 'test-admin-key-0123456789';
export const ENCRYPTION_KEY = 'test-encryption-key-0123456789';

export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** JSON request against `baseUrl` with a bearer key; the body is parsed when it is JSON. */
export async function http<T = any>(baseUrl: string, key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* SSE or plain text */
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** Deletes every Redis key under `prefix:` (a test run's queue prefix). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch {
    /* Redis not used, or nothing to clean */
  } finally {
    redis.disconnect();
  }
}
