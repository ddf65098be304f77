import { isSummarizerStyleOption, SUMMARIZER_STYLE_OPTIONS, type SummarizerStyleOption } from './summarizer';

/** Chance (0..1) that a chat request fails in each way; drawn from the seeded PRNG. Their sum must be <= 1. */
export interface FaultProbabilities {
  rate429: number;
  rate500: number;
  cut: number;
  hang: number;
}

export interface KimiSimOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Upper bound on every model's window (the smaller of the two applies). */
  contextWindow: number;
  /** Natural reply length in tokens; `max_tokens` caps it, header `x-sim-reply-tokens` overrides it. */
  replyTokens: number;
  firstTokenMs: number;
  /** 0 = no pacing. */
  tokensPerSecond: number;
  concurrencyPerKey: number;
  /** Requests per key per minute (0: unlimited); every chat answer then carries x-ratelimit-*-requests headers. */
  rpmPerKey: number;
  retryAfterSeconds: number;
  faultProbabilities: FaultProbabilities;
  seed: number;
  /** Lifetime of a prefix-cache write for requests without `cache_ttl` (billed as a 5m write). */
  cacheTtlMs: number;
  cacheEntriesPerKey: number;
  hangMs: number;
  requestLogSize: number;
  /** How outlines are written; `mix` picks a style per request. Header `x-sim-summarizer-style` wins. */
  summarizerStyle: SummarizerStyleOption;
  /** Share (0..1) of facts the `lossy` style forgets. */
  lossyDropShare: number;
  /** Token counts are o200k scaled per message by a factor in [1 - skew, 1 + skew]; 0 = plain o200k. */
  tokenizerSkew: number;
}

/** What `configure` and `POST /sim/config` accept: any subset, fault probabilities included. */
export type KimiSimOptionsPatch = Partial<Omit<KimiSimOptions, 'faultProbabilities'>> & {
  faultProbabilities?: Partial<FaultProbabilities>;
};

export const DEFAULT_OPTIONS: KimiSimOptions = {
  host: '127.0.0.1',
  port: 0,
  contextWindow: 262144,
  replyTokens: 48,
  firstTokenMs: 0,
  tokensPerSecond: 0,
  concurrencyPerKey: 100,
  rpmPerKey: 0,
  retryAfterSeconds: 1,
  faultProbabilities: { rate429: 0, rate500: 0, cut: 0, hang: 0 },
  seed: 0,
  cacheTtlMs: 5 * 60 * 1000,
  cacheEntriesPerKey: 256,
  hangMs: 120_000,
  requestLogSize: 1000,
  summarizerStyle: 'mix',
  lossyDropShare: 0.3,
  tokenizerSkew: 0.15,
};

/** Names the offending option (`path`) so callers can map it to an env variable or a 400 answer. */
export class InvalidOptionError extends Error {
  constructor(readonly path: string, readonly requirement: string) {
    super(`${path} ${requirement}`);
  }
}

