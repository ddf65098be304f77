export * from './session-pool';
