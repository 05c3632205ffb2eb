import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { purgeIdempotencyKeys } from '../src/db/idempotency';
import { reconcileOutbox, type OutboxSource, type ReconcileOptions, type ReconcileResult } from '../src/db/outbox';
import { purgeDeliveryBodies } from '../src/integrations/store';

export interface MaintenanceDeps {
  pool: Pool;
  logger: Logger;
  client: Client;
  taskQueue: string;
  /** Every feature's rows that a workflow owns (notifications, callbacks, ...). */
  outboxes: OutboxSource[];
}

/** The product's housekeeping, run by Temporal Schedules (src/temporal/schedules.ts). */
export function createMaintenanceActivities({ pool, logger, client, taskQueue, outboxes }: MaintenanceDeps) {
  return {
    /** Forgets Idempotency-Key records older than `olderThanHours` (a retried request older than that is a new request). */
    async purgeIdempotencyKeys(input: { olderThanHours: number }): Promise<{ deleted: number }> {
      const deleted = await purgeIdempotencyKeys(pool, input.olderThanHours);
      if (deleted > 0) logger.info({ deleted, olderThanHours: input.olderThanHours }, 'purged expired idempotency keys');
      return { deleted };
    },

    /** Empties Cal.com delivery bodies kept longer than `olderThanHours` (the rows stay), a thousand rows per statement. */
    async purgeCalcomDeliveryBodies(input: { olderThanHours: number }): Promise<{ purged: number }> {
      let purged = 0;
      for (let n = 1000; n === 1000; purged += n) n = await purgeDeliveryBodies(pool, input.olderThanHours, 1000);
      if (purged > 0) logger.info({ purged, olderThanHours: input.olderThanHours }, 'purged kept Cal.com delivery bodies');
      return { purged };
    },

    /**
     * Starts the workflow of every committed row whose workflow never ran (Temporal was down or slow
     * when it was created), writes a final status for rows whose workflow was terminated or
     * otherwise ended without writing one, and tells workflows of row changes they missed. Idempotent.
     */
    async reconcileOutbox(input: ReconcileOptions): Promise<ReconcileResult> {
      const result = await reconcileOutbox(pool, outboxes, { ...input, client, taskQueue, deadlineMs: 10_000, logger });
      if (result.started.length || result.closed.length || result.resynced.length || result.failed.length)
        logger.warn(result, 'reconciled rows with their workflows');
      return result;
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
