import { ConfigError } from './config/app-config';
import { startOrchestrator } from './bootstrap';

async function main() {
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
