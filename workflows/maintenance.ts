import { proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities } from '../activities/maintenance';
import type { ReconcileOptions } from '../src/db/outbox';

const maintenance = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 10 },
});

/** Forgets Idempotency-Key records past their retention; run hourly by a Temporal Schedule (src/temporal/schedules.ts). */
export async function purgeIdempotencyKeysWorkflow(input: { olderThanHours: number }): Promise<{ deleted: number }> {
  return maintenance.purgeIdempotencyKeys(input);
}

/**
 * Empties the bodies of Cal.com deliveries kept past CALCOM_DELIVERY_BODY_TTL_HOURS (rejected and
 * unmapped ones, kept for an operator); run hourly by a Temporal Schedule.
 */
export async function purgeCalcomDeliveryBodiesWorkflow(input: { olderThanHours: number }): Promise<{ purged: number }> {
  return maintenance.purgeCalcomDeliveryBodies(input);
}

/**
 * The outbox reconciler, run every minute by a Temporal Schedule: starts the workflow of rows
 * committed while Temporal was down or slow, and finishes rows whose workflow was terminated.
 */
export async function reconcileOutboxWorkflow(input: ReconcileOptions): Promise<{ started: string[]; closed: string[] }> {
  return maintenance.reconcileOutbox(input);
}
