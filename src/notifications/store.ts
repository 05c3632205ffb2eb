import type { MessageKind } from '../consent/definitions';
import type { Queryable } from '../db/transaction';
import type { Channel, NotificationEventType } from './definitions';
import { hierarchyChain, type EventDefaults, type HierarchyContext, type NotifiableType, type NotificationConfigRow } from './rules';

/**
 * Every SQL statement on the notification tables (configurations, event mappings, notifications,
 * delivery attempts), as named operations. Every query is scoped by company_id where the table has one.
 */
export interface EventMapping extends EventDefaults {
  eventType: NotificationEventType;
  description: string;
  isUrgent: boolean;
  /** Transactional or optional: the consent a customer must have given (src/consent). */
  messageKind: MessageKind;
}

const toMapping = (r: Record<string, any>): EventMapping => ({
  eventType: r.event_type,
  description: r.description,
  channel: r.default_channel,
  fallbackChannel: r.default_fallback_channel,
  isUrgent: r.is_urgent,
  messageKind: r.message_kind,
});

/** The seeded event types never change while a process runs (only a migration adds one): read them once. */
let mappings: Promise<EventMapping[]> | undefined;

export async function listEventMappings(db: Queryable): Promise<EventMapping[]> {
  mappings ??= db
    .query(
      `SELECT event_type, description, default_channel, default_fallback_channel, is_urgent, message_kind FROM notification_event_mappings ORDER BY event_type`,
    )
    .then(({ rows }) => rows.map(toMapping));
  return mappings.catch((error) => {
    mappings = undefined;
    throw error;
  });
}

export async function loadEventMapping(db: Queryable, eventType: string): Promise<EventMapping | null> {
  return (await listEventMappings(db)).find((m) => m.eventType === eventType) ?? null;
}

/** Whether an entity of the hierarchy exists in the company. */
export async function entityExists(
  db: Queryable,
  companyId: string,
  type: 'company' | 'branch' | 'service' | 'staff' | NotifiableType,
  id: string,
): Promise<boolean> {
  const table = {
    company: 'companies',
    branch: 'branches',
    service: 'services',
    staff: 'staff',
    customer: 'customers',
    appointment: 'appointments',
  }[type];
  const sql =
    type === 'company' ? `SELECT 1 FROM companies WHERE id = $1 AND id = $2` : `SELECT 1 FROM ${table} WHERE company_id = $1 AND id = $2`;
  const { rowCount } = await db.query(sql, [companyId, id]);
  return (rowCount ?? 0) > 0;
}

const CONFIG_COLUMNS = `id, company_id, configurable_type, configurable_id, event_type, channel, fallback_channel, enabled,
  retry_count, retry_delay_minutes, retry_strategy, max_retry_delay_minutes, providers, template_subject, template_body,
  to_char(quiet_hours_start, 'HH24:MI:SS') AS quiet_hours_start, to_char(quiet_hours_end, 'HH24:MI:SS') AS quiet_hours_end,
  rate_limit_count, rate_limit_window_seconds, channel_order, metadata, created_at, updated_at`;
export { CONFIG_COLUMNS };

export function toConfigRow(r: Record<string, any>): NotificationConfigRow {
  return {
    id: r.id,
    configurableType: r.configurable_type,
    configurableId: r.configurable_id,
    channel: r.channel,
    fallbackChannel: r.fallback_channel,
    enabled: r.enabled,
    retryCount: r.retry_count,
    retryDelayMinutes: r.retry_delay_minutes,
    retryStrategy: r.retry_strategy,
    maxRetryDelayMinutes: r.max_retry_delay_minutes,
    providers: r.providers,
    templateSubject: r.template_subject,
    templateBody: r.template_body,
    quietHoursStart: r.quiet_hours_start,
    quietHoursEnd: r.quiet_hours_end,
    rateLimitCount: r.rate_limit_count,
    rateLimitWindowSeconds: r.rate_limit_window_seconds,
    channelOrder: r.channel_order,
  };
}

