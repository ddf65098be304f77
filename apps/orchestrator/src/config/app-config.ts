import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { CACHE_TTLS, CacheTtl, DEFAULT_MODEL_ID, ModelInfo, ModelPricesError, parseModelPrices } from '@so/llm';

export type Role = 'all' | 'api' | 'worker';

/** Everything the service reads from the environment, parsed and validated once at start. */
export interface AppConfig {
  port: number;
  host: string;
  role: Role;
  /**
   * API_WORKERS: processes serving the API on one port (node:cluster). Default: the number of cores when
   * DATABASE_URL and REDIS_URL are set (the state processes must share lives there), else 1.
   */
  apiWorkers: number;
  databaseUrl: string | null;
  dataDir: string;
  dbPoolSize: number;
  /** Hot-path statements as named prepared statements (DB_PREPARED_STATEMENTS; never with the embedded PGlite). */
  dbPreparedStatements: boolean;
  redisUrl: string | null;
  queuePrefix: string;
  llmBaseUrl: string | null;
  llmApiKey: string | null;
  llmModel: string;
  /** Sent upstream as `cache_ttl` on every chat request, and the TTL cache writes are priced at. */
  cacheTtl: CacheTtl;
  /** Model prices from MODEL_PRICES_FILE, then MODEL_PRICES (a later entry replaces an earlier one with the same id). */
  modelPrices: ModelInfo[];
  summarizerModel: string | null;
  /** How the summarizer is asked for an outline: JSON mode, markdown, or JSON where the model is known to support it. */
  summarizerFormat: 'json' | 'markdown' | 'auto';
  /** What the summarizer reads: the session's window as cached upstream plus an instruction, or a transcript of the range. */
  summarizerContext: 'window' | 'transcript';
  /** After a compaction the window sits at most at this share of the trigger (COMPACT_TARGET_SHARE). */
  compactTargetShare: number;
  /** With a cold upstream cache, the rolling policy compacts early above this share of the trigger (COMPACT_EARLY_SHARE). */
  compactEarlyShare: number;
  /** Share of a model's context kept free because local token counts are estimates (TOKEN_ESTIMATE_MARGIN). */
  tokenEstimateMargin: number;
  /** When set, GET /metrics requires it as a bearer token (METRICS_TOKEN). */
  metricsToken: string | null;
  /** Acquirers one account may have waiting for a pool slot at once, across instances (POOL_MAX_WAITERS). */
  poolMaxWaiters: number;
  /** Browser origins allowed to call the API (CORS_ORIGINS, comma-separated, or *); empty: no CORS headers. */
  corsOrigins: string[];
  /** On SIGTERM, how long requests in flight (turns, streams) may run before they are aborted (SHUTDOWN_GRACE_MS). */
  shutdownGraceMs: number;
  /**
   * How long an idle keep-alive connection stays open (HTTP_KEEP_ALIVE_MS). Longer than the idle timeout of
   * what sits in front (load balancers: 60 s), so the server never closes a connection a client is reusing.
   */
  httpKeepAliveMs: number;
  /** Requests per minute per account on /v1/* unless the account says otherwise (RATE_LIMIT_PER_MINUTE; 0: unlimited). */
  rateLimitPerMinute: number;
  /** Upstream admission per account unless the account says otherwise (UPSTREAM_ACCOUNT_CONCURRENCY / _RPM / _TPM; 0: unlimited). */
  upstreamAccountLimits: { concurrency: number; rpm: number; tpm: number };
  /** Upstream admission per upstream key, shared fairly by the accounts using it (UPSTREAM_KEY_CONCURRENCY / _RPM / _TPM; 0: unlimited). */
  upstreamKeyLimits: { concurrency: number; rpm: number; tpm: number };
  /** How long a coordinator child waits for upstream admission before failing (UPSTREAM_ADMISSION_WAIT_MS). */
  upstreamAdmissionWaitMs: number;
  /** How long a share token works when the owner does not say (SHARE_TTL_S). */
  shareTtlS: number;
  summarizerTimeoutMs: number;
  summarizerMaxAttempts: number;
  contextWindow: number;
  sessionLimit: number;
  adminApiKey: string | null;
  encryptionKey: string | null;
  /** Previous ENCRYPTION_KEY values: they still open what they sealed (ENCRYPTION_KEYS_OLD, comma-separated). */
  encryptionKeysOld: string[];
  upstreamTimeoutMs: number;
  upstreamStreamIdleMs: number;
  upstreamMaxAttempts: number;
  upstreamRetryBaseMs: number;
  upstreamMaxRetryAfterMs: number;
  defaultMaxTokens: number;
  /** The turn lock is a lease of this length, renewed by the live turn (a dead holder's lock lapses this soon). */
  turnLockMs: number;
  /** How long a turn (or a compaction) whose upstream call succeeded keeps trying to commit through a database outage (TURN_COMMIT_RETRY_MS). */
  turnCommitRetryMs: number;
  /** A Responses request on a conversation busy with another turn waits this long for it, then 409 conversation_locked (0: no waiting). */
  responsesLockWaitMs: number;
  /** A streamed reply may take at most this long in all (STREAM_MAX_MS). */
  streamMaxMs: number;
  poolIdleTtlMs: number;
  poolLeaseTtlMs: number;
  poolReapIntervalMs: number;
  workerConcurrency: number;
  /** Workers enqueue the task jobs Postgres says are due (children, final answers) at start and this often (TASK_SWEEP_MS). */
  taskSweepMs: number;
  /** The master's merged outlines are folded level by level once they pass this share of its usable window (MERGE_BUDGET_SHARE). */
  mergeBudgetShare: number;
  /** Share of an account's pool that tasks without max_parallel leave to interactive sessions (TASK_POOL_RESERVE_SHARE). */
  taskPoolReserveShare: number;
  /** Bull: lock on an active job (renewed every half of it); a dead worker's jobs come back after about lock + 2 x stalled interval. */
  queueLockMs: number;
  /** Bull: how often workers look for jobs whose lock expired. */
  queueStalledMs: number;
  windowCacheMb: number;
  logLevel: string;
  /** Embedded mode only: kimi-sim options when no upstream is configured. */
  simPort: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`Invalid configuration: ${variable} ${message}`);
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | null {
  const v = env[name];
  return v === undefined || v.trim() === '' ? null : v.trim();
}

