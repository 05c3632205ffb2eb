import { performance } from 'node:perf_hooks';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { ChannelRegistry } from '../src/channels/registry';
import { CHANNELS, ProviderError, type Channel } from '../src/channels/types';
import { withTransaction } from '../src/db/transaction';
import { DomainError } from '../src/errors';
import { addressFor, resolveForNotifiable } from '../src/notifications/context';
import {
  attemptKey,
  CUSTOMER_ERASED,
  isFinalStatus,
  type Address,
  type AttemptInput,
  type AttemptOutcome,
  type NotificationFinalStatus,
  type NotificationRequest,
  type PreparedNotification,
  type RenderInput,
  type RenderOutcome,
} from '../src/notifications/definitions';
import type { NotificationService } from '../src/notifications/service';
import * as store from '../src/notifications/store';
import type { ConsentPlan } from '../src/consent/definitions';
import { decide, decideAll, optedOutReason } from '../src/consent/rules';
import * as consentStore from '../src/consent/store';
import { unsubscribeUrl, type UnsubscribeLinks } from '../src/consent/tokens';
import { planDelivery, type Reach } from '../src/notifications/rules';
import { renderNotification, TemplateError } from '../src/notifications/templates/render';
import { sendClock } from '../src/temporal/clock';

/**
 * The notification workflow's I/O: thin adapters over the feature's store, context and channels.
 * Each activity is idempotent: a re-execution after a worker crash finds what the first one wrote
 * (attempt rows are keyed `<notification>:<attempt>:<provider>` and inserted ON CONFLICT DO
 * NOTHING) instead of writing or sending again.
 */

/** How often a send in progress heartbeats (the workflow's heartbeat timeout is a few times this). */
const HEARTBEAT_INTERVAL_MS = 1_000;

export interface NotificationActivityDeps {
  pool: Pool;
  logger: Logger;
  channels: ChannelRegistry;
  /** Starts notifications for other workflows (requestNotification). */
  notifications: NotificationService;
  /** Signs the one-click unsubscribe link of every email to a customer (absent: no link). */
  unsubscribe?: UnsubscribeLinks;
}

const NONE = '(none)';

/**
 * Provider refusals of our credentials, on the worker's Prometheus endpoint (with the SDK's own
 * metrics, WORKER_METRICS_BIND_ADDRESS) as `notification_provider_configuration_errors`.
 */
const configurationErrors = (ctx: Context) =>
  ctx.metricMeter.createCounter(
    'notification_provider_configuration_errors',
    '1',
    'Provider answers refusing our credentials (HTTP 401/403, SMTP 535): every send fails until fixed',
  );

