import type { Pool } from 'pg';
import type { Logger } from 'pino';

export interface MaintenanceDeps {
  pool: Pool;
  logger: Logger;
}

/** Rows deleted per statement: short transactions, no long lock on a busy table. */
const PURGE_BATCH = 5_000;

export function createMaintenanceActivities({ pool, logger }: MaintenanceDeps) {
  return {
    /**
     * Deletes Idempotency-Key records older than `olderThanHours` (a retried request older than
     * that is a new request). Batched; idempotent; returns how many rows went.
     */
    async purgeIdempotencyKeys(input: { olderThanHours: number }): Promise<{ deleted: number }> {
      let deleted = 0;
      for (;;) {
        const { rowCount } = await pool.query(
          `DELETE FROM idempotency_keys
            WHERE ctid IN (SELECT ctid FROM idempotency_keys
                            WHERE created_at < now() - make_interval(hours => $1)
                            LIMIT $2)`,
          [input.olderThanHours, PURGE_BATCH],
        );
        deleted += rowCount ?? 0;
        if ((rowCount ?? 0) < PURGE_BATCH) break;
      }
      if (deleted > 0) logger.info({ deleted, olderThanHours: input.olderThanHours }, 'purged expired idempotency keys');
      return { deleted };
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
