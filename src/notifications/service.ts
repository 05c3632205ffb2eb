import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { claimIdempotencyKey, recordIdempotentResponse, requestHash } from '../db/idempotency';
import { withTransaction } from '../db/transaction';
import { ConflictError, DomainError, NotFoundError, UnavailableError, ValidationError, type FieldIssue } from '../errors';
import {
  cancelNotificationUpdate,
  isFinalStatus,
  notificationStateQuery,
  notificationWorkflowId,
  type NotificationLiveState,
  type NotificationWorkflowInput,
} from './definitions';
import { CompanyId, NotificationEventType, NotificationStatus } from '../temporal/search-attribute-keys';
import { resolveForNotifiable } from './context';
import {
  deliveryAnalytics,
  entityExists,
  existingNotifiables,
  findNotification,
  insertNotification,
  listAttempts,
  listEventMappings,
  toConfigRow,
  upsertConfig,
  type AttemptRow,
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
 * The notification use cases behind the HTTP routes (SPEC 5 and 8). Routes stay thin: they parse,
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
  /** How long sendNotification waits for Temporal to start the workflow before answering 503 (default 5 s). */
  startTimeoutMs?: number;
}

const IDEMPOTENCY_SCOPE = 'notifications.send';
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
      live: isFinalStatus(r.status) || options.live === false ? null : await liveState(r.workflow_id),
    };
  }

  /**
   * Creates the notification and starts its workflow as one outcome. In one transaction: the row
   * (and the idempotency key), an advisory lock on the new id, then the workflow start
   * (id `notification-<id>`, USE_EXISTING on a conflicting running id, REJECT_DUPLICATE for a
   * closed one), then COMMIT. If the start fails we roll back: no row without a workflow. If the
   * COMMIT itself fails after the start, the workflow's first activity waits on the same advisory
   * lock until the transaction has ended, finds no row and ends as failed without sending: a
   * workflow without a row does nothing and leaves nothing behind in the database.
   */
  async function sendNotification(
    companyId: string,
    parsed: SendNotificationInput,
    idempotencyKey?: string,
  ): Promise<SendNotificationResult> {
    const scope = idempotencyKey === undefined ? undefined : { companyId, scope: IDEMPOTENCY_SCOPE, key: idempotencyKey };
    let replayOf: string | undefined;
    let id: string | undefined;
    await withTransaction(pool, async (db) => {
      if (scope) {
        const claim = await claimIdempotencyKey<{ notificationId: string }>(db, scope, requestHash({ ...parsed, data: parsed.data ?? {} }));
        if (claim.kind === 'replay') {
          replayOf = claim.response.notificationId;
          return;
        }
      }
      if (!(await entityExists(db, companyId, parsed.notifiable.type, parsed.notifiable.id))) {
        throw new NotFoundError(parsed.notifiable.type, parsed.notifiable.id);
      }
      id = randomUUID();
      const workflowId = notificationWorkflowId(id);
      await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`notification:${id}`]);
      await insertNotification(db, {
        id,
        companyId,
        eventType: parsed.eventType,
        notifiable: parsed.notifiable,
        data: parsed.data ?? {},
        workflowId,
      });
      if (scope) await recordIdempotentResponse(db, scope, 202, { notificationId: id });
      const args: NotificationWorkflowInput = { notificationId: id, companyId, eventType: parsed.eventType };
      try {
        // Bounded: during a Temporal outage the caller gets a prompt 503, not the SDK's long retry.
        // (Should the start succeed after the deadline, the rolled-back row makes that workflow
        // end without sending: see prepareNotification.)
        await temporal.withDeadline(Date.now() + startTimeoutMs, () =>
          temporal.workflow.start('notificationWorkflow', {
            workflowId,
            taskQueue,
            args: [args],
            workflowIdConflictPolicy: 'USE_EXISTING',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            typedSearchAttributes: [
              { key: CompanyId, value: companyId },
              { key: NotificationEventType, value: parsed.eventType },
              { key: NotificationStatus, value: 'pending' },
            ],
          }),
        );
      } catch (error) {
        deps.logger?.error({ err: error, notificationId: id }, 'starting the notification workflow failed; rolling back');
        throw new UnavailableError(`Temporal did not start the notification workflow: ${(error as Error).message}`);
      }
    });
    // The reply is the row as written; no query to the just-started workflow (it would cost a
    // workflow task per request and add latency under load).
    if (replayOf) return { created: false, notification: await getNotification(companyId, replayOf, { live: false }) };
    return { created: true, notification: await getNotification(companyId, id!, { live: false }) };
  }

  /**
   * Cancels a notification that is still pending (waiting for a retry or its send window). A
   * final one is a ConflictError. If an attempt is in flight, the reply comes after it: delivered
   * if it got through, else cancelled.
   */
  async function cancelNotification(companyId: string, id: string, reason?: string): Promise<NotificationView> {
    const current = await getNotification(companyId, id);
    if (isFinalStatus(current.status)) throw new ConflictError(`the notification is already ${current.status}`, 'invalid_state');
    try {
      await temporal.workflow.getHandle(current.workflowId).executeUpdate(cancelNotificationUpdate, { args: [{ reason }] });
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowNotFoundError) {
        const now = await getNotification(companyId, id);
        throw new ConflictError(`the notification can no longer be cancelled (${now.status})`, 'invalid_state');
      }
      throw new UnavailableError(`Temporal did not take the cancellation: ${(error as Error).message}`);
    }
    return getNotification(companyId, id);
  }

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
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
