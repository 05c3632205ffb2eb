import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { EVENT_OF, type AppointmentFacts, type MessageKind, type MessageOutcome } from '../src/appointments/definitions';
import { decideMessage } from '../src/appointments/rules';
import * as store from '../src/appointments/store';
import type { WorkflowStart } from '../src/db/outbox';
import { withTransaction } from '../src/db/transaction';
import type { NotificationService } from '../src/notifications/service';

/**
 * The appointment workflow's I/O: thin adapters over the feature's store. A message step is one
 * transaction: the appointment row locked, its message row (unique per appointment and key)
 * written with the notification row it queues, then the notification's workflow started after
 * COMMIT. A retried step finds its message row and starts the same notification again (its
 * workflow id is deterministic): a message is queued exactly once, whatever dies when.
 */
export interface AppointmentActivityDeps {
  pool: Pool;
  logger: Logger;
  notifications: NotificationService;
}

/** Heartbeats every second while `work` runs (the workflow sets a heartbeat timeout on the step that talks to Temporal). */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), 1_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export function createAppointmentActivities({ pool, logger, notifications }: AppointmentActivityDeps) {
  const log = logger.child({ component: 'appointment-activities' });

  return {
    /** The row as it is now (null: gone); records that the workflow runs and has read this revision. */
    async readAppointment(input: { appointmentId: string }): Promise<AppointmentFacts | null> {
      return (await store.readForWorkflow(pool, input.appointmentId)) ?? null;
    },

    /** The workflow ends; false when the row changed since its last read (it reads again and carries on). */
    async finishAppointment(input: { appointmentId: string; revision: number; outcome: string }): Promise<boolean> {
      return store.finishWorkflow(pool, input.appointmentId, input.revision, input.outcome);
    },

    /**
     * One message of the appointment, decided against the row as it is (locked): sent (a
     * notification queued in the same transaction, started after COMMIT) or skipped with the
     * reason; recorded either way under its key.
     */
    async sendAppointmentMessage(input: {
      appointmentId: string;
      companyId: string;
      kind: MessageKind;
      key: string;
      forStartsAt: string;
      dueAt: string;
      /** The workflow's clock when it decided to send (a reminder never goes out at or after the start). */
      at: string;
    }): Promise<MessageOutcome> {
      return heartbeating(async () => {
        const { outcome, start } = await withTransaction(pool, async (tx) => {
          const row = await store.lockForMessage(tx, input.appointmentId);
          const existing = await store.findMessage(tx, input.appointmentId, input.key);
          if (existing) {
            const start: WorkflowStart | undefined = existing.notification_id
              ? notifications.workflowOf({ id: existing.notification_id, companyId: input.companyId, eventType: EVENT_OF[existing.kind] })
              : undefined;
            return { outcome: { status: existing.status, reason: existing.reason, notificationId: existing.notification_id }, start };
          }
          // The row is gone (its customer was deleted): nothing to send, nothing to record it on.
          if (!row) return { outcome: { status: 'skipped' as const, reason: 'the appointment no longer exists', notificationId: null } };
          const decision = decideMessage(input.kind, row, row.settings, input.forStartsAt, Date.parse(input.at));
          // start is null when the company's notifications are switched off (the row is recorded suppressed).
          let queued: { notificationId: string; start: WorkflowStart | null } | undefined;
          if (decision.send) {
            queued = await notifications.enqueueNotification(tx, input.companyId, {
              eventType: EVENT_OF[input.kind],
              notifiable: { type: 'appointment', id: input.appointmentId },
              data: { appointmentMessage: input.key },
            });
          }
          const message = await store.insertMessage(tx, {
            companyId: input.companyId,
            appointmentId: input.appointmentId,
            kind: input.kind,
            key: input.key,
            status: decision.send ? 'sent' : 'skipped',
            reason: decision.send ? null : decision.reason,
            forStartsAt: new Date(input.forStartsAt),
            dueAt: new Date(input.dueAt),
            decidedAt: new Date(input.at),
            notificationId: queued?.notificationId ?? null,
          });
          return {
            outcome: { status: message.status, reason: message.reason, notificationId: message.notification_id },
            start: queued?.start ?? undefined,
          };
        });
        if (start) await notifications.startQueued(start);
        if (outcome.status === 'skipped')
          log.info({ appointmentId: input.appointmentId, key: input.key, reason: outcome.reason }, 'message skipped');
        return outcome;
      });
    },
  };
}

export type AppointmentActivities = ReturnType<typeof createAppointmentActivities>;
