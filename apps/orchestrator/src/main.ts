import cluster from 'node:cluster';
import { ConfigError, loadConfig } from './config/app-config';
import { runPrimary, runWorker } from './cluster';

async function main() {
  if (cluster.isWorker) return runWorker();
  // Checked once here, so a bad variable is one clear message rather than one per worker.
  const workers = loadConfig(process.env).apiWorkers;
  if (workers > 1) return runPrimary(workers);
  // Loaded here, not at the top: the cluster primary never loads the service's modules.
  const { startOrchestrator } = await import('./bootstrap');
  const handle = await startOrchestrator(process.env, { banner: true });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    process.stdout.write(`received ${signal}, shutting down\n`);
    handle.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err) => {
  // A configuration error names the variable; anything else is printed without a stack for the operator.
  const message = err instanceof ConfigError ? err.message : `session-orchestrator failed to start: ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(message + '\n');
  if (!(err instanceof ConfigError) && process.env.LOG_LEVEL === 'debug' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
