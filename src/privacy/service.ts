import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { WorkflowNotFoundError } from '@temporalio/client';
import * as appointmentStore from '../appointments/store';
import * as callbackStore from '../callbacks/store';
import type { CallbackService } from '../callbacks/service';
import * as consentStore from '../consent/store';
import { redactIdempotentResponses } from '../db/idempotency';
import { withTransaction } from '../db/transaction';
import * as directoryStore from '../directory/store';
import { ConflictError, NotFoundError } from '../errors';
import { dialable } from '../notifications/context';
import { CUSTOMER_ERASED } from '../notifications/definitions';
import type { NotificationService } from '../notifications/service';
import * as notificationStore from '../notifications/store';
import * as policyStore from '../policies/store';
import * as store from './store';

export interface PrivacyServiceDeps {
  pool: Pool;
  client: Client;
  logger: Logger;
  callbacks: Pick<CallbackService, 'message'>;
  notifications: Pick<NotificationService, 'cancelNotification'>;
  /** How long an erasure waits for the workflows it cancelled to close before it erases (default 15 s). */
  closeWaitMs?: number;
  clock?: () => number;
}

/** Who asked (kept on the customer's row and in the callbacks' cancellation). */
export interface PrivacyActor {
  keyId: string;
  role: 'agent' | 'manager' | 'admin';
}

export const ERASED_REASON = CUSTOMER_ERASED;

/**
 * A customer's personal data: everything held about them as one document (GDPR access and
 * portability), and its erasure (right to erasure). Each table's SQL lives in its feature's store;
 * this service composes them, the erasure in one transaction.
 */
