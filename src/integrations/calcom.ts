import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { senderPhone, type DirectoryService } from '../directory/service';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../errors';
import type { PolicyService } from '../policies/service';
import { attendeeEmails, bookerOf, deliveryKey, handlingOf, storable, TEXT_LIMITS, TooDeep, truncate, type TriggerHandling } from './rules';
import { SecretBoxError, type SecretBox } from './secret-box';
import { secretOf } from './secrets';
import { calcomSignatureMatches } from './signatures';
import * as store from './store';

/**
 * Cal.com webhooks: verify, record, apply, answer. The URL names the integration
 * (`/webhooks/calcom/<hook id>`), so exactly one secret is checked. Once the signature verifies,
 * every delivery is answered 200 and recorded in calcom_deliveries with what became of it:
 * `applied`, `unmapped` (an event type not in the map), `ignored` (with why: a trigger that is not
 * about an appointment here, a request awaiting confirmation, ...), `rejected` (with the reason: a
 * body that is not JSON, a booking without the attendee it is for, the engine's refusal), or, for
 * a redelivery, counted on the row it repeats and answered `duplicate`. Rejected and unmapped
 * deliveries keep their body for an operator for CALCOM_DELIVERY_BODY_TTL_HOURS.
 *
 * Only the attendee the booking is for is parsed strictly; guests (`name: ""`), long free texts
 * (cut to the API's limits) and fields Cal.com leaves out never refuse a delivery. A change is
 * written in the same transaction as its delivery row, so Cal.com's retries change nothing; the
 * appointment's workflow is started or told after COMMIT by the services that write appointments.
 */

/** The actor of every change Cal.com makes (appointment_modifications.modified_by). */
export const CALENDAR_ACTOR = { by: 'calendar:calcom', role: null } as const;
/** The calendar has already made the change for the customer: the engine records it (fee, quota) but cannot refuse it. */
const CALENDAR_OVERRIDE = { reason: 'made by the customer in the calendar (Cal.com)' };

/** The attendee the booking is for: the one part of a delivery parsed strictly (free texts are cut, never refused). */
const Booker = z.looseObject({
  name: z.string().transform((s) => truncate(s.trim(), TEXT_LIMITS.name)),
  email: z.string().max(320).optional(),
  timeZone: z.string().optional().catch(undefined),
  phoneNumber: z.string().max(40).nullish().catch(undefined),
});
type Booker = z.infer<typeof Booker>;

/** The booking fields read (Cal.com sends many more); every one of them may be missing. */
type BookingPayload = Record<string, unknown> & {
  uid?: unknown;
  rescheduleUid?: unknown;
  eventTypeId?: unknown;
  startTime?: unknown;
  endTime?: unknown;
  status?: unknown;
  cancellationReason?: unknown;
  attendeeSeatId?: unknown;
};

export type CalcomAnswer =
  | { kind: 'not_found'; message: string }
  | { kind: 'unauthorized'; message: string }
  | {
      kind: 'recorded';
      body: {
        outcome: store.DeliveryOutcome | 'duplicate';
        duplicate: boolean;
        appointmentId: string | null;
        detail: string | null;
        deliveryId: string;
        /** A duplicate's first outcome. */
        firstOutcome?: store.DeliveryOutcome;
      };
    };

export interface CalcomDeps {
  pool: Pool;
  directory: DirectoryService;
  policies: PolicyService;
  secrets: SecretBox;
  logger?: Logger;
}

/** One delivery, as far as it was read: its key, trigger, the body to keep, the payload (absent if there was none). */
interface Delivery {
  key: store.DeliveryKey;
  body: unknown;
  payload: BookingPayload | undefined;
}

const FINAL = new Set(['cancelled', 'completed', 'no_show']);
const isUniqueViolation = (error: unknown) => (error as { code?: string })?.code === '23505';
const text = (v: unknown) => (typeof v === 'string' && v.trim() ? v : undefined);
const validIso = (v: unknown) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : undefined);
const idOf = (v: unknown) => (typeof v === 'number' || (typeof v === 'string' && v.trim()) ? truncate(String(v), 64) : null);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

