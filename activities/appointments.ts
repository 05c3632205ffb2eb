import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { EVENT_OF, type AppointmentFacts, type MessageKind, type MessageOutcome } from '../src/appointments/definitions';
import { decideMessage } from '../src/appointments/rules';
import * as store from '../src/appointments/store';
import type { WorkflowStart } from '../src/db/outbox';
import { withTransaction } from '../src/db/transaction';
import type { NotificationService } from '../src/notifications/service';
import { sendClock } from '../src/temporal/clock';

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

    /** The workflow failed (a bug in its code): the row is finished as `failed: <reason>`. */
    async recordAppointmentFailure(input: { appointmentId: string; reason: string }): Promise<void> {
      await store.recordWorkflowFailure(pool, input.appointmentId, input.reason);
      log.error({ appointmentId: input.appointmentId, reason: input.reason }, 'appointment workflow failed');
    },

    /**
     * A message step gave up: its row says `failed` with the reason (or, if the step had committed
     * after all, what it decided). Null when the appointment is gone.
     */
    async recordMessageFailure(input: {
      appointmentId: string;
      companyId: string;
      kind: MessageKind;
      key: string;
      forStartsAt: string;
      dueAt: string;
      reason: string;
      /** The workflow's clock when the step gave up. */
      at: string;
    }): Promise<MessageOutcome | null> {
      const row = await store.recordMessageFailure(pool, {
        companyId: input.companyId,
        appointmentId: input.appointmentId,
        kind: input.kind,
        key: input.key,
        reason: input.reason,
        forStartsAt: new Date(input.forStartsAt),
        dueAt: new Date(input.dueAt),
        decidedAt: new Date(input.at),
      });
      if (!row) return null;
      if (row.status === 'failed')
        log.error({ appointmentId: input.appointmentId, key: input.key, reason: row.reason }, 'message given up');
      return { status: row.status, reason: row.reason, notificationId: row.notification_id };
    },

    /**
     * One message of the appointment, decided against the row as it is (locked) and the clock of
     * this attempt (however late a retry runs, a message whose moment has passed is skipped): sent
     * (a notification queued in the same transaction, carrying the deadline to its own send, and
     * started after COMMIT) or skipped with the reason; recorded either way under its key. The
     * customer's row is locked first: an erasure committed before is seen (nothing is sent), one
     * that starts later waits for this step and then finds its notification.
     */
    async sendAppointmentMessage(input: {
      appointmentId: string;
      companyId: string;
      kind: MessageKind;
      key: string;
      forStartsAt: string;
      dueAt: string;
      /** The workflow's clock when it scheduled the step (the step decides with the later of it and its own clock). */
      at: string;
    }): Promise<MessageOutcome> {
      const at = Math.max(Date.parse(input.at), sendClock(Context.current().info));
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
          const decision = decideMessage(input.kind, row, row.settings, input.forStartsAt, at);
          // start is null when the company's notifications are switched off (the row is recorded suppressed).
          let queued: { notificationId: string; start: WorkflowStart | null } | undefined;
          if (decision.send) {
            queued = await notifications.enqueueNotification(
              tx,
              input.companyId,
              {
                eventType: EVENT_OF[input.kind],
                notifiable: { type: 'appointment', id: input.appointmentId },
                data: { appointmentMessage: input.key },
              },
              undefined,
              { deliverBefore: decision.deliverBefore },
            );
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
            decidedAt: new Date(at),
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
