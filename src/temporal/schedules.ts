import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';

/** One schedule per deployment (task queue), e.g. `appointments-purge-idempotency-keys`. */
export const purgeIdempotencyKeysScheduleId = (taskQueue: string) => `${taskQueue}-purge-idempotency-keys`;

/**
 * The product's Temporal Schedules, created if missing (idempotent, safe from every worker at
 * start-up). An operator may pause or edit them in the Web UI; an existing schedule is left as is.
 */
export async function ensureSchedules(client: Client, options: { taskQueue: string; idempotencyKeyTtlHours: number }): Promise<string[]> {
  const created: string[] = [];
  const scheduleId = purgeIdempotencyKeysScheduleId(options.taskQueue);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1h' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'purgeIdempotencyKeysWorkflow',
        taskQueue: options.taskQueue,
        args: [{ olderThanHours: options.idempotencyKeyTtlHours }],
        workflowId: scheduleId,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
    });
    created.push(scheduleId);
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  return created;
}
