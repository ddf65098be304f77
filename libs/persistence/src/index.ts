export * from './entities';
export * from './data-source';
export { MIGRATIONS } from './migrations';
export { firstResultRows } from './query-result';
export { disablePreparedStatements, runStatement, Statement } from './prepared';
export { insertUsageEvent, insertUsageRowsSql, usageRowsJson } from './usage-events';