export function createPrivacyService(deps: PrivacyServiceDeps) {
  const { pool, client, logger } = deps;
  const closeWaitMs = deps.closeWaitMs ?? 15_000;
  const clock = deps.clock ?? Date.now;

  /** Every row about the customer, read in one snapshot (REPEATABLE READ), as stored. */
  async function exportCustomer(companyId: string, customerId: string) {
    return withTransaction(pool, async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const profile = await directoryStore.customerExport(tx, companyId, customerId);
      if (!profile.customer) throw new NotFoundError('customer', customerId);
      const callbacks = await callbackStore.customerCallbacksExport(tx, companyId, customerId);
      const links: notificationStore.CustomerLinks = {
        customerId,
        appointmentIds: profile.appointments.map((a) => String(a.id)),
        callbackIds: callbacks.map((c) => String(c.id)),
      };
      const modifications = await policyStore.customerModificationsExport(tx, companyId, customerId);
      const notifications = await notificationStore.customerNotificationsExport(tx, companyId, links);
      const consent = await consentStore.customerConsentExport(tx, companyId, customerId);
      const calls = await store.customerCallsExport(tx, companyId, customerId);
      return {
        exportedAt: new Date(clock()).toISOString(),
        companyId,
        customerId,
        customer: profile.customer,
        appointments: profile.appointments,
        appointmentModifications: modifications.modifications,
        modificationStats: modifications.modificationStats,
        callbacks,
        notifications,
        consents: consent.consents,
        consentEvents: consent.consentEvents,
        calls,
      };
    });
  }

  async function linksOf(companyId: string, customerId: string) {
    const callbacks = await callbackStore.callbacksOfCustomer(pool, companyId, customerId);
    const appointmentIds = await directoryStore.appointmentIdsOfCustomer(pool, companyId, customerId);
    const links: notificationStore.CustomerLinks = { customerId, appointmentIds, callbackIds: callbacks.ids };
    return { callbacks, links };
  }

  /**
   * Stops everything that could still send to or about the customer, in an order that leaves
   * nothing behind: first the appointment workflows (no more reminders or feedback request), and
   * waits, bounded, for them to close: a cancelled run waits for a message step already in flight,
   * so the notification that step may have queued exists once the run is closed. Then the open
   * callbacks and notifications, listed only now (that notification among them), are cancelled
   * through their workflows (each row ends `cancelled` with the reason, as any cancellation would),
   * and waited for. A workflow that ended meanwhile is skipped. What still runs after the waits
   * (an attempt stuck in flight) meets the erasure in its own transaction: the message step and the
   * send attempt lock the customer's row and send nothing once the erasure has committed.
   */
  async function cancelOpenWork(companyId: string, customerId: string, actor: PrivacyActor) {
    // The appointment's workflow only sends its messages (the row stays as it is): cancelling it
    // stops the reminders and the feedback request.
    let cancelledAppointments = 0;
    const appointmentRuns: string[] = [];
    for (const a of await appointmentStore.openWorkflowsOfCustomer(pool, companyId, customerId)) {
      if (!a.started) continue;
      try {
        await client.workflow.getHandle(a.workflowId).cancel();
        cancelledAppointments += 1;
        appointmentRuns.push(a.workflowId);
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    }
    const appointmentsStillRunning = await waitForClose(appointmentRuns);

    const { callbacks, links } = await linksOf(companyId, customerId);
    const open = await notificationStore.openNotificationsOfCustomer(pool, companyId, links);
    const closing: string[] = [];
    let cancelledCallbacks = 0;
    let cancelledNotifications = 0;
    for (const c of callbacks.open) {
      try {
        await deps.callbacks.message(
          companyId,
          c.id,
          'cancel',
          { reason: ERASED_REASON },
          { kind: 'api', role: actor.role, staffId: null, label: `api-key:${actor.keyId} (${actor.role})` },
        );
        cancelledCallbacks += 1;
        closing.push(c.workflowId);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error; // ended meanwhile: nothing to cancel
      }
    }
    for (const n of open) {
      try {
        await deps.notifications.cancelNotification(companyId, n.id, ERASED_REASON);
        cancelledNotifications += 1;
        closing.push(n.workflowId);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    const stillRunning = appointmentsStillRunning + (await waitForClose(closing));
    return { callbacks: cancelledCallbacks, notifications: cancelledNotifications, appointments: cancelledAppointments, stillRunning };
  }

  /** Waits for each workflow to close (however it ends), at most `closeWaitMs` in all; returns how many did not. */
  async function waitForClose(workflowIds: string[]): Promise<number> {
    if (workflowIds.length === 0) return 0;
    const deadline = Date.now() + closeWaitMs;
    const closed = await Promise.all(
      workflowIds.map((id) =>
        client
          .withDeadline(deadline, () => client.workflow.getHandle(id).result())
          .then(
            () => true,
            (error: unknown) => !/deadline|DEADLINE_EXCEEDED/i.test(String((error as Error)?.message ?? error)),
          ),
      ),
    );
    return closed.filter((c) => !c).length;
  }

  /**
   * Erases the customer's personal data: first their open workflows are cancelled (nothing more is
   * sent to or about them), then, in one transaction, every table loses the name, addresses,
   * numbers and free text while keeping ids, states, times and amounts, so analytics, quotas and
   * fees stay correct. Idempotent: a second call changes nothing and answers `alreadyErased`.
   */
  async function eraseCustomer(companyId: string, customerId: string, actor: PrivacyActor) {
    const exists = await directoryStore.findCustomer(pool, companyId, customerId);
    if (!exists) throw new NotFoundError('customer', customerId);
    const workflowsCancelled = await cancelOpenWork(companyId, customerId, actor);
    const erasedBy = `api-key:${actor.keyId} (${actor.role})`;
    const result = await withTransaction(pool, async (tx) => {
      const identity = await directoryStore.lockCustomerIdentity(tx, companyId, customerId);
      if (!identity) throw new NotFoundError('customer', customerId);
      const { callbacks, links } = await linksOf(companyId, customerId);
      const notificationIds = (await notificationStore.customerNotificationsExport(tx, companyId, links)).map((n) => String(n.id));
      const rows: Record<string, number> = {
        ...(await notificationStore.eraseCustomerNotifications(tx, companyId, links, addressesOf(identity))),
        ...(await callbackStore.eraseCustomerCallbacks(tx, companyId, customerId)),
        ...(await policyStore.eraseCustomerModifications(tx, companyId, customerId)),
        ...(await consentStore.eraseCustomerConsentNotes(tx, companyId, customerId)),
        ...(await store.eraseCustomerCalls(tx, companyId, customerId)),
        appointment_workflows_stopped: await appointmentStore.stopCustomerWorkflows(tx, companyId, customerId, ERASED_REASON),
        idempotency_keys: await redactIdempotentResponses(tx, companyId, [
          customerId,
          ...callbacks.ids,
          ...links.appointmentIds,
          ...notificationIds,
        ]),
        // Last: the addresses above were read from this row.
        ...(await directoryStore.eraseCustomerProfile(tx, companyId, customerId, erasedBy)),
      };
      const after = await directoryStore.lockCustomerIdentity(tx, companyId, customerId);
      return { alreadyErased: identity.erasedAt !== null, erasedAt: after!.erasedAt!, erasedBy: after!.erasedBy!, rows };
    });
    logger.info({ companyId, customerId, alreadyErased: result.alreadyErased, rows: result.rows }, 'customer data erased');
    return {
      customerId,
      erasedAt: result.erasedAt.toISOString(),
      erasedBy: result.erasedBy,
      alreadyErased: result.alreadyErased,
      workflowsCancelled,
      rowsChanged: result.rows,
    };
  }

  return { exportCustomer, eraseCustomer };
}

/** Every form in which the customer's addresses may have been written (as stored, as dialled, as a WhatsApp address). */
function addressesOf(identity: directoryStore.CustomerIdentity): string[] {
  const out = new Set<string>();
  if (identity.email) out.add(identity.email);
  if (identity.phone) {
    out.add(identity.phone);
    out.add(dialable(identity.phone));
    out.add(`whatsapp:${dialable(identity.phone)}`);
  }
  if (identity.pushEndpoint) out.add(identity.pushEndpoint);
  return [...out];
}

export type PrivacyService = ReturnType<typeof createPrivacyService>;
