// The setup every bench shares: a scratch database on the real Postgres, kimi-sim in this process, the
// service (in this process or as its own process), a bench account, seeded text of a given token count,
// and the frame around a bench's main() (start lines, cleanup on exit and on signals, the result file).
// Heavy modules (kimi-sim, the service, the tokenizer) are loaded inside the functions, so a worker
// thread that runs a bench file (overhead's load generator) loads none of them.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { KimiSim, KimiSimOptionsPatch } from '@so/kimi-sim';
import { seededRandom } from '@so/kimi-sim/random';
import type { OrchestratorHandle } from '../../apps/orchestrator/src/bootstrap';
import { CleanupStack, cleanupStack, CommitInfo, describeRun, gitCommit, httpJson, loadLine, machineInfo, MachineInfo, round, ServiceProcess, startServiceProcess, writeResults } from './bench-util';

/** The admin key every service of this bench process is started with. */
export const BENCH_ADMIN_KEY = `bench-admin-${randomBytes(8).toString('hex')}`;

// ---------------------------------------------------------------- the frame of a bench

export interface RunInfo {
  machine: MachineInfo;
  commit: CommitInfo;
  /** Date.now() when the bench started. */
  started: number;
}

/** Machine, commit and start time; prints the lines every bench prints first. */
export function announceRun(title: string, extra: string[] = []): RunInfo {
  const machine = machineInfo();
  const commit = gitCommit();
  const started = Date.now();
  console.log(describeRun(title, machine, commit, extra));
  return { machine, commit, started };
}

/**
 * Runs a bench's body with a cleanup stack: an error is printed as `<name> bench failed: ...` and gives
 * exit code 1; the cleanups run at the end either way (and on SIGINT/SIGTERM).
 */
