// Public surface of kimi-sim: start it in-process, or run main.ts standalone.
export { startKimiSim, type KimiSim } from './server';
export { DEFAULT_OPTIONS, type FaultProbabilities, type KimiSimOptions, type KimiSimOptionsPatch } from './options';
export { CACHE_WRITE_MULTIPLIER, DEFAULT_MODEL, KIMI_MODELS, type KimiModel } from './models';
export { OUTLINE_MARKER, OUTLINE_SECTIONS } from './outline';
export { OUTLINE_MESSAGE_PREFIX, type EarlierOutlines } from './in-context';
export { MIX_WEIGHTS, SUMMARIZER_STYLES, type SummarizerStyle, type SummarizerStyleOption } from './summarizer';
export { CACHE_TTLS, type CacheTtl } from './wire';
export type { FaultKind, FaultPlan } from './faults';
export type { ErrorKind, RequestSummary, SimKeyStats, SimStats } from './stats';