/** `*`, or origins such as https://app.example.com (scheme, host and optional port; no path). */
function corsOrigins(env: Env): string[] {
  const raw = str(env, 'CORS_ORIGINS');
  if (raw === null) return [];
  const list = raw.split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const o of list) {
    if (o === '*') continue;
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new ConfigError('CORS_ORIGINS', `"${o}" is not an origin (like https://app.example.com)`);
    }
    if (!['http:', 'https:'].includes(u.protocol) || u.origin !== o) throw new ConfigError('CORS_ORIGINS', `"${o}" is not an origin: scheme://host[:port], no path or trailing slash`);
  }
  if (list.includes('*') && list.length > 1) throw new ConfigError('CORS_ORIGINS', '* allows every origin; list origins or *, not both');
  return list;
}

/** A share token lives at most 90 days. */
export const MAX_SHARE_TTL_S = 90 * 86_400;

function bool(env: Env, name: string, def: boolean): boolean {
  const v = str(env, name);
  if (v === null) return def;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(name, `must be true or false, got "${v}"`);
}

function int(env: Env, name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = str(env, name);
  if (v === null) return def;
  if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `must be an integer, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function url(env: Env, name: string, protocols: string[]): string | null {
  const v = str(env, name);
  if (v === null) return null;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(name, 'must be a URL');
  }
  if (!protocols.includes(u.protocol)) throw new ConfigError(name, `must use ${protocols.join(' or ')}, got ${u.protocol}`);
  return v;
}

/** MODEL_PRICES_FILE (a JSON file), then MODEL_PRICES (the same JSON inline); entries override the built-ins. */
function modelPrices(env: Env): ModelInfo[] {
  const parse = (variable: string, text: string): ModelInfo[] => {
    try {
      return parseModelPrices(text);
    } catch (err) {
      if (err instanceof ModelPricesError) throw new ConfigError(variable, err.message);
      throw err;
    }
  };
  const byId = new Map<string, ModelInfo>();
  const file = str(env, 'MODEL_PRICES_FILE');
  if (file !== null) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError('MODEL_PRICES_FILE', `could not be read (${file}): ${err instanceof Error ? err.message : String(err)}`);
    }
    for (const m of parse('MODEL_PRICES_FILE', text)) byId.set(m.id, m);
  }
  const inline = str(env, 'MODEL_PRICES');
  if (inline !== null) for (const m of parse('MODEL_PRICES', inline)) byId.set(m.id, m);
  return [...byId.values()];
}

function summarizerFormat(env: Env): 'json' | 'markdown' | 'auto' {
  const v = (str(env, 'SUMMARIZER_FORMAT') ?? 'auto') as 'json' | 'markdown' | 'auto';
  if (!['json', 'markdown', 'auto'].includes(v)) throw new ConfigError('SUMMARIZER_FORMAT', `must be json, markdown or auto, got "${v}"`);
  return v;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const v = (str(env, name) ?? fallback) as T;
  if (!values.includes(v)) throw new ConfigError(name, `must be ${values.join(' or ')}, got "${v}"`);
  return v;
}

/** A share in (0, 1]. */
function share(env: Env, name: string, fallback: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || v > 1) throw new ConfigError(name, `must be a number above 0 and at most 1, got "${raw}"`);
  return v;
}

/** A share in [0, 1). */
function reserveShare(env: Env, name: string, fallback: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0 || v >= 1) throw new ConfigError(name, `must be a number from 0 up to (not including) 1, got "${raw}"`);
  return v;
}

/**
 * How many processes serve the API. Several processes only share what lives in Postgres and Redis (pool
 * wake-ups, key-cache invalidation, rate limits, the queue); without both, API_WORKERS above 1 is refused.
 * ROLE=worker serves no API: always 1.
 */
function apiWorkerCount(env: Env, role: Role, shared: boolean): number {
  if (role === 'worker') return 1;
  const explicit = str(env, 'API_WORKERS');
  if (explicit === null) return shared ? Math.max(1, availableParallelism()) : 1;
  const n = int(env, 'API_WORKERS', 1, 1, 256);
  if (n > 1 && !shared) {
    throw new ConfigError('API_WORKERS', `above 1 needs DATABASE_URL and REDIS_URL: the processes share sessions, pool wake-ups, rate limits and the queue through them (got ${n})`);
  }
  return n;
}

export function loadConfig(env: Env = process.env): AppConfig {
  const role = (str(env, 'ROLE') ?? 'all') as Role;
  if (!['all', 'api', 'worker'].includes(role)) throw new ConfigError('ROLE', `must be all, api or worker, got "${role}"`);
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const redisUrl = url(env, 'REDIS_URL', ['redis:', 'rediss:']);
  const llmBaseUrl = url(env, 'LLM_BASE_URL', ['http:', 'https:']);
  const llmApiKey = str(env, 'LLM_API_KEY');
  if ((llmBaseUrl === null) !== (llmApiKey === null)) {
    throw new ConfigError(llmBaseUrl === null ? 'LLM_BASE_URL' : 'LLM_API_KEY', 'must be set together with ' + (llmBaseUrl === null ? 'LLM_API_KEY' : 'LLM_BASE_URL'));
  }
  if (role !== 'all' && (databaseUrl === null || redisUrl === null)) {
    throw new ConfigError(databaseUrl === null ? 'DATABASE_URL' : 'REDIS_URL', `is required with ROLE=${role}: api and worker instances share one Postgres and one Redis`);
  }
  const apiWorkers = apiWorkerCount(env, role, databaseUrl !== null && redisUrl !== null);
  const encryptionKey = str(env, 'ENCRYPTION_KEY');
  if (encryptionKey !== null && encryptionKey.length < 16) throw new ConfigError('ENCRYPTION_KEY', 'must be at least 16 characters');
  if (databaseUrl !== null && encryptionKey === null) {
    throw new ConfigError('ENCRYPTION_KEY', 'is required when DATABASE_URL is set (it encrypts upstream keys at rest)');
  }
  const encryptionKeysOld = (str(env, 'ENCRYPTION_KEYS_OLD') ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (encryptionKeysOld.some((k) => k.length < 16)) throw new ConfigError('ENCRYPTION_KEYS_OLD', 'every key must be at least 16 characters (comma-separated)');
  const adminApiKey = str(env, 'ADMIN_API_KEY');
  if (adminApiKey !== null && adminApiKey.length < 16) throw new ConfigError('ADMIN_API_KEY', 'must be at least 16 characters');
  const contextWindow = int(env, 'CONTEXT_WINDOW', 262144, 8192, 4_000_000);
  const logLevel = str(env, 'LOG_LEVEL') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be a pino level, got "${logLevel}"`);
  const upstreamTimeoutMs = int(env, 'UPSTREAM_TIMEOUT_MS', 120_000, 100);
  const cacheTtl = (str(env, 'CACHE_TTL') ?? '5m') as CacheTtl;
  if (!CACHE_TTLS.includes(cacheTtl)) throw new ConfigError('CACHE_TTL', `must be ${CACHE_TTLS.join(' or ')}, got "${cacheTtl}"`);
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    // The embedded default is a development setup: loopback only, unless HOST says otherwise.
    host: str(env, 'HOST') ?? (databaseUrl === null ? '127.0.0.1' : '0.0.0.0'),
    role,
    apiWorkers,
    databaseUrl,
    dataDir: str(env, 'DATA_DIR') ?? './.data',
    dbPoolSize: int(env, 'DB_POOL_SIZE', 10, 1, 200),
    dbPreparedStatements: bool(env, 'DB_PREPARED_STATEMENTS', true),
    redisUrl,
    queuePrefix: str(env, 'QUEUE_PREFIX') ?? 'so',
    llmBaseUrl,
    llmApiKey,
    llmModel: str(env, 'LLM_MODEL') ?? DEFAULT_MODEL_ID,
    cacheTtl,
    modelPrices: modelPrices(env),
    summarizerModel: str(env, 'SUMMARIZER_MODEL'),
    summarizerFormat: summarizerFormat(env),
    summarizerContext: oneOf(env, 'SUMMARIZER_CONTEXT', ['window', 'transcript'] as const, 'window'),
    compactTargetShare: share(env, 'COMPACT_TARGET_SHARE', 0.5),
    compactEarlyShare: share(env, 'COMPACT_EARLY_SHARE', 0.6),
    tokenEstimateMargin: share(env, 'TOKEN_ESTIMATE_MARGIN', 0.08),
    metricsToken: str(env, 'METRICS_TOKEN'),
    poolMaxWaiters: int(env, 'POOL_MAX_WAITERS', 50, 1, 100_000),
    corsOrigins: corsOrigins(env),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 25_000, 0, 3_600_000),
    httpKeepAliveMs: int(env, 'HTTP_KEEP_ALIVE_MS', 65_000, 1000, 3_600_000),
    rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 6000, 0, 1_000_000),
    upstreamAccountLimits: { concurrency: int(env, 'UPSTREAM_ACCOUNT_CONCURRENCY', 0, 0, 1_000_000), rpm: int(env, 'UPSTREAM_ACCOUNT_RPM', 0, 0, 100_000_000), tpm: int(env, 'UPSTREAM_ACCOUNT_TPM', 0, 0, 1e12) },
    upstreamKeyLimits: { concurrency: int(env, 'UPSTREAM_KEY_CONCURRENCY', 0, 0, 1_000_000), rpm: int(env, 'UPSTREAM_KEY_RPM', 0, 0, 100_000_000), tpm: int(env, 'UPSTREAM_KEY_TPM', 0, 0, 1e12) },
    upstreamAdmissionWaitMs: int(env, 'UPSTREAM_ADMISSION_WAIT_MS', 120_000, 0, 3_600_000),
    shareTtlS: int(env, 'SHARE_TTL_S', 7 * 86_400, 60, MAX_SHARE_TTL_S),
    // Housekeeping must not hold a user's turn for long: a shorter deadline and fewer attempts, then the fallback.
    summarizerTimeoutMs: int(env, 'SUMMARIZER_TIMEOUT_MS', Math.min(60_000, upstreamTimeoutMs), 100),
    summarizerMaxAttempts: int(env, 'SUMMARIZER_MAX_ATTEMPTS', 2, 1, 20),
    contextWindow,
    sessionLimit: int(env, 'SESSION_LIMIT', 100, 1, 100_000),
    adminApiKey,
    encryptionKey,
    encryptionKeysOld,
    upstreamTimeoutMs,
    upstreamStreamIdleMs: int(env, 'UPSTREAM_STREAM_IDLE_MS', 60_000, 100),
    upstreamMaxAttempts: int(env, 'UPSTREAM_MAX_ATTEMPTS', 4, 1, 20),
    upstreamRetryBaseMs: int(env, 'UPSTREAM_RETRY_BASE_MS', 500, 0),
    upstreamMaxRetryAfterMs: int(env, 'UPSTREAM_MAX_RETRY_AFTER_MS', 30_000, 0),
    defaultMaxTokens: int(env, 'DEFAULT_MAX_TOKENS', 4096, 1, contextWindow),
    turnLockMs: int(env, 'TURN_LOCK_MS', 15_000, 1000),
    turnCommitRetryMs: int(env, 'TURN_COMMIT_RETRY_MS', 10_000, 0, 300_000),
    responsesLockWaitMs: int(env, 'RESPONSES_LOCK_WAIT_MS', 60_000, 0, 600_000),
    streamMaxMs: int(env, 'STREAM_MAX_MS', 600_000, 1000),
    poolIdleTtlMs: int(env, 'POOL_IDLE_TTL_MS', 600_000, 1000),
    poolLeaseTtlMs: int(env, 'POOL_LEASE_TTL_MS', 30_000, 1000),
    poolReapIntervalMs: int(env, 'POOL_REAP_INTERVAL_MS', 10_000, 100),
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 200, 1, 10_000),
    taskSweepMs: int(env, 'TASK_SWEEP_MS', 30_000, 100),
    mergeBudgetShare: share(env, 'MERGE_BUDGET_SHARE', 0.5),
    taskPoolReserveShare: reserveShare(env, 'TASK_POOL_RESERVE_SHARE', 0.2),
    queueLockMs: int(env, 'QUEUE_LOCK_MS', 30_000, 1000),
    queueStalledMs: int(env, 'QUEUE_STALLED_MS', 30_000, 100),
    windowCacheMb: int(env, 'WINDOW_CACHE_MB', 64, 0, 100_000),
    logLevel,
    simPort: int(env, 'SIM_PORT', 0, 0, 65535),
  };
}

export const APP_CONFIG = Symbol('APP_CONFIG');
