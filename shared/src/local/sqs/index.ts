export { type SqsEmulator, startSqsEmulator } from './emulator.ts';
export { type Poller, type PollerOptions, startPoller } from './startPoller.ts';
