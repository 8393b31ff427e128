import { configComponents as eventsApi } from '@lambda-infra/events-api/config';
import { configComponents as eventsWorker } from '@lambda-infra/events-worker/config';
import type { ConfigCatalog } from '@lambda-infra/shared/config';

/**
 * Every service's config components, which `lambda-infra config import|diff` and the CDK app check the files of
 * infra/config/{env}/{service}/ against before anything is written or deployed.
 */
export default { 'events-api': eventsApi, 'events-worker': eventsWorker } satisfies ConfigCatalog;
