import { Context } from '@temporalio/activity';
import { DateTime } from 'luxon';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import * as store from '../src/callbacks/store';
import type { AssignmentResult, AttemptOutcome, CallbackStatus, EscalationReason } from '../src/callbacks/definitions';
import { withTransaction, type Queryable } from '../src/db/transaction';
import type { NotificationEventType } from '../src/notifications/definitions';
import type { NotificationService } from '../src/notifications/service';
import type { WorkflowStart } from '../src/db/outbox';

/**
 * The callback workflow's I/O: thin adapters over the feature's store. Every write is idempotent
 * (attempt, assignment and escalation keys derived by the workflow from its messages' ids and its
 * steps; notifications queued with a key in the same transaction as the change that causes them,
 * and started after COMMIT), so a retried activity never writes or notifies twice, and a step that
 * decides (an assignee, a manager) answers every retry with the decision its first try committed.
 */
export interface CallbackActivityDeps {
  pool: Pool;
  logger: Logger;
  notifications: NotificationService;
}

/** What a notification about a callback says (ids and what the staff member needs; rendered by the notification workflow). */
interface CallbackNotice {
  callbackId: string;
  companyId: string;
  to: string;
  eventType: NotificationEventType;
  /** Unique per callback and purpose, e.g. `<callback>:escalation:2`. */
  key: string;
  data: Record<string, unknown>;
}

