import { performance } from 'node:perf_hooks';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { ChannelRegistry } from '../src/channels/registry';
import { ProviderError, type PushSubscriptionJSON } from '../src/channels/types';
import { withTransaction } from '../src/db/transaction';
import { DomainError } from '../src/errors';
import type { Channel, NotificationEventType } from '../src/domain/notification-events';
import type { NotifiableType, NotificationSettings, RateLimit } from '../src/domain/notification-settings';
import { isFinalStatus, type NotificationFinalStatus } from '../src/messages/notification';
import { addressFor, resolveForNotifiable } from '../src/notifications/repository';
import { createNotificationService } from '../src/notifications/service';
import { renderNotification, TemplateError, type RenderedMessage, type TemplateVariables } from '../src/notifications/templates/render';

/**
 * The notification workflow's I/O. Each activity is idempotent: a re-execution after a worker
 * crash finds what the first one wrote (attempt rows are keyed `<notification>:<attempt>:<provider>`
 * and inserted ON CONFLICT DO NOTHING) instead of writing or sending again.
 */

/** How often a send in progress heartbeats (the workflow's heartbeat timeout is a few times this). */
const HEARTBEAT_INTERVAL_MS = 1_000;
export interface NotificationActivityDeps {
  pool: Pool;
  logger: Logger;
  channels: ChannelRegistry;
  /** Task queue of the notification workflows that requestNotification starts (default: the calling activity's). */
  taskQueue?: string;
}

export interface Address {
  to: string;
  push?: PushSubscriptionJSON;
}

export type PreparedNotification =
  /** No row: the creating transaction rolled back after the workflow started. Nothing to do. */
  | { kind: 'missing'; reason: string }
  /** The row is already final (e.g. a reset workflow): report it, change nothing. */
  | { kind: 'final'; status: NotificationFinalStatus; reason: string | null }
  /** The notifiable is gone: the notification fails without an attempt. */
  | { kind: 'invalid'; reason: string }
  | {
      kind: 'ready';
      eventType: NotificationEventType;
      isUrgent: boolean;
      settings: NotificationSettings;
      configId: string | null;
      /** Providers to try per channel, in order. */
      providers: Record<Channel, string[]>;
      recipient: { kind: 'customer' | 'staff'; timeZone: string; addresses: Record<Channel, Address | null> };
      vars: TemplateVariables;
    };

export interface RenderInput {
  notificationId: string;
  companyId: string;
  eventType: NotificationEventType;
  channel: Channel;
  /** The attempt number a template failure is recorded under. */
  attempt: number;
  isFallback: boolean;
  configId: string | null;
  recipient: string;
  vars: TemplateVariables;
  override: { subject: string | null; body: string | null } | null;
}

export interface AttemptInput {
  notificationId: string;
  companyId: string;
  eventType: NotificationEventType;
  configId: string | null;
  channel: Channel;
  provider: string;
  attempt: number;
  isFallback: boolean;
  address: Address | null;
  message: RenderedMessage;
  rateLimit: RateLimit | null;
}

export type AttemptOutcome =
  | { status: 'sent'; providerMessageId: string | null; latencyMs: number | null }
  | { status: 'failed'; errorKind: 'transient' | 'permanent' | 'unknown'; error: string }
  | { status: 'rate_limited'; error: string };

export const attemptKey = (notificationId: string, attempt: number, provider: string) => `${notificationId}:${attempt}:${provider}`;

const NONE = '(none)';