type Rule = (v: unknown) => boolean;
const isInt = (min: number, max = Number.MAX_SAFE_INTEGER): Rule => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isNumber = (min: number, max = Number.MAX_VALUE): Rule => (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;

const RULES: Record<Exclude<keyof KimiSimOptions, 'faultProbabilities'>, [Rule, string]> = {
  host: [(v) => typeof v === 'string' && v.length > 0, 'must be a non-empty string'],
  port: [isInt(0, 65535), 'must be an integer from 0 to 65535'],
  contextWindow: [isInt(1), 'must be a positive integer'],
  replyTokens: [isInt(1), 'must be a positive integer'],
  firstTokenMs: [isNumber(0), 'must be a number >= 0'],
  tokensPerSecond: [isNumber(0), 'must be a number >= 0'],
  concurrencyPerKey: [isInt(1), 'must be a positive integer'],
  rpmPerKey: [isInt(0), 'must be a non-negative integer'],
  retryAfterSeconds: [isInt(0), 'must be an integer >= 0'],
  seed: [isInt(Number.MIN_SAFE_INTEGER), 'must be an integer'],
  cacheTtlMs: [isNumber(0), 'must be a number >= 0'],
  cacheEntriesPerKey: [isInt(1), 'must be a positive integer'],
  hangMs: [isNumber(0), 'must be a number >= 0'],
  requestLogSize: [isInt(1), 'must be a positive integer'],
  summarizerStyle: [isSummarizerStyleOption, `must be one of ${SUMMARIZER_STYLE_OPTIONS.join(', ')}`],
  lossyDropShare: [isNumber(0, 1), 'must be a number from 0 to 1'],
  tokenizerSkew: [isNumber(0, 0.9), 'must be a number from 0 to 0.9'],
};
const FAULT_KEYS: (keyof FaultProbabilities)[] = ['rate429', 'rate500', 'cut', 'hang'];

/** Returns `base` with `patch` applied, or throws InvalidOptionError; unknown names are errors, not ignored. */
export function mergeOptions(base: KimiSimOptions, patch: unknown): KimiSimOptions {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const next: KimiSimOptions = { ...base, faultProbabilities: { ...base.faultProbabilities } };
  for (const [name, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (name === 'faultProbabilities') {
      mergeFaultProbabilities(next.faultProbabilities, value);
      continue;
    }
    const rule = RULES[name as keyof typeof RULES];
    if (!rule) throw new InvalidOptionError(name, 'is not a kimi-sim option');
    if (!rule[0](value)) throw new InvalidOptionError(name, rule[1]);
    (next as unknown as Record<string, unknown>)[name] = value;
  }
  const sum = FAULT_KEYS.reduce((s, k) => s + next.faultProbabilities[k], 0);
  if (sum > 1 + 1e-9) throw new InvalidOptionError('faultProbabilities', 'must add up to at most 1');
  return next;
}

function mergeFaultProbabilities(target: FaultProbabilities, value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError('faultProbabilities', 'must be an object');
  }
  for (const [name, p] of Object.entries(value)) {
    if (!FAULT_KEYS.includes(name as keyof FaultProbabilities)) {
      throw new InvalidOptionError(`faultProbabilities.${name}`, 'is not a fault kind (rate429, rate500, cut, hang)');
    }
    if (!isNumber(0, 1)(p)) throw new InvalidOptionError(`faultProbabilities.${name}`, 'must be a number from 0 to 1');
    target[name as keyof FaultProbabilities] = p as number;
  }
}

const ENV_VARIABLES: { env: string; path: string; numeric: boolean }[] = [
  { env: 'SIM_HOST', path: 'host', numeric: false },
  { env: 'SIM_PORT', path: 'port', numeric: true },
  { env: 'SIM_FIRST_TOKEN_MS', path: 'firstTokenMs', numeric: true },
  { env: 'SIM_TOKENS_PER_SECOND', path: 'tokensPerSecond', numeric: true },
  { env: 'SIM_REPLY_TOKENS', path: 'replyTokens', numeric: true },
  { env: 'SIM_CONCURRENCY_PER_KEY', path: 'concurrencyPerKey', numeric: true },
  { env: 'SIM_RPM_PER_KEY', path: 'rpmPerKey', numeric: true },
  { env: 'SIM_CONTEXT_WINDOW', path: 'contextWindow', numeric: true },
  { env: 'SIM_FAULT_429', path: 'faultProbabilities.rate429', numeric: true },
  { env: 'SIM_FAULT_500', path: 'faultProbabilities.rate500', numeric: true },
  { env: 'SIM_FAULT_CUT', path: 'faultProbabilities.cut', numeric: true },
  { env: 'SIM_FAULT_HANG', path: 'faultProbabilities.hang', numeric: true },
  { env: 'SIM_SEED', path: 'seed', numeric: true },
  { env: 'SIM_SUMMARIZER_STYLE', path: 'summarizerStyle', numeric: false },
  { env: 'SIM_LOSSY_DROP_SHARE', path: 'lossyDropShare', numeric: true },
  { env: 'SIM_TOKENIZER_SKEW', path: 'tokenizerSkew', numeric: true },
  { env: 'SIM_CACHE_TTL_MS', path: 'cacheTtlMs', numeric: true },
];

/** Standalone defaults differ from the embedded ones only in the port. */
export const STANDALONE_PORT = 3100;

/** Reads SIM_* variables; throws an Error naming the variable when one is invalid. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): KimiSimOptions {
  let options: KimiSimOptions = { ...DEFAULT_OPTIONS, port: STANDALONE_PORT };
  for (const { env: name, path, numeric } of ENV_VARIABLES) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const value = numeric ? Number(raw.trim()) : raw.trim();
    const [head, tail] = path.split('.');
    const patch = tail ? { [head]: { [tail]: value } } : { [head]: value };
    try {
      options = mergeOptions(options, patch);
    } catch (err) {
      throw new Error(`${name}=${JSON.stringify(raw)} is invalid: ${(err as Error).message}`);
    }
  }
  return options;
}
