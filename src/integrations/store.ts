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
  /** The id in the integration's own webhook URL (`/webhooks/<provider>/<hook id>`). */
  hook_id: string;
  /** The secret in clear: only on rows written before secrets were sealed, until the application seals them. */
  webhook_secret: string | null;
  /** The secret sealed with SECRET_KEYS (src/integrations/secret-box.ts), and the id of the key that sealed it. */
  secret_ciphertext: Buffer | null;
  secret_key_id: string | null;
  enabled: boolean;
  default_branch_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The integration a webhook URL names (one row: exactly one secret is checked). */
export async function integrationByHook(db: Queryable, provider: Provider, hookId: string): Promise<IntegrationRow | undefined> {
  const { rows } = await db.query<IntegrationRow>(`SELECT * FROM integrations WHERE provider = $1 AND hook_id = $2`, [provider, hookId]);
  return rows[0];
}

/** The company's integration of a provider, locked for the rest of the transaction (a PUT replaces it). */
export async function integrationForUpdate(db: Queryable, companyId: string, provider: Provider): Promise<IntegrationRow | undefined> {
  const { rows } = await db.query<IntegrationRow>(`SELECT * FROM integrations WHERE company_id = $1 AND provider = $2 FOR UPDATE`, [
    companyId,
    provider,
  ]);
  return rows[0];
}

export interface IntegrationWrite {
  secret: { ciphertext: Buffer; keyId: string };
  enabled: boolean;
  defaultBranchId: string | null;
}

/** A new integration; undefined when a concurrent request created the company's integration of this provider first. */
export async function insertIntegration(
  db: Queryable,
  companyId: string,
  provider: Provider,
  ids: { id: string; hookId: string },
  w: IntegrationWrite,
): Promise<IntegrationRow | undefined> {
  const { rows } = await db.query<IntegrationRow>(
    `INSERT INTO integrations (id, company_id, provider, hook_id, secret_ciphertext, secret_key_id, enabled, default_branch_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (company_id, provider) DO NOTHING RETURNING *`,
    [ids.id, companyId, provider, ids.hookId, w.secret.ciphertext, w.secret.keyId, w.enabled, w.defaultBranchId],
  );
  return rows[0];
}

/** Replaces an integration's settings; its secret is stored sealed (a plaintext one is dropped). */
export async function updateIntegration(db: Queryable, companyId: string, id: string, w: IntegrationWrite): Promise<IntegrationRow> {
  const { rows } = await db.query<IntegrationRow>(
    `UPDATE integrations SET secret_ciphertext = $3, secret_key_id = $4, webhook_secret = NULL, enabled = $5,
            default_branch_id = $6, updated_at = now()
      WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, w.secret.ciphertext, w.secret.keyId, w.enabled, w.defaultBranchId],
  );
  return rows[0];
}

/**
 * Rows whose secret is still in clear or sealed under a key other than `currentKeyId` (only under
 * keys in `knownKeyIds`: the others cannot be opened here), locked; a concurrent sweep skips them.
 */
export async function secretsToSeal(db: Queryable, currentKeyId: string, knownKeyIds: string[], limit: number): Promise<IntegrationRow[]> {
  const { rows } = await db.query<IntegrationRow>(
    `SELECT * FROM integrations
      WHERE webhook_secret IS NOT NULL OR (secret_key_id <> $1 AND secret_key_id = ANY($2::text[]))
      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [currentKeyId, knownKeyIds, limit],
  );
  return rows;
}

/** Stores a row's secret sealed (the sweep and the rotation), leaving every other setting as it is. */
export async function storeSealedSecret(db: Queryable, id: string, sealed: { ciphertext: Buffer; keyId: string }): Promise<void> {
  await db.query(`UPDATE integrations SET secret_ciphertext = $2, secret_key_id = $3, webhook_secret = NULL WHERE id = $1`, [
    id,
    sealed.ciphertext,
    sealed.keyId,
  ]);
}

/** For a downgrade only (`npm run secrets -- decrypt`): sealed rows, locked, and the write that puts a secret back in clear. */
export async function sealedSecrets(db: Queryable, limit: number): Promise<IntegrationRow[]> {
  const { rows } = await db.query<IntegrationRow>(
    `SELECT * FROM integrations WHERE secret_ciphertext IS NOT NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  return rows;
}
export async function storePlainSecret(db: Queryable, id: string, secret: string): Promise<void> {
  await db.query(`UPDATE integrations SET webhook_secret = $2, secret_ciphertext = NULL, secret_key_id = NULL WHERE id = $1`, [id, secret]);
}

/** How many secrets each key id seals (`(clear)` for rows not sealed yet): what a rotation waits for. */
export async function secretsByKey(db: Queryable): Promise<Record<string, number>> {
  const { rows } = await db.query<{ key: string; n: number }>(
    `SELECT coalesce(secret_key_id, '(clear)') AS key, count(*)::int AS n FROM integrations GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.key, r.n]));
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
  /** The body as received (JSON, or a JSON string holding a body that was not JSON): kept for rejected and unmapped deliveries only, for a while. */
  payload: unknown | null;
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

/** Which outcomes keep the body for an operator (the hourly purge empties it after CALCOM_DELIVERY_BODY_TTL_HOURS). */
export const keepsBody = (outcome: DeliveryOutcome) => outcome === 'rejected' || outcome === 'unmapped';

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
      keepsBody(d.outcome) && d.payload !== undefined ? JSON.stringify(d.payload) : null,
    ],
  );
  return rows[0];
}

