import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './app-config';

const entry = (miss: number) => ({ context_window: 262144, input_cache_miss: miss, input_cache_hit: miss / 10, output: miss * 4 });

/** The ConfigError thrown by loadConfig(env), or fails. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig: model, cache TTL and prices', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'so-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('listens on loopback in the embedded default and on every interface with DATABASE_URL, unless HOST says otherwise', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ DATABASE_URL: 'postgres://x@127.0.0.1/db', ENCRYPTION_KEY: '0123456789abcdef0123' }).host).toBe('0.0.0.0');
  });

  it('uses prepared statements unless DB_PREPARED_STATEMENTS is false, and refuses a value that is not a boolean', () => {
    expect(loadConfig({}).dbPreparedStatements).toBe(true);
    expect(loadConfig({ DB_PREPARED_STATEMENTS: 'false' }).dbPreparedStatements).toBe(false);
    expect(loadConfig({ DB_PREPARED_STATEMENTS: '0' }).dbPreparedStatements).toBe(false);
    expect(configError({ DB_PREPARED_STATEMENTS: 'off' }).message).toMatch(/DB_PREPARED_STATEMENTS.*true or false/);
  });

  it('reads the compaction settings and refuses shares outside (0, 1]', () => {
    expect(loadConfig({})).toMatchObject({ summarizerFormat: 'auto', summarizerContext: 'window', compactTargetShare: 0.5, compactEarlyShare: 0.6, tokenEstimateMargin: 0.08, metricsToken: null });
    expect(loadConfig({ SUMMARIZER_FORMAT: 'json', SUMMARIZER_CONTEXT: 'transcript', COMPACT_TARGET_SHARE: '0.4' })).toMatchObject({ summarizerFormat: 'json', summarizerContext: 'transcript', compactTargetShare: 0.4 });
    expect(configError({ SUMMARIZER_FORMAT: 'yaml' }).message).toMatch(/SUMMARIZER_FORMAT/);
    expect(configError({ SUMMARIZER_CONTEXT: 'all' }).message).toMatch(/SUMMARIZER_CONTEXT/);
    expect(configError({ COMPACT_TARGET_SHARE: '1.5' }).message).toMatch(/COMPACT_TARGET_SHARE/);
    expect(configError({ TOKEN_ESTIMATE_MARGIN: '0' }).message).toMatch(/TOKEN_ESTIMATE_MARGIN/);
  });

  it('defaults to kimi-k2.6, a 5-minute cache TTL and no price overrides', () => {
    const c = loadConfig({});
    expect(c.llmModel).toBe('kimi-k2.6');
    expect(c.cacheTtl).toBe('5m');
    expect(c.modelPrices).toEqual([]);
  });

  it('reads LLM_MODEL and CACHE_TTL', () => {
    const c = loadConfig({ LLM_MODEL: 'kimi-k3', CACHE_TTL: '1h' });
    expect(c.llmModel).toBe('kimi-k3');
    expect(c.cacheTtl).toBe('1h');
  });

  it('rejects another CACHE_TTL, naming the variable', () => {
    const e = configError({ CACHE_TTL: '10m' });
    expect(e.variable).toBe('CACHE_TTL');
    expect(e.message).toMatch(/^Invalid configuration: CACHE_TTL must be 5m or 1h/);
  });

  it('reads prices from MODEL_PRICES_FILE, then MODEL_PRICES over it', () => {
    const file = join(dir, 'prices.json');
    writeFileSync(file, JSON.stringify({ 'kimi-k2.6': entry(1), 'kimi-file-only': entry(2) }));
    const c = loadConfig({ MODEL_PRICES_FILE: file, MODEL_PRICES: JSON.stringify({ 'kimi-k2.6': { ...entry(3), cache_write_1h: 7 } }) });
    const byId = Object.fromEntries(c.modelPrices.map((m) => [m.id, m]));
    expect(Object.keys(byId).sort()).toEqual(['kimi-file-only', 'kimi-k2.6']);
    expect(byId['kimi-k2.6']).toMatchObject({ inputCacheMissPerM: 3, outputPerM: 12, cacheWritePerM: { '5m': 3, '1h': 7 } });
    expect(byId['kimi-file-only']).toMatchObject({ inputCacheMissPerM: 2, cacheWritePerM: { '5m': 2, '1h': 4 } });
  });

  it('rejects an invalid MODEL_PRICES, naming the variable and the entry', () => {
    const e = configError({ MODEL_PRICES: JSON.stringify({ 'kimi-k2.6': { ...entry(1), output: 'cheap' } }) });
    expect(e.variable).toBe('MODEL_PRICES');
    expect(e.message).toMatch(/^Invalid configuration: MODEL_PRICES entry "kimi-k2.6": output must be a number/);
    expect(configError({ MODEL_PRICES: 'not json' }).message).toMatch(/MODEL_PRICES is not valid JSON/);
  });

  it('rejects an invalid or unreadable MODEL_PRICES_FILE, naming the variable', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"kimi-k2.6": {"context_window": 262144}}');
    const e = configError({ MODEL_PRICES_FILE: bad });
    expect(e.variable).toBe('MODEL_PRICES_FILE');
    expect(e.message).toMatch(/MODEL_PRICES_FILE entry "kimi-k2.6" is missing "input_cache_miss"/);
    const missing = configError({ MODEL_PRICES_FILE: join(dir, 'nope.json') });
    expect(missing.variable).toBe('MODEL_PRICES_FILE');
    expect(missing.message).toMatch(/MODEL_PRICES_FILE could not be read/);
  });
});

describe('loadConfig: hardening settings', () => {
  it('reads CORS_ORIGINS as exact origins or *, and refuses paths, other schemes and mixes', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example.com, http://localhost:5173' }).corsOrigins).toEqual(['https://a.example.com', 'http://localhost:5173']);
    expect(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(configError({ CORS_ORIGINS: 'https://a.example.com/app' }).message).toMatch(/CORS_ORIGINS/);
    expect(configError({ CORS_ORIGINS: 'ftp://a.example.com' }).message).toMatch(/CORS_ORIGINS/);
    expect(configError({ CORS_ORIGINS: '*,https://a.example.com' }).message).toMatch(/CORS_ORIGINS/);
  });

  it('reads the rate limit, share TTL, shutdown grace and old encryption keys with their bounds', () => {
    const c = loadConfig({});
    expect([c.rateLimitPerMinute, c.shareTtlS, c.shutdownGraceMs, c.encryptionKeysOld]).toEqual([6000, 604800, 25000, []]);
    expect(loadConfig({ ENCRYPTION_KEYS_OLD: 'old-key-number-one-0000, old-key-number-two-0000' }).encryptionKeysOld).toEqual(['old-key-number-one-0000', 'old-key-number-two-0000']);
    expect(configError({ ENCRYPTION_KEYS_OLD: 'short' }).message).toMatch(/ENCRYPTION_KEYS_OLD/);
    expect(configError({ SHARE_TTL_S: '10' }).message).toMatch(/SHARE_TTL_S/);
    expect(configError({ RATE_LIMIT_PER_MINUTE: '-1' }).message).toMatch(/RATE_LIMIT_PER_MINUTE/);
  });

  it('keeps idle connections open longer than a load balancer does (65 s), and refuses less than a second', () => {
    expect(loadConfig({}).httpKeepAliveMs).toBe(65_000);
    expect(loadConfig({ HTTP_KEEP_ALIVE_MS: '120000' }).httpKeepAliveMs).toBe(120_000);
    expect(configError({ HTTP_KEEP_ALIVE_MS: '10' }).message).toMatch(/HTTP_KEEP_ALIVE_MS/);
  });
});

describe('loadConfig: API_WORKERS', () => {
  const shared = { DATABASE_URL: 'postgres://x@127.0.0.1/db', REDIS_URL: 'redis://127.0.0.1:6379', ENCRYPTION_KEY: '0123456789abcdef0123' };

  it('serves the API from one process per core when Postgres and Redis are shared, from one otherwise', () => {
    expect(loadConfig(shared).apiWorkers).toBe(availableParallelism());
    expect(loadConfig({}).apiWorkers).toBe(1);
    expect(loadConfig({ DATABASE_URL: shared.DATABASE_URL, ENCRYPTION_KEY: shared.ENCRYPTION_KEY }).apiWorkers).toBe(1);
    expect(loadConfig({ ...shared, API_WORKERS: '3' }).apiWorkers).toBe(3);
    expect(loadConfig({ ...shared, ROLE: 'worker', API_WORKERS: '3' }).apiWorkers).toBe(1);
    expect(loadConfig({ API_WORKERS: '1' }).apiWorkers).toBe(1);
  });

  it('refuses several processes without the database and Redis they share, and values that are not counts', () => {
    expect(configError({ API_WORKERS: '2' })).toMatchObject({ variable: 'API_WORKERS' });
    expect(configError({ API_WORKERS: '2' }).message).toMatch(/DATABASE_URL and REDIS_URL/);
    expect(configError({ ...shared, API_WORKERS: '0' })).toMatchObject({ variable: 'API_WORKERS' });
    expect(configError({ ...shared, API_WORKERS: 'many' })).toMatchObject({ variable: 'API_WORKERS' });
  });
});