/** Creates or replaces the configuration of one entity for one event (NULL settings inherit); `inserted` tells which. */
export async function upsertConfig(
  db: Queryable,
  companyId: string,
  c: {
    configurableType: string;
    configurableId: string;
    eventType: string;
    channel?: string | null;
    fallbackChannel?: string | null;
    enabled?: boolean | null;
    retryCount?: number | null;
    retryDelayMinutes?: number | null;
    retryStrategy?: string | null;
    maxRetryDelayMinutes?: number | null;
    providers?: string[] | null;
    templateSubject?: string | null;
    templateBody?: string | null;
    quietHours?: { start: string; end: string } | null;
    rateLimit?: { count: number; windowSeconds: number } | null;
    channelOrder?: string[] | null;
    metadata?: Record<string, unknown>;
  },
): Promise<Record<string, any> & { inserted: boolean }> {
  const { rows } = await db.query(
    `INSERT INTO notification_configurations AS nc
         (company_id, configurable_type, configurable_id, event_type, channel, fallback_channel, enabled, retry_count,
          retry_delay_minutes, retry_strategy, max_retry_delay_minutes, providers, template_subject, template_body,
          quiet_hours_start, quiet_hours_end, rate_limit_count, rate_limit_window_seconds, metadata, channel_order)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
       ON CONFLICT (company_id, configurable_type, configurable_id, event_type) DO UPDATE SET
         channel = EXCLUDED.channel, fallback_channel = EXCLUDED.fallback_channel, enabled = EXCLUDED.enabled,
         retry_count = EXCLUDED.retry_count, retry_delay_minutes = EXCLUDED.retry_delay_minutes,
         retry_strategy = EXCLUDED.retry_strategy, max_retry_delay_minutes = EXCLUDED.max_retry_delay_minutes,
         providers = EXCLUDED.providers, template_subject = EXCLUDED.template_subject, template_body = EXCLUDED.template_body,
         quiet_hours_start = EXCLUDED.quiet_hours_start, quiet_hours_end = EXCLUDED.quiet_hours_end,
         rate_limit_count = EXCLUDED.rate_limit_count, rate_limit_window_seconds = EXCLUDED.rate_limit_window_seconds,
         metadata = EXCLUDED.metadata, channel_order = EXCLUDED.channel_order, updated_at = now()
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
      c.channelOrder ?? null,
    ],
  );
  return rows[0];
}

/** The configuration rows on the context's chain for one event (at most one per level). */
export async function loadConfigRows(db: Queryable, ctx: HierarchyContext, eventType: string): Promise<NotificationConfigRow[]> {
  const chain = hierarchyChain(ctx);
  const { rows } = await db.query(
    `SELECT ${CONFIG_COLUMNS}
       FROM notification_configurations
      WHERE company_id = $1 AND event_type = $2
        AND (configurable_type, configurable_id) IN (SELECT * FROM unnest($3::text[], $4::uuid[]))`,
    [ctx.companyId, eventType, chain.map((c) => c.level), chain.map((c) => c.id)],
  );
  return rows.map(toConfigRow);
}

// ---- notifications and their attempts ----

/** The finished statuses: a row in one of them never changes status again. */
const FINAL = `('delivered', 'failed', 'suppressed', 'cancelled')`;

export interface NotificationRow {
  id: string;
  company_id: string;
  event_type: NotificationEventType;
  notifiable_type: NotifiableType;
  notifiable_id: string;
  data: Record<string, unknown> | null;
  status: string;
  status_reason: string | null;
  resolved_config: unknown;
  workflow_id: string;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
  /** Not sent at or after this instant (a reminder: its appointment's start); null: no such moment. */
  deliver_before?: Date | null;
}

/** A new notification, pending its workflow; with `suppressedReason`, already final (`suppressed`): no workflow will run. */
export async function insertNotification(
  db: Queryable,
  row: {
    id: string;
    companyId: string;
    eventType: string;
    notifiable: { type: string; id: string };
    data: unknown;
    workflowId: string;
    suppressedReason?: string;
    deliverBefore?: Date;
  },
): Promise<NotificationRow> {
  const { rows } = await db.query<NotificationRow>(
    `INSERT INTO notifications
       (id, company_id, event_type, notifiable_type, notifiable_id, data, workflow_id, status, status_reason, completed_at, deliver_before)
     VALUES ($1, $2, $3, $4, $5, $6, $7,
             CASE WHEN $8::text IS NULL THEN 'pending' ELSE 'suppressed' END, $8, CASE WHEN $8::text IS NULL THEN NULL ELSE now() END, $9)
     RETURNING id, company_id, event_type, notifiable_type, notifiable_id, data, status, status_reason, resolved_config,
               workflow_id, created_at, updated_at, completed_at, deliver_before`,
    [
      row.id,
      row.companyId,
      row.eventType,
      row.notifiable.type,
      row.notifiable.id,
      JSON.stringify(row.data ?? {}),
      row.workflowId,
      row.suppressedReason ?? null,
      row.deliverBefore ?? null,
    ],
  );
  return rows[0];
}

/** Of these notifications of the company, the ones still pending (their workflow may not have started). */
export async function pendingNotifications(
  db: Queryable,
  companyId: string,
  ids: string[],
): Promise<Array<{ id: string; event_type: NotificationEventType }>> {
  const { rows } = await db.query(
    `SELECT id, event_type FROM notifications WHERE company_id = $1 AND id = ANY($2::uuid[]) AND status = 'pending'`,
    [companyId, ids],
  );
  return rows;
}

export async function findNotification(db: Queryable, companyId: string, id: string): Promise<NotificationRow | undefined> {
  const { rows } = await db.query<NotificationRow>(
    `SELECT id, company_id, event_type, notifiable_type, notifiable_id, data, status, status_reason, resolved_config,
            workflow_id, created_at, updated_at, completed_at, deliver_before
       FROM notifications WHERE company_id = $1 AND id = $2`,
    [companyId, id],
  );
  return rows[0];
}

export async function saveResolvedConfig(db: Queryable, id: string, resolved: unknown): Promise<void> {
  await db.query(`UPDATE notifications SET resolved_config = $2, updated_at = now() WHERE id = $1`, [id, JSON.stringify(resolved)]);
}

/** Rows committed at least `graceSeconds` ago whose workflow has not run its first step (the reconciler's scan). */
export async function unstartedNotifications(
  db: Queryable,
  options: { graceSeconds: number; limit: number; companyIds?: string[] },
): Promise<Array<{ id: string; company_id: string; event_type: NotificationEventType }>> {
  const { rows } = await db.query(
    `SELECT id, company_id, event_type FROM notifications
      WHERE status = 'pending' AND resolved_config IS NULL AND created_at < now() - make_interval(secs => $1)
        AND ($3::uuid[] IS NULL OR company_id = ANY($3::uuid[]))
      ORDER BY created_at LIMIT $2`,
    [options.graceSeconds, options.limit, options.companyIds ?? null],
  );
  return rows;
}

/** A workflow ended without a final status on its row (terminated, timed out): write one; true if the row changed. */
export async function finishOrphan(db: Queryable, workflowId: string, status: 'failed' | 'cancelled', reason: string): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM notifications WHERE workflow_id = $1 AND status NOT IN ${FINAL}`, [
    workflowId,
  ]);
  if (!rows[0]) return false;
  await closeUnreportedAttempts(db, rows[0].id);
  await finishNotification(db, rows[0].id, status, reason);
  return true;
}

