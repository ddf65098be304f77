export * from './entities';
export * from './data-source';
export { MIGRATIONS } from './migrations';
export { firstResultRows } from './query-result';
export { disablePreparedStatements, runStatement, Statement } from './prepared';
export { insertUsageEvent, insertUsageRowsSql, usageEventExists, usageRowsJson } from './usage-events';
