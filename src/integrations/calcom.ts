import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { senderPhone, type DirectoryService } from '../directory/service';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import type { PolicyService } from '../policies/service';
import { calcomSignatureMatches } from './signatures';
import * as store from './store';

/**
 * Cal.com booking webhooks: verify, record, apply, answer. The company is the one whose webhook
 * secret verifies the raw body (a secret names exactly one company). Every delivery is recorded
 * in calcom_deliveries under (company, trigger, booking uid), in the same transaction as the change
 * it makes, so Cal.com's retries change nothing the second time. The appointment's workflow is
 * started or told after COMMIT by the services that write appointments; nothing slow runs here.
 */

/** The actor of every change Cal.com makes (appointment_modifications.modified_by). */
export const CALENDAR_ACTOR = { by: 'calendar:calcom', role: null } as const;
/** The calendar has already made the change for the customer: the engine records it (fee, quota) but cannot refuse it. */
const CALENDAR_OVERRIDE = { reason: 'made by the customer in the calendar (Cal.com)' };

const Attendee = z.looseObject({
  name: z.string().min(1).max(200),
  email: z.string().max(320).optional(),
  timeZone: z.string().max(64).optional(),
  phoneNumber: z.string().max(40).nullish(),
});

/** The fields read from a delivery (Cal.com sends many more; they are kept in the recorded payload). */
export const CalcomDelivery = z.looseObject({
  triggerEvent: z.string().min(1).max(64),
  payload: z
    .looseObject({
      uid: z.string().min(1).max(200).optional(),
      rescheduleUid: z.string().min(1).max(200).nullish(),
      eventTypeId: z.union([z.number(), z.string()]).nullish(),
      startTime: z.string().optional(),
      endTime: z.string().optional(),
      status: z.string().optional(),
      attendees: z.array(Attendee).optional(),
      cancellationReason: z.string().max(500).nullish(),
    })
    .optional(),
});
type CalcomDelivery = z.infer<typeof CalcomDelivery>;

export const BOOKING_TRIGGERS = ['BOOKING_CREATED', 'BOOKING_RESCHEDULED', 'BOOKING_CANCELLED'] as const;

export type CalcomAnswer =
  | { kind: 'unauthorized'; message: string }
  | { kind: 'invalid'; message: string; fields: Array<{ field: string; message: string }> }
  | {
      kind: 'recorded';
      body: { outcome: store.DeliveryOutcome; duplicate: boolean; appointmentId: string | null; detail: string | null; deliveryId: string };
    };

export interface CalcomDeps {
  pool: Pool;
  directory: DirectoryService;
  policies: PolicyService;
  logger?: Logger;
}

const isUniqueViolation = (error: unknown) => (error as { code?: string })?.code === '23505';
const validIso = (s: string | undefined) => (s && !Number.isNaN(Date.parse(s)) ? new Date(s).toISOString() : undefined);

