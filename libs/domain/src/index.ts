// Public surface of @so/domain: pure session-window logic, no I/O.
export * from './types';
export * from './errors';
export * from './budget';
export * from './window';
export * from './bounded-map';
export * from './rounds';
export * from './truncation';
export * from './rolling-policy';
export * from './outline';
export * from './outline-reader';
export * from './facts';
export * from './fact-guard';
export * from './split';
export * from './outline-fold';
export * from './spend';