/** Shows a wait (for a retry or the send window) on the row; the workflow holds the timer. */
export async function markNotificationWaiting(db: Queryable, id: string, reason: string): Promise<void> {
  await db.query(
    `UPDATE notifications SET status = 'waiting', status_reason = $2, updated_at = now() WHERE id = $1 AND status NOT IN ${FINAL}`,
    [id, reason],
  );
}

export async function markNotificationSending(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE notifications SET status = 'sending', status_reason = NULL, updated_at = now() WHERE id = $1 AND status NOT IN ${FINAL}`,
    [id],
  );
}

/** Writes a final status with its reason; a row already final stays as it is. */
export async function finishNotification(db: Queryable, id: string, status: string, reason: string | null): Promise<void> {
  await db.query(
    `UPDATE notifications SET status = $2, status_reason = $3, completed_at = now(), updated_at = now()
      WHERE id = $1 AND status NOT IN ${FINAL}`,
    [id, status, reason],
  );
}

export interface AttemptRow {
  id: string;
  company_id: string;
  notification_id: string;
  config_id: string | null;
  event_type: string;
  channel: Channel;
  provider: string;
  recipient: string;
  attempt_number: number;
  is_fallback: boolean;
  status: 'sending' | 'sent' | 'failed';
  error: string | null;
  error_kind: string | null;
  provider_message_id: string | null;
  idempotency_key: string;
  provider_key: string;
  may_have_sent: boolean;
  started_at: Date;
  completed_at: Date | null;
  latency_ms: number | null;
}

export async function listAttempts(db: Queryable, companyId: string, notificationId: string): Promise<AttemptRow[]> {
  const { rows } = await db.query<AttemptRow>(
    `SELECT * FROM notification_deliveries WHERE company_id = $1 AND notification_id = $2 ORDER BY attempt_number, started_at, provider`,
    [companyId, notificationId],
  );
  return rows;
}

export interface AttemptIdentity {
  notificationId: string;
  companyId: string;
  eventType: string;
  configId: string | null;
  channel: Channel;
  provider: string;
  attempt: number;
  isFallback: boolean;
  recipient: string;
  /** `<notification>:<attempt>:<provider>`: a retried activity finds its row instead of adding one. */
  key: string;
  /** The key the provider sees (default `key`): an earlier ambiguous attempt's on the same provider. */
  providerKey?: string;
}

/** An attempt that failed before reaching a provider (no address, no provider, template error); idempotent. */
export async function insertFailedAttempt(
  db: Queryable,
  a: AttemptIdentity,
  errorKind: 'permanent' | 'template',
  error: string,
): Promise<void> {
  await db.query(
    `INSERT INTO notification_deliveries
       (company_id, notification_id, config_id, event_type, channel, provider, recipient, attempt_number, is_fallback,
        status, error, error_kind, idempotency_key, provider_key, completed_at, latency_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'failed', $10, $11, $12, $12, now(), 0)
     ON CONFLICT (idempotency_key) DO NOTHING`,
    [
      a.companyId,
      a.notificationId,
      a.configId,
      a.eventType,
      a.channel,
      a.provider,
      a.recipient,
      a.attempt,
      a.isFallback,
      error,
      errorKind,
      a.key,
    ],
  );
}

export type Reservation =
  | { kind: 'new' | 'existing'; row: Pick<AttemptRow, 'id' | 'status' | 'error' | 'error_kind' | 'provider_message_id' | 'latency_ms'> }
  | { kind: 'limited'; sent: number };

/**
 * Reserves an attempt inside the caller's transaction: finds the row of a previous execution of
 * the same attempt, or checks the recipient's rate limit and inserts a row in status 'sending'.
 * With a rate limit, check-and-insert is serialised per recipient and channel (advisory lock), so
 * two concurrent sends cannot both pass.
 */
/** Whether an attempt row with this key exists (an attempt an earlier execution reserved). */
/** The status of an attempt row (sending, sent, failed); undefined when no execution reserved it. */
export async function attemptStatus(db: Queryable, key: string): Promise<string | undefined> {
  const { rows } = await db.query(`SELECT status FROM notification_deliveries WHERE idempotency_key = $1`, [key]);
  return rows[0]?.status;
}

/**
 * Whether the customer a notification is to or about (a customer, or an appointment's customer)
 * has had their personal data erased, with that customer's row locked FOR SHARE until the caller's
 * transaction ends: an erasure (which locks it FOR UPDATE first) is then either committed and seen,
 * or waits until the caller's writes are committed and erases them. False for staff notifications.
 */
export async function aboutErasedCustomer(tx: Queryable, notificationId: string): Promise<boolean> {
  const { rows } = await tx.query(
    `SELECT c.erased_at IS NOT NULL AS erased
       FROM notifications n
       JOIN customers c ON c.company_id = n.company_id
        AND c.id = CASE n.notifiable_type
                     WHEN 'customer' THEN n.notifiable_id
                     WHEN 'appointment' THEN (SELECT a.customer_id FROM appointments a WHERE a.company_id = n.company_id AND a.id = n.notifiable_id)
                   END
      WHERE n.id = $1
        FOR SHARE OF c`,
    [notificationId],
  );
  return rows[0]?.erased === true;
}

export async function attemptExists(db: Queryable, key: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM notification_deliveries WHERE idempotency_key = $1`, [key]);
  return (rowCount ?? 0) > 0;
}

