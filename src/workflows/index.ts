// Every workflow the modelship worker registers. Deterministic code only: no I/O, no Node APIs.
export { stackCheck } from './stack-check';
export { modelRelease } from './model-release';
export { blueGreenRollout } from './blue-green-rollout';
export { deployRegisteredModel, rollbackEndpoint } from './operator';
export { endpointLock } from './endpoint-lock';
export { endpointMonitor } from './monitor';
export { scheduledRelease } from './release-starter';