export function createCalcomWebhook({ pool, directory, policies, logger }: CalcomDeps) {
  const log = logger?.child({ component: 'calcom-webhook' });

  /** The company whose secret made this signature, or undefined. Every enabled secret is tried, each in constant time. */
  async function companyOf(raw: Buffer, signature: string): Promise<string | undefined> {
    let found: string | undefined;
    for (const i of await store.enabledIntegrations(pool, 'calcom')) {
      if (calcomSignatureMatches(raw, i.webhook_secret, signature)) found ??= i.company_id;
    }
    return found;
  }

  const answer = (row: store.DeliveryRow, duplicate: boolean): CalcomAnswer => ({
    kind: 'recorded',
    body: { outcome: row.outcome, duplicate, appointmentId: row.appointment_id, detail: row.detail, deliveryId: row.id },
  });

  /** Records a delivery that changes nothing (unmapped, ignored, rejected); a copy recorded meanwhile is counted instead. */
  async function recordOnly(
    key: store.DeliveryKey,
    d: CalcomDelivery,
    outcome: store.DeliveryOutcome,
    detail: string,
    appointmentId: string | null = null,
  ): Promise<CalcomAnswer> {
    try {
      const row = await store.insertDelivery(pool, key, {
        rescheduleUid: d.payload?.rescheduleUid ?? null,
        eventTypeId: d.payload?.eventTypeId == null ? null : String(d.payload.eventTypeId),
        outcome,
        detail,
        appointmentId,
        payload: d,
      });
      if (outcome !== 'applied')
        log?.warn({ companyId: key.companyId, trigger: key.trigger, outcome, detail }, 'Cal.com delivery not applied');
      return answer(row, false);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      return answer((await store.countRedelivery(pool, key))!, true);
    }
  }

  /**
   * Runs `apply` (which writes the delivery row inside its own transaction); a concurrent copy of
   * the same delivery loses on the unique key, rolls back everything it did, and is counted.
   * A business refusal (not found, invalid, conflict) is recorded as rejected, not retried.
   */
  async function applyOnce(key: store.DeliveryKey, d: CalcomDelivery, apply: () => Promise<store.DeliveryRow>): Promise<CalcomAnswer> {
    try {
      return answer(await apply(), false);
    } catch (error) {
      // A concurrent copy committed first: its booking uid or its delivery row is taken.
      const constraint = (error as { constraint?: string }).constraint ?? '';
      if (
        isUniqueViolation(error) &&
        (constraint.startsWith('calcom_deliveries') || constraint === 'appointments_calcom_booking_uid_key')
      ) {
        const row = await store.countRedelivery(pool, key);
        if (row) return answer(row, true);
      }
      if (error instanceof NotFoundError || error instanceof ValidationError || error instanceof ConflictError) {
        const issues = error instanceof ValidationError ? error.issues?.map((i) => `${i.field}: ${i.message}`).join('; ') : undefined;
        return recordOnly(key, d, 'rejected', issues ? `${error.message} (${issues})` : error.message);
      }
      throw error;
    }
  }

  async function customerFor(companyId: string, attendee: z.infer<typeof Attendee>, branchId: string): Promise<string> {
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
    const customer = await directory.createCustomer(companyId, { name: attendee.name, email, phone, timeZone });
    return customer.id;
  }

  async function created(companyId: string, key: store.DeliveryKey, d: CalcomDelivery): Promise<CalcomAnswer> {
    const p = d.payload!;
    const eventTypeId = p.eventTypeId == null ? null : String(p.eventTypeId);
    const map = eventTypeId ? await store.findEventMap(pool, companyId, eventTypeId) : undefined;
    if (!map) return recordOnly(key, d, 'unmapped', `event type ${eventTypeId ?? '(none)'} is not in calcom_event_map`);
    if (!map.service_id) return recordOnly(key, d, 'unmapped', `event type ${eventTypeId} maps to no service`);
    const startsAt = validIso(p.startTime);
    const endsAt = validIso(p.endTime);
    const attendee = p.attendees?.[0];
    if (!startsAt || !endsAt || !attendee)
      return recordOnly(key, d, 'rejected', 'payload.startTime, payload.endTime and an attendee are required');
    const existing = await store.appointmentIdByBookingUid(pool, companyId, key.bookingUid);
    if (existing) return recordOnly(key, d, 'ignored', 'the booking is already an appointment', existing);
    const customerId = await customerFor(companyId, attendee, map.branch_id);
    let row: store.DeliveryRow | undefined;
    return applyOnce(key, d, async () => {
      await directory.createAppointment(
        companyId,
        {
          customerId,
          branchId: map.branch_id,
          serviceId: map.service_id!,
          staffId: map.staff_id,
          startsAt,
          endsAt,
          status: p.status === 'ACCEPTED' ? 'confirmed' : 'scheduled',
          notes: null,
        },
        {
          source: 'calcom',
          within: async (tx, appointment) => {
            await store.setBookingUid(tx, companyId, appointment.id, key.bookingUid);
            row = await store.insertDelivery(tx, key, {
              rescheduleUid: null,
              eventTypeId,
              outcome: 'applied',
              detail: null,
              appointmentId: appointment.id,
              payload: d,
            });
          },
        },
      );
      return row!;
    });
  }

  async function rescheduled(companyId: string, key: store.DeliveryKey, d: CalcomDelivery): Promise<CalcomAnswer> {
    const p = d.payload!;
    const startsAt = validIso(p.startTime);
    const endsAt = validIso(p.endTime);
    if (!startsAt) return recordOnly(key, d, 'rejected', 'payload.startTime is required');
    // The new booking's uid is `uid`; the one it replaces is `rescheduleUid` (older Cal.com versions kept the uid).
    const appointmentId =
      (p.rescheduleUid ? await store.appointmentIdByBookingUid(pool, companyId, p.rescheduleUid) : undefined) ??
      (await store.appointmentIdByBookingUid(pool, companyId, key.bookingUid));
    if (!appointmentId) return recordOnly(key, d, 'unmapped', 'no appointment has this booking (or the booking it replaces)');
    let row: store.DeliveryRow | undefined;
    return applyOnce(key, d, async () => {
      await policies.rescheduleAppointment(
        companyId,
        appointmentId,
        { startsAt, ...(endsAt ? { endsAt } : {}), reason: 'rescheduled in Cal.com', override: CALENDAR_OVERRIDE },
        CALENDAR_ACTOR,
        undefined,
        {
          within: async (tx) => {
            await store.setBookingUid(tx, companyId, appointmentId, key.bookingUid);
            row = await store.insertDelivery(tx, key, {
              rescheduleUid: p.rescheduleUid ?? null,
              eventTypeId: p.eventTypeId == null ? null : String(p.eventTypeId),
              outcome: 'applied',
              detail: null,
              appointmentId,
              payload: d,
            });
          },
        },
      );
      return row!;
    });
  }

  async function cancelled(companyId: string, key: store.DeliveryKey, d: CalcomDelivery): Promise<CalcomAnswer> {
    const appointmentId = await store.appointmentIdByBookingUid(pool, companyId, key.bookingUid);
    if (!appointmentId) return recordOnly(key, d, 'unmapped', 'no appointment has this booking');
    let row: store.DeliveryRow | undefined;
    return applyOnce(key, d, async () => {
      await policies.cancelAppointment(
        companyId,
        appointmentId,
        { reason: d.payload?.cancellationReason?.trim() || 'cancelled in Cal.com', override: CALENDAR_OVERRIDE },
        CALENDAR_ACTOR,
        undefined,
        {
          within: async (tx) => {
            row = await store.insertDelivery(tx, key, {
              rescheduleUid: null,
              eventTypeId: d.payload?.eventTypeId == null ? null : String(d.payload.eventTypeId),
              outcome: 'applied',
              detail: null,
              appointmentId,
              payload: d,
            });
          },
        },
      );
      return row!;
    });
  }

  /** One delivery: 401 unless a company's secret verifies the raw body; otherwise recorded and answered 200. */
  async function receive(raw: Buffer, signature: string | undefined): Promise<CalcomAnswer> {
    if (!signature) return { kind: 'unauthorized', message: 'missing X-Cal-Signature-256' };
    const companyId = await companyOf(raw, signature);
    if (!companyId) return { kind: 'unauthorized', message: 'X-Cal-Signature-256 does not match any webhook secret' };
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      return { kind: 'invalid', message: 'invalid request: body', fields: [{ field: 'body', message: 'must be JSON' }] };
    }
    const parsed = CalcomDelivery.safeParse(json);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => ({ field: ['body', ...i.path.map(String)].join('.'), message: i.message }));
      return { kind: 'invalid', message: `invalid request: ${fields.map((f) => f.field).join(', ')}`, fields };
    }
    const d = parsed.data;
    const uid = d.payload?.uid;
    const key = { companyId, trigger: d.triggerEvent, bookingUid: uid ?? `(none) ${d.triggerEvent}` };
    const again = await store.countRedelivery(pool, key);
    if (again) return answer(again, true);
    if (!(BOOKING_TRIGGERS as readonly string[]).includes(d.triggerEvent) || !uid) {
      return recordOnly(key, d, 'ignored', uid ? `trigger ${d.triggerEvent} is not handled` : 'no booking uid');
    }
    if (d.triggerEvent === 'BOOKING_CREATED') return created(companyId, key, d);
    if (d.triggerEvent === 'BOOKING_RESCHEDULED') return rescheduled(companyId, key, d);
    return cancelled(companyId, key, d);
  }

  return { receive };
}

export type CalcomWebhook = ReturnType<typeof createCalcomWebhook>;