export async function reserveAttempt(
  tx: Queryable,
  a: AttemptIdentity,
  rateLimit: { count: number; windowSeconds: number } | null,
): Promise<Reservation> {
  const values = [
    a.companyId,
    a.notificationId,
    a.configId,
    a.eventType,
    a.channel,
    a.provider,
    a.recipient,
    a.attempt,
    a.isFallback,
    a.key,
    a.providerKey ?? a.key,
  ];
  if (!rateLimit) {
    // One statement: insert the attempt and show 'sending' on the notification, or find the row a
    // previous execution of this attempt inserted (the CTE's snapshot does not see its own insert).
    const { rows } = await tx.query(
      `WITH ins AS (
         INSERT INTO notification_deliveries
           (company_id, notification_id, config_id, event_type, channel, provider, recipient, attempt_number, is_fallback,
            idempotency_key, provider_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id, status, error, error_kind, provider_message_id, latency_ms),
       sending AS (
         UPDATE notifications SET status = 'sending', status_reason = NULL, updated_at = now()
          WHERE id = $2 AND status NOT IN ${FINAL} AND EXISTS (SELECT 1 FROM ins))
       SELECT 'new' AS kind, * FROM ins
       UNION ALL
       SELECT 'existing', id, status, error, error_kind, provider_message_id, latency_ms
         FROM notification_deliveries WHERE idempotency_key = $10`,
      values,
    );
    const { kind, ...row } = rows[0];
    return { kind, row } as Reservation;
  }
  // With a rate limit, check-and-insert is serialised per recipient and channel in the caller's transaction.
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`rate:${a.companyId}:${a.channel}:${a.recipient}`]);
  const existing = await tx.query(
    `SELECT id, status, error, error_kind, provider_message_id, latency_ms FROM notification_deliveries WHERE idempotency_key = $1`,
    [a.key],
  );
  if (existing.rows[0]) return { kind: 'existing', row: existing.rows[0] };
  const { rows } = await tx.query(
    `SELECT count(*)::int AS n FROM notification_deliveries
      WHERE company_id = $1 AND channel = $2 AND recipient = $3 AND status <> 'failed'
        AND started_at > now() - make_interval(secs => $4)`,
    [a.companyId, a.channel, a.recipient, rateLimit.windowSeconds],
  );
  if (rows[0].n >= rateLimit.count) return { kind: 'limited', sent: rows[0].n };
  const inserted = await tx.query(
    `INSERT INTO notification_deliveries
       (company_id, notification_id, config_id, event_type, channel, provider, recipient, attempt_number, is_fallback,
        idempotency_key, provider_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING id, status, error, error_kind, provider_message_id, latency_ms`,
    values,
  );
  await markNotificationSending(tx, a.notificationId);
  return { kind: 'new', row: inserted.rows[0] };
}

