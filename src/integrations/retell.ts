import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { DateTime } from 'luxon';
import { z } from 'zod';
import type { CallbackService } from '../callbacks/service';
import { PRIORITIES } from '../callbacks/definitions';
import { phoneReader } from '../directory/service';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../errors';
import type { PolicyService } from '../policies/service';
import { createRetellEvents } from './retell-events';
import { storable, TooDeep } from './rules';
import { SecretBoxError, type SecretBox } from './secret-box';
import { secretOf } from './secrets';
import { retellSignatureMatches } from './signatures';
import * as store from './store';

/**
 * The phone agent's (Retell's) custom function calls, and its call events (src/integrations/
 * retell-events.ts) on the same URL. The URL names the integration (`/webhooks/retell/<hook id>`),
 * whose Retell API key must verify `x-retell-signature`; the caller is the company's customer whose
 * phone number is the call's `from_number` (both in E.164; a national number is read in the country
 * of the integration's default branch, else the company's; one that does not read is no number). Every answer is JSON the agent can read out: a
 * `message` sentence plus the facts; an unknown caller gets a sentence, never another company's
 * or another customer's data. Changes go through the policy engine (cancel, reschedule; recorded
 * as made by the phone agent for this call) and the callback service (one callback per call).
 */

export const RETELL_FUNCTIONS = ['check_cancellation_policy', 'cancel_appointment', 'reschedule_appointment', 'request_callback'] as const;

/** The body Retell posts to a custom function's URL (fields not read are allowed). */
export const RetellFunctionCall = z.looseObject({
  name: z.string().min(1).max(100),
  args: z.record(z.string(), z.unknown()).default({}),
  call: z.looseObject({
    call_id: z.string().min(1).max(200),
    from_number: z.string().max(40).nullish(),
    to_number: z.string().max(40).nullish(),
  }),
});
export type RetellFunctionCall = z.infer<typeof RetellFunctionCall>;

const Args = {
  check_cancellation_policy: z.looseObject({ appointment_id: z.uuid().optional() }),
  cancel_appointment: z.looseObject({ appointment_id: z.uuid().optional(), reason: z.string().trim().min(1).max(500).optional() }),
  reschedule_appointment: z.looseObject({
    appointment_id: z.uuid().optional(),
    new_start: z.iso.datetime({ offset: true }),
    reason: z.string().trim().min(1).max(500).optional(),
  }),
  request_callback: z.looseObject({
    priority: z.enum(PRIORITIES).default('normal'),
    reason: z.string().trim().min(1).max(2000).optional(),
    name: z.string().trim().min(1).max(200).optional(),
  }),
};

export type RetellAnswer =
  | { kind: 'not_found'; message: string }
  | { kind: 'unauthorized'; message: string }
  | { kind: 'invalid'; message: string; fields: Array<{ field: string; message: string }> }
  | { kind: 'answer'; body: { message: string } & Record<string, unknown> };

export interface RetellDeps {
  pool: Pool;
  policies: PolicyService;
  callbacks: CallbackService;
  secrets: SecretBox;
  logger?: Logger;
  now?: () => Date;
}

const say = (message: string, facts: Record<string, unknown> = {}): RetellAnswer => ({ kind: 'answer', body: { message, ...facts } });
const euros = (fee: { cents: number; currency: string }) => `${(fee.cents / 100).toFixed(2)} ${fee.currency}`;
const fields = (error: z.ZodError, prefix: string) =>
  error.issues.map((i) => ({ field: [prefix, ...i.path.map(String)].join('.'), message: i.message }));

