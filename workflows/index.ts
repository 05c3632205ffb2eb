/**
 * Every workflow the worker runs. Deterministic code only: @temporalio/workflow, the shared
 * contracts (definitions.ts) and pure rules (rules.ts) of the features under src/. Never I/O or the clock.
 */
export { notificationWorkflow } from './notification';
export { callbackWorkflow } from './callback';
export { appointmentWorkflow } from './appointment';
export { purgeCalcomDeliveryBodiesWorkflow, purgeIdempotencyKeysWorkflow, reconcileOutboxWorkflow } from './maintenance';
