export * from './entities';
export * from './data-source';
export { MIGRATIONS } from './migrations';
export { firstResultRows } from './query-result';
export { insertUsageEvent } from './usage-events';
