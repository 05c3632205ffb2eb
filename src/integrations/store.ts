import type { Queryable } from '../db/transaction';

/**
 * Every SQL statement of the calendar and phone-agent integrations: `integrations`,
 * `calcom_event_map`, `calcom_deliveries`, `calls`, and the two reads of other tables they need
 * (customers by email or phone, appointments by Cal.com booking uid). Every query names its company.
 */

export const PROVIDERS = ['calcom', 'retell'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface IntegrationRow {
  id: string;
  company_id: string;
  provider: Provider;
  webhook_secret: string;
  enabled: boolean;
  default_branch_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The enabled integrations of a provider (their secrets decide which company a delivery is from). */
export async function enabledIntegrations(db: Queryable, provider: Provider): Promise<IntegrationRow[]> {
  const { rows } = await db.query<IntegrationRow>(`SELECT * FROM integrations WHERE provider = $1 AND enabled ORDER BY created_at`, [
    provider,
  ]);
  return rows;
}

export async function upsertIntegration(
  db: Queryable,
  companyId: string,
  provider: Provider,
  input: { secret: string; enabled: boolean; defaultBranchId: string | null },
): Promise<IntegrationRow & { inserted: boolean }> {
  const { rows } = await db.query(
    `INSERT INTO integrations AS i (company_id, provider, webhook_secret, enabled, default_branch_id)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (company_id, provider) DO UPDATE SET webhook_secret = EXCLUDED.webhook_secret, enabled = EXCLUDED.enabled,
       default_branch_id = EXCLUDED.default_branch_id, updated_at = now()
     RETURNING *, (xmax = 0) AS inserted`,
    [companyId, provider, input.secret, input.enabled, input.defaultBranchId],
  );
  return rows[0];
}

export async function listIntegrations(db: Queryable, companyId: string): Promise<IntegrationRow[]> {
  const { rows } = await db.query<IntegrationRow>(`SELECT * FROM integrations WHERE company_id = $1 ORDER BY provider`, [companyId]);
  return rows;
}

export async function branchExists(db: Queryable, companyId: string, branchId: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM branches WHERE company_id = $1 AND id = $2`, [companyId, branchId]);
  return rows.length > 0;
}

// ---- calcom_event_map ----

export interface EventMapRow {
  id: string;
  company_id: string;
  calcom_event_type_id: string;
  branch_id: string;
  service_id: string | null;
  staff_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export async function findEventMap(db: Queryable, companyId: string, eventTypeId: string): Promise<EventMapRow | undefined> {
  const { rows } = await db.query<EventMapRow>(`SELECT * FROM calcom_event_map WHERE company_id = $1 AND calcom_event_type_id = $2`, [
    companyId,
    eventTypeId,
  ]);
  return rows[0];
}

/** The map's references must be the company's (the composite foreign keys refuse anything else). */
export async function upsertEventMap(
  db: Queryable,
  companyId: string,
  eventTypeId: string,
  m: { branchId: string; serviceId: string | null; staffId: string | null },
): Promise<EventMapRow & { inserted: boolean }> {
  const { rows } = await db.query(
    `INSERT INTO calcom_event_map (company_id, calcom_event_type_id, branch_id, service_id, staff_id)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (company_id, calcom_event_type_id) DO UPDATE SET branch_id = EXCLUDED.branch_id,
       service_id = EXCLUDED.service_id, staff_id = EXCLUDED.staff_id, updated_at = now()
     RETURNING *, (xmax = 0) AS inserted`,
    [companyId, eventTypeId, m.branchId, m.serviceId, m.staffId],
  );
  return rows[0];
}

/** Whether the service and staff member belong to the branch (null: not given). */
export async function mapReferences(
  db: Queryable,
  companyId: string,
  m: { branchId: string; serviceId: string | null; staffId: string | null },
): Promise<{ branch: boolean; service: boolean; staff: boolean }> {
  const { rows } = await db.query(
    `SELECT EXISTS (SELECT 1 FROM branches WHERE company_id = $1 AND id = $2) AS branch,
            ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM services WHERE company_id = $1 AND id = $3 AND branch_id = $2)) AS service,
            ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM staff WHERE company_id = $1 AND id = $4 AND branch_id = $2)) AS staff`,
    [companyId, m.branchId, m.serviceId, m.staffId],
  );
  return rows[0];
}

// ---- calcom_deliveries ----

export type DeliveryOutcome = 'applied' | 'unmapped' | 'ignored' | 'rejected';

export interface DeliveryRow {
  id: string;
  company_id: string;
  trigger_event: string;
  booking_uid: string;
  reschedule_uid: string | null;
  event_type_id: string | null;
  outcome: DeliveryOutcome;
  detail: string | null;
  appointment_id: string | null;
  payload: unknown;
  deliveries: number;
  first_received_at: Date;
  last_received_at: Date;
}

export interface DeliveryKey {
  companyId: string;
  trigger: string;
  bookingUid: string;
}

/** A delivery already recorded (a retry of Cal.com's): counted, and returned as it was decided. */
export async function countRedelivery(db: Queryable, key: DeliveryKey): Promise<DeliveryRow | undefined> {
  const { rows } = await db.query<DeliveryRow>(
    `UPDATE calcom_deliveries SET deliveries = deliveries + 1, last_received_at = now()
      WHERE company_id = $1 AND trigger_event = $2 AND booking_uid = $3 RETURNING *`,
    [key.companyId, key.trigger, key.bookingUid],
  );
  return rows[0];
}

/**
 * Records a delivery's outcome. Plain INSERT: inside the transaction that applies the booking, a
 * concurrent copy of the same delivery fails on the unique key and rolls back with nothing applied.
 */
export async function insertDelivery(
  db: Queryable,
  key: DeliveryKey,
  d: {
    rescheduleUid: string | null;
    eventTypeId: string | null;
    outcome: DeliveryOutcome;
    detail: string | null;
    appointmentId: string | null;
    payload: unknown;
  },
): Promise<DeliveryRow> {
  const { rows } = await db.query<DeliveryRow>(
    `INSERT INTO calcom_deliveries (company_id, trigger_event, booking_uid, reschedule_uid, event_type_id, outcome, detail, appointment_id, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
    [
      key.companyId,
      key.trigger,
      key.bookingUid,
      d.rescheduleUid,
      d.eventTypeId,
      d.outcome,
      d.detail,
      d.appointmentId,
      JSON.stringify(d.payload),
    ],
  );
  return rows[0];
}

