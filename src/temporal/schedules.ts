import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { ReconcileOptions } from '../db/outbox';

/** One schedule per deployment (task queue), e.g. `appointments-purge-idempotency-keys`. */
export const purgeIdempotencyKeysScheduleId = (taskQueue: string) => `${taskQueue}-purge-idempotency-keys`;
export const reconcileOutboxScheduleId = (taskQueue: string) => `${taskQueue}-reconcile-outbox`;
export const purgeCalcomDeliveryBodiesScheduleId = (taskQueue: string) => `${taskQueue}-purge-calcom-delivery-bodies`;

export interface ScheduleOptions {
  taskQueue: string;
  idempotencyKeyTtlHours: number;
  /** How long a rejected or unmapped Cal.com delivery keeps its body (default 168 h). */
  calcomDeliveryBodyTtlHours?: number;
  /** The outbox reconciler's settings (every minute). */
  reconcile: Omit<ReconcileOptions, 'companyIds'> & { every: string };
}

/**
 * The product's Temporal Schedules, created if missing (idempotent, safe from every worker at
 * start-up). An operator may pause or edit them in the Web UI; an existing schedule is left as is.
 * Overlapping runs are skipped, so a slow run never stacks up behind itself.
 */
export async function ensureSchedules(client: Client, options: ScheduleOptions): Promise<string[]> {
  const created: string[] = [];
  const schedules = [
    {
      scheduleId: purgeIdempotencyKeysScheduleId(options.taskQueue),
      every: '1h',
      workflowType: 'purgeIdempotencyKeysWorkflow',
      args: [{ olderThanHours: options.idempotencyKeyTtlHours }],
    },
    {
      scheduleId: purgeCalcomDeliveryBodiesScheduleId(options.taskQueue),
      every: '1h',
      workflowType: 'purgeCalcomDeliveryBodiesWorkflow',
      args: [{ olderThanHours: options.calcomDeliveryBodyTtlHours ?? 168 }],
    },
    {
      scheduleId: reconcileOutboxScheduleId(options.taskQueue),
      every: options.reconcile.every,
      workflowType: 'reconcileOutboxWorkflow',
      args: [
        { graceSeconds: options.reconcile.graceSeconds, lookbackHours: options.reconcile.lookbackHours, limit: options.reconcile.limit },
      ],
    },
  ];
  for (const s of schedules) {
    try {
      await client.schedule.create({
        scheduleId: s.scheduleId,
        spec: { intervals: [{ every: s.every }] },
        action: {
          type: 'startWorkflow',
          workflowType: s.workflowType,
          taskQueue: options.taskQueue,
          args: s.args,
          workflowId: s.scheduleId,
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
      });
      created.push(s.scheduleId);
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    }
  }
  return created;
}