export function createRetellWebhook({ pool, policies, callbacks, secrets, logger, now = () => new Date() }: RetellDeps) {
  const log = logger?.child({ component: 'retell-webhook' });
  const events = createRetellEvents({ pool, logger });

  const when = (d: Date, zone: string) => DateTime.fromJSDate(d, { zone }).setLocale('en-GB').toFormat("cccc d LLLL 'at' HH:mm");

  /** The caller's appointment the function is about: the one named (if theirs) or their next one. */
  async function appointmentOf(companyId: string, caller: store.CallerRow, appointmentId?: string) {
    const [a] = await store.upcomingAppointments(pool, companyId, caller.id, now(), appointmentId);
    return a;
  }

  async function call(integration: store.IntegrationRow, body: RetellFunctionCall): Promise<RetellAnswer> {
    const companyId = integration.company_id;
    const name = body.name as (typeof RETELL_FUNCTIONS)[number];
    if (!RETELL_FUNCTIONS.includes(name)) return say(`I cannot do "${body.name}" on this line.`, { ok: false, error: 'unknown_function' });
    const args = Args[name].safeParse(body.args);
    if (!args.success) return { kind: 'invalid', message: 'invalid request: body.args', fields: fields(args.error, 'body.args') };
    const phone = await phoneReader(pool, companyId, integration.default_branch_id);
    const from = phone(body.call.from_number) ?? null;
    const callers = from ? await store.customersByPhone(pool, companyId, from) : [];
    const caller = callers.length === 1 ? callers[0] : undefined;
    const callRow = await store.upsertCall(pool, companyId, {
      externalCallId: body.call.call_id,
      fromNumber: from,
      toNumber: phone(body.call.to_number) ?? null,
      customerId: caller?.id ?? null,
      branchId: caller?.home_branch_id ?? integration.default_branch_id,
    });
    const actor = { by: `phone_agent:retell:${body.call.call_id}`, role: null } as const;

    if (name === 'request_callback') {
      const a = args.data as z.infer<typeof Args.request_callback>;
      if (callRow.callback_id)
        return say('A callback for this call is already requested; we will call you back.', { ok: true, callbackId: callRow.callback_id });
      const next = caller ? await appointmentOf(companyId, caller) : undefined;
      const branchId = caller?.home_branch_id ?? next?.branch_id ?? integration.default_branch_id;
      if (!branchId)
        return say('I cannot arrange a callback from this line; please call the branch directly.', { ok: false, error: 'no_branch' });
      if (!caller && !from) return say('I need a phone number to arrange a callback.', { ok: false, error: 'no_phone_number' });
      const { callback } = await callbacks.createCallback(
        companyId,
        {
          branchId,
          customerId: caller?.id ?? null,
          phoneNumber: caller ? (caller.phone ?? from ?? undefined) : from!,
          customerName: caller ? undefined : (a.name ?? 'Caller (phone agent)'),
          priority: a.priority,
          notes: a.reason ?? null,
          metadata: { source: 'retell', callId: body.call.call_id },
        },
        { role: 'agent' },
        `retell-call:${body.call.call_id}`,
      );
      const callbackId = await store.setCallCallback(pool, companyId, callRow.id, callback.id);
      return say(`Thank you. We will call you back${a.priority === 'normal' ? '' : ' as a priority'}.`, {
        ok: true,
        callbackId,
        priority: callback.priority,
      });
    }

    if (!caller) {
      log?.info({ companyId, callId: body.call.call_id, matches: callers.length }, 'caller not matched');
      return say(
        callers.length > 1
          ? 'Several customers share this phone number, so I cannot look up an appointment. I can arrange a callback instead.'
          : 'I could not find a customer with this phone number. I can arrange a callback instead.',
        { ok: false, error: 'unknown_caller' },
      );
    }
    const appointmentId = (args.data as { appointment_id?: string }).appointment_id;
    const appointment = await appointmentOf(companyId, caller, appointmentId);
    if (!appointment) return say('I could not find an upcoming appointment of yours.', { ok: false, error: 'no_appointment' });
    const what = `your ${appointment.service_name ?? 'appointment'} on ${when(appointment.starts_at, caller.time_zone)}`;

    try {
      if (name === 'check_cancellation_policy') {
        const { decision } = await policies.quoteCancellation(companyId, appointment.id);
        const facts = {
          ok: true,
          appointmentId: appointment.id,
          allowed: decision.allowed,
          fee: decision.fee,
          deadline: decision.deadline,
          reason: decision.reason,
        };
        if (!decision.allowed) return say(`You cannot cancel ${what} any more: ${decision.reason}.`, facts);
        return say(
          decision.fee.cents > 0
            ? `You can cancel ${what}; the fee would be ${euros(decision.fee)}.`
            : `You can cancel ${what} free of charge.`,
          facts,
        );
      }
      if (name === 'cancel_appointment') {
        const a = args.data as z.infer<typeof Args.cancel_appointment>;
        const r = await policies.cancelAppointment(companyId, appointment.id, { reason: a.reason ?? 'cancelled by phone' }, actor);
        return say(`I have cancelled ${what}${r.decision.fee.cents > 0 ? `; a fee of ${euros(r.decision.fee)} applies` : ''}.`, {
          ok: true,
          appointmentId: appointment.id,
          cancelled: true,
          fee: r.decision.fee,
        });
      }
      const a = args.data as z.infer<typeof Args.reschedule_appointment>;
      const r = await policies.rescheduleAppointment(
        companyId,
        appointment.id,
        { startsAt: a.new_start, reason: a.reason ?? 'rescheduled by phone' },
        actor,
      );
      return say(`I have moved your appointment to ${when(new Date(r.appointment.startsAt), caller.time_zone)}.`, {
        ok: true,
        appointmentId: appointment.id,
        rescheduled: true,
        startsAt: r.appointment.startsAt,
        fee: r.decision.fee,
      });
    } catch (error) {
      if (error instanceof ConflictError && error.code === 'policy_denied') {
        const decision = (error.details as { decision?: { reason: string } })?.decision;
        return say(`I cannot do that: ${decision?.reason ?? error.message}. I can arrange a callback instead.`, {
          ok: false,
          error: 'policy_denied',
          reason: decision?.reason ?? error.message,
        });
      }
      if (error instanceof ConflictError || error instanceof ValidationError || error instanceof NotFoundError) {
        return say(`I cannot do that: ${error.message}.`, { ok: false, error: (error as { code?: string }).code ?? 'refused' });
      }
      throw error;
    }
  }

  /**
   * One request to `/webhooks/retell/<hook id>`: 404 for an unknown hook id; 401 unless the
   * integration is enabled and its Retell key verifies the raw body and its timestamp. Then a call
   * event (`{"event", "call"}`) is recorded or ignored (200), and a function call answered.
   */
  async function receive(hookId: string, raw: Buffer, signature: string | undefined): Promise<RetellAnswer> {
    const integration = await store.integrationByHook(pool, 'retell', hookId);
    if (!integration) return { kind: 'not_found', message: 'no Retell webhook at this address (GET /v1/integrations shows yours)' };
    if (!signature) return { kind: 'unauthorized', message: 'missing x-retell-signature' };
    if (!integration.enabled) return { kind: 'unauthorized', message: 'this Retell integration is disabled' };
    let apiKey: string;
    try {
      apiKey = secretOf(secrets, integration);
    } catch (error) {
      if (!(error instanceof SecretBoxError)) throw error;
      log?.error({ companyId: integration.company_id, err: error }, 'the Retell key cannot be opened (SECRET_KEYS)');
      throw new UnavailableError('the webhook secret cannot be read by this process; nothing was written');
    }
    if (!(await retellSignatureMatches(raw, apiKey, signature)))
      return { kind: 'unauthorized', message: 'x-retell-signature does not match this integration’s Retell API key (or is too old)' };
    let json: unknown;
    try {
      // Strings PostgreSQL cannot store (U+0000, lone surrogates) become U+FFFD.
      json = storable(JSON.parse(raw.toString('utf8')));
    } catch (error) {
      const message = error instanceof TooDeep ? 'is JSON nested too deeply' : 'must be JSON';
      return { kind: 'invalid', message: 'invalid request: body', fields: [{ field: 'body', message }] };
    }
    const event = (json as { event?: unknown } | null)?.event;
    if (typeof event === 'string' && event.trim())
      return {
        kind: 'answer',
        body: { message: 'ok', ...(await events.receive(integration, event.trim(), (json as { call?: unknown }).call)) },
      };
    const parsed = RetellFunctionCall.safeParse(json);
    if (!parsed.success) return { kind: 'invalid', message: 'invalid request', fields: fields(parsed.error, 'body') };
    return call(integration, parsed.data);
  }

  return { receive };
}

export type RetellWebhook = ReturnType<typeof createRetellWebhook>;
