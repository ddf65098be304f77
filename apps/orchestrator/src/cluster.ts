import cluster, { Worker } from 'node:cluster';

// API_WORKERS=N: the primary forks N processes that each run the whole service (as one instance of a
// scale-out would) and listen on the same port; node:cluster hands incoming connections to them in
// turn. Nothing is shared in process memory: what must be shared (sessions, pool leases and wake-ups,
// key-cache invalidation, rate limits, the queue) already lives in Postgres and Redis, which API_WORKERS
// above 1 requires. A worker that dies is replaced; SIGTERM/SIGINT drain every worker, then the primary exits.

type FromWorker = { type: 'so-ready'; url: string; banner: string };

const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that lived at least this long resets the restart back-off. */
const STABLE_MS = 10_000;
const DRAIN_MS = 30_000;

function log(line: string): void {
  process.stdout.write(`[cluster] ${line}\n`);
}

/** The primary: starts `workers` processes, prints one banner when all listen, replaces crashed ones. */
export function runPrimary(workers: number): void {
  let closing = false;
  let started = false;
  let restartDelay = RESTART_MIN_MS;
  const ready = new Set<number>();
  const bornAt = new Map<number, number>();

  const fork = (): Worker => {
    const w = cluster.fork();
    bornAt.set(w.id, Date.now());
    w.on('message', (m: FromWorker) => {
      if (m?.type !== 'so-ready') return;
      ready.add(w.id);
      if (!started && ready.size === workers) {
        started = true;
        process.stdout.write(m.banner);
      } else if (started) {
        log(`worker ${w.process.pid} is serving`);
      }
    });
    return w;
  };

  cluster.on('exit', (w, code, signal) => {
    const lived = Date.now() - (bornAt.get(w.id) ?? Date.now());
    bornAt.delete(w.id);
    const wasReady = ready.delete(w.id);
    if (closing) return;
    if (!started && !wasReady) {
      // A worker that cannot even start (configuration, database, port): the others would fail alike.
      process.stderr.write(`session-orchestrator: an API worker failed to start (code ${code}, signal ${signal}); stopping\n`);
      void shutdown(1);
      return;
    }
    restartDelay = lived >= STABLE_MS ? RESTART_MIN_MS : Math.min(RESTART_MAX_MS, restartDelay * 2);
    log(`worker ${w.process.pid} exited (code ${code}, signal ${signal}); starting a replacement in ${restartDelay} ms`);
    setTimeout(() => !closing && fork(), restartDelay).unref();
  });

  const shutdown = async (exitCode: number) => {
    if (closing) return;
    closing = true;
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    const gone = live.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
    for (const w of live) w.process.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
    }, DRAIN_MS);
    await Promise.all(gone);
    clearTimeout(timer);
    process.exit(exitCode);
  };
  const onSignal = (signal: string) => {
    if (closing) return;
    process.stdout.write(`received ${signal}, draining ${Object.keys(cluster.workers ?? {}).length} API workers\n`);
    void shutdown(0);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  for (let i = 0; i < workers; i++) fork();
}

/** A worker: the whole service on the shared port; tells the primary when it listens; drains on SIGTERM. */
export async function runWorker(): Promise<void> {
  const { startOrchestrator } = await import('./bootstrap');
  const handle = await startOrchestrator(process.env, { banner: false });
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    handle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // A terminal's Ctrl-C reaches the whole process group; the primary forwards SIGTERM as well.
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  process.send?.({ type: 'so-ready', url: handle.url, banner: handle.banner } satisfies FromWorker);
}
