import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { NotificationActivities } from '../activities/notifications';
import {
  cancelNotificationUpdate,
  type AttemptOutcome,
  type Channel,
  type PreparedNotification,
  isFinalStatus,
  type CancelNotificationRequest,
  notificationStateQuery,
  type NotificationFinalStatus,
  type NotificationLiveState,
  type NotificationResult,
  type NotificationStatus,
  type NotificationWorkflowInput,
} from '../src/notifications/definitions';
import { quietHoursWaitMs, retryDelayMs } from '../src/notifications/rules';
import {
  CompanyId,
  NotificationChannel,
  NotificationEventType,
  NotificationStatus as NotificationStatusKey,
} from '../src/temporal/search-attribute-keys';

// Database bookkeeping and rendering are short, idempotent and local to the worker: local
// activities, so they run inside the workflow task instead of a round trip through the server
// each (a notification costs two workflow tasks and one activity task on the happy path).
// Retried patiently through a database outage (up to a day).
const bookkeeping = proxyLocalActivities<NotificationActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

// Rendering is pure work: a template error is a business error and never retried.
const rendering = proxyLocalActivities<NotificationActivities>({
  startToCloseTimeout: '15s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['TemplateError'],
  },
});

// One send. Provider refusals come back as values (the workflow's retry loop, with the configured
// strategy, handles them); only infrastructure trouble (database, crash, cancellation) throws, and
// a retried execution finds its attempt row instead of sending again.
const delivery = proxyActivities<NotificationActivities>({
  startToCloseTimeout: '1m',
  // The send heartbeats every second: a killed worker's attempt is retried elsewhere within seconds.
  heartbeatTimeout: '5s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 },
});

type Ready = Extract<PreparedNotification, { kind: 'ready' }>;

/**
 * One notification, durably (workflow id `notification-<id>`): resolve its configuration, render,
 * respect quiet hours and the rate limit, then attempt: each provider of the channel in order;
 * on a transient failure wait the strategy's delay on a durable timer and try again, up to
 * retry_count retries; a permanent failure ends the channel at once. Then one attempt on the
 * fallback channel, marked as a fallback, which never falls back again. Ends delivered, failed,
 * suppressed (disabled, rate-limited) or cancelled, with the reason.
 */