/** A company's deliveries, newest first; `duplicate`: those Cal.com delivered more than once. */
export async function listDeliveries(
  db: Queryable,
  companyId: string,
  filter: { outcome?: DeliveryOutcome | 'duplicate'; limit: number; offset: number },
): Promise<DeliveryRow[]> {
  const duplicate = filter.outcome === 'duplicate';
  const { rows } = await db.query<DeliveryRow>(
    `SELECT * FROM calcom_deliveries WHERE company_id = $1 AND ($2::text IS NULL OR outcome = $2) AND (NOT $3 OR deliveries > 1)
      ORDER BY last_received_at DESC, id LIMIT $4 OFFSET $5`,
    [companyId, duplicate ? null : (filter.outcome ?? null), duplicate, filter.limit, filter.offset],
  );
  return rows;
}

/**
 * Empties the bodies kept past their time (rejected and unmapped ones after `olderThanHours`; any
 * other outcome's at once: rows written before bodies were kept only for those), at most `batch`
 * rows per statement. The row (trigger, key, outcome, reason, counts) stays.
 */
export async function purgeDeliveryBodies(db: Queryable, olderThanHours: number, batch = 1000): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE calcom_deliveries SET payload = NULL
      WHERE id IN (SELECT id FROM calcom_deliveries
                    WHERE payload IS NOT NULL
                      AND (outcome NOT IN ('rejected', 'unmapped') OR first_received_at < now() - make_interval(hours => $1))
                    LIMIT $2)`,
    [olderThanHours, batch],
  );
  return rowCount ?? 0;
}

// ---- appointments and customers, as the integrations find them ----

/** The appointment of a Cal.com booking (of one seat of it: `seat`; null: a booking without seats). */
export async function appointmentIdByBookingUid(
  db: Queryable,
  companyId: string,
  uid: string,
  seat: string | null = null,
): Promise<string | undefined> {
  const { rows } = await db.query(
    `SELECT id FROM appointments WHERE company_id = $1 AND calcom_booking_uid = $2 AND coalesce(calcom_seat_uid, '') = coalesce($3, '')`,
    [companyId, uid, seat],
  );
  return rows[0]?.id;
}

export interface BookingAppointmentRow {
  id: string;
  status: string;
  seat_uid: string | null;
  email: string | null;
}

/** Every appointment of a Cal.com booking (a seated event has one per seat), with its customer's e-mail address. */
export async function bookingAppointments(db: Queryable, companyId: string, uid: string): Promise<BookingAppointmentRow[]> {
  const { rows } = await db.query<BookingAppointmentRow>(
    `SELECT a.id, a.status, a.calcom_seat_uid AS seat_uid, lower(c.email) AS email
       FROM appointments a JOIN customers c ON c.company_id = a.company_id AND c.id = a.customer_id
      WHERE a.company_id = $1 AND a.calcom_booking_uid = $2 ORDER BY a.created_at, a.id`,
    [companyId, uid],
  );
  return rows;
}

/** Inside the booking's (or the reschedule's) transaction: the appointment answers to this Cal.com booking uid (and seat) from now on. */
export async function setBookingUid(
  db: Queryable,
  companyId: string,
  appointmentId: string,
  uid: string,
  seat: string | null = null,
): Promise<void> {
  await db.query(`UPDATE appointments SET calcom_booking_uid = $3, calcom_seat_uid = $4 WHERE company_id = $1 AND id = $2`, [
    companyId,
    appointmentId,
    uid,
    seat,
  ]);
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

/** What a Retell call event says about the call (each field: null, not known from this event). */
export interface CallEvent {
  externalCallId: string;
  direction: 'inbound' | 'outbound';
  fromNumber: string | null;
  toNumber: string | null;
  customerId: string | null;
  branchId: string | null;
  /** in_progress (call_started) or a final status (call_ended): a final status is never replaced by in_progress. */
  status: 'in_progress' | 'completed' | 'failed' | 'missed' | null;
  startedAt: Date | null;
  endedAt: Date | null;
  durationSeconds: number | null;
  summary: string | null;
  metadata: Record<string, unknown>;
}

/**
 * Records a Retell call event on the call's row (created by whichever of the function calls and
 * events comes first; events may arrive in any order). Known facts are never replaced by unknown ones.
 */
export async function recordCallEvent(db: Queryable, companyId: string, e: CallEvent): Promise<CallRow> {
  const { rows } = await db.query<CallRow>(
    `INSERT INTO calls AS c (company_id, external_call_id, direction, from_number, to_number, customer_id, branch_id, status,
                             started_at, ended_at, duration_seconds, summary, metadata)
     VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, 'in_progress'), coalesce($9, now()), $10, $11, $12, $13::jsonb)
     ON CONFLICT (company_id, external_call_id) DO UPDATE SET
       customer_id = coalesce(c.customer_id, EXCLUDED.customer_id),
       branch_id = coalesce(c.branch_id, EXCLUDED.branch_id),
       from_number = coalesce(c.from_number, EXCLUDED.from_number),
       to_number = coalesce(c.to_number, EXCLUDED.to_number),
       status = CASE WHEN $8::text IS NULL OR ($8 = 'in_progress' AND c.status <> 'in_progress') THEN c.status ELSE $8 END,
       started_at = coalesce($9, c.started_at),
       ended_at = coalesce($10, c.ended_at),
       duration_seconds = coalesce($11, c.duration_seconds),
       summary = coalesce($12, c.summary),
       metadata = c.metadata || $13::jsonb
     RETURNING id, company_id, external_call_id, customer_id, callback_id`,
    [
      companyId,
      e.externalCallId,
      e.direction,
      e.fromNumber,
      e.toNumber,
      e.customerId,
      e.branchId,
      e.status,
      e.startedAt,
      e.endedAt,
      e.durationSeconds,
      e.summary,
      JSON.stringify(e.metadata),
    ],
  );
  return rows[0];
}
