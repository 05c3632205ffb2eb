import { proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities } from '../activities/maintenance';

const maintenance = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 10 },
});

/** Forgets Idempotency-Key records past their retention; run hourly by a Temporal Schedule (src/temporal/schedules.ts). */
export async function purgeIdempotencyKeysWorkflow(input: { olderThanHours: number }): Promise<{ deleted: number }> {
  return maintenance.purgeIdempotencyKeys(input);
}
