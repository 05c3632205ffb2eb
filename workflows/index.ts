/**
 * Every workflow the worker runs. Deterministic code only: @temporalio/workflow, the shared
 * message definitions in src/messages and the pure rules in src/domain. Never I/O or the clock.
 */
export { notificationWorkflow } from './notification';
export { purgeIdempotencyKeysWorkflow } from './maintenance';
