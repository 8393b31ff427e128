import { createMigrationHandler } from '@lambda-infra/shared/db/migration-handler';
import { migrations } from './migrations.ts';

/** Applies the events pipeline's migrations; the CDK app runs it on deploy whenever it changes. */
export const handler = createMigrationHandler({ migrations });