export function createCalcomWebhook({ pool, directory, policies, secrets, logger }: CalcomDeps) {
  const log = logger?.child({ component: 'calcom-webhook' });

  const answer = (row: store.DeliveryRow, duplicate: boolean): CalcomAnswer => ({
    kind: 'recorded',
    body: {
      outcome: duplicate ? 'duplicate' : row.outcome,
      duplicate,
      appointmentId: row.appointment_id,
      detail: row.detail,
      deliveryId: row.id,
      ...(duplicate ? { firstOutcome: row.outcome } : {}),
    },
  });

  const rowOf = (d: Delivery, outcome: store.DeliveryOutcome, detail: string | null, appointmentId: string | null) => ({
    rescheduleUid: idOf(d.payload?.rescheduleUid),
    eventTypeId: idOf(d.payload?.eventTypeId),
    outcome,
    detail: detail === null ? null : truncate(detail, 2000),
    appointmentId,
    payload: d.body,
  });

  /** Records a delivery that changes nothing (unmapped, ignored, rejected); a copy recorded meanwhile is counted instead. */
  async function recordOnly(
    d: Delivery,
    outcome: store.DeliveryOutcome,
    detail: string,
    appointmentId: string | null = null,
  ): Promise<CalcomAnswer> {
    try {
      const row = await store.insertDelivery(pool, d.key, rowOf(d, outcome, detail, appointmentId));
      if (outcome === 'rejected' || outcome === 'unmapped')
        log?.warn({ companyId: d.key.companyId, trigger: d.key.trigger, outcome, detail }, 'Cal.com delivery not applied');
      return answer(row, false);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      return answer((await store.countRedelivery(pool, d.key))!, true);
    }
  }

  /** Inside a change's transaction: the delivery's row, applied. */
  const recordApplied = (tx: Parameters<typeof store.insertDelivery>[0], d: Delivery, appointmentId: string) =>
    store.insertDelivery(tx, d.key, rowOf(d, 'applied', null, appointmentId));

  /**
   * Runs `apply` (which writes the delivery row inside its own transaction); a concurrent copy of
   * the same delivery loses on the unique key, rolls back everything it did, and is counted.
   * A business refusal (not found, invalid, conflict) is recorded as rejected, not retried.
   */
  async function applyOnce(d: Delivery, apply: () => Promise<store.DeliveryRow>): Promise<CalcomAnswer> {
    try {
      return answer(await apply(), false);
    } catch (error) {
      // A concurrent copy committed first: its booking uid or its delivery row is taken.
      const constraint = (error as { constraint?: string }).constraint ?? '';
      if (
        isUniqueViolation(error) &&
        (constraint.startsWith('calcom_deliveries') || constraint === 'appointments_calcom_booking_uid_key')
      ) {
        const row = await store.countRedelivery(pool, d.key);
        if (row) return answer(row, true);
      }
      if (error instanceof NotFoundError || error instanceof ValidationError || error instanceof ConflictError) {
        const issues = error instanceof ValidationError ? error.issues?.map((i) => `${i.field}: ${i.message}`).join('; ') : undefined;
        return recordOnly(d, 'rejected', issues ? `${error.message} (${issues})` : error.message);
      }
      throw error;
    }
  }

  async function customerFor(companyId: string, attendee: Booker, branchId: string): Promise<string> {
    if (attendee.email) {
      const id = await store.customerIdByEmail(pool, companyId, attendee.email);
      if (id) return id;
    }
    // E.164, read in the booked branch's country (else the company's); one that does not read is left out.
    const phone = await senderPhone(pool, companyId, branchId, attendee.phoneNumber);
    if (phone) {
      const [match] = await store.customersByPhone(pool, companyId, phone);
      if (match) return match.id;
    }
    const email = attendee.email && z.email().safeParse(attendee.email).success ? attendee.email : null;
    const timeZone = attendee.timeZone && Intl.supportedValuesOf('timeZone').includes(attendee.timeZone) ? attendee.timeZone : 'UTC';
    // A booker without a name (Cal.com's API allows it): the address or number stands in.
    const name = attendee.name || truncate(attendee.email?.split('@')[0] || phone || 'Cal.com attendee', TEXT_LIMITS.name);
    const customer = await directory.createCustomer(companyId, { name, email, phone, timeZone });
    return customer.id;
  }

  /** BOOKING_CREATED (and BOOKING_PAID): the booking, or the seat, becomes an appointment. */
  async function book(companyId: string, d: Delivery, uid: string): Promise<CalcomAnswer> {
    const p = d.payload!;
    const eventTypeId = idOf(p.eventTypeId);
    const map = eventTypeId ? await store.findEventMap(pool, companyId, eventTypeId) : undefined;
    if (!map) return recordOnly(d, 'unmapped', `event type ${eventTypeId ?? '(none)'} is not in calcom_event_map`);
    if (!map.service_id) return recordOnly(d, 'unmapped', `event type ${eventTypeId} maps to no service`);
    const startsAt = validIso(p.startTime);
    const endsAt = validIso(p.endTime);
    if (!startsAt || !endsAt) return recordOnly(d, 'rejected', 'payload.startTime and payload.endTime must be ISO 8601 instants');
    const booker = bookerOf(p);
    if (!booker) return recordOnly(d, 'rejected', 'payload.attendees has no attendee the booking is for');
    const parsed = Booker.safeParse(booker);
    if (!parsed.success) {
      const at = `payload.attendees.${(p.attendees as unknown[]).indexOf(booker)}`;
      return recordOnly(
        d,
        'rejected',
        `the attendee the booking is for: ${parsed.error.issues.map((i) => `${[at, ...i.path].join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const seat = text(p.attendeeSeatId) ?? null;
    const existing = await store.appointmentIdByBookingUid(pool, companyId, uid, seat);
    if (existing) return recordOnly(d, 'ignored', `the booking${seat ? '’s seat' : ''} is already an appointment`, existing);
    const customerId = await customerFor(companyId, parsed.data, map.branch_id);
    let row: store.DeliveryRow | undefined;
    return applyOnce(d, async () => {
      await directory.createAppointment(
        companyId,
        {
          customerId,
          branchId: map.branch_id,
          serviceId: map.service_id!,
          staffId: map.staff_id,
          startsAt,
          endsAt,
          status: p.status === 'ACCEPTED' || d.key.trigger === 'BOOKING_PAID' ? 'confirmed' : 'scheduled',
          notes: null,
        },
        {
          source: 'calcom',
          within: async (tx, appointment) => {
            await store.setBookingUid(tx, companyId, appointment.id, uid, seat);
            row = await recordApplied(tx, d, appointment.id);
          },
        },
      );
      return row!;
    });
  }

  /**
   * The appointments of a booking a delivery is about: the booking's (a booking without seats has
   * one), or for a seated event those of the seats it names: by its seat reference, else (a seat's
   * cancellation, a reschedule) by the e-mail addresses of the attendees it lists (`emails`).
   */
  async function appointmentsFor(companyId: string, uid: string, p: BookingPayload, emails = attendeeEmails(p)) {
    const all = await store.bookingAppointments(pool, companyId, uid);
    if (!all.some((a) => a.seat_uid !== null)) return all;
    const seat = text(p.attendeeSeatId);
    const bySeat = seat ? all.filter((a) => a.seat_uid === seat) : [];
    if (bySeat.length > 0) return bySeat;
    return emails.size > 0 ? all.filter((a) => a.email !== null && emails.has(a.email)) : all;
  }

  /** BOOKING_RESCHEDULED: the appointment of the booking it replaces (`rescheduleUid`) moves, through the engine, as the calendar. */
  async function reschedule(companyId: string, d: Delivery, uid: string): Promise<CalcomAnswer> {
    const p = d.payload!;
    const startsAt = validIso(p.startTime);
    const endsAt = validIso(p.endTime);
    if (!startsAt) return recordOnly(d, 'rejected', 'payload.startTime must be an ISO 8601 instant');
    // The new booking's uid is `uid`; the one it replaces is `rescheduleUid` (older Cal.com versions kept the uid).
    const previous = text(p.rescheduleUid);
    // A seat moved to another slot: the seat of the attendee the booking is for.
    const email = bookerOf(p)?.email;
    const emails = typeof email === 'string' && email.trim() ? new Set([email.trim().toLowerCase()]) : attendeeEmails(p);
    const candidates = [
      ...(previous ? await appointmentsFor(companyId, previous, p, emails) : []),
      ...(await appointmentsFor(companyId, uid, p, emails)),
    ].filter((a) => !FINAL.has(a.status));
    const target = candidates[0];
    if (!target) return recordOnly(d, 'unmapped', 'no live appointment has this booking (or the booking it replaces)');
    const seat = text(p.attendeeSeatId) ?? target.seat_uid;
    let row: store.DeliveryRow | undefined;
    return applyOnce(d, async () => {
      await policies.rescheduleAppointment(
        companyId,
        target.id,
        { startsAt, ...(endsAt ? { endsAt } : {}), reason: 'rescheduled in Cal.com', override: CALENDAR_OVERRIDE },
        CALENDAR_ACTOR,
        undefined,
        {
          within: async (tx) => {
            await store.setBookingUid(tx, companyId, target.id, uid, seat);
            row = await recordApplied(tx, d, target.id);
          },
        },
      );
      return row!;
    });
  }

  /**
   * BOOKING_CANCELLED (and BOOKING_REJECTED): the booking's appointment is cancelled through the
   * engine, as the calendar, whoever the attendees are (a booking with guests included). A seated
   * event's seat cancellation names the seat's attendee: only that seat is cancelled. Several
   * appointments (a seated event cancelled whole): all but the last are cancelled one by one, the
   * last with the delivery row; a retry after a crash in between finds the cancelled ones final.
   */
  async function cancel(companyId: string, d: Delivery, uid: string): Promise<CalcomAnswer> {
    const p = d.payload!;
    const all = await appointmentsFor(companyId, uid, p);
    if (all.length === 0)
      return d.key.trigger === 'BOOKING_REJECTED'
        ? recordOnly(d, 'ignored', 'a rejected booking request: no appointment was booked for it')
        : recordOnly(d, 'unmapped', 'no appointment has this booking');
    const live = all.filter((a) => !FINAL.has(a.status));
    if (live.length === 0) return recordOnly(d, 'ignored', 'the booking’s appointment is already closed', all[0].id);
    const reason = truncate(
      text(p.cancellationReason)?.trim() ?? `${d.key.trigger === 'BOOKING_REJECTED' ? 'rejected' : 'cancelled'} in Cal.com`,
      TEXT_LIMITS.reason,
    );
    const input = { reason, override: CALENDAR_OVERRIDE };
    for (const a of live.slice(0, -1)) await policies.cancelAppointment(companyId, a.id, input, CALENDAR_ACTOR);
    const last = live[live.length - 1];
    let row: store.DeliveryRow | undefined;
    return applyOnce(d, async () => {
      await policies.cancelAppointment(companyId, last.id, input, CALENDAR_ACTOR, undefined, {
        within: async (tx) => {
          row = await recordApplied(tx, d, last.id);
        },
      });
      return row!;
    });
  }

  /**
   * BOOKING_NO_SHOW_UPDATED (`{bookingUid, attendees: [{email, noShow}]}`): the appointment whose
   * customer is listed becomes `no_show`, or back to `confirmed` when Cal.com unmarks it. A guest
   * marked alone changes nothing.
   */
  async function noShow(companyId: string, d: Delivery): Promise<CalcomAnswer> {
    const p = d.payload!;
    const uid = text(p.bookingUid);
    if (!uid) return recordOnly(d, 'rejected', 'payload.bookingUid is missing');
    const marks = new Map<string, boolean>();
    for (const a of (Array.isArray(p.attendees) ? p.attendees : []) as Array<{ email?: unknown; noShow?: unknown } | null>) {
      const email = typeof a?.email === 'string' ? a.email.trim().toLowerCase() : '';
      if (email && typeof a?.noShow === 'boolean') marks.set(email, a.noShow);
    }
    const all = await store.bookingAppointments(pool, companyId, uid);
    if (all.length === 0) return recordOnly(d, 'unmapped', 'no appointment has this booking');
    const changes = all
      .filter((a) => a.email !== null && marks.has(a.email) && a.status !== 'cancelled')
      .map((a) => ({ a, status: marks.get(a.email!) ? ('no_show' as const) : ('confirmed' as const) }))
      .filter(({ a, status }) => (status === 'no_show' ? a.status !== 'no_show' : a.status === 'no_show'));
    if (changes.length === 0)
      return recordOnly(d, 'ignored', 'no appointment of this booking changes (its customer is not listed, or already so)', all[0].id);
    for (const { a, status } of changes.slice(0, -1)) await directory.updateAppointment(companyId, a.id, { status });
    const { a: last, status } = changes[changes.length - 1];
    let row: store.DeliveryRow | undefined;
    return applyOnce(d, async () => {
      await directory.updateAppointment(
        companyId,
        last.id,
        { status },
        {
          within: async (tx) => {
            row = await recordApplied(tx, d, last.id);
          },
        },
      );
      return row!;
    });
  }

  async function apply(companyId: string, d: Delivery, handling: TriggerHandling): Promise<CalcomAnswer> {
    if (handling.kind === 'ignore') return recordOnly(d, 'ignored', handling.why);
    if (!d.payload) return recordOnly(d, 'rejected', 'the body has no payload object');
    if (handling.kind === 'no_show') return noShow(companyId, d);
    const uid = text(d.payload.uid);
    if (!uid) return recordOnly(d, 'rejected', 'payload.uid (the booking’s uid) is missing');
    if (handling.kind === 'book') return book(companyId, d, uid);
    if (handling.kind === 'reschedule') return reschedule(companyId, d, uid);
    return cancel(companyId, d, uid);
  }

  /**
   * One delivery to `/webhooks/calcom/<hook id>`: 404 for an unknown hook id, 401 unless the
   * integration is enabled and its secret verifies the raw body; then 200, recorded.
   */
  async function receive(hookId: string, raw: Buffer, signature: string | undefined): Promise<CalcomAnswer> {
    const integration = await store.integrationByHook(pool, 'calcom', hookId);
    if (!integration) return { kind: 'not_found', message: 'no Cal.com webhook at this address (GET /v1/integrations shows yours)' };
    if (!signature) return { kind: 'unauthorized', message: 'missing X-Cal-Signature-256' };
    if (!integration.enabled) return { kind: 'unauthorized', message: 'this Cal.com integration is disabled' };
    let secret: string;
    try {
      secret = secretOf(secrets, integration);
    } catch (error) {
      if (!(error instanceof SecretBoxError)) throw error;
      log?.error({ companyId: integration.company_id, err: error }, 'the Cal.com secret cannot be opened (SECRET_KEYS)');
      throw new UnavailableError('the webhook secret cannot be read by this process; nothing was written');
    }
    if (!calcomSignatureMatches(raw, secret, signature))
      return { kind: 'unauthorized', message: 'X-Cal-Signature-256 does not match this integration’s secret' };

    // Verified: from here on every delivery is recorded and answered 200.
    const companyId = integration.company_id;
    const digest = sha256(raw);
    const bodyText = storable(raw.toString('utf8')) as string;
    const refuse = (trigger: string, why: string) =>
      recordOnly(
        { key: { companyId, trigger, bookingUid: `body:${digest.slice(0, 40)}` }, body: bodyText, payload: undefined },
        'rejected',
        why,
      );
    let json: unknown;
    try {
      json = storable(JSON.parse(raw.toString('utf8')));
    } catch (error) {
      return refuse(
        '(unreadable)',
        error instanceof TooDeep
          ? 'the body is JSON nested too deeply'
          : 'the body is not JSON (a custom payload template in Cal.com that is not JSON?)',
      );
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return refuse('(unreadable)', 'the body is not a JSON object');
    const envelope = json as Record<string, unknown>;
    if (typeof envelope.triggerEvent !== 'string' || !envelope.triggerEvent.trim())
      return refuse('(none)', 'the body has no triggerEvent (a custom payload template in Cal.com?)');
    const trigger = truncate(envelope.triggerEvent.trim(), TEXT_LIMITS.trigger);
    const payload =
      typeof envelope.payload === 'object' && envelope.payload !== null && !Array.isArray(envelope.payload)
        ? (envelope.payload as BookingPayload)
        : undefined;
    const d: Delivery = {
      key: { companyId, trigger, bookingUid: deliveryKey(trigger, payload, digest, sha256) },
      body: envelope,
      payload,
    };
    const again = await store.countRedelivery(pool, d.key);
    if (again) return answer(again, true);
    return apply(companyId, d, handlingOf(trigger));
  }

  return { receive };
}

export type CalcomWebhook = ReturnType<typeof createCalcomWebhook>;
