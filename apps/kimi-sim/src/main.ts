// Standalone kimi-sim: `node dist/apps/kimi-sim/src/main.js`, configured by SIM_* environment variables.
import { optionsFromEnv } from './options';
import { startKimiSim } from './server';

async function main(): Promise<void> {
  let options;
  try {
    options = optionsFromEnv(process.env);
  } catch (err) {
    console.error(`kimi-sim: ${(err as Error).message}`);
    process.exit(1);
  }
  const sim = await startKimiSim(options);
  console.log(`kimi-sim listening on ${sim.baseUrl}`);
  const stop = () => {
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error('kimi-sim failed to start:', err);
  process.exit(1);
});
