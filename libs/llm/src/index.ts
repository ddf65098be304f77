export * from './bounded-pieces';
export * from './token-estimator';
export * from './model-registry';
export * from './upstream';
export * from './openai-upstream';
export * from './served-models';
