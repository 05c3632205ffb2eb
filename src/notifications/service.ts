import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateStage, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { FEATURE_DISABLED } from '../companies/definitions';
import { createFeatureSwitches, type FeatureSwitches } from '../companies/features';
import { claimIdempotencyKey, recordIdempotentResponse, requestHash } from '../db/idempotency';
import { createThenStart, startCommitted, type OutboxSource, type StartOutcome, type WorkflowStart } from '../db/outbox';
import type { Queryable } from '../db/transaction';
import { DEFAULT_DURABILITY, type Durability } from '../temporal/durability';
import { ConflictError, DomainError, NotFoundError, UnavailableError, ValidationError, type FieldIssue } from '../errors';
import {
  cancelNotificationUpdate,
  isFinalStatus,
  notificationStateQuery,
  notificationWorkflowId,
  CompanyId,
  NotificationEventTypeKey,
  NotificationStatusKey,
  type CancelOutcome,
  type NotificationEventType,
  type NotificationLiveState,
  type NotificationWorkflowInput,
} from './definitions';
import { resolveForNotifiable } from './context';
import {
  deliveryAnalytics,
  entityExists,
  existingNotifiables,
  finishOrphan,
  unstartedNotifications,
  findNotification,
  insertNotification,
  listAttempts,
  listEventMappings,
  pendingNotifications,
  toConfigRow,
  upsertConfig,
  type AttemptRow,
  type NotificationRow,
} from './store';
import {
  AnalyticsQuery,
  NotificationConfigInput,
  SendNotificationInput,
  SendNotificationBatchInput,
  type BatchResult,
  type AnalyticsView,
  type DeliveryAttemptView,
  type EventTypeView,
  type NotificationConfigView,
  type NotificationView,
  type ResolvedConfigView,
  type SendNotificationResult,
} from './schemas';
import { assertTemplateSyntax, TemplateError } from './templates/render';

/**
 * The notification use cases behind the HTTP routes (docs/design.md, Notifications and API contract). Routes stay thin: they parse,
 * authorise and call these. Every query is scoped by company_id: another company's ids are
 * "not found". Errors are the shared domain errors of src/errors.ts.
 */
export interface NotificationServiceDeps {
  pool: Pool;
  /** Temporal client (starts workflows, queries live state, sends the cancel update). */
  client: Client;
  taskQueue: string;
  logger?: Logger;
  /** How long getNotification waits for the running workflow's live state (default 1.5 s). */
  liveStateTimeoutMs?: number;
  /** How long sendNotification waits for Temporal to start the workflow before leaving it to the reconciler (default 5 s). */
  startTimeoutMs?: number;
  /** How long a cancel waits for the workflow's answer before replying `cancel_requested` (default 3 s). */
  cancelTimeoutMs?: number;
  /** How patiently the workflows it starts retry infrastructure errors (default DEFAULT_DURABILITY). */
  durability?: Durability;
  /**
   * The feature switches (default: the company's own settings, every feature on otherwise). While
   * notifications are off for a company, a notification another feature sends (a callback's
   * escalation, a cancellation's notice) is recorded as `suppressed` with the reason
   * `feature_disabled`, and no workflow starts; POST /v1/notifications itself answers 409.
   */
  features?: FeatureSwitches;
}

const IDEMPOTENCY_SCOPE = 'notifications.send';
/** Keys of notifications other features queue in their own transactions. */
const ENQUEUE_SCOPE = 'notifications.enqueue';
/** Items of a batch sent at once (each is a transaction and a workflow start). */
const BATCH_CONCURRENCY = 8;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

function toAttemptView(r: AttemptRow): DeliveryAttemptView {
  return {
    id: r.id,
    attemptNumber: r.attempt_number,
    channel: r.channel,
    provider: r.provider,
    recipient: r.recipient,
    isFallback: r.is_fallback,
    status: r.status,
    error: r.error,
    errorKind: r.error_kind as DeliveryAttemptView['errorKind'],
    configId: r.config_id,
    providerMessageId: r.provider_message_id,
    providerKey: r.provider_key,
    mayHaveSent: r.may_have_sent,
    startedAt: iso(r.started_at)!,
    completedAt: iso(r.completed_at),
    latencyMs: r.latency_ms,
  };
}

