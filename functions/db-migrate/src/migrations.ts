import { migrationsFrom } from '@lambda-infra/shared/db';
import * as events from '../migrations/0001_events.ts';
import * as eventCountsHourly from '../migrations/0002_event_counts_hourly.ts';

/**
 * The migrations of ../migrations, listed in code so that the bundled function carries them. A test checks the
 * list against the folder, which `lambda-infra db migrate --folder` reads.
 */
export const migrations = migrationsFrom({
  '0001_events': events,
  '0002_event_counts_hourly': eventCountsHourly,
});