export function createNotificationActivities(deps: NotificationActivityDeps) {
  const { pool, channels } = deps;
  const log = deps.logger.child({ component: 'notification-activities' });

  const identity = (
    input: Pick<AttemptInput, 'notificationId' | 'companyId' | 'eventType' | 'configId' | 'channel' | 'attempt' | 'isFallback'>,
    provider: string,
    recipient: string,
  ): store.AttemptIdentity => ({ ...input, provider, recipient, key: attemptKey(input.notificationId, input.attempt, provider) });

  /**
   * One attempt on one provider: reserve the attempt row (race-free rate limit check and insert),
   * send, record the outcome. A provider's refusal is a result, not an exception: the workflow
   * decides about retries. Exceptions (database down, cancellation) make Temporal retry the
   * activity, which then finds its row.
   */
  function render(
    eventType: RenderInput['eventType'],
    channel: Channel,
    vars: RenderInput['vars'],
    override: RenderInput['override'],
  ): RenderOutcome {
    try {
      return { kind: 'rendered', message: renderNotification(eventType, channel, vars, override) };
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      return { kind: 'template_error', error: error.message };
    }
  }

  async function attempt(input: AttemptInput, ctx: Context): Promise<AttemptOutcome> {
    const provider = channels.get(input.provider);
    if (!input.address || !provider || provider.channel !== input.channel) {
      const error = !input.address ? `the recipient has no ${input.channel} address` : `no provider ${input.provider} for ${input.channel}`;
      await store.insertFailedAttempt(pool, identity(input, input.provider, input.address?.to ?? NONE), 'permanent', error);
      return { status: 'failed', errorKind: 'permanent', error };
    }
    const address = input.address;
    const row = identity(input, input.provider, address.to);
    const providerKey = input.providerKey ?? row.key;

    // Consent may have changed since the notification was prepared (during a retry delay or quiet
    // hours): check it again now. A re-execution of an attempt already reserved goes on with it.
    if (input.consent) {
      const answers = await consentStore.answersOf(pool, input.companyId, input.consent.customerId);
      const decision = answers ? decide(input.consent.kind, input.channel, answers.answers, answers.optionalDefault) : 'opted_out';
      if (decision === 'opted_out' && !(await store.attemptExists(pool, row.key))) {
        return { status: 'opted_out', error: optedOutReason(input.consent.kind, [input.channel]) };
      }
    }

    // Checked with the reservation, in its transaction: the customer not erased (their row locked
    // FOR SHARE, so an erasure either committed before and is seen, or waits for this row and
    // erases its recipient), and the message's moment not passed by the clock of this send (a
    // retry after an outage, a fallback after long delays). A re-execution whose attempt already
    // has an outcome returns it; one that may have sent does not send again after its moment.
    const deadline = input.deliverBefore ? Date.parse(input.deliverBefore) : null;
    const at = sendClock(ctx.info);
    const reserved = await withTransaction(pool, async (tx) => {
      if (await store.aboutErasedCustomer(tx, input.notificationId)) return { kind: 'erased' as const };
      if (deadline !== null && at >= deadline) {
        const status = await store.attemptStatus(tx, row.key);
        if (status === undefined || status === 'sending') return { kind: 'late' as const };
      }
      return store.reserveAttempt(tx, { ...row, providerKey }, input.rateLimit);
    });
    if (reserved.kind === 'erased') return { status: 'withheld', ending: 'cancelled', reason: CUSTOMER_ERASED };
    if (reserved.kind === 'late') {
      return {
        status: 'withheld',
        ending: 'suppressed',
        reason: `too late: its moment passed at ${new Date(deadline!).toISOString()} (attempt ${input.attempt} on ${input.channel} was due at ${new Date(at).toISOString()})`,
      };
    }
    if (reserved.kind === 'limited') {
      const limit = input.rateLimit!;
      return {
        status: 'rate_limited',
        error: `rate limit reached: ${reserved.sent} of ${limit.count} ${input.channel} messages in ${limit.windowSeconds}s to this recipient`,
      };
    }
    const existing = reserved.row;
    if (existing.status === 'sent')
      return { status: 'sent', providerMessageId: existing.provider_message_id, latencyMs: existing.latency_ms };
    if (existing.status === 'failed') {
      return { status: 'failed', errorKind: (existing.error_kind as 'transient') ?? 'unknown', error: existing.error ?? 'failed' };
    }
    if (reserved.kind === 'existing' && !provider.idempotent) {
      // A previous execution reserved this attempt and never recorded an outcome: it may have
      // sent. This provider cannot deduplicate, so the row says so before we send again.
      await store.markMayHaveSent(pool, existing.id);
      log.warn({ key: row.key, provider: provider.name }, 're-executing an attempt that may already have been sent');
    }

    const started = performance.now();
    let outcome: AttemptOutcome;
    try {
      const result = await provider.send(
        {
          channel: input.channel,
          to: address.to,
          push: address.push,
          subject: input.message.subject,
          body: input.message.body,
          idempotencyKey: providerKey,
          unsubscribeUrl:
            input.channel === 'email' && input.consent && deps.unsubscribe
              ? unsubscribeUrl(
                  deps.unsubscribe,
                  { companyId: input.companyId, customerId: input.consent.customerId, channel: 'email', kind: input.consent.kind },
                  Date.now(),
                )
              : undefined,
        },
        ctx.cancellationSignal,
      );
      outcome = { status: 'sent', providerMessageId: result.providerMessageId, latencyMs: null };
    } catch (error) {
      // Cancellation, worker shutdown or a bug: let Temporal retry the activity (the row stays 'sending').
      if (!(error instanceof ProviderError)) throw error;
      outcome = { status: 'failed', errorKind: error.kind, error: error.message, ambiguous: error.ambiguous };
      if (error.kind === 'configuration') {
        // Our credentials: every message fails until an operator fixes them. Loud, and counted.
        log.error(
          { key: row.key, provider: provider.name, status: error.options.status },
          `provider refused our credentials: ${error.message}`,
        );
        configurationErrors(ctx).add(1, { provider: provider.name, channel: input.channel });
      }
      if (error.addressGone && input.channel === 'push') {
        // The push service says the subscription expired (404/410): forget it, as RFC 8030 asks,
        // so later notifications go straight to their fallback instead of failing here again.
        const cleared = await store.clearPushSubscription(pool, input.companyId, address.push?.endpoint ?? address.to);
        log.info({ key: row.key, cleared }, 'cleared an expired push subscription');
      }
    }
    const latencyMs = Math.round(performance.now() - started);
    if (outcome.status === 'sent') outcome.latencyMs = latencyMs;
    const recorded = outcome as Exclude<AttemptOutcome, { status: 'rate_limited' | 'opted_out' | 'withheld' }>;
    await withTransaction(pool, (tx) =>
      store.recordAttemptOutcome(
        tx,
        existing.id,
        input.notificationId,
        recorded,
        latencyMs,
        recorded.status === 'failed' && !!recorded.ambiguous,
        input.deliveredReason ?? null,
      ),
    );
    return outcome;
  }

  return {
    /**
     * Loads the notification and resolves its configuration (the row is committed before its
     * workflow starts: src/db/outbox.ts). No row: the workflow was started by hand for nothing.
     */
    async prepareNotification(input: { notificationId: string; companyId: string }): Promise<PreparedNotification> {
      // Reads, then one write: no transaction needed (a re-execution reads and writes the same).
      const db = pool;
      const row = await store.findNotification(db, input.companyId, input.notificationId);
      if (!row) return { kind: 'missing', reason: 'the notification row does not exist' };
      if (isFinalStatus(row.status)) return { kind: 'final', status: row.status, reason: row.status_reason };
      const notifiable = { type: row.notifiable_type, id: row.notifiable_id };
      const found = await resolveForNotifiable(db, input.companyId, row.event_type, notifiable);
      if (!found) return { kind: 'invalid', reason: `${notifiable.type} ${notifiable.id} no longer exists` };
      const { context, mapping, resolved } = found;
      // A customer's consent for this kind of message, per channel (staff receive their work messages).
      let consent: ConsentPlan | undefined;
      if (context.recipient.kind === 'customer' && context.recipient.id) {
        const answers = await consentStore.answersOf(db, input.companyId, context.recipient.id);
        if (answers) {
          const channels = decideAll(mapping.messageKind, answers.answers, answers.optionalDefault);
          consent = { customerId: context.recipient.id, kind: mapping.messageKind, channels };
        }
      }
      const addresses = Object.fromEntries(CHANNELS.map((c) => [c, addressFor(c, context.recipient)])) as Record<Channel, Address | null>;
      // Which channels reach the recipient (an address there, and consent): decided now, recorded with the settings.
      const reach = Object.fromEntries(
        CHANNELS.map((c) => [c, !addresses[c] ? 'no_address' : consent?.channels[c] === 'opted_out' ? 'opted_out' : 'ok']),
      ) as Record<Channel, Reach>;
      const plan = planDelivery(resolved.settings, reach);
      await store.saveResolvedConfig(db, input.notificationId, { ...resolved, ...(consent ? { consent } : {}), plan });
      const vars = { ...context.vars, event: { type: mapping.eventType, description: mapping.description }, data: row.data ?? {} };
      const { channel: configured, templateSubject, templateBody } = resolved.settings;
      // The first leg's message comes with the plan; overrides belong to the configured channel only.
      const channel = plan.legs[0]?.channel;
      const override = channel === configured ? { subject: templateSubject, body: templateBody } : null;
      return {
        kind: 'ready',
        eventType: row.event_type,
        isUrgent: mapping.isUrgent,
        settings: resolved.settings,
        configId: resolved.configId,
        providers: channels.plan(resolved.settings.providers),
        recipient: { kind: context.recipient.kind, timeZone: context.recipient.timeZone, addresses },
        vars,
        // Rendering is pure: the first leg's message comes with the plan (one step fewer per notification).
        ...(channel ? { primary: render(row.event_type, channel, vars, override), primaryChannel: channel } : {}),
        ...(consent ? { consent } : {}),
        ...(row.deliver_before ? { deliverBefore: row.deliver_before.toISOString() } : {}),
        plan,
      };
    },

    /** Renders the message for a channel: pure work, no I/O. A template error is a value (the workflow records it). */
    async renderNotificationMessage(input: RenderInput): Promise<RenderOutcome> {
      return render(input.eventType, input.channel, input.vars, input.override);
    },

    /** A template error: its attempt row and the notification's final status, in one transaction (idempotent). */
    async recordTemplateFailure(input: Omit<RenderInput, 'vars' | 'override'> & { error: string; reason: string }): Promise<void> {
      await withTransaction(pool, async (tx) => {
        await store.insertFailedAttempt(tx, identity(input, 'template', input.recipient), 'template', input.error);
        await store.finishNotification(tx, input.notificationId, 'failed', input.reason);
      });
    },

    /**
     * One attempt on one provider: reserve the attempt row (race-free rate limit check and insert),
     * send, record the outcome. A provider's refusal is a result, not an exception: the workflow
     * decides about retries. Exceptions (database down, cancellation) make Temporal retry the
     * activity, which then finds its row.
     */
    async attemptDelivery(input: AttemptInput): Promise<AttemptOutcome> {
      const ctx = Context.current();
      // Heartbeats for the whole attempt (pool waits, both transactions and the provider call): a
      // worker that dies is noticed within the heartbeat timeout, never while this one still runs.
      const heartbeat = setInterval(() => ctx.heartbeat(), HEARTBEAT_INTERVAL_MS);
      try {
        return await attempt(input, ctx);
      } finally {
        clearInterval(heartbeat);
      }
    },

    /**
     * Sends a notification from another workflow (e.g. a callback escalation), through the same
     * service as the API: row + notification workflow as one outcome. Idempotent across retries:
     * the key defaults to the calling workflow and activity ids. Business errors (unknown
     * notifiable, invalid input, key reused) are not retried.
     */
    async requestNotification(input: NotificationRequest): Promise<{ notificationId: string; created: boolean }> {
      const ctx = Context.current();
      const key = input.idempotencyKey ?? `activity:${ctx.info.workflowExecution?.workflowId ?? 'standalone'}:${ctx.info.activityId}`;
      try {
        const { created, notification } = await deps.notifications.sendNotification(
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
      const what = input.waitingFor === 'retry' ? 'waiting to retry' : 'quiet hours';
      await store.markNotificationWaiting(pool, input.notificationId, `${what} until ${input.until}`);
    },

    /** Writes the final status (failed, suppressed, cancelled) with its reason. Idempotent: a final row stays as it is. */
    async completeNotification(input: {
      notificationId: string;
      status: Exclude<NotificationFinalStatus, 'delivered'>;
      reason: string;
    }): Promise<void> {
      await withTransaction(pool, async (db) => {
        await store.closeUnreportedAttempts(db, input.notificationId);
        await store.finishNotification(db, input.notificationId, input.status, input.reason);
      });
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