export function toConfigView(r: Record<string, any>): NotificationConfigView {
  const { quietHoursStart, quietHoursEnd, rateLimitCount, rateLimitWindowSeconds, ...settings } = toConfigRow(r);
  return {
    ...settings,
    companyId: r.company_id,
    eventType: r.event_type,
    quietHours: quietHoursStart && quietHoursEnd ? { start: quietHoursStart, end: quietHoursEnd } : null,
    rateLimit: rateLimitCount && rateLimitWindowSeconds ? { count: rateLimitCount, windowSeconds: rateLimitWindowSeconds } : null,
    metadata: r.metadata ?? {},
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export function createNotificationService(deps: NotificationServiceDeps) {
  const { pool, client: temporal, taskQueue } = deps;
  const liveTimeout = deps.liveStateTimeoutMs ?? 1_500;
  const startTimeoutMs = deps.startTimeoutMs ?? 5_000;
  const cancelTimeoutMs = deps.cancelTimeoutMs ?? 3_000;
  const durability = deps.durability ?? DEFAULT_DURABILITY;
  const features = deps.features ?? createFeatureSwitches({ db: pool });

  async function liveState(workflowId: string): Promise<NotificationView['live']> {
    // The deadline cancels the gRPC call itself (no query left dangling when no worker answers).
    const state = await temporal
      .withDeadline(Date.now() + liveTimeout, () => temporal.workflow.getHandle(workflowId).query(notificationStateQuery))
      .catch((): NotificationLiveState | null => null);
    if (!state) return null;
    const { status, reason, channel, waitingFor, waitingUntil, cancelRequested } = state;
    return { status, reason, channel, waitingFor, waitingUntil, cancelRequested };
  }

  /**
   * The notification with every attempt, the resolved settings with their provenance, and, while
   * it runs, the workflow's live state (a query; `{ live: false }` skips it).
   */
  async function getNotification(companyId: string, id: string, options: { live?: boolean } = {}): Promise<NotificationView> {
    if (!UUID.test(id)) throw new NotFoundError('notification', id);
    const r = await findNotification(pool, companyId, id);
    if (!r) throw new NotFoundError('notification', id);
    const attempts = await listAttempts(pool, companyId, id);
    return toView(r, attempts, isFinalStatus(r.status) || options.live === false ? null : await liveState(r.workflow_id));
  }

  function toView(r: NotificationRow, attempts: AttemptRow[], live: NotificationView['live']): NotificationView {
    return {
      id: r.id,
      companyId: r.company_id,
      eventType: r.event_type,
      notifiable: { type: r.notifiable_type, id: r.notifiable_id },
      data: r.data ?? {},
      status: r.status as NotificationView['status'],
      statusReason: r.status_reason,
      workflowId: r.workflow_id,
      createdAt: iso(r.created_at)!,
      updatedAt: iso(r.updated_at)!,
      completedAt: iso(r.completed_at),
      resolvedConfig: r.resolved_config as NotificationView['resolvedConfig'],
      attempts: attempts.map(toAttemptView),
      live,
    };
  }

  /** The workflow that owns a notification row, with the search attributes it starts with. */
  const workflowOf = (n: { id: string; companyId: string; eventType: NotificationEventType }): WorkflowStart => {
    const args: NotificationWorkflowInput = { notificationId: n.id, companyId: n.companyId, eventType: n.eventType, durability };
    return {
      workflowType: 'notificationWorkflow',
      workflowId: notificationWorkflowId(n.id),
      args: [args],
      searchAttributes: [
        { key: CompanyId, value: n.companyId },
        { key: NotificationEventTypeKey, value: n.eventType },
        { key: NotificationStatusKey, value: 'pending' },
      ],
    };
  };

  /**
   * Creates the notification: the row (and the Idempotency-Key's response) in one short
   * transaction, then its workflow `notification-<id>` (the shared row-then-start outbox,
   * src/db/outbox.ts). Temporal being down or slow does not fail the request: the row is committed
   * and the reconciler starts its workflow. The reply is the row as written (no query to the
   * just-started workflow: it would cost a workflow task per request).
   */
  async function sendNotification(
    companyId: string,
    input: SendNotificationInput,
    idempotencyKey?: string,
  ): Promise<SendNotificationResult> {
    const request = { ...input, data: input.data ?? {} };
    // Checked before the transaction (a cached read); the route refused already when it is off.
    const suppressed = !(await features.isEnabled(companyId, 'notifications'));
    let inserted: NotificationRow | undefined;
    const { created, response } = await createThenStart<{ notificationId: string; eventType: NotificationEventType; suppressed?: true }>({
      pool,
      client: temporal,
      taskQueue,
      deadlineMs: startTimeoutMs,
      logger: deps.logger,
      idempotency:
        idempotencyKey === undefined
          ? undefined
          : { scope: { companyId, scope: IDEMPOTENCY_SCOPE, key: idempotencyKey }, requestHash: requestHash(request) },
      write: async (tx) => {
        if (!(await entityExists(tx, companyId, request.notifiable.type, request.notifiable.id))) {
          throw new NotFoundError(request.notifiable.type, request.notifiable.id);
        }
        const id = randomUUID();
        inserted = await insertNotification(tx, {
          id,
          companyId,
          ...request,
          workflowId: notificationWorkflowId(id),
          ...(suppressed ? { suppressedReason: FEATURE_DISABLED } : {}),
        });
        return { notificationId: id, eventType: request.eventType, ...(suppressed ? { suppressed: true as const } : {}) };
      },
      workflowOf: (r) =>
        r.suppressed ? null : workflowOf({ id: r.notificationId, companyId, eventType: r.eventType ?? request.eventType }),
    });
    // A new notification is the row as inserted (nothing has happened to it yet); a replay is read back.
    if (created && inserted) return { created, notification: toView(inserted, [], null) };
    return { created, notification: await getNotification(companyId, response.notificationId, { live: false }) };
  }

  /**
   * For other features' transactions (a callback escalation, an appointment change): inserts the
   * notification row inside the caller's transaction and returns the workflow to start once it has
   * committed (with `startQueued`). If the process dies in between, the reconciler starts it: the
   * notification is never lost with the change that caused it. While notifications are switched
   * off for the company (read on `tx`), the row is written `suppressed` (`feature_disabled`) and
   * `start` is null: nothing runs, and the record shows why.
   */
  async function enqueueNotification(
    tx: Queryable,
    companyId: string,
    input: SendNotificationInput,
    /** Makes a retried caller (an activity) find the notification it queued instead of queueing another. */
    idempotencyKey?: string,
    /** deliverBefore: the instant from which the message has lost its point (it is never sent at or after it). */
    options: { deliverBefore?: Date } = {},
  ): Promise<{ notificationId: string; start: WorkflowStart | null; created: boolean }> {
    const request = { ...input, data: input.data ?? {} };
    const scope = idempotencyKey === undefined ? undefined : { companyId, scope: ENQUEUE_SCOPE, key: idempotencyKey };
    if (scope) {
      const claim = await claimIdempotencyKey<{ notificationId: string; suppressed?: true }>(tx, scope, requestHash(request));
      if (claim.kind === 'replay') {
        const id = claim.response.notificationId;
        const start = claim.response.suppressed ? null : workflowOf({ id, companyId, eventType: request.eventType });
        return { notificationId: id, start, created: false };
      }
    }
    if (!(await entityExists(tx, companyId, request.notifiable.type, request.notifiable.id))) {
      throw new NotFoundError(request.notifiable.type, request.notifiable.id);
    }
    const suppressed = !(await features.isEnabled(companyId, 'notifications', tx));
    const id = randomUUID();
    await insertNotification(tx, {
      id,
      companyId,
      ...request,
      workflowId: notificationWorkflowId(id),
      ...(suppressed ? { suppressedReason: FEATURE_DISABLED } : {}),
      ...(options.deliverBefore ? { deliverBefore: options.deliverBefore } : {}),
    });
    if (scope) await recordIdempotentResponse(tx, scope, 201, { notificationId: id, ...(suppressed ? { suppressed: true } : {}) });
    return { notificationId: id, start: suppressed ? null : workflowOf({ id, companyId, eventType: request.eventType }), created: true };
  }

  /**
   * Starts a queued notification's workflow after its transaction committed (never throws for
   * Temporal: the reconciler catches up). Null (a suppressed notification): nothing to start.
   */
  const startQueued = async (start: WorkflowStart | null | undefined): Promise<StartOutcome> =>
    start ? startCommitted(start, { client: temporal, taskQueue, deadlineMs: startTimeoutMs, logger: deps.logger }) : 'none';

  /**
   * Makes sure the workflows of these notifications run, for those still pending (a replayed
   * request whose first run may have lost its starts); final ones (suppressed, delivered) are left alone.
   */
  async function startPending(companyId: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const rows = await pendingNotifications(pool, companyId, ids);
    await Promise.all(rows.map((r) => startQueued(workflowOf({ id: r.id, companyId, eventType: r.event_type }))));
  }

  /**
   * Cancels a notification. A final one is a ConflictError. While it waits, it is cancelled at once
   * (`outcome: 'cancelled'`); while an attempt is in flight the answer is `cancel_requested` (the
   * attempt decides: delivered, or cancelled with no further attempt). Answers within
   * `cancelTimeoutMs` even when the workflow is slow to take the update (then `cancel_requested`
   * too: the update is accepted, or it is not and the call fails with 503).
   */
  async function cancelNotification(
    companyId: string,
    id: string,
    reason?: string,
  ): Promise<{ outcome: 'cancelled' | 'cancel_requested' | 'delivered' | 'failed' | 'suppressed'; notification: NotificationView }> {
    const current = await getNotification(companyId, id, { live: false });
    if (isFinalStatus(current.status)) throw new ConflictError(`the notification is already ${current.status}`, 'invalid_state');
    const handle = temporal.workflow.getHandle(current.workflowId);
    let answer: CancelOutcome | 'timeout';
    try {
      const update = await temporal.withDeadline(Date.now() + cancelTimeoutMs, () =>
        handle.startUpdate(cancelNotificationUpdate, { args: [{ reason }], waitForStage: WorkflowUpdateStage.ACCEPTED }),
      );
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), cancelTimeoutMs).unref());
      answer = await Promise.race([update.result(), timeout]);
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowNotFoundError) {
        const now = await getNotification(companyId, id, { live: false });
        throw new ConflictError(`the notification can no longer be cancelled (${now.status})`, 'invalid_state');
      }
      throw new UnavailableError(`Temporal did not take the cancellation: ${(error as Error).message}`);
    }
    const outcome = answer === 'timeout' || answer.status === 'cancelRequested' ? 'cancel_requested' : answer.status;
    return { outcome, notification: await getNotification(companyId, id) };
  }

  /** The reconciler's view of notifications (src/db/outbox.ts): rows whose workflow never ran, and orphans. */
  const outbox: OutboxSource = {
    workflowType: 'notificationWorkflow',
    unstarted: async (db, options) =>
      (await unstartedNotifications(db, options)).map((r) => workflowOf({ id: r.id, companyId: r.company_id, eventType: r.event_type })),
    closeOrphan: async (db, workflowId, closeStatus) => {
      const cancelled = closeStatus === 'CANCELLED';
      const reason = `the workflow ended ${closeStatus.toLowerCase().replace(/_/g, ' ')} without finishing the notification (reconciled)`;
      return finishOrphan(db, workflowId, cancelled ? 'cancelled' : 'failed', reason);
    },
  };

  /** Creates or replaces the configuration of one entity for one event (NULL settings inherit). */
  async function upsertNotificationConfig(
    companyId: string,
    c: NotificationConfigInput,
  ): Promise<{ created: boolean; config: NotificationConfigView }> {
    const exists =
      c.configurableType === 'company'
        ? c.configurableId === companyId
        : await entityExists(pool, companyId, c.configurableType, c.configurableId);
    if (!exists) throw new NotFoundError(c.configurableType, c.configurableId);
    const issues: FieldIssue[] = [];
    for (const field of ['templateSubject', 'templateBody'] as const) {
      const source = c[field];
      if (!source) continue;
      try {
        assertTemplateSyntax(source);
      } catch (error) {
        if (!(error instanceof TemplateError)) throw error;
        issues.push({ field: `body.${field}`, message: `not a valid template: ${error.message}` });
      }
    }
    if (issues.length) throw new ValidationError(`invalid input: ${issues.map((i) => i.field).join(', ')}`, issues);
    const row = await upsertConfig(pool, companyId, c);
    return { created: row.inserted, config: toConfigView(row) };
  }

  /** What a notification about this notifiable would use now: settings, provenance, the config id (a dry run of the workflow's first step). */
  async function resolveNotificationConfig(
    companyId: string,
    { eventType, notifiable }: Pick<SendNotificationInput, 'eventType' | 'notifiable'>,
  ): Promise<ResolvedConfigView> {
    const found = await resolveForNotifiable(pool, companyId, eventType, notifiable);
    if (!found) throw new NotFoundError(notifiable.type, notifiable.id);
    return found.resolved;
  }

  /** The seeded event types with their default channels. */
  async function listEventTypes(): Promise<EventTypeView[]> {
    return (await listEventMappings(pool)).map((m) => ({
      eventType: m.eventType,
      description: m.description,
      defaultChannel: m.channel,
      defaultFallbackChannel: m.fallbackChannel,
      isUrgent: m.isUrgent,
      messageKind: m.messageKind,
    }));
  }

  /**
   * Attempts per event and channel in [from, to): sent, failed, fallback (attempts on a fallback
   * channel) and in flight, with p50/p95 provider latency of the sent ones (percentile_cont).
   */
  async function notificationAnalytics(companyId: string, q: { from?: Date; to?: Date } = {}): Promise<AnalyticsView> {
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - 7 * 86_400_000);
    if (from >= to) throw new ValidationError('invalid input: from', [{ field: 'query.from', message: 'must be before to' }]);
    const rows = await deliveryAnalytics(pool, companyId, from, to);
    const list = rows.map((r) => ({
      eventType: r.event_type as AnalyticsView['rows'][number]['eventType'],
      channel: r.channel as AnalyticsView['rows'][number]['channel'],
      sent: r.sent,
      failed: r.failed,
      fallback: r.fallback,
      sending: r.sending,
      latencyP50Ms: r.p50 === null ? null : Number(r.p50),
      latencyP95Ms: r.p95 === null ? null : Number(r.p95),
    }));
    const sum = (k: 'sent' | 'failed' | 'fallback' | 'sending') => list.reduce((n, r) => n + r[k], 0);
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      rows: list,
      totals: { sent: sum('sent'), failed: sum('failed'), fallback: sum('fallback'), sending: sum('sending') },
    };
  }

  /**
   * Many notifications in one request (e.g. tomorrow's reminders). The whole batch is checked
   * first: an invalid item (400 naming `items.N.field`) or a recipient the company does not have
   * (404 naming the item) sends nothing. Then each item is its own notification (row + workflow),
   * sent a few at a time; one item's failure (e.g. Temporal unavailable) does not stop the others
   * and is reported on that item. With an Idempotency-Key, item N uses `<key>:N`, so repeating the
   * request creates only what is missing.
   */
  async function sendNotificationBatch(
    companyId: string,
    { items }: SendNotificationBatchInput,
    idempotencyKey?: string,
  ): Promise<BatchResult> {
    const known = await existingNotifiables(
      pool,
      companyId,
      items.map((i) => i.notifiable.id),
    );
    const missing = items.findIndex((i) => !known.has(`${i.notifiable.type}:${i.notifiable.id}`));
    if (missing >= 0)
      throw new NotFoundError(`items.${missing}.notifiable: ${items[missing].notifiable.type}`, items[missing].notifiable.id);

    const results: BatchResult['results'] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const index = next++;
        try {
          const { created, notification } = await sendNotification(
            companyId,
            items[index],
            idempotencyKey === undefined ? undefined : `${idempotencyKey}:${index}`,
          );
          results[index] = {
            index,
            status: created ? 'accepted' : 'replayed',
            notificationId: notification.id,
            workflowId: notification.workflowId,
          };
        } catch (error) {
          const e = error instanceof DomainError ? error : new UnavailableError((error as Error).message);
          results[index] = { index, status: 'error', error: { code: e.code, message: e.message } };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, items.length) }, worker));
    const count = (status: string) => results.filter((r) => r.status === status).length;
    return { accepted: count('accepted'), replayed: count('replayed'), failed: count('error'), results };
  }

  return {
    sendNotification,
    sendNotificationBatch,
    getNotification,
    cancelNotification,
    upsertNotificationConfig,
    resolveNotificationConfig,
    listEventTypes,
    notificationAnalytics,
    enqueueNotification,
    startQueued,
    startPending,
    /** The workflow a notification row stands for (to make sure one started, e.g. when a request is replayed). */
    workflowOf,
    outbox,
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
