// Shared helpers for the benchmarks (see /work/shared/BENCH.md): machine and commit, percentiles,
// median and spread over rounds, interleaved A/B rounds, a text table and the JSON writer.
// Benchmarks are scripts (`npm run bench:*`), never part of `npm test`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
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
