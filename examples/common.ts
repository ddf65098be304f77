import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** What every example's `run()` takes. */
export interface ExampleOptions {
  /** The service's API base, e.g. http://localhost:3000/v1 */
  baseURL: string;
  apiKey: string;
  /** Optional: lets an example read /admin/* (the pool view). */
  adminKey?: string;
  /** A few seconds instead of the full run (fewer rounds, files, lines). */
  quick?: boolean;
  /** Where progress lines go (console.log when run from the command line). */
  log: (line: string) => void;
}

export interface KimiPrices {
  inputMiss: number;
  inputHit: number;
  output: number;
  /** Writing a prefix to the cache with the default 5-minute TTL (1x the miss price). */
  cacheWrite: number;
}

/** Kimi list prices, USD per 1M tokens, by model (the service's defaults; MODEL_PRICES can change its own). */
export const KIMI_PRICES_BY_MODEL: Record<string, KimiPrices> = {
  'kimi-k2.6': { inputMiss: 0.95, inputHit: 0.16, output: 4.0, cacheWrite: 0.95 },
  'kimi-k2.5': { inputMiss: 0.6, inputHit: 0.1, output: 3.0, cacheWrite: 0.6 },
  'kimi-k3': { inputMiss: 3.0, inputHit: 0.3, output: 15.0, cacheWrite: 3.0 },
  'kimi-k2-0905-preview': { inputMiss: 0.6, inputHit: 0.15, output: 2.5, cacheWrite: 0.6 },
};

/** The default model's prices (kimi-k2.6). */
export const KIMI_PRICES = KIMI_PRICES_BY_MODEL['kimi-k2.6'];

/** A model's list prices; unknown ids are priced like the default model, as the service does. */
export function kimiPrices(model: string): KimiPrices {
  return KIMI_PRICES_BY_MODEL[model] ?? KIMI_PRICES;
}

/**
 * Defaults for running an example against `npm start`: SO_BASE_URL (else http://localhost:3000/v1),
 * SO_API_KEY / ADMIN_API_KEY (else the embedded default's `<DATA_DIR>/secrets.json`, DATA_DIR default ./.data).
 */
export function defaultsFromEnv(env: NodeJS.ProcessEnv = process.env): { baseURL: string; apiKey: string; adminKey?: string } {
  const file = join(resolve(env.DATA_DIR ?? '.data'), 'secrets.json');
  let secrets: { dev_api_key?: string; admin_api_key?: string } = {};
  if (existsSync(file)) {
    try {
      secrets = JSON.parse(readFileSync(file, 'utf8')) as typeof secrets;
    } catch {
      /* unreadable: fall through to the error below */
    }
  }
  const apiKey = env.SO_API_KEY ?? secrets.dev_api_key;
  if (!apiKey) throw new Error(`No API key: set SO_API_KEY, or start the service once with \`npm start\` so that ${file} exists.`);
  return { baseURL: env.SO_BASE_URL ?? 'http://localhost:3000/v1', apiKey, adminKey: env.ADMIN_API_KEY ?? secrets.admin_api_key };
}

/** `--flag value` / `--flag=value` / `--flag` from argv. */
export function argValue(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[i + 1] : 'true';
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}

/** Runs an example from the command line: `node dist/examples/<name>.js [--quick] [...]`. */
export function runFromCli(run: (opts: ExampleOptions, argv: string[]) => Promise<unknown>): void {
  const argv = process.argv.slice(2);
  let opts: ExampleOptions;
  try {
    opts = { ...defaultsFromEnv(), quick: argValue(argv, 'quick') !== undefined || process.env.QUICK === '1', log: (line) => console.log(line) };
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  run(opts, argv).then(
    () => process.exit(0),
    (err: unknown) => {
      const e = err as { status?: number; message?: string; cause?: { code?: string } };
      if (e?.cause?.code === 'ECONNREFUSED' || /Connection error/.test(e?.message ?? '')) {
        console.error(`Cannot reach ${opts.baseURL}: is the service running (npm start)?`);
      } else {
        console.error(e?.status ? `HTTP ${e.status}: ${e.message}` : err);
      }
      process.exit(1);
    },
  );
}

/** GET on /admin/* with the admin key (the admin routes live beside /v1, not under it). */
export async function adminGet<T>(baseURL: string, adminKey: string, path: string): Promise<T> {
  const root = baseURL.replace(/\/+$/, '').replace(/\/v1$/, '');
  const res = await fetch(`${root}${path}`, { headers: { authorization: `Bearer ${adminKey}` } });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return (await res.json()) as T;
}

/** The account an API key belongs to, found through the admin API (keys are stored hashed; their prefix is shown). */
export async function accountIdForKey(baseURL: string, adminKey: string, apiKey: string): Promise<{ id: string; name: string; session_limit: number } | null> {
  const hits: Array<{ id: string; name: string; session_limit: number }> = [];
  let after: string | undefined;
  for (;;) {
    const page = await adminGet<{ data: Array<{ id: string; name: string; session_limit: number; api_key_prefix: string }>; has_more: boolean; last_id: string | null }>(
      baseURL,
      adminKey,
      `/admin/accounts?limit=100${after ? `&after=${after}` : ''}`,
    );
    hits.push(...page.data.filter((a) => a.api_key_prefix && apiKey.startsWith(a.api_key_prefix)));
    // Two accounts with the same key prefix cannot be told apart: better no pool view than a wrong one.
    if (!page.has_more || !page.last_id) return hits.length === 1 ? { id: hits[0].id, name: hits[0].name, session_limit: hits[0].session_limit } : null;
    after = page.last_id;
  }
}

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const usd = (n: number): string => `$${n.toFixed(4)}`;
export const pct = (part: number, whole: number): string => (whole > 0 ? `${Math.round((100 * part) / whole)}%` : '-');
export const short = (id: string | null | undefined): string => (id ? `${id.slice(0, 8)}..${id.slice(-4)}` : '-');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Aligned plain-text columns: numbers right-aligned, text left-aligned. */
export class Table {
  constructor(private readonly cols: Array<{ title: string; width: number; align?: 'left' | 'right' }>) {}

  header(): string {
    return this.row(this.cols.map((c) => c.title));
  }

  rule(): string {
    return this.cols.map((c) => '-'.repeat(c.width)).join('  ');
  }

  row(values: Array<string | number>): string {
    return this.cols
      .map((c, i) => {
        const v = String(values[i] ?? '');
        return (c.align ?? 'left') === 'right' ? v.padStart(c.width) : v.padEnd(c.width);
      })
      .join('  ')
      .trimEnd();
  }
}

/** Wraps text at `width` columns with an indent, for printing model answers. */
export function wrap(text: string, width = 96, indent = '  '): string[] {
  const out: string[] = [];
  for (const para of text.split(/\n/)) {
    let line = '';
    for (const word of para.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) {
        out.push(indent + line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(indent + line);
  }
  return out;
}
