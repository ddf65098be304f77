// Shared helpers for the benchmarks (see docs/benchmarks.md): machine and commit, percentiles,
// median and spread over rounds, interleaved A/B rounds, a text table and the JSON writer.
// Benchmarks are scripts (`npm run bench:*`), never part of `npm test`.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, freemem, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';

// ---------------------------------------------------------------- environment

export interface MachineInfo {
  cores: number;
  cpu_model: string;
  memory_total_gb: number;
  memory_free_gb: number;
  node: string;
  platform: string;
  os_release: string;
  arch: string;
  /** 1-minute load average when the bench started: a busy shared machine shows here. */
  loadavg_1m: number;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cores: c.length,
    cpu_model: c[0]?.model?.trim() ?? 'unknown',
    memory_total_gb: round(totalmem() / 2 ** 30, 1),
    memory_free_gb: round(freemem() / 2 ** 30, 1),
    node: process.version,
    platform: platform(),
    os_release: release(),
    arch: arch(),
    loadavg_1m: round(loadavg()[0], 2),
  };
}

export interface CommitInfo {
  /** `git rev-parse --short HEAD`, or null when there is no commit (or no git). */
  commit: string | null;
  /** Uncommitted changes in the working tree (tracked or untracked), null when unknown. */
  dirty: boolean | null;
  note?: string;
}