export function createNotificationActivities(deps: NotificationActivityDeps) {
  const { pool, channels } = deps;
  const log = deps.logger.child({ component: 'notification-activities' });

  /** Inserts an attempt that failed before reaching a provider (no address, no provider, template). */
  async function recordFailedAttempt(
    input: Pick<AttemptInput, 'notificationId' | 'companyId' | 'eventType' | 'configId' | 'channel' | 'attempt' | 'isFallback'>,
    provider: string,
    recipient: string,
    errorKind: 'permanent' | 'template',
    error: string,
  ): Promise<void> {
    await pool.query(
      `INSERT INTO notification_deliveries
         (company_id, notification_id, config_id, event_type, channel, provider, recipient, attempt_number, is_fallback,
          status, error, error_kind, idempotency_key, completed_at, latency_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'failed', $10, $11, $12, now(), 0)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [
        input.companyId,
        input.notificationId,
        input.configId,
        input.eventType,
        input.channel,
        provider,
        recipient,
        input.attempt,
        input.isFallback,
        error,
        errorKind,
        attemptKey(input.notificationId, input.attempt, provider),
      ],
    );
  }

  return {
    /**
     * Loads the notification and resolves its configuration. Takes the advisory lock the creating
     * transaction holds until it commits or rolls back, so "no row" here means "never committed",
     * not "not committed yet".
     */
    async prepareNotification(input: { notificationId: string; companyId: string }): Promise<PreparedNotification> {
      return withTransaction(pool, async (db) => {
        await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`notification:${input.notificationId}`]);
        const { rows } = await db.query(
          `SELECT event_type, notifiable_type, notifiable_id, data, status, status_reason
             FROM notifications WHERE id = $1 AND company_id = $2`,
          [input.notificationId, input.companyId],
        );
        const row = rows[0];
        if (!row) return { kind: 'missing', reason: 'the notification row does not exist (its creation was rolled back)' };
        if (isFinalStatus(row.status)) return { kind: 'final', status: row.status, reason: row.status_reason };
        const notifiable = { type: row.notifiable_type as NotifiableType, id: row.notifiable_id as string };
        const found = await resolveForNotifiable(db, input.companyId, row.event_type, notifiable);
        if (!found) return { kind: 'invalid', reason: `${notifiable.type} ${notifiable.id} no longer exists` };
        const { context, mapping, resolved } = found;
        await db.query(`UPDATE notifications SET resolved_config = $2, updated_at = now() WHERE id = $1`, [
          input.notificationId,
          JSON.stringify(resolved),
        ]);
        const addresses = Object.fromEntries(
          (['email', 'sms', 'whatsapp', 'push'] as const).map((c) => [c, addressFor(c, context.recipient)]),
        ) as Record<Channel, Address | null>;
        return {
          kind: 'ready',
          eventType: row.event_type,
          isUrgent: mapping.isUrgent,
          settings: resolved.settings,
          configId: resolved.configId,
          providers: channels.plan(resolved.settings.providers),
          recipient: { kind: context.recipient.kind, timeZone: context.recipient.timeZone, addresses },
          vars: { ...context.vars, event: { type: mapping.eventType, description: mapping.description }, data: row.data ?? {} },
        };
      });
    },

    /** Renders the message for a channel. A template error is recorded as a failed attempt and is not retried. */
    async renderNotificationMessage(input: RenderInput): Promise<RenderedMessage> {
      try {
        return renderNotification(input.eventType, input.channel, input.vars, input.override);
      } catch (error) {
        if (!(error instanceof TemplateError)) throw error;
        await recordFailedAttempt(input, 'template', input.recipient, 'template', error.message);
        throw ApplicationFailure.nonRetryable(error.message, 'TemplateError');
      }
    },

    /**
     * One attempt on one provider: reserve the attempt row (race-free rate limit check and insert),
     * send, record the outcome. A provider's refusal is a result, not an exception: the workflow
     * decides about retries. Exceptions (database down, cancellation) make Temporal retry the
     * activity, which then finds its row.
     */
    async attemptDelivery(input: AttemptInput): Promise<AttemptOutcome> {
      const key = attemptKey(input.notificationId, input.attempt, input.provider);
      const provider = channels.get(input.provider);
      if (!input.address || !provider || provider.channel !== input.channel) {
        const error = !input.address
          ? `the recipient has no ${input.channel} address`
          : `no provider ${input.provider} for ${input.channel}`;
        await recordFailedAttempt(input, input.provider, input.address?.to ?? NONE, 'permanent', error);
        return { status: 'failed', errorKind: 'permanent', error };
      }
      const address = input.address;

      const reserved = await withTransaction(pool, async (db) => {
        if (input.rateLimit) {
          // Serialises check-and-insert per recipient and channel: two concurrent sends cannot both pass.
          await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
            `rate:${input.companyId}:${input.channel}:${address.to}`,
          ]);
        }
        const existing = await db.query(
          `SELECT id, status, error, error_kind, provider_message_id, latency_ms FROM notification_deliveries WHERE idempotency_key = $1`,
          [key],
        );
        if (existing.rows[0]) return { kind: 'existing' as const, row: existing.rows[0] };
        if (input.rateLimit) {
          const { rows } = await db.query(
            `SELECT count(*)::int AS n FROM notification_deliveries
              WHERE company_id = $1 AND channel = $2 AND recipient = $3 AND status <> 'failed'
                AND started_at > now() - make_interval(secs => $4)`,
            [input.companyId, input.channel, address.to, input.rateLimit.windowSeconds],
          );
          if (rows[0].n >= input.rateLimit.count) return { kind: 'limited' as const, n: rows[0].n as number };
        }
        const inserted = await db.query(
          `INSERT INTO notification_deliveries
             (company_id, notification_id, config_id, event_type, channel, provider, recipient, attempt_number, is_fallback, idempotency_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id, status`,
          [
            input.companyId,
            input.notificationId,
            input.configId,
            input.eventType,
            input.channel,
            input.provider,
            address.to,
            input.attempt,
            input.isFallback,
            key,
          ],
        );
        await db.query(
          `UPDATE notifications SET status = 'sending', status_reason = NULL, updated_at = now()
            WHERE id = $1 AND status NOT IN ('delivered', 'failed', 'suppressed', 'cancelled')`,
          [input.notificationId],
        );
        return { kind: 'new' as const, row: inserted.rows[0] };
      });

      if (reserved.kind === 'limited') {
        const limit = input.rateLimit!;
        return {
          status: 'rate_limited',
          error: `rate limit reached: ${reserved.n} of ${limit.count} ${input.channel} messages in ${limit.windowSeconds}s to this recipient`,
        };
      }
      const row = reserved.row;
      if (row.status === 'sent') return { status: 'sent', providerMessageId: row.provider_message_id, latencyMs: row.latency_ms };
      if (row.status === 'failed') return { status: 'failed', errorKind: row.error_kind ?? 'unknown', error: row.error ?? 'failed' };
      if (reserved.kind === 'existing' && !provider.idempotent) {
        // A previous execution reserved this attempt and never recorded an outcome: it may have
        // sent. This provider cannot deduplicate, so the row says so before we send again.
        await pool.query(`UPDATE notification_deliveries SET may_have_sent = true WHERE id = $1`, [row.id]);
        log.warn({ key, provider: provider.name }, 're-executing an attempt that may already have been sent');
      }

      const ctx = Context.current();
      const started = performance.now();
      let outcome: AttemptOutcome;
      let ambiguous = false;
      // Heartbeats while the provider call runs: a worker that dies mid-send is noticed within the
      // heartbeat timeout (not the minute-long start-to-close), and cancellation reaches the send.
      const heartbeat = setInterval(() => ctx.heartbeat(), HEARTBEAT_INTERVAL_MS);
      try {
        const result = await provider.send(
          {
            channel: input.channel,
            to: address.to,
            push: address.push,
            subject: input.message.subject,
            body: input.message.body,
            idempotencyKey: key,
          },
          ctx.cancellationSignal,
        );
        outcome = { status: 'sent', providerMessageId: result.providerMessageId, latencyMs: null };
      } catch (error) {
        // Cancellation, worker shutdown or a bug: let Temporal retry the activity (the row stays 'sending').
        if (!(error instanceof ProviderError)) throw error;
        ambiguous = error.ambiguous;
        outcome = { status: 'failed', errorKind: error.kind, error: error.message };
        if (error.addressGone && input.channel === 'push') {
          // The push service says the subscription expired (404/410): forget it, as RFC 8030 asks,
          // so later notifications go straight to their fallback instead of failing here again.
          const cleared = await pool.query(
            `UPDATE customers SET push_subscription = NULL, updated_at = now()
              WHERE company_id = $1 AND push_subscription->>'endpoint' = $2`,
            [input.companyId, address.push?.endpoint ?? address.to],
          );
          log.info({ key, cleared: cleared.rowCount }, 'cleared an expired push subscription');
        }
      } finally {
        clearInterval(heartbeat);
      }
      const latencyMs = Math.round(performance.now() - started);
      if (outcome.status === 'sent') outcome.latencyMs = latencyMs;
      await withTransaction(pool, async (db) => {
        await db.query(
          `UPDATE notification_deliveries
              SET status = $2, error = $3, error_kind = $4, provider_message_id = $5, completed_at = now(), latency_ms = $6,
                  may_have_sent = may_have_sent OR $7
            WHERE id = $1 AND status = 'sending'`,
          [
            row.id,
            outcome.status,
            outcome.status === 'failed' ? outcome.error : null,
            outcome.status === 'failed' ? outcome.errorKind : null,
            outcome.status === 'sent' ? outcome.providerMessageId : null,
            latencyMs,
            ambiguous,
          ],
        );
        if (outcome.status === 'sent') {
          // The attempt and the notification's final state change together.
          await db.query(
            `UPDATE notifications SET status = 'delivered', status_reason = NULL, completed_at = now(), updated_at = now()
              WHERE id = $1 AND status NOT IN ('delivered', 'failed', 'suppressed', 'cancelled')`,
            [input.notificationId],
          );
        }
      });
      return outcome;
    },

    /**
     * Sends a notification from another workflow (e.g. a callback escalation), through the same
     * service as the API: row + notification workflow as one outcome. Idempotent across retries:
     * the key defaults to the calling workflow and activity ids. Business errors (unknown
     * notifiable, invalid input, key reused) are not retried.
     */
    async requestNotification(input: {
      companyId: string;
      eventType: NotificationEventType;
      notifiable: { type: NotifiableType; id: string };
      data?: Record<string, unknown>;
      idempotencyKey?: string;
    }): Promise<{ notificationId: string; created: boolean }> {
      const ctx = Context.current();
      const service = createNotificationService({ pool, client: ctx.client, taskQueue: deps.taskQueue ?? ctx.info.taskQueue, logger: log });
      const key = input.idempotencyKey ?? `activity:${ctx.info.workflowExecution?.workflowId ?? 'standalone'}:${ctx.info.activityId}`;
      try {
        const { created, notification } = await service.sendNotification(
          input.companyId,
          { eventType: input.eventType, notifiable: input.notifiable, data: input.data ?? {} },
          key,
        );
        return { notificationId: notification.id, created };
      } catch (error) {
        if (error instanceof DomainError && error.code !== 'unavailable')
          throw ApplicationFailure.nonRetryable(error.message, error.name, error.details);
        throw error;
      }
    },

    /** Shows a wait (for a retry or the send window) on the row; the workflow holds the timer. */
    async markNotificationWaiting(input: { notificationId: string; waitingFor: 'retry' | 'quiet_hours'; until: string }): Promise<void> {
      await pool.query(
        `UPDATE notifications SET status = 'waiting', status_reason = $2, updated_at = now()
          WHERE id = $1 AND status NOT IN ('delivered', 'failed', 'suppressed', 'cancelled')`,
        [input.notificationId, `${input.waitingFor === 'retry' ? 'waiting to retry' : 'quiet hours'} until ${input.until}`],
      );
    },

    /** Writes the final status (failed, suppressed, cancelled) with its reason. Idempotent: a final row stays as it is. */
    async completeNotification(input: {
      notificationId: string;
      status: Exclude<NotificationFinalStatus, 'delivered'>;
      reason: string;
    }): Promise<void> {
      await withTransaction(pool, async (db) => {
        // An attempt whose activity gave up without an outcome: say so rather than leave it 'sending'.
        await db.query(
          `UPDATE notification_deliveries
              SET status = 'failed', error_kind = 'unknown', error = 'the attempt never reported an outcome', may_have_sent = true, completed_at = now()
            WHERE notification_id = $1 AND status = 'sending'`,
          [input.notificationId],
        );
        await db.query(
          `UPDATE notifications SET status = $2, status_reason = $3, completed_at = now(), updated_at = now()
            WHERE id = $1 AND status NOT IN ('delivered', 'failed', 'suppressed', 'cancelled')`,
          [input.notificationId, input.status, input.reason],
        );
      });
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