export async function withCleanups(name: string, body: (cleanups: CleanupStack) => Promise<number>): Promise<number> {
  const cleanups = cleanupStack();
  try {
    return await body(cleanups);
  } catch (err) {
    console.error(`${name} bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    return 1;
  } finally {
    await cleanups.run();
    cleanups.dispose();
  }
}

/** Runs main() and exits with its code (1 on an uncaught error). */
export function runBench(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/**
 * Writes bench/results/<name>.json: bench, timestamp, duration_s, machine, commit, parameters, then
 * `data`; prints `wrote <file>`.
 */
export function saveBenchResults(name: string, run: RunInfo & { totalS: number; machine: MachineInfo & { loadavg_1m_at_end?: number }; parameters: unknown }, data: Record<string, unknown>): string {
  const file = writeResults(name, {
    bench: name,
    timestamp: new Date(run.started).toISOString(),
    duration_s: round(run.totalS, 1),
    machine: run.machine,
    commit: run.commit,
    parameters: run.parameters,
    ...data,
  });
  console.log(`wrote ${file}`);
  return file;
}

/**
 * Ends a report: appends the load-average line and `total N s` to `out`, prints it, and writes the result
 * file with the load average at the end beside the machine.
 */
export function finishRun(name: string, run: RunInfo, out: string[], parameters: unknown, data: Record<string, unknown>): void {
  const load = loadLine(run.machine);
  const totalS = (Date.now() - run.started) / 1000;
  out.push(load.text);
  out.push(`total ${totalS.toFixed(0)} s`);
  console.log(out.join('\n'));
  saveBenchResults(name, { ...run, totalS, machine: { ...run.machine, loadavg_1m_at_end: load.end }, parameters }, data);
}

// ---------------------------------------------------------------- the stack: database, kimi-sim, service

export interface ScratchDatabase {
  url: string;
  name: string;
  drop: () => Promise<void>;
}

/** A scratch database on the real Postgres and kimi-sim on 127.0.0.1 (random port); both cleaned up at the end. */
export async function startScratchDbAndSim(cleanups: CleanupStack, sim: KimiSimOptionsPatch = {}): Promise<{ db: ScratchDatabase; sim: KimiSim }> {
  const { startKimiSim } = await import('@so/kimi-sim');
  const { createScratchDatabase, DEFAULT_ADMIN_DATABASE_URL } = await import('@so/persistence/cli/scratch-database');
  const db = await createScratchDatabase(DEFAULT_ADMIN_DATABASE_URL, 'sobench');
  cleanups.push('drop scratch database', () => db.drop());
  const kimi = await startKimiSim({ port: 0, host: '127.0.0.1', ...sim });
  cleanups.push('close kimi-sim', () => kimi.close());
  return { db, sim: kimi };
}

/**
 * The service's environment in every bench: the scratch database, kimi-sim as the default upstream, the
 * bench admin key and a fresh encryption key, then `extra`. Services sharing one database must share one
 * environment (the encryption key).
 */
export function benchServiceEnv(db: { url: string }, sim: { baseUrl: string }, logLevel: 'silent' | 'warn' | 'info', extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    LLM_BASE_URL: sim.baseUrl,
    LLM_API_KEY: 'sim-default',
    ADMIN_API_KEY: BENCH_ADMIN_KEY,
    ENCRYPTION_KEY: `bench-encryption-${randomBytes(8).toString('hex')}`,
    LOG_LEVEL: logLevel,
    // Benches drive one account far past any sane per-account request rate.
    RATE_LIMIT_PER_MINUTE: '0',
    ...extra,
  };
}

/** Scratch database, kimi-sim and the service, all in this process (PORT 0 on 127.0.0.1, LOG_LEVEL silent). */
export async function startInProcessStack(
  cleanups: CleanupStack,
  opts: { sim?: KimiSimOptionsPatch; env?: Record<string, string> } = {},
): Promise<{ db: ScratchDatabase; sim: KimiSim; handle: OrchestratorHandle }> {
  const { db, sim } = await startScratchDbAndSim(cleanups, opts.sim);
  const { startOrchestrator } = await import('../../apps/orchestrator/src/bootstrap');
  const handle = await startOrchestrator({ PORT: '0', HOST: '127.0.0.1', ...benchServiceEnv(db, sim, 'silent', opts.env) });
  cleanups.push('close service', () => handle.close());
  return { db, sim, handle };
}

/**
 * Scratch database and kimi-sim in this process, the service as its own process (LOG_LEVEL warn,
 * see startServiceProcess); prints `service: pid ... at ...`.
 */
export async function startServiceStack(
  cleanups: CleanupStack,
  opts: { sim?: KimiSimOptionsPatch; env?: Record<string, string>; nodeArgs?: string[]; logLevel?: 'warn' | 'info' } = {},
): Promise<{ db: ScratchDatabase; sim: KimiSim; svc: ServiceProcess }> {
  const { db, sim } = await startScratchDbAndSim(cleanups, opts.sim);
  const svc = await startServiceProcess(benchServiceEnv(db, sim, opts.logLevel ?? 'warn', opts.env), opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {});
  cleanups.push('stop service', () => svc.stop());
  console.log(`service: pid ${svc.pid} at ${svc.url}`);
  return { db, sim, svc };
}

/**
 * As deployed: production logging (LOG_LEVEL info, NODE_ENV production) and API_WORKERS from
 * BENCH_API_WORKERS (default 1). Above 1 the service needs Redis (REDIS_URL from BENCH_REDIS_URL, default
 * the local one) under a fresh queue prefix.
 */
export function deployedServiceEnv(): Record<string, string> {
  const workers = process.env.BENCH_API_WORKERS?.trim() || '1';
  if (!/^\d+$/.test(workers) || Number(workers) < 1) throw new Error(`BENCH_API_WORKERS=${JSON.stringify(workers)} must be a positive integer`);
  const env: Record<string, string> = { NODE_ENV: 'production', API_WORKERS: workers };
  if (Number(workers) > 1) Object.assign(env, { REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: `sobench_${randomBytes(4).toString('hex')}` });
  return env;
}

/** Stops `child` at cleanup (SIGTERM, SIGKILL after 3 s) and kills it if this process exits first. */
function ownChild(cleanups: CleanupStack, name: string, child: ChildProcess): { exited: () => boolean } {
  let exited = false;
  const gone = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const kill = () => !exited && child.kill('SIGKILL');
  process.once('exit', kill);
  cleanups.push(name, async () => {
    process.off('exit', kill);
    if (!exited) child.kill('SIGTERM');
    const t = setTimeout(kill, 3000);
    await gone;
    clearTimeout(t);
  });
  return { exited: () => exited };
}

export interface PortkeyGateway {
  /** http://127.0.0.1:PORT (no /v1). */
  url: string;
  port: number;
  pid: number;
  version: string;
  /** Headers that route a request to `upstreamBaseUrl` (an OpenAI-compatible /v1 base) through the gateway. */
  headers(upstreamBaseUrl: string): Record<string, string>;
}

/**
 * Portkey's open-source gateway (devDependency @portkey-ai/gateway) as its own process, headless, on a
 * free port; null (with the reason printed) when it is not installed or does not start. It listens on
 * every interface (the package has no host option); benches call it on 127.0.0.1.
 */
export async function startPortkey(cleanups: CleanupStack): Promise<{ gateway: PortkeyGateway | null; reason: string | null }> {
  const { existsSync, readFileSync } = await import('node:fs');
  const { createServer } = await import('node:net');
  const { repoRoot } = await import('./bench-util');
  const dir = join(repoRoot(), 'node_modules', '@portkey-ai', 'gateway');
  const entry = join(dir, 'build', 'start-server.js');
  if (!existsSync(entry)) return { gateway: null, reason: `${entry} is missing (npm install: @portkey-ai/gateway is a devDependency)` };
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  const port = await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const env: Record<string, string> = { NODE_ENV: 'production' };
  for (const k of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  const child = spawn(process.execPath, [entry, `--port=${port}`, '--headless'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  const owned = ownChild(cleanups, 'stop portkey gateway', child);
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + 30_000;
  while (Date.now() < end && !owned.exited()) {
    const up = await fetch(`${url}/`).then(
      () => true,
      () => false,
    );
    if (up) {
      console.log(`portkey gateway ${version}: pid ${child.pid} at ${url}`);
      return {
        gateway: { url, port, pid: child.pid!, version, headers: (base) => ({ 'x-portkey-provider': 'openai', 'x-portkey-custom-host': base }) },
        reason: null,
      };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const reason = `the gateway did not answer within 30 s${owned.exited() ? ' (it exited)' : ''}: ${out.slice(-500)}`;
  console.log(`portkey gateway: not measured: ${reason}`);
  return { gateway: null, reason };
}

/** POST /admin/accounts with kimi-sim as the account's upstream (under `simKey`); returns the account (id, api_key, ...). */
export async function createBenchAccount(
  serviceUrl: string,
  account: { name: string; sessionLimit: number; simBaseUrl: string; simKey: string; model?: string },
): Promise<{ id: string; api_key: string; [k: string]: any }> {
  const upstream = { base_url: account.simBaseUrl, api_key: account.simKey, ...(account.model ? { model: account.model } : {}) };
  return httpJson(serviceUrl, 'POST', '/admin/accounts', BENCH_ADMIN_KEY, { name: account.name, session_limit: account.sessionLimit, upstream }, 201);
}

/**
 * The floor relay (floor-relay.ts) as its own process: the least a relay adds here, with and without a
 * turn's two statements on `dbUrl`. Routes /relay and /turn/{n}; the port is http://127.0.0.1:{port}.
 */
export async function startFloorRelay(cleanups: CleanupStack, upstreamBaseUrl: string, dbUrl: string): Promise<{ port: number; pid: number }> {
  const { fork } = await import('node:child_process');
  const child = fork(join(__dirname, 'floor-relay.js'), [], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', FLOOR_UPSTREAM: upstreamBaseUrl.replace(/\/v1\/?$/, ''), FLOOR_DB_URL: dbUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  ownChild(cleanups, 'stop floor relay', child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port?: number }) => (typeof m?.port === 'number' ? resolve(m.port) : reject(new Error('floor relay: no port'))));
    child.once('exit', (code) => reject(new Error(`floor relay exited (${code}) before listening`)));
  });
  console.log(`floor relay: pid ${child.pid} at http://127.0.0.1:${port}`);
  return { port, pid: child.pid! };
}

// ---------------------------------------------------------------- seeded text

/** An English-looking word list for seeded filler text. */
export const FILLER_WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there ' +
  'would their we him been has when who will more no if out so said what up its about into than them can only other new some could ' +
  'time these two may then do first any my now such like our over man me even most made after also did many before must through back ' +
  'years where much your way well down should because each just those people how too little state good very make world still own see ' +
  'men work long get here between both life being under never day same another know while last might us great old year off come since ' +
  'against go came right used take three river garden window number letter market winter summer morning evening country city'
).split(' ');

export interface TokenText {
  /** o200k token count (the service's estimator). */
  countTokens: (text: string) => number;
  /**
   * Seeded filler text of at most `tokens` o200k tokens: `words` words (default `tokens`) from the seed,
   * a period every 14th word, cut down until it fits.
   */
  textOfTokens: (seed: number, tokens: number, words?: number) => string;
}

/** Loads the o200k tokenizer and returns the seeded-text helpers over it. */
export async function loadTokenText(): Promise<TokenText> {
  const { countTokens } = await import('gpt-tokenizer/cjs/encoding/o200k_base');
  const textOfTokens = (seed: number, tokens: number, wordCount = tokens): string => {
    const next = seededRandom(seed);
    const words: string[] = [];
    for (let i = 0; i < wordCount; i++) words.push(FILLER_WORDS[Math.floor(next() * FILLER_WORDS.length)]);
    const render = () => words.map((w, i) => (i % 14 === 13 ? `${w}.` : w)).join(' ');
    let text = render();
    let n = countTokens(text);
    while (n > tokens) {
      words.length = Math.max(1, Math.floor((words.length * tokens) / n) - 2);
      text = render();
      n = countTokens(text);
    }
    return text;
  };
  return { countTokens, textOfTokens };
}