/** A re-executed attempt on a provider that cannot deduplicate: the message may go out twice. */
export async function markMayHaveSent(db: Queryable, attemptId: string): Promise<void> {
  await db.query(`UPDATE notification_deliveries SET may_have_sent = true WHERE id = $1`, [attemptId]);
}

/** Records a provider's answer on the attempt row; a sent attempt makes the notification delivered in the same statement batch. */
export async function recordAttemptOutcome(
  db: Queryable,
  attemptId: string,
  notificationId: string,
  outcome: { status: 'sent'; providerMessageId: string | null } | { status: 'failed'; errorKind: string; error: string },
  latencyMs: number,
  ambiguous: boolean,
  deliveredReason: string | null = null,
): Promise<void> {
  // One statement, so atomic without a transaction: the attempt, and for a sent one the
  // notification's final state, change together.
  await db.query(
    `WITH attempt AS (
       UPDATE notification_deliveries
          SET status = $2, error = $3, error_kind = $4, provider_message_id = $5, completed_at = now(), latency_ms = $6,
              may_have_sent = may_have_sent OR $7
        WHERE id = $1 AND status = 'sending'
        RETURNING status)
     UPDATE notifications SET status = 'delivered', status_reason = $9, completed_at = now(), updated_at = now()
      WHERE id = $8 AND $2 = 'sent' AND status NOT IN ${FINAL}`,
    [
      attemptId,
      outcome.status,
      outcome.status === 'failed' ? outcome.error : null,
      outcome.status === 'failed' ? outcome.errorKind : null,
      outcome.status === 'sent' ? outcome.providerMessageId : null,
      latencyMs,
      ambiguous,
      notificationId,
      deliveredReason,
    ],
  );
}

