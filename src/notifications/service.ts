import { createHash, randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { ZodType, z } from 'zod';
import { withTransaction } from '../db/transaction';
import { ConflictError, DomainError, NotFoundError, UnavailableError, ValidationError, type FieldIssue } from '../errors';
import {
  cancelNotificationUpdate,
  isFinalStatus,
  notificationStateQuery,
  notificationWorkflowId,
  type NotificationLiveState,
  type NotificationWorkflowInput,
} from '../messages/notification';
import { CompanyId, NotificationEventType, NotificationStatus } from '../temporal/search-attribute-keys';
import { CONFIG_COLUMNS, entityExists, toConfigRow, listEventMappings, resolveForNotifiable } from './repository';
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
import type { notificationWorkflow } from '../../workflows/notification';

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

/** Zod issues as named fields (`notifiable.id`), unknown keys named one by one. */
function parseInput<S extends ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues: FieldIssue[] = result.error.issues.flatMap((issue) => {
    const field = (path: PropertyKey[]) => path.map(String).join('.') || '(root)';
    return issue.code === 'unrecognized_keys'
      ? issue.keys.map((k) => ({ field: field([...issue.path, k]), message: 'unknown field' }))
      : [{ field: field(issue.path), message: issue.message }];
  });
  throw new ValidationError(`invalid input: ${issues.map((i) => i.field).join(', ')}`, issues);
}