export async function notificationWorkflow(input: NotificationWorkflowInput): Promise<NotificationResult> {
  const state: NotificationLiveState = {
    notificationId: input.notificationId,
    status: 'pending',
    reason: null,
    channel: null,
    attempts: [],
    waitingFor: null,
    waitingUntil: null,
    cancelRequested: false,
  };
  let cancelReason: string | null = null;
  let result: NotificationResult | undefined;

  setHandler(notificationStateQuery, () => state);
  setHandler(
    cancelNotificationUpdate,
    async (request) => {
      cancelReason = request?.reason?.trim() || 'cancelled on request';
      state.cancelRequested = true;
      // Answer with the real outcome: cancelled, or delivered if an attempt in flight got through.
      await condition(() => result !== undefined);
      return { status: result!.status, reason: result!.reason };
    },
    {
      validator: (_request: CancelNotificationRequest) => {
        if (result || isFinalStatus(state.status)) throw new Error(`the notification is already ${state.status}`);
      },
    },
  );

  const setStatus = (status: NotificationStatus, reason: string | null = null) => {
    state.status = status;
    state.reason = reason;
    upsertSearchAttributes([{ key: NotificationStatusKey, value: status }]);
  };
  const setChannel = (channel: Channel) => {
    state.channel = channel;
    upsertSearchAttributes([{ key: NotificationChannel, value: channel }]);
  };
  const attemptsMade = () => new Set(state.attempts.map((a) => a.attempt)).size;

  const end = (
    status: NotificationFinalStatus,
    reason: string | null,
    delivered: NotificationResult['delivered'] = null,
  ): NotificationResult => {
    setStatus(status, reason);
    state.waitingFor = null;
    state.waitingUntil = null;
    return { status, reason, attempts: attemptsMade(), delivered };
  };
  /** Records a final status other than delivered on the row (delivered is written with its attempt). */
  const finish = async (status: Exclude<NotificationFinalStatus, 'delivered'>, reason: string): Promise<NotificationResult> => {
    await bookkeeping.completeNotification({ notificationId: input.notificationId, status, reason });
    return end(status, reason);
  };

  /** A durable wait that a cancel cuts short. Returns true when cancelled. */
  const wait = async (waitingFor: 'retry' | 'quiet_hours', ms: number): Promise<boolean> => {
    if (cancelReason !== null) return true;
    if (ms <= 0) return false;
    const until = new Date(Date.now() + ms).toISOString();
    state.waitingFor = waitingFor;
    state.waitingUntil = until;
    setStatus('waiting', waitingFor === 'retry' ? 'waiting to retry' : 'quiet hours');
    await bookkeeping.markNotificationWaiting({ notificationId: input.notificationId, waitingFor, until });
    const cancelled = await condition(() => cancelReason !== null, ms);
    state.waitingFor = null;
    state.waitingUntil = null;
    return cancelled;
  };

  async function run(): Promise<NotificationResult> {
    // Also set at start by the service; repeated here so every run carries them, however started.
    upsertSearchAttributes([
      { key: CompanyId, value: input.companyId },
      { key: NotificationEventType, value: input.eventType },
    ]);
    const prepared = await bookkeeping.prepareNotification({ notificationId: input.notificationId, companyId: input.companyId });
    if (prepared.kind === 'missing') return end('failed', prepared.reason);
    if (prepared.kind === 'final') return end(prepared.status, prepared.reason);
    if (prepared.kind === 'invalid') return finish('failed', prepared.reason);
    const p: Ready = prepared;
    const { settings } = p;
    setChannel(settings.channel);
    if (!settings.enabled) return finish('suppressed', 'disabled by configuration');
    if (cancelReason !== null) return finish('cancelled', cancelReason);

    const legs: Array<{ channel: Channel; isFallback: boolean; rounds: number }> = [
      { channel: settings.channel, isFallback: false, rounds: 1 + settings.retryCount },
    ];
    // A fallback is a single attempt and never falls back again.
    if (settings.fallbackChannel) legs.push({ channel: settings.fallbackChannel, isFallback: true, rounds: 1 });

    let attempt = 0;
    let lastError = 'no attempt was made';
    for (const leg of legs) {
      setChannel(leg.channel);
      const address = p.recipient.addresses[leg.channel];
      const providers = p.providers[leg.channel].length > 0 ? p.providers[leg.channel] : ['none'];
      const base = {
        notificationId: input.notificationId,
        companyId: input.companyId,
        eventType: p.eventType,
        configId: p.configId,
        channel: leg.channel,
        isFallback: leg.isFallback,
      };

      let message;
      if (address) {
        try {
          message = await rendering.renderNotificationMessage({
            ...base,
            attempt: attempt + 1,
            recipient: address.to,
            vars: p.vars,
            // Overrides belong to the configured (primary) channel; the fallback uses its default template.
            override: leg.isFallback ? null : { subject: settings.templateSubject, body: settings.templateBody },
          });
        } catch (error) {
          const failure = error instanceof ActivityFailure ? error.cause : error;
          if (failure instanceof ApplicationFailure && failure.type === 'TemplateError') {
            attempt += 1;
            state.attempts.push({
              attempt,
              channel: leg.channel,
              provider: 'template',
              isFallback: leg.isFallback,
              outcome: 'failed',
              errorKind: 'template',
              error: failure.message,
            });
            return finish('failed', `template error on ${leg.channel}: ${failure.message}`);
          }
          throw error;
        }
      }

      for (let round = 1; round <= leg.rounds; round++) {
        if (round > 1) {
          const delay = retryDelayMs(settings.retryStrategy, settings.retryDelayMinutes, round - 1, settings.maxRetryDelayMinutes);
          if (await wait('retry', delay)) return finish('cancelled', cancelReason!);
        }
        // Urgent events (e.g. callback_escalated) ignore quiet hours.
        if (settings.quietHours && !p.isUrgent && address) {
          const ms = quietHoursWaitMs(Date.now(), p.recipient.timeZone, settings.quietHours);
          if (await wait('quiet_hours', ms)) return finish('cancelled', cancelReason!);
        }
        if (cancelReason !== null) return finish('cancelled', cancelReason);

        attempt += 1;
        let channelDone = !address;
        for (const provider of providers) {
          setStatus('sending');
          let outcome: AttemptOutcome;
          try {
            outcome = await delivery.attemptDelivery({
              ...base,
              provider,
              attempt,
              address,
              message: message ?? { body: '' },
              rateLimit: settings.rateLimit,
            });
          } catch (error) {
            if (isCancellation(error)) throw error;
            // The activity gave up (infrastructure, not the provider): count it as a transient failure.
            outcome = { status: 'failed', errorKind: 'unknown', error: `attempt did not complete: ${(error as Error).message}` };
          }
          if (outcome.status === 'rate_limited') return finish('suppressed', outcome.error);
          state.attempts.push({
            attempt,
            channel: leg.channel,
            provider,
            isFallback: leg.isFallback,
            outcome: outcome.status,
            errorKind: outcome.status === 'failed' ? outcome.errorKind : null,
            error: outcome.status === 'failed' ? outcome.error : null,
          });
          if (outcome.status === 'sent') {
            return end('delivered', leg.isFallback ? `delivered by the fallback channel ${leg.channel}` : null, {
              channel: leg.channel,
              provider,
              attempt,
              isFallback: leg.isFallback,
            });
          }
          lastError = `${leg.channel}/${provider}: ${outcome.error}`;
          // A permanent refusal (bad address, rejected request) ends this channel, providers and retries alike.
          if (outcome.errorKind === 'permanent') {
            channelDone = true;
            break;
          }
          // A transient one moves on to the channel's next provider before any retry delay.
        }
        if (cancelReason !== null) return finish('cancelled', cancelReason);
        if (channelDone) break;
      }
    }
    return finish('failed', `every attempt failed; last: ${lastError}`);
  }

  try {
    result = await run();
  } catch (error) {
    if (isCancellation(error)) {
      // Cancelled through Temporal (not the update): still leave an honest row behind.
      result = await CancellationScope.nonCancellable(() => finish('cancelled', 'the workflow was cancelled'));
    }
    throw error;
  }
  await condition(allHandlersFinished);
  return result;
}