/**
 * Runs an activity body while heartbeating every second (the workflow sets a heartbeat timeout on
 * the activities that talk to Temporal): a worker that dies mid-step is noticed within the
 * timeout, a live one is never presumed dead while it waits for the pool or for Temporal.
 */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), 1_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export function createCallbackActivities({ pool, logger, notifications }: CallbackActivityDeps) {
  const log = logger.child({ component: 'callback-activities' });

  /** The customer's name, the number to call and the callback's id, for a staff member's message. */
  async function noticeData(db: Queryable, callbackId: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const { rows } = await db.query(`SELECT customer_name, phone_number, priority, expires_at FROM callback_requests WHERE id = $1`, [
      callbackId,
    ]);
    const r = rows[0];
    return r
      ? {
          callbackId,
          customerName: r.customer_name,
          phoneNumber: r.phone_number,
          priority: r.priority,
          dueAt: r.expires_at.toISOString(),
          ...extra,
        }
      : { callbackId, ...extra };
  }

  /**
   * Queues a staff notification in the caller's transaction; the returned start runs after COMMIT
   * (null: notifications are switched off for the company, the notification is recorded suppressed).
   */
  async function queue(tx: Queryable, n: CallbackNotice): Promise<{ notificationId: string; start: WorkflowStart | null }> {
    const queued = await notifications.enqueueNotification(
      tx,
      n.companyId,
      { eventType: n.eventType, notifiable: { type: 'staff', id: n.to }, data: { ...(await noticeData(tx, n.callbackId)), ...n.data } },
      n.key,
    );
    return queued;
  }

  return {
    /** The workflow's first step: from now on the outbox reconciler leaves the row alone. */
    async markCallbackStarted(input: { callbackId: string }): Promise<void> {
      await store.markWorkflowStarted(pool, input.callbackId);
    },

    /**
     * Assigns the callback (src/callbacks/store.ts assignCallback) and tells the new assignee
     * (`staff_assigned`), in one transaction; the notification starts after COMMIT. `key` names the
     * workflow's step: a retry (the worker died after COMMIT, the completion was lost) returns the
     * decision the first try committed and restarts its notification, never choosing again.
     */
    async assignCallback(input: {
      callbackId: string;
      companyId: string;
      explicit: string | null;
      exclude: string | null;
      /** The workflow's step: `assignment:<n>`, one per assignment step of the callback's life. */
      key: string;
    }): Promise<AssignmentResult & { committedBefore?: boolean }> {
      return heartbeating(async () => {
        const { decision, start } = await withTransaction(pool, async (tx) => {
          const decision = await store.assignCallback(tx, input.callbackId, input.explicit, input.exclude, input.key);
          if (!decision.assignedTo || decision.committedBefore) return { decision, start: undefined };
          const queued = await queue(tx, {
            callbackId: input.callbackId,
            companyId: input.companyId,
            to: decision.assignedTo,
            eventType: 'staff_assigned',
            key: `${input.callbackId}:${input.key}`,
            data: { description: 'a callback to a customer', reason: decision.reason },
          });
          await store.recordAssignment(tx, {
            callbackId: input.callbackId,
            key: input.key,
            staffId: decision.assignedTo,
            reason: decision.reason,
            notificationId: queued.notificationId,
          });
          return { decision, start: queued.start };
        });
        if (start) await notifications.startQueued(start);
        else if (decision.committedBefore && decision.notificationId)
          await notifications.startPending(input.companyId, [decision.notificationId]);
        const { notificationId: _n, ...result } = decision;
        return result as AssignmentResult & { committedBefore?: boolean };
      });
    },

    async recordCallbackAttempt(input: {
      callbackId: string;
      key: string;
      staffId: string | null;
      outcome: AttemptOutcome;
      notes: string | null;
      at: string;
      status: CallbackStatus;
    }): Promise<void> {
      await withTransaction(pool, (tx) => store.insertAttempt(tx, { ...input, at: new Date(input.at) }));
    },

    /**
     * Completed, cancelled or failed, with the reason and the outcome's notes (kept beside the
     * request's own). A row already final stays as it is. A `failed` ending is the workflow's own
     * account of a step that gave up or of a bug in its code.
     */
    async finishCallback(input: {
      callbackId: string;
      status: 'completed' | 'cancelled' | 'failed';
      reason: string | null;
      notes: string | null;
      at: string;
    }): Promise<void> {
      const changed = await withTransaction(pool, (tx) =>
        store.finishCallback(tx, input.callbackId, input.status, input.reason, input.notes, new Date(input.at)),
      );
      if (changed && input.status === 'failed') log.error({ callbackId: input.callbackId, reason: input.reason }, 'callback failed');
    },

    async markCallbackBreached(input: { callbackId: string; at: string }): Promise<void> {
      await store.markBreached(pool, input.callbackId, new Date(input.at));
    },

    /** The pre-breach warning to the assignee (`callback_sla_warning`), recorded on the row. */
    async warnCallbackAssignee(input: { callbackId: string; companyId: string; staffId: string; at: string }): Promise<void> {
      return heartbeating(async () => {
        const { start } = await withTransaction(pool, async (tx) => {
          await store.markWarned(tx, input.callbackId, new Date(input.at));
          // The deadline as the assignee reads it: their own time zone.
          const { rows } = await tx.query(
            `SELECT c.expires_at, s.time_zone FROM callback_requests c JOIN staff s ON s.company_id = c.company_id AND s.id = $2 WHERE c.id = $1`,
            [input.callbackId, input.staffId],
          );
          const dueAtLocal = rows[0]
            ? DateTime.fromJSDate(rows[0].expires_at, { zone: rows[0].time_zone }).toFormat('HH:mm (ccc d LLL, ZZZZ)')
            : null;
          return queue(tx, {
            callbackId: input.callbackId,
            companyId: input.companyId,
            to: input.staffId,
            eventType: 'callback_sla_warning',
            key: `${input.callbackId}:warning`,
            data: { dueAtLocal },
          });
        });
        await notifications.startQueued(start);
      });
    },

    /**
     * An escalation: its row (to a manager of the branch, else of the company), the request's
     * escalation state and the manager's `callback_escalated` notification, in one transaction.
     * `key` names the workflow's step: a retry finds the row the first try committed and answers
     * with its manager and time (the manager may have become unavailable since; choosing again
     * would notify someone else), restarting the same notification. The escalation's time is when
     * the try that committed it ran (not when the workflow decided to escalate): the cooldown is
     * measured from it.
     */
    async escalateCallback(input: {
      callbackId: string;
      companyId: string;
      branchId: string;
      key: string;
      reason: EscalationReason;
      from: string | null;
      notes: string | null;
      /** When the workflow decided to escalate. */
      at: string;
    }): Promise<{ escalationId: string; to: string | null; notificationId: string | null; at: string; committedBefore: boolean }> {
      // The server's clock at this try (the workflow's clock, also under a time-skipping test server).
      const attemptAt = Math.max(Date.parse(input.at), Context.current().info.currentAttemptScheduledTimestampMs || 0);
      return heartbeating(async () => {
        const outcome = await withTransaction(pool, async (tx) => {
          await store.lockCallback(tx, input.callbackId);
          const before = await store.findEscalation(tx, input.callbackId, input.key);
          if (before) {
            return {
              escalationId: before.id,
              to: before.to,
              notificationId: before.notificationId,
              at: before.at.toISOString(),
              committedBefore: true,
              start: undefined,
            };
          }
          const to = await store.managerFor(tx, input.companyId, input.branchId);
          const at = new Date(attemptAt);
          const row = await store.insertEscalation(tx, {
            callbackId: input.callbackId,
            key: input.key,
            reason: input.reason,
            from: input.from,
            to,
            notes: input.notes,
            at,
          });
          const base = { escalationId: row.id, to, at: at.toISOString(), committedBefore: false };
          if (!to) return { ...base, notificationId: null, start: undefined };
          const queued = await queue(tx, {
            callbackId: input.callbackId,
            companyId: input.companyId,
            to,
            eventType: 'callback_escalated',
            key: `${input.callbackId}:escalation:${input.key}`,
            data: { reason: input.reason.replace(/_/g, ' ') },
          });
          await store.attachNotification(tx, row.id, queued.notificationId);
          return { ...base, notificationId: queued.notificationId, start: queued.start };
        });
        if (!outcome.to) log.warn({ callbackId: input.callbackId }, 'escalated, but the company has no manager to notify');
        if (outcome.start) await notifications.startQueued(outcome.start);
        else if (outcome.committedBefore && outcome.notificationId)
          await notifications.startPending(input.companyId, [outcome.notificationId]);
        const { start: _s, ...result } = outcome;
        return result;
      });
    },

    /**
     * Still open at the end of its open life: expired, and a manager is told (`callback_expired`).
     * A retry after the expiry committed restarts the notification it queued (the manager is not chosen again).
     */
    async expireCallback(input: { callbackId: string; companyId: string; branchId: string; at: string }): Promise<void> {
      return heartbeating(async () => {
        const { start, queued } = await withTransaction(pool, async (tx) => {
          await store.lockCallback(tx, input.callbackId);
          const changed = await store.finishCallback(
            tx,
            input.callbackId,
            'expired',
            'still open at the end of its open life',
            null,
            new Date(input.at),
          );
          if (!changed)
            return { start: undefined, queued: await store.queuedNoticeOf(tx, input.companyId, input.callbackId, 'callback_expired') };
          const to = await store.managerFor(tx, input.companyId, input.branchId);
          if (!to) return { start: undefined, queued: undefined };
          const notice = await queue(tx, {
            callbackId: input.callbackId,
            companyId: input.companyId,
            to,
            eventType: 'callback_expired',
            key: `${input.callbackId}:expired`,
            data: {},
          });
          return { start: notice.start, queued: undefined };
        });
        if (start) await notifications.startQueued(start);
        else if (queued) await notifications.startPending(input.companyId, [queued]);
      });
    },
  };
}

export type CallbackActivities = ReturnType<typeof createCallbackActivities>;