export async function listDeliveries(
  db: Queryable,
  companyId: string,
  filter: { outcome?: DeliveryOutcome; limit: number; offset: number },
): Promise<DeliveryRow[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT * FROM calcom_deliveries WHERE company_id = $1 AND ($2::text IS NULL OR outcome = $2)
      ORDER BY last_received_at DESC, id LIMIT $3 OFFSET $4`,
    [companyId, filter.outcome ?? null, filter.limit, filter.offset],
  );
  return rows;
}

// ---- appointments and customers, as the integrations find them ----

export async function appointmentIdByBookingUid(db: Queryable, companyId: string, uid: string): Promise<string | undefined> {
  const { rows } = await db.query(`SELECT id FROM appointments WHERE company_id = $1 AND calcom_booking_uid = $2`, [companyId, uid]);
  return rows[0]?.id;
}

/** Inside the booking's (or the reschedule's) transaction: the appointment answers to this Cal.com booking uid from now on. */
export async function setBookingUid(db: Queryable, companyId: string, appointmentId: string, uid: string): Promise<void> {
  await db.query(`UPDATE appointments SET calcom_booking_uid = $3 WHERE company_id = $1 AND id = $2`, [companyId, appointmentId, uid]);
}

export async function customerIdByEmail(db: Queryable, companyId: string, email: string): Promise<string | undefined> {
  const { rows } = await db.query(
    `SELECT id FROM customers WHERE company_id = $1 AND lower(email) = lower($2) ORDER BY created_at LIMIT 1`,
    [companyId, email],
  );
  return rows[0]?.id;
}

export interface CallerRow {
  id: string;
  name: string;
  phone: string;
  home_branch_id: string | null;
  time_zone: string;
}

/** The company's customers with this phone number (E.164, as stored). */
export async function customersByPhone(db: Queryable, companyId: string, e164: string): Promise<CallerRow[]> {
  const { rows } = await db.query<CallerRow>(
    `SELECT id, name, phone, home_branch_id, time_zone FROM customers WHERE company_id = $1 AND phone = $2 ORDER BY created_at LIMIT 5`,
    [companyId, e164],
  );
  return rows;
}

export interface CallerAppointmentRow {
  id: string;
  branch_id: string;
  service_name: string | null;
  starts_at: Date;
  status: string;
}

/** The caller's next live appointments (soonest first), or the one asked for if it is theirs. */
export async function upcomingAppointments(
  db: Queryable,
  companyId: string,
  customerId: string,
  now: Date,
  appointmentId?: string,
): Promise<CallerAppointmentRow[]> {
  const { rows } = await db.query<CallerAppointmentRow>(
    `SELECT a.id, a.branch_id, s.name AS service_name, a.starts_at, a.status
       FROM appointments a LEFT JOIN services s ON s.company_id = a.company_id AND s.id = a.service_id
      WHERE a.company_id = $1 AND a.customer_id = $2 AND a.status IN ('scheduled', 'confirmed') AND a.starts_at > $3
        AND ($4::uuid IS NULL OR a.id = $4)
      ORDER BY a.starts_at LIMIT 5`,
    [companyId, customerId, now, appointmentId ?? null],
  );
  return rows;
}

// ---- calls ----

export interface CallRow {
  id: string;
  company_id: string;
  external_call_id: string;
  customer_id: string | null;
  callback_id: string | null;
}

/** The phone agent's call, recorded once per Retell call id (later function calls find it). */
export async function upsertCall(
  db: Queryable,
  companyId: string,
  c: { externalCallId: string; fromNumber: string | null; toNumber: string | null; customerId: string | null; branchId: string | null },
): Promise<CallRow> {
  const { rows } = await db.query<CallRow>(
    `INSERT INTO calls (company_id, external_call_id, from_number, to_number, customer_id, branch_id)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (company_id, external_call_id) DO UPDATE SET customer_id = coalesce(calls.customer_id, EXCLUDED.customer_id)
     RETURNING id, company_id, external_call_id, customer_id, callback_id`,
    [companyId, c.externalCallId, c.fromNumber, c.toNumber, c.customerId, c.branchId],
  );
  return rows[0];
}

/** The call's callback, once: the first one recorded wins (returns the callback the call has). */
export async function setCallCallback(db: Queryable, companyId: string, callId: string, callbackId: string): Promise<string> {
  const { rows } = await db.query(
    `UPDATE calls SET callback_id = coalesce(callback_id, $3) WHERE company_id = $1 AND id = $2 RETURNING callback_id`,
    [companyId, callId, callbackId],
  );
  return rows[0].callback_id;
}
