export { startEmbeddedPostgres } from './embedded-postgres';
export type { EmbeddedPostgres, EmbeddedPostgresOptions, EmbeddedPostgresLogger } from './embedded-postgres';
export { DataDirInUseError } from './data-dir-lock';
