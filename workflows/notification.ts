import {
  ApplicationFailure,
  CancellationScope,
  TemporalFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { NotificationActivities } from '../activities/notifications';
import {
  attemptKey,
  cancelNotificationUpdate,
  CompanyId,
  isFinalStatus,
  NotificationChannel,
  NotificationEventTypeKey,
  notificationStateQuery,
  NotificationStatusKey,
  type AttemptOutcome,
  type CancelNotificationRequest,
  type Channel,
  type NotificationFinalStatus,
  type NotificationLiveState,
  type NotificationResult,
  type NotificationStatus,
  type NotificationWorkflowInput,
  type PreparedNotification,
  type RenderedMessage,
  type RenderOutcome,
} from '../src/notifications/definitions';
import { deliveredByFallbackReason, quietHoursWaitMs, retryDelayMs, unreachableReason } from '../src/notifications/rules';
import { optedOutReason } from '../src/consent/rules';
import { bookkeepingOptions, DEFAULT_DURABILITY, externalCallOptions } from '../src/temporal/durability';
import { stepFailure, stepTracker } from './steps';

/**
 * Behaviour changes guarded for runs that started on older code (see test/workflows/replay.test.ts):
 * - an activity that gives up is an infrastructure failure, not an attempt: the notification ends
 *   failed with the reason, without using a retry or the fallback;
 * - a cancel answers at once while an attempt is in flight (`cancelRequested`), and a requested
 *   cancel is honoured between two providers of a channel;
 * - any end other than a bug writes a final status (an activity failure included);
 * - fewer steps: search attributes are upserted once per status change (the channel with it), not
 *   per field, and the configured channel's message is rendered with the plan, not in a step of its own.
 */
const INFRA_ERRORS_ARE_NOT_ATTEMPTS = 'infra-errors-are-not-attempts';
const CANCEL_ANSWERS_WHILE_SENDING = 'cancel-answers-while-sending';
const EVERY_END_WRITES_ITS_ROW = 'every-end-writes-its-row';
/** Fewer steps per notification: one upsert per status change, and the message rendered with the plan. */
const FEWER_STEPS = 'fewer-steps';
/**
 * The channels come from the delivery plan decided at preparation (rules.ts, planDelivery): a
 * channel the recipient has no address (or consent) on is passed by, recorded, for the next that
 * reaches them; no attempt is spent on a channel that cannot deliver.
 */
const CHANNEL_PLAN = 'channel-plan';

/** Rendering is pure work in the worker; a template error comes back as a value and is never retried. */
const rendering = proxyLocalActivities<NotificationActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

type Ready = Extract<PreparedNotification, { kind: 'ready' }>;

/**
 * One notification, durably (workflow id `notification-<id>`): resolve its configuration, render,
 * respect quiet hours and the rate limit, then attempt: each provider of the channel in order;
 * on a transient failure wait the strategy's delay on a durable timer and try again, up to
 * retry_count retries; a permanent failure ends the channel at once. Then one attempt on the
 * fallback channel, marked as a fallback, which never falls back again. Ends delivered, failed,
 * suppressed (disabled, rate-limited) or cancelled, with the reason, always written to its row.
 *
 * Only a provider's answer counts as an attempt. Infrastructure trouble (the database down, a
 * worker gone) is retried by Temporal for hours (`durability`) and costs no attempt; local
 * bookkeeping waits out long backoffs on timers so an outage keeps the history small.
 */
export async function notificationWorkflow(input: NotificationWorkflowInput): Promise<NotificationResult> {
  const durability = input.durability ?? DEFAULT_DURABILITY;
  // Which step a failure came from is known from this run's own state (see ./steps).
  const steps = stepTracker();
  const bookkeeping = steps.track(proxyLocalActivities<NotificationActivities>(bookkeepingOptions(durability)));
  const delivery = steps.track(proxyActivities<NotificationActivities>(externalCallOptions(durability)));
  const renderer = steps.track(rendering);

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
      // An attempt in flight decides the outcome; the caller need not wait for it.
      if (state.status === 'sending' && patched(CANCEL_ANSWERS_WHILE_SENDING)) return { status: 'cancelRequested', reason: cancelReason };
      await condition(() => result !== undefined);
      return { status: result!.status, reason: result!.reason };
    },
    {
      validator: (_request: CancelNotificationRequest) => {
        if (result || isFinalStatus(state.status)) throw new Error(`the notification is already ${state.status}`);
      },
    },
  );

  // Search attributes change with the status: one upsert per status change, carrying the channel
  // when it changed too (each upsert is a history event and a visibility write).
  const fewerSteps = patched(FEWER_STEPS);
  const fewerUpserts = fewerSteps;
  let upsertedChannel: Channel | null = null;
  const setStatus = (status: NotificationStatus, reason: string | null = null) => {
    state.status = status;
    state.reason = reason;
    if (!fewerUpserts) return upsertSearchAttributes([{ key: NotificationStatusKey, value: status }]);
    const channelChanged = state.channel !== null && state.channel !== upsertedChannel;
    upsertedChannel = state.channel;
    upsertSearchAttributes([
      { key: NotificationStatusKey, value: status },
      ...(channelChanged ? [{ key: NotificationChannel, value: state.channel! }] : []),
    ]);
  };
  const setChannel = (channel: Channel) => {
    state.channel = channel;
    if (!fewerUpserts) upsertSearchAttributes([{ key: NotificationChannel, value: channel }]);
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
    // Set at start by the service; a run started otherwise (by hand, by an older starter) sets them here.
    if (!fewerUpserts || workflowInfo().typedSearchAttributes.get(CompanyId) === undefined) {
      upsertSearchAttributes([
        { key: CompanyId, value: input.companyId },
        { key: NotificationEventTypeKey, value: input.eventType },
      ]);
    }
    const prepared = await bookkeeping.prepareNotification({ notificationId: input.notificationId, companyId: input.companyId });
    if (prepared.kind === 'missing') return end('failed', prepared.reason);
    if (prepared.kind === 'final') return end(prepared.status, prepared.reason);
    if (prepared.kind === 'invalid') return finish('failed', prepared.reason);
    const p: Ready = prepared;
    const { settings } = p;
    setChannel(settings.channel);
    if (!settings.enabled) return finish('suppressed', 'disabled by configuration');
    if (cancelReason !== null) return finish('cancelled', cancelReason);
    // A message about a moment (a reminder: the start of its appointment) is never sent at or after
    // it: checked against the workflow's clock before each wait and each attempt, and by the attempt
    // itself against the clock of its send. (Absent for notifications prepared by older activities.)
    const deadline = p.deliverBefore ? Date.parse(p.deliverBefore) : null;
    const lateBy = (what: string, at: number): string | null =>
      deadline !== null && at >= deadline
        ? `too late: its moment passed at ${new Date(deadline).toISOString()} (${what} at ${new Date(at).toISOString()})`
        : null;

    // Newer runs follow the plan made at preparation: only channels that reach the recipient.
    const plan = p.plan && patched(CHANNEL_PLAN) ? p.plan : undefined;
    const legs: Array<{ channel: Channel; isFallback: boolean; rounds: number }> = plan
      ? plan.legs
      : [{ channel: settings.channel, isFallback: false, rounds: 1 + settings.retryCount }];
    // A fallback is a single attempt and never falls back again.
    if (!plan && settings.fallbackChannel) legs.push({ channel: settings.fallbackChannel, isFallback: true, rounds: 1 });
    if (plan && legs.length === 0) {
      const nobody = unreachableReason(p.consent?.kind ?? 'transactional', plan.skipped);
      return finish(nobody.status, nobody.reason);
    }

    let attempt = 0;
    let lastError = 'no attempt was made';
    // Per provider, the key of an attempt whose request may have reached it: the next attempt there
    // sends the same key, so a provider that deduplicates by key delivers once.
    const ambiguousKeys: Record<string, string> = {};
    // Channels the customer opted out of (when prepared, or since: checked again at each send).
    const optedOut: Channel[] = [];
    const consentCheck = p.consent ? { customerId: p.consent.customerId, kind: p.consent.kind } : undefined;
    /** With a plan: the channels passed by before this leg, and those the customer opted out of since. */
    const passedBy = (legIndex: number) => [
      ...(plan?.skipped.filter((s) => s.leg === 'primary' || legIndex > 0) ?? []),
      ...optedOut.map((channel) => ({ channel, reason: 'opted_out' as const })),
    ];
    /** The row's reason when this leg delivers (a channel other than the configured one). */
    const deliveredReason = (leg: (typeof legs)[number], legIndex: number): string | undefined => {
      if (!plan) return optedOut.length ? deliveredByFallback(leg.channel, optedOut) : undefined;
      const skipped = passedBy(legIndex);
      return leg.isFallback && skipped.length ? deliveredByFallbackReason(leg.channel, skipped) : undefined;
    };
    for (const [legIndex, leg] of legs.entries()) {
      if (p.consent?.channels[leg.channel] === 'opted_out') {
        optedOut.push(leg.channel);
        continue;
      }
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

      let message: RenderedMessage | undefined;
      if (address) {
        // The first leg's message came with the plan (newer runs); otherwise render it now.
        const planned = plan
          ? legIndex === 0 && p.primaryChannel === leg.channel
            ? p.primary
            : undefined
          : !leg.isFallback && fewerSteps
            ? p.primary
            : undefined;
        const rendered = await render(base, attempt + 1, address.to, p, leg.isFallback, planned);
        if (rendered.kind === 'template_error') {
          attempt += 1;
          state.attempts.push({
            attempt,
            channel: leg.channel,
            provider: 'template',
            isFallback: leg.isFallback,
            outcome: 'failed',
            errorKind: 'template',
            error: rendered.error,
          });
          return end('failed', rendered.reason);
        }
        message = rendered.message;
      }

      for (let round = 1; round <= leg.rounds; round++) {
        if (round > 1) {
          const delay = retryDelayMs(settings.retryStrategy, settings.retryDelayMinutes, round - 1, settings.maxRetryDelayMinutes);
          const late = lateBy('the next retry would come', Date.now() + delay);
          if (late) return finish('suppressed', late);
          if (await wait('retry', delay)) return finish('cancelled', cancelReason!);
        }
        // Urgent events (e.g. callback_escalated) ignore quiet hours.
        if (settings.quietHours && !p.isUrgent && address) {
          const ms = quietHoursWaitMs(Date.now(), p.recipient.timeZone, settings.quietHours);
          // Quiet hours ending at or after the moment: not held until then to be sent late, suppressed now.
          const late = ms > 0 ? lateBy('quiet hours end', Date.now() + ms) : null;
          if (late) return finish('suppressed', late);
          if (await wait('quiet_hours', ms)) return finish('cancelled', cancelReason!);
        }
        if (cancelReason !== null) return finish('cancelled', cancelReason);
        const late = lateBy(`attempt ${attempt + 1} would be sent`, Date.now());
        if (late) return finish('suppressed', late);

        attempt += 1;
        let channelDone = !address;
        for (const [index, provider] of providers.entries()) {
          if (index > 0 && cancelReason !== null && patched(CANCEL_ANSWERS_WHILE_SENDING)) return finish('cancelled', cancelReason);
          setStatus('sending');
          const providerKey = ambiguousKeys[provider] ?? attemptKey(input.notificationId, attempt, provider);
          let outcome: AttemptOutcome;
          try {
            outcome = await delivery.attemptDelivery({
              ...base,
              provider,
              providerKey,
              attempt,
              address,
              message: message ?? { body: '' },
              rateLimit: settings.rateLimit,
              ...(consentCheck ? { consent: consentCheck } : {}),
              ...(deliveredReason(leg, legIndex) ? { deliveredReason: deliveredReason(leg, legIndex) } : {}),
              ...(p.deliverBefore ? { deliverBefore: p.deliverBefore } : {}),
            });
          } catch (error) {
            if (isCancellation(error)) throw error;
            // The activity gave up after hours of infrastructure errors: no provider refused anything,
            // so this is no attempt (no retry used, no fallback): the notification fails, saying why.
            if (patched(INFRA_ERRORS_ARE_NOT_ATTEMPTS)) {
              return finish('failed', `infrastructure unavailable while sending (${leg.channel}/${provider}): ${causeOf(error)}`);
            }
            outcome = { status: 'failed', errorKind: 'unknown', error: `attempt did not complete: ${(error as Error).message}` };
          }
          if (outcome.status === 'rate_limited') return finish('suppressed', outcome.error);
          // Its moment passed by the clock of the send, or the customer was erased: nothing is sent, now or later.
          if (outcome.status === 'withheld') return finish(outcome.ending, outcome.reason);
          if (outcome.status === 'opted_out') {
            // No attempt was made: the customer opted out of this channel meanwhile. On to the fallback, if any.
            if (index === 0) attempt -= 1;
            optedOut.push(leg.channel);
            channelDone = true;
            break;
          }
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
            const reason = !leg.isFallback
              ? null
              : plan
                ? (deliveredReason(leg, legIndex) ?? deliveredByFallback(leg.channel, []))
                : deliveredByFallback(leg.channel, optedOut);
            return end('delivered', reason, {
              channel: leg.channel,
              provider,
              attempt,
              isFallback: leg.isFallback,
            });
          }
          if (outcome.ambiguous) ambiguousKeys[provider] = providerKey;
          else delete ambiguousKeys[provider];
          lastError = `${leg.channel}/${provider}: ${outcome.error}`;
          // A permanent refusal (bad address, rejected request) ends this channel, providers and retries alike.
          if (outcome.errorKind === 'permanent') {
            channelDone = true;
            break;
          }
          // A transient (or configuration) one moves on to the channel's next provider before any retry delay.
        }
        if (cancelReason !== null) return finish('cancelled', cancelReason);
        if (channelDone) break;
      }
    }
    // Consent left no channel to try: suppressed, saying which were refused (with a plan: and which could not be reached).
    if (optedOut.length > 0 && attemptsMade() === 0) {
      if (!plan) return finish('suppressed', optedOutReason(p.consent?.kind ?? 'transactional', optedOut));
      const nobody = unreachableReason(p.consent?.kind ?? 'transactional', passedBy(legs.length));
      return finish(nobody.status, nobody.reason);
    }
    return finish('failed', `every attempt failed; last: ${lastError}`);
  }

  /**
   * Renders for a channel. Current activities return a template error as a value and the workflow
   * records it (attempt row and final status in one step, retried through a database blip); runs
   * recorded on older code saw it as a TemporalFailure of type TemplateError, already recorded.
   */
  async function render(
    base: {
      notificationId: string;
      companyId: string;
      eventType: Ready['eventType'];
      configId: string | null;
      channel: Channel;
      isFallback: boolean;
    },
    attemptNumber: number,
    recipient: string,
    p: Ready,
    isFallback: boolean,
    planned: RenderOutcome | undefined,
  ): Promise<{ kind: 'rendered'; message: RenderedMessage } | { kind: 'template_error'; error: string; reason: string }> {
    let outcome: RenderOutcome | RenderedMessage;
    try {
      outcome =
        planned ??
        (await renderer.renderNotificationMessage({
          ...base,
          attempt: attemptNumber,
          recipient,
          vars: p.vars,
          // Overrides belong to the configured (primary) channel; the fallback uses its default template.
          override: isFallback ? null : { subject: p.settings.templateSubject, body: p.settings.templateBody },
        }));
    } catch (error) {
      const failure = error instanceof TemporalFailure ? stepFailure(error) : error;
      if (failure instanceof ApplicationFailure && failure.type === 'TemplateError') {
        // Older runs: the activity wrote the attempt row itself; the row's final status follows.
        const reason = `template error on ${base.channel}: ${failure.message}`;
        await bookkeeping.completeNotification({ notificationId: input.notificationId, status: 'failed', reason });
        return { kind: 'template_error', error: failure.message, reason };
      }
      throw error;
    }
    if (!('kind' in outcome)) return { kind: 'rendered', message: outcome };
    if (outcome.kind === 'rendered') return outcome;
    const reason = `template error on ${base.channel}: ${outcome.error}`;
    await bookkeeping.recordTemplateFailure({ ...base, attempt: attemptNumber, recipient, error: outcome.error, reason });
    return { kind: 'template_error', error: outcome.error, reason };
  }

  try {
    result = await run();
  } catch (error) {
    if (isCancellation(error)) {
      // Cancelled through Temporal (not the update): still leave an honest row behind.
      result = await CancellationScope.nonCancellable(() => finish('cancelled', 'the workflow was cancelled'));
    } else if (error instanceof TemporalFailure && steps.inFlight !== 'completeNotification' && patched(EVERY_END_WRITES_ITS_ROW)) {
      // A step gave up (e.g. the database unreachable for longer than `durability` allows): the row
      // says so before the run fails, unless that step was the final write itself (trying again would
      // only wait as long again). The failure is a TemporalFailure in either form: an ActivityFailure
      // as it happens, the bare cause when a local step replays from its marker. (A bug in this code
      // fails the workflow task instead, and the run waits, unharmed, for a fixed worker.)
      await finish('failed', `the workflow failed: ${causeOf(error)}`);
    }
    throw error;
  }
  await condition(allHandlersFinished);
  return result;
}

/** The reason of a delivery by the fallback channel, naming the channels the customer opted out of. */
const deliveredByFallback = (channel: Channel, optedOut: Channel[]) =>
  `delivered by the fallback channel ${channel}${optedOut.length ? ` (the customer opted out of ${optedOut.join(' and ')})` : ''}`;

function causeOf(error: unknown): string {
  let e = error as { cause?: unknown; message?: string } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(error);
}