/** Read-only git queries; never changes the repository. */
export function gitCommit(cwd: string = repoRoot()): CommitInfo {
  const git = (args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  let dirty: boolean | null = null;
  try {
    dirty = git(['status', '--porcelain']).length > 0;
  } catch {
    /* not a git checkout */
  }
  try {
    return { commit: git(['rev-parse', '--short', 'HEAD']), dirty };
  } catch (err) {
    const msg = err instanceof Error ? (err as Error & { stderr?: string }).stderr?.toString().trim() || err.message : String(err);
    return { commit: null, dirty, note: `git rev-parse failed: ${msg.split('\n')[0]}` };
  }
}

/** The directory holding package.json, walking up from `start` (works from test/bench and dist/test/bench). */
export function repoRoot(start: string = __dirname): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export function envFlag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** A positive number from the environment, or `def`; a bad value is an error, not silently ignored. */
export function envNumber(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${JSON.stringify(v)} must be a positive number`);
  return n;
}

export function envNumberList(name: string, def: number[]): number[] {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return def;
  const list = v.split(',').map((s) => Number(s.trim()));
  if (!list.length || list.some((n) => !Number.isFinite(n) || n <= 0)) throw new Error(`${name}=${JSON.stringify(v)} must be a comma-separated list of positive numbers`);
  return list;
}

// ---------------------------------------------------------------- statistics

export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Nearest-rank percentile (p in 0..100) of an ascending array; NaN when empty. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function percentile(values: readonly number[], p: number): number {
  return percentileSorted([...values].sort((a, b) => a - b), p);
}

export interface LatencySummary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[], digits = 3): LatencySummary {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return {
    n: s.length,
    mean: round(mean, digits),
    min: round(s[0] ?? NaN, digits),
    p50: round(percentileSorted(s, 50), digits),
    p90: round(percentileSorted(s, 90), digits),
    p99: round(percentileSorted(s, 99), digits),
    max: round(s[s.length - 1] ?? NaN, digits),
  };
}

/** A figure measured once per round: its median over the rounds and the spread (min..max). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number;
  values: number[];
}

export function medianSpread(values: readonly number[], digits = 3): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  const s = [...finite].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length === 0 ? NaN : s.length % 2 ? s[Math.floor(mid)] : (s[mid - 1] + s[mid]) / 2;
  return {
    median: round(median, digits),
    min: round(s[0] ?? NaN, digits),
    max: round(s[s.length - 1] ?? NaN, digits),
    rounds: values.length,
    values: values.map((v) => round(v, digits)),
  };
}

// ---------------------------------------------------------------- method

export interface InterleavedStep<K extends string, T> {
  name: K;
  run: (round: number) => Promise<T>;
}

/**
 * Runs the steps in order, `rounds` times (A, B, A, B ...), so slow drifts of a shared machine hit
 * every variant alike. Returns each step's results by round.
 */
export async function interleave<K extends string, T>(
  rounds: number,
  steps: InterleavedStep<K, T>[],
  onStep?: (name: K, round: number, result: T) => void,
): Promise<Record<K, T[]>> {
  const out = {} as Record<K, T[]>;
  for (const s of steps) out[s.name] = [];
  for (let r = 0; r < rounds; r++) {
    for (const s of steps) {
      const result = await s.run(r);
      out[s.name].push(result);
      onStep?.(s.name, r, result);
    }
  }
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<I, O>(items: readonly I[], limit: number, fn: (item: I, index: number) => Promise<O>): Promise<O[]> {
  const out = new Array<O>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- output

export function fmtMs(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  return x.toFixed(digits);
}

export function fmtSpread(s: Spread, digits = 2): string {
  return `${fmtMs(s.median, digits)} [${fmtMs(s.min, digits)}..${fmtMs(s.max, digits)}]`;
}

/** A plain aligned text table: numbers right-aligned, text left-aligned. */
export function formatTable(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? String(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const isNum = headers.map((_, i) => rows.every((r) => typeof r[i] === 'number' || /^[-+]?[\d.]+( \[.*\])?$|^-$/.test(String(r[i] ?? ''))));
  const line = (r: string[]) => r.map((c, i) => (isNum[i] ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function passFail(ok: boolean | null): string {
  return ok === null ? 'n/a' : ok ? 'PASS' : 'FAIL';
}

/** Writes bench/results/<name>.json at the repository root; returns the path. */
export function writeResults(name: string, data: unknown): string {
  const dir = join(repoRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

/** Lines every bench prints first: what machine, what commit, what mode. */
export function describeRun(title: string, machine: MachineInfo, commit: CommitInfo, extra: string[] = []): string {
  return [
    `== ${title}`,
    `machine: ${machine.cores} cores (${machine.cpu_model}), ${machine.memory_total_gb} GB RAM, node ${machine.node}, ${machine.platform} ${machine.os_release}, load ${machine.loadavg_1m}`,
    `commit:  ${commit.commit ?? 'none'}${commit.dirty ? ' (+ uncommitted changes)' : ''}${commit.note ? `  [${commit.note}]` : ''}`,
    ...extra,
  ].join('\n');
}

// ---------------------------------------------------------------- cleanup, load, the service as a child process
// (added for the fanout, lineage, streaming and memory benches)

/** Cleanups run once, newest first, each bounded; SIGINT/SIGTERM run them too. */
export interface CleanupStack {
  push(name: string, run: () => Promise<unknown>): void;
  run(): Promise<void>;
  /** Removes the signal handlers (call after run()). */
  dispose(): void;
}

export function cleanupStack(timeoutMs = 15_000): CleanupStack {
  const list: Array<{ name: string; run: () => Promise<unknown> }> = [];
  let done = false;
  const run = async () => {
    if (done) return;
    done = true;
    for (const c of list.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([c.run(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), timeoutMs)))])
        .catch((err: unknown) => console.error(`cleanup ${c.name} failed: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => clearTimeout(timer));
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: cleaning up`);
    void run().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    push: (name, fn) => list.push({ name, run: fn }),
    run,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The closing line every bench prints: load average at start and end, flagged when the machine was shared. */
export function loadLine(machine: MachineInfo): { text: string; end: number } {
  const end = round(loadavg()[0], 2);
  const busy = Math.max(machine.loadavg_1m, end) > machine.cores + 0.5;
  return {
    end,
    text: `load average (1 min): ${machine.loadavg_1m} at start, ${end} at end on ${machine.cores} cores${busy ? ' - other work shared the machine; compare within rounds, not across runs' : ''}`,
  };
}

export interface ProcStatus {
  /** VmRSS: resident set now, MB (2^20 bytes). */
  rss_mb: number;
  /** VmHWM: the peak resident set so far, MB. */
  hwm_mb: number;
}

/** VmRSS and VmHWM of a process from /proc (Linux); null when it is gone or /proc is not there. */
export function procStatus(pid: number): ProcStatus | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rss_mb: round(kb('VmRSS') / 1024, 1), hwm_mb: round(kb('VmHWM') / 1024, 1) };
  } catch {
    return null;
  }
}

export interface ServiceProcess {
  /** http://127.0.0.1:PORT (no trailing slash, no /v1). */
  url: string;
  port: number;
  pid: number;
  status(): ProcStatus | null;
  /** The last lines the process wrote (stdout and stderr), for error reports. */
  output(): string;
  readonly exited: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const SERVICE_ENV_PASSTHROUGH = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'];

/**
 * Starts the built service (`node dist/apps/orchestrator/src/main.js`) as its own process, so its event
 * loop, CPU and memory are its own. The environment is only PATH/HOME/LANG/TZ/TMPDIR plus `env` (nothing
 * else leaks in from the bench's environment, e.g. no REDIS_URL unless given). PORT defaults to 0 and
 * HOST to 127.0.0.1; the URL comes from the banner line `  API        http://...:PORT/v1`.
 */
export async function startServiceProcess(env: Record<string, string>, opts: { startTimeoutMs?: number; nodeArgs?: string[] } = {}): Promise<ServiceProcess> {
  const main = join(repoRoot(), 'dist', 'apps', 'orchestrator', 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm run build)`);
  const childEnv: Record<string, string> = {};
  for (const k of SERVICE_ENV_PASSTHROUGH) if (process.env[k] !== undefined) childEnv[k] = process.env[k]!;
  Object.assign(childEnv, { PORT: '0', HOST: '127.0.0.1' }, env);
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), main], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot() });
  const lines: string[] = [];
  let partial = '';
  const keep = (buf: Buffer) => {
    const text = partial + buf.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) {
      lines.push(l);
      if (lines.length > 200) lines.shift();
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exitedP = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  // If the bench dies without cleaning up, the service must not outlive it.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const output = () => [...lines, partial].filter(Boolean).slice(-60).join('\n');

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`the service did not print its banner within ${opts.startTimeoutMs ?? 60_000} ms`)), opts.startTimeoutMs ?? 60_000);
    const onData = () => {
      const m = /API\s+(http:\/\/\S+?)\/v1\b/.exec([...lines, partial].join('\n'));
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(m[1]);
      }
    };
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (!exited) child.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- service output ---\n${output()}`));
    };
    child.stdout.on('data', onData);
    child.once('exit', (code, sig) => fail(new Error(`the service exited during start (code ${code}, signal ${sig})`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    status: () => procStatus(child.pid!),
    output,
    get exited() {
      return exited;
    },
    stop: async (graceMs = 10_000) => {
      process.off('exit', killOnExit);
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => !exited && child.kill('SIGKILL'), graceMs);
      await exitedP;
      clearTimeout(t);
    },
  };
}

/**
 * JSON over fetch with a bearer key, timed: client wall time of the call including reading the body, and
 * the body's size in bytes. Throws on an unexpected status (with the body).
 */
export async function timedHttpJson(base: string, method: string, path: string, key: string, body?: unknown, expect = 200): Promise<{ body: any; ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== expect) throw new Error(`${method} ${path}: expected ${expect}, got ${res.status}: ${text.slice(0, 500)}`);
  return { body: text ? JSON.parse(text) : null, ms, bytes: Buffer.byteLength(text) };
}

/** JSON over fetch with a bearer key; throws on an unexpected status (with the body). */
export async function httpJson(base: string, method: string, path: string, key: string, body?: unknown, expect = 200): Promise<any> {
  return (await timedHttpJson(base, method, path, key, body, expect)).body;
}