/** An attempt whose activity ended without an outcome: say so rather than leave it 'sending'. */
export async function closeUnreportedAttempts(db: Queryable, notificationId: string): Promise<void> {
  await db.query(
    `UPDATE notification_deliveries
        SET status = 'failed', error_kind = 'unknown', error = 'the attempt never reported an outcome', may_have_sent = true, completed_at = now()
      WHERE notification_id = $1 AND status = 'sending'`,
    [notificationId],
  );
}

/** The push service said the subscription expired (404/410): forget it, as RFC 8030 asks. */
export async function clearPushSubscription(db: Queryable, companyId: string, endpoint: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE customers SET push_subscription = NULL, updated_at = now()
      WHERE company_id = $1 AND push_subscription->>'endpoint' = $2`,
    [companyId, endpoint],
  );
  return rowCount ?? 0;
}

/** Which of these recipients the company has, as `type:id`. */
export async function existingNotifiables(db: Queryable, companyId: string, ids: string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ type: string; id: string }>(
    `SELECT 'customer' AS type, id::text FROM customers WHERE company_id = $1 AND id = ANY($2::uuid[])
     UNION ALL SELECT 'staff', id::text FROM staff WHERE company_id = $1 AND id = ANY($2::uuid[])
     UNION ALL SELECT 'appointment', id::text FROM appointments WHERE company_id = $1 AND id = ANY($2::uuid[])`,
    [companyId, [...new Set(ids)]],
  );
  return new Set(rows.map((r) => `${r.type}:${r.id}`));
}

// ---- analytics ----

export interface AnalyticsRowData {
  event_type: string;
  channel: string;
  sent: number;
  failed: number;
  fallback: number;
  sending: number;
  p50: number | null;
  p95: number | null;
}

/** Attempts per event and channel in [from, to), with p50/p95 latency of the sent ones. */
export async function deliveryAnalytics(db: Queryable, companyId: string, from: Date, to: Date): Promise<AnalyticsRowData[]> {
  const { rows } = await db.query<AnalyticsRowData>(
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
  return rows;
}

// ---- personal data (export and erasure, src/privacy/) ----

/** Whose notifications are a customer's: sent to them, about their appointments, or about their callbacks (to staff). */
export interface CustomerLinks {
  customerId: string;
  appointmentIds: string[];
  callbackIds: string[];
}

const LINKED = `n.company_id = $1 AND (
     (n.notifiable_type = 'customer' AND n.notifiable_id = $2)
  OR (n.notifiable_type = 'appointment' AND n.notifiable_id = ANY($3::uuid[]))
  OR (n.data ? 'callbackId' AND (n.data ->> 'callbackId') = ANY($4::text[])))`;
const linkParams = (companyId: string, l: CustomerLinks) => [companyId, l.customerId, l.appointmentIds, l.callbackIds];

/** The customer's notifications, each with every delivery attempt, as stored. */
export async function customerNotificationsExport(
  db: Queryable,
  companyId: string,
  links: CustomerLinks,
): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query(
    `SELECT to_jsonb(n) || jsonb_build_object(
              'deliveries', (SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY d.attempt_number, d.started_at, d.id), '[]')
                               FROM notification_deliveries d WHERE d.notification_id = n.id)) AS notification
       FROM notifications n
      WHERE ${LINKED}
      ORDER BY n.created_at, n.id`,
    linkParams(companyId, links),
  );
  return rows.map((r) => r.notification);
}

/** The customer's notifications that have not ended (their workflows may still send). */
export async function openNotificationsOfCustomer(
  db: Queryable,
  companyId: string,
  links: CustomerLinks,
): Promise<Array<{ id: string; workflowId: string }>> {
  const { rows } = await db.query(
    `SELECT n.id, n.workflow_id FROM notifications n WHERE ${LINKED} AND n.status IN ('pending', 'waiting', 'sending')`,
    linkParams(companyId, links),
  );
  return rows.map((r) => ({ id: r.id, workflowId: r.workflow_id }));
}

/** The keys of a notification's data that hold ids, states and reasons, never personal data: kept by an erasure. */
const KEPT_DATA_KEYS = ['callbackId', 'appointmentId', 'modificationId', 'priority', 'reason', 'dueAt'];

/**
 * Notifications keep their event, channel, status, times and attempt outcomes (delivery analytics);
 * their data keeps ids only, and any attempt's recipient or error that holds one of the customer's
 * addresses loses it.
 */
export async function eraseCustomerNotifications(
  tx: Queryable,
  companyId: string,
  links: CustomerLinks,
  addresses: string[],
): Promise<Record<string, number>> {
  const notifications = await tx.query(
    `UPDATE notifications n
        SET data = (SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM jsonb_each(n.data) AS e(k, v) WHERE k = ANY($5::text[])),
            updated_at = now()
      WHERE ${LINKED}
        AND EXISTS (SELECT 1 FROM jsonb_object_keys(n.data) AS k WHERE k <> ALL($5::text[]))`,
    [...linkParams(companyId, links), KEPT_DATA_KEYS],
  );
  let deliveries = 0;
  if (addresses.length > 0) {
    const r = await tx.query(
      `UPDATE notification_deliveries d
          SET recipient = CASE WHEN d.recipient = ANY($5::text[]) THEN '[erased]' ELSE d.recipient END,
              error = regexp_replace(d.error, $6, '[erased]', 'g')
         FROM notifications n
        WHERE d.notification_id = n.id AND ${LINKED}
          AND (d.recipient = ANY($5::text[]) OR d.error ~ $6)`,
      [...linkParams(companyId, links), addresses, addresses.map(escapeRegExp).join('|')],
    );
    deliveries = r.rowCount ?? 0;
  }
  return { notifications: notifications.rowCount ?? 0, notification_deliveries: deliveries };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
