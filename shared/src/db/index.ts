export { sql } from 'kysely';
export {
  createDb,
  Db,
  type DbAuth,
  type DbOptions,
  type DbStats,
  type TransactionOptions,
} from './createDb.ts';
export {
  type DbConfig,
  dbConfigDefaults,
  dbConfigSchema,
  dbOptionsFromEnvironment,
  dbOptionsFromUrl,
} from './environment.ts';
export { dbHealthCheck } from './health.ts';
export {
  type AuthTokenSigner,
  type IamPasswordOptions,
  iamPassword,
  RDS_TOKEN_LIFETIME_MS,
} from './iamAuth.ts';
export {
  grantAppUser,
  type Migration,
  type MigrationProvider,
  type MigrationReport,
  type MigrationStatus,
  Migrations,
  migrationsFrom,
  migrationsFromFolder,
} from './migrations.ts';
export { type SecretReader, secretPassword } from './secretAuth.ts';
