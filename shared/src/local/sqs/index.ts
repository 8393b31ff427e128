export { type Poller, type PollerOptions, startPoller } from './startPoller.ts';