/** JSON with sorted keys: the same request body always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

function toAttemptView(r: Record<string, any>): DeliveryAttemptView {
  return {
    id: r.id,
    attemptNumber: r.attempt_number,
    channel: r.channel,
    provider: r.provider,
    recipient: r.recipient,
    isFallback: r.is_fallback,
    status: r.status,
    error: r.error,
    errorKind: r.error_kind,
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
    const { rows } = await pool.query(
      `SELECT id, company_id, event_type, notifiable_type, notifiable_id, data, status, status_reason, resolved_config,
              workflow_id, created_at, updated_at, completed_at
         FROM notifications WHERE company_id = $1 AND id = $2`,
      [companyId, id],
    );
    const r = rows[0];
    if (!r) throw new NotFoundError('notification', id);
    const attempts = await pool.query(
      `SELECT * FROM notification_deliveries WHERE company_id = $1 AND notification_id = $2 ORDER BY attempt_number, started_at, provider`,
      [companyId, id],
    );
    return {
      id: r.id,
      companyId: r.company_id,
      eventType: r.event_type,
      notifiable: { type: r.notifiable_type, id: r.notifiable_id },
      data: r.data ?? {},
      status: r.status,
      statusReason: r.status_reason,
      workflowId: r.workflow_id,
      createdAt: iso(r.created_at)!,
      updatedAt: iso(r.updated_at)!,
      completedAt: iso(r.completed_at),
      resolvedConfig: r.resolved_config,
      attempts: attempts.rows.map(toAttemptView),
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
  async function sendNotification(companyId: string, input: unknown, idempotencyKey?: string): Promise<SendNotificationResult> {
    const parsed = parseInput(SendNotificationInput, input);
    const requestHash = createHash('sha256').update(canonicalJson(parsed)).digest('hex');
    let replayOf: string | undefined;
    let id: string | undefined;
    await withTransaction(pool, async (db) => {
      if (idempotencyKey !== undefined) {
        // A concurrent request with the same key blocks here until the first one commits or rolls back.
        const claimed = await db.query(
          `INSERT INTO idempotency_keys (company_id, scope, key, request_hash) VALUES ($1, $2, $3, $4)
           ON CONFLICT (company_id, scope, key) DO NOTHING`,
          [companyId, IDEMPOTENCY_SCOPE, idempotencyKey, requestHash],
        );
        if (!claimed.rowCount) {
          const { rows } = await db.query(
            `SELECT request_hash, response_body FROM idempotency_keys WHERE company_id = $1 AND scope = $2 AND key = $3`,
            [companyId, IDEMPOTENCY_SCOPE, idempotencyKey],
          );
          if (rows[0]?.request_hash !== requestHash) {
            throw new ConflictError('this Idempotency-Key was already used with a different request', 'idempotency_key_reused');
          }
          replayOf = rows[0].response_body?.notificationId;
          if (!replayOf) throw new ConflictError('a request with this Idempotency-Key is still in progress', 'idempotency_in_progress');
          return;
        }
      }
      if (!(await entityExists(db, companyId, parsed.notifiable.type, parsed.notifiable.id))) {
        throw new NotFoundError(parsed.notifiable.type, parsed.notifiable.id);
      }
      id = randomUUID();
      const workflowId = notificationWorkflowId(id);
      await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`notification:${id}`]);
      await db.query(
        `INSERT INTO notifications (id, company_id, event_type, notifiable_type, notifiable_id, data, workflow_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, companyId, parsed.eventType, parsed.notifiable.type, parsed.notifiable.id, JSON.stringify(parsed.data), workflowId],
      );
      if (idempotencyKey !== undefined) {
        await db.query(
          `UPDATE idempotency_keys SET response_status = 202, response_body = $4 WHERE company_id = $1 AND scope = $2 AND key = $3`,
          [companyId, IDEMPOTENCY_SCOPE, idempotencyKey, JSON.stringify({ notificationId: id })],
        );
      }
      const args: NotificationWorkflowInput = { notificationId: id, companyId, eventType: parsed.eventType };
      try {
        // Bounded: during a Temporal outage the caller gets a prompt 503, not the SDK's long retry.
        // (Should the start succeed after the deadline, the rolled-back row makes that workflow
        // end without sending: see prepareNotification.)
        await temporal.withDeadline(Date.now() + startTimeoutMs, () =>
          temporal.workflow.start<typeof notificationWorkflow>('notificationWorkflow', {
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
    input: unknown,
  ): Promise<{ created: boolean; config: NotificationConfigView }> {
    const c = parseInput(NotificationConfigInput, input);
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
        issues.push({ field, message: `not a valid template: ${error.message}` });
      }
    }
    if (issues.length) throw new ValidationError(`invalid input: ${issues.map((i) => i.field).join(', ')}`, issues);
    const { rows } = await pool.query(
      `INSERT INTO notification_configurations AS nc
         (company_id, configurable_type, configurable_id, event_type, channel, fallback_channel, enabled, retry_count,
          retry_delay_minutes, retry_strategy, max_retry_delay_minutes, providers, template_subject, template_body,
          quiet_hours_start, quiet_hours_end, rate_limit_count, rate_limit_window_seconds, metadata)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
       ON CONFLICT (company_id, configurable_type, configurable_id, event_type) DO UPDATE SET
         channel = EXCLUDED.channel, fallback_channel = EXCLUDED.fallback_channel, enabled = EXCLUDED.enabled,
         retry_count = EXCLUDED.retry_count, retry_delay_minutes = EXCLUDED.retry_delay_minutes,
         retry_strategy = EXCLUDED.retry_strategy, max_retry_delay_minutes = EXCLUDED.max_retry_delay_minutes,
         providers = EXCLUDED.providers, template_subject = EXCLUDED.template_subject, template_body = EXCLUDED.template_body,
         quiet_hours_start = EXCLUDED.quiet_hours_start, quiet_hours_end = EXCLUDED.quiet_hours_end,
         rate_limit_count = EXCLUDED.rate_limit_count, rate_limit_window_seconds = EXCLUDED.rate_limit_window_seconds,
         metadata = EXCLUDED.metadata, updated_at = now()
       RETURNING ${CONFIG_COLUMNS}, (xmax = 0) AS inserted`,
      [
        companyId,
        c.configurableType,
        c.configurableId,
        c.eventType,
        c.channel ?? null,
        c.fallbackChannel ?? null,
        c.enabled ?? null,
        c.retryCount ?? null,
        c.retryDelayMinutes ?? null,
        c.retryStrategy ?? null,
        c.maxRetryDelayMinutes ?? null,
        c.providers ?? null,
        c.templateSubject ?? null,
        c.templateBody ?? null,
        c.quietHours?.start ?? null,
        c.quietHours?.end ?? null,
        c.rateLimit?.count ?? null,
        c.rateLimit?.windowSeconds ?? null,
        JSON.stringify(c.metadata ?? {}),
      ],
    );
    return { created: rows[0].inserted, config: toConfigView(rows[0]) };
  }

  /** What a notification about this notifiable would use now: settings, provenance, the config id (a dry run of the workflow's first step). */
  async function resolveNotificationConfig(companyId: string, input: unknown): Promise<ResolvedConfigView> {
    const { eventType, notifiable } = parseInput(SendNotificationInput.pick({ eventType: true, notifiable: true }), input);
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
  async function notificationAnalytics(companyId: string, query: unknown = {}): Promise<AnalyticsView> {
    const q = parseInput(AnalyticsQuery, query);
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - 7 * 86_400_000);
    if (from >= to) throw new ValidationError('invalid input: from', [{ field: 'from', message: 'from must be before to' }]);
    const { rows } = await pool.query(
      `SELECT event_type, channel,
              count(*) FILTER (WHERE status = 'sent')::int    AS sent,
              count(*) FILTER (WHERE status = 'failed')::int  AS failed,
              count(*) FILTER (WHERE is_fallback)::int        AS fallback,
              count(*) FILTER (WHERE status = 'sending')::int AS sending,
              percentile_cont(0.5)  WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE status = 'sent') AS p50,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE status = 'sent') AS p95
         FROM notification_deliveries
        WHERE company_id = $1 AND started_at >= $2 AND started_at < $3
        GROUP BY event_type, channel
        ORDER BY event_type, channel`,
      [companyId, from, to],
    );
    const list = rows.map((r) => ({
      eventType: r.event_type,
      channel: r.channel,
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
  async function sendNotificationBatch(companyId: string, input: unknown, idempotencyKey?: string): Promise<BatchResult> {
    const { items } = parseInput(SendNotificationBatchInput, input);
    const { rows } = await pool.query<{ type: string; id: string }>(
      `SELECT 'customer' AS type, id::text FROM customers WHERE company_id = $1 AND id = ANY($2::uuid[])
       UNION ALL SELECT 'staff', id::text FROM staff WHERE company_id = $1 AND id = ANY($2::uuid[])
       UNION ALL SELECT 'appointment', id::text FROM appointments WHERE company_id = $1 AND id = ANY($2::uuid[])`,
      [companyId, [...new Set(items.map((i) => i.notifiable.id))]],
    );
    const known = new Set(rows.map((r) => `${r.type}:${r.id}`));
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
