import { NotFoundError } from '../errors';
import type { Queryable } from '../db/transaction';

/**
 * Every SQL statement on the organisation directory's tables (branches, services, staff and their
 * qualifications, customers, appointments). Every query is scoped by company_id: another company's
 * id is simply not found. Reference rules and transactions live in the service.
 */

/**
 * `SET col = $n, ...` for the fields of a patch that are present (undefined = unchanged), with
 * parameters numbered after `offset` fixed ones. `casts` adds a cast to a column's parameter.
 */
function assignments<K extends string>(
  patch: Partial<Record<K, unknown>>,
  columns: Record<K, string>,
  offset: number,
  casts: Partial<Record<K, string>> = {},
): { sets: string[]; values: unknown[] } {
  const entries = (Object.entries(patch) as Array<[K, unknown]>).filter(([, v]) => v !== undefined);
  return {
    sets: entries.map(([k], i) => `${columns[k]} = $${i + offset + 1}${casts[k] ?? ''}`),
    values: entries.map(([k, v]) => (casts[k] === '::jsonb' ? json(v) : v)),
  };
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

// ---- branches ----

export interface BranchRow {
  id: string;
  company_id: string;
  name: string;
  time_zone: string;
  /** ISO 3166-1 alpha-2: where its phone numbers without a country code are read; null: the company's. */
  country: string | null;
  phone: string | null;
  email: string | null;
  /** Local opening intervals per ISO weekday ('1'..'7'); null: no hours (the SLA clock runs on wall-clock time). */
  opening_hours: Record<string, Array<{ start: string; end: string }>> | null;
  created_at: Date;
  updated_at: Date;
}

export interface BranchInput {
  name: string;
  timeZone: string;
  country?: string | null;
  phone?: string | null;
  email?: string | null;
  openingHours?: Record<string, Array<{ start: string; end: string }>> | null;
}

export async function insertBranch(db: Queryable, companyId: string, input: BranchInput): Promise<BranchRow> {
  const { rows } = await db.query<BranchRow>(
    `INSERT INTO branches (company_id, name, time_zone, country, phone, email, opening_hours)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING *`,
    [companyId, input.name, input.timeZone, input.country ?? null, input.phone ?? null, input.email ?? null, json(input.openingHours)],
  );
  return rows[0];
}

/** Scoped by company: another company's id is simply not found. */
export async function findBranch(db: Queryable, companyId: string, id: string): Promise<BranchRow | undefined> {
  const { rows } = await db.query<BranchRow>(`SELECT * FROM branches WHERE company_id = $1 AND id = $2`, [companyId, id]);
  return rows[0];
}

export async function listBranches(db: Queryable, companyId: string, page: { limit: number; offset: number }): Promise<BranchRow[]> {
  const { rows } = await db.query<BranchRow>(`SELECT * FROM branches WHERE company_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3`, [
    companyId,
    page.limit,
    page.offset,
  ]);
  return rows;
}

const BRANCH_COLUMNS: Record<keyof BranchInput, string> = {
  name: 'name',
  timeZone: 'time_zone',
  country: 'country',
  phone: 'phone',
  email: 'email',
  openingHours: 'opening_hours',
};

export async function updateBranch(
  db: Queryable,
  companyId: string,
  id: string,
  patch: Partial<BranchInput>,
): Promise<BranchRow | undefined> {
  const { sets, values } = assignments(patch, BRANCH_COLUMNS, 2, { openingHours: '::jsonb' });
  if (sets.length === 0) return findBranch(db, companyId, id);
  const { rows } = await db.query<BranchRow>(
    `UPDATE branches SET ${sets.join(', ')}, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, ...values],
  );
  return rows[0];
}

/**
 * The countries a phone number of the company is read in: the company's and, when a branch is
 * given, the branch's own (null: none; a branch of another company is not found: null).
 */
export async function phoneCountries(
  db: Queryable,
  companyId: string,
  branchId: string | null,
): Promise<{ company: string | null; branch: string | null }> {
  const { rows } = await db.query<{ company: string | null; branch: string | null }>(
    `SELECT c.country AS company, b.country AS branch
       FROM companies c LEFT JOIN branches b ON b.company_id = c.id AND b.id = $2
      WHERE c.id = $1`,
    [companyId, branchId],
  );
  return rows[0] ?? { company: null, branch: null };
}

// ---- services ----

export interface ServiceRow {
  id: string;
  company_id: string;
  branch_id: string;
  name: string;
  duration_minutes: number;
  price_cents: number;
  created_at: Date;
  updated_at: Date;
}

export interface ServiceInput {
  branchId: string;
  name: string;
  durationMinutes: number;
  priceCents: number;
}

export interface ServiceFilter {
  branchId?: string;
  limit: number;
  offset: number;
}

/** A branch of another company fails the composite foreign key (23503, answered 404). */
export async function insertService(db: Queryable, companyId: string, input: ServiceInput): Promise<ServiceRow> {
  const { rows } = await db.query<ServiceRow>(
    `INSERT INTO services (company_id, branch_id, name, duration_minutes, price_cents) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [companyId, input.branchId, input.name, input.durationMinutes, input.priceCents],
  );
  return rows[0];
}

/**
 * Scoped by company: another company's id is simply not found. `forShare` locks the row until
 * the transaction ends, so a check made on it (its branch) still holds when the caller writes.
 */
export async function findService(
  db: Queryable,
  companyId: string,
  id: string,
  options: { forShare?: boolean } = {},
): Promise<ServiceRow | undefined> {
  const { rows } = await db.query<ServiceRow>(
    `SELECT * FROM services WHERE company_id = $1 AND id = $2${options.forShare ? ' FOR SHARE' : ''}`,
    [companyId, id],
  );
  return rows[0];
}

export async function listServices(db: Queryable, companyId: string, filter: ServiceFilter): Promise<ServiceRow[]> {
  const { rows } = await db.query<ServiceRow>(
    `SELECT * FROM services
      WHERE company_id = $1 AND ($2::uuid IS NULL OR branch_id = $2)
      ORDER BY created_at, id LIMIT $3 OFFSET $4`,
    [companyId, filter.branchId ?? null, filter.limit, filter.offset],
  );
  return rows;
}

const SERVICE_COLUMNS: Record<keyof ServiceInput, string> = {
  branchId: 'branch_id',
  name: 'name',
  durationMinutes: 'duration_minutes',
  priceCents: 'price_cents',
};

export async function updateService(
  db: Queryable,
  companyId: string,
  id: string,
  patch: Partial<ServiceInput>,
): Promise<ServiceRow | undefined> {
  const { sets, values } = assignments(patch, SERVICE_COLUMNS, 2);
  if (sets.length === 0) return findService(db, companyId, id);
  const { rows } = await db.query<ServiceRow>(
    `UPDATE services SET ${sets.join(', ')}, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, ...values],
  );
  return rows[0];
}

// ---- staff ----

export type StaffRole = 'agent' | 'manager';

export interface StaffRow {
  id: string;
  company_id: string;
  branch_id: string;
  name: string;
  email: string | null;
  phone: string | null;
  role: StaffRole;
  is_available: boolean;
  time_zone: string;
  created_at: Date;
  updated_at: Date;
  /** The services this person is qualified for (staff_services), sorted. */
  service_ids: string[];
}

export interface StaffInput {
  branchId: string;
  name: string;
  email?: string | null;
  phone?: string | null;
  role: StaffRole;
  available: boolean;
  timeZone: string;
}

export interface StaffFilter {
  branchId?: string;
  role?: StaffRole;
  available?: boolean;
  limit: number;
  offset: number;
}

const STAFF_SERVICE_IDS = `ARRAY(SELECT ss.service_id FROM staff_services ss WHERE ss.company_id = s.company_id AND ss.staff_id = s.id ORDER BY ss.service_id) AS service_ids`;

/** Inserts the row only; qualified services follow through replaceStaffServices in the same transaction. */
export async function insertStaff(db: Queryable, companyId: string, input: StaffInput): Promise<StaffRow> {
  const { rows } = await db.query<StaffRow>(
    `INSERT INTO staff (company_id, branch_id, name, email, phone, role, is_available, time_zone)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *, '{}'::uuid[] AS service_ids`,
    [companyId, input.branchId, input.name, input.email ?? null, input.phone ?? null, input.role, input.available, input.timeZone],
  );
  return rows[0];
}

/**
 * Scoped by company. `forShare` locks the row (e.g. its branch) until the transaction ends; `forUpdate`
 * is for a transaction that will change it (two FOR SHARE holders that both upgrade deadlock).
 */
export async function findStaff(
  db: Queryable,
  companyId: string,
  id: string,
  options: { forShare?: boolean; forUpdate?: boolean } = {},
): Promise<StaffRow | undefined> {
  const lock = options.forUpdate ? ' FOR UPDATE OF s' : options.forShare ? ' FOR SHARE OF s' : '';
  const { rows } = await db.query<StaffRow>(`SELECT s.*, ${STAFF_SERVICE_IDS} FROM staff s WHERE s.company_id = $1 AND s.id = $2${lock}`, [
    companyId,
    id,
  ]);
  return rows[0];
}

export async function listStaff(db: Queryable, companyId: string, filter: StaffFilter): Promise<StaffRow[]> {
  const { rows } = await db.query<StaffRow>(
    `SELECT s.*, ${STAFF_SERVICE_IDS} FROM staff s
      WHERE s.company_id = $1
        AND ($2::uuid IS NULL OR s.branch_id = $2)
        AND ($3::text IS NULL OR s.role = $3)
        AND ($4::boolean IS NULL OR s.is_available = $4)
      ORDER BY s.created_at, s.id LIMIT $5 OFFSET $6`,
    [companyId, filter.branchId ?? null, filter.role ?? null, filter.available ?? null, filter.limit, filter.offset],
  );
  return rows;
}

const STAFF_COLUMNS: Record<keyof StaffInput, string> = {
  branchId: 'branch_id',
  name: 'name',
  email: 'email',
  phone: 'phone',
  role: 'role',
  available: 'is_available',
  timeZone: 'time_zone',
};

/**
 * Changes the row and locks it for the rest of the transaction (also when nothing but its
 * services changes), so concurrent PATCHes of one person's services apply one after the other.
 */
export async function updateStaff(db: Queryable, companyId: string, id: string, patch: Partial<StaffInput>): Promise<StaffRow | undefined> {
  const { sets, values } = assignments(patch, STAFF_COLUMNS, 2);
  const { rows } = await db.query<StaffRow>(
    `UPDATE staff s SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE s.company_id = $1 AND s.id = $2 RETURNING s.*, ${STAFF_SERVICE_IDS}`,
    [companyId, id, ...values],
  );
  return rows[0];
}

/**
 * Makes `serviceIds` the whole set of services the person is qualified for. Any service of the
 * company qualifies (whatever its branch); an id that is missing or belongs to another company
 * throws NotFoundError, and the caller's transaction leaves nothing half-written.
 */
export async function replaceStaffServices(db: Queryable, companyId: string, staffId: string, serviceIds: string[]): Promise<string[]> {
  const wanted = [...new Set(serviceIds)];
  if (wanted.length > 0) {
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM services WHERE company_id = $1 AND id = ANY($2::uuid[]) FOR KEY SHARE`,
      [companyId, wanted],
    );
    const found = new Set(rows.map((r) => r.id));
    const missing = wanted.find((id) => !found.has(id));
    if (missing) throw new NotFoundError('service', missing);
  }
  await db.query(`DELETE FROM staff_services WHERE company_id = $1 AND staff_id = $2`, [companyId, staffId]);
  if (wanted.length > 0) {
    await db.query(`INSERT INTO staff_services (company_id, staff_id, service_id) SELECT $1, $2, unnest($3::uuid[])`, [
      companyId,
      staffId,
      wanted,
    ]);
  }
  return wanted.sort();
}

// ---- customers ----

/** A browser's PushSubscription as JSON (stored as jsonb). */
export interface PushSubscriptionJson {
  endpoint: string;
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

export interface CustomerRow {
  id: string;
  company_id: string;
  home_branch_id: string | null;
  preferred_staff_id: string | null;
  name: string;
  email: string | null;
  phone: string | null;
  time_zone: string;
  push_subscription: PushSubscriptionJson | null;
  created_at: Date;
  updated_at: Date;
}

export interface CustomerInput {
  name: string;
  email?: string | null;
  phone?: string | null;
  timeZone: string;
  homeBranchId?: string | null;
  preferredStaffId?: string | null;
  pushSubscription?: PushSubscriptionJson | null;
}

export interface CustomerFilter {
  /** Home branch. */
  branchId?: string;
  phone?: string;
  limit: number;
  offset: number;
}

/** A home branch or preferred staff member of another company fails the composite foreign key (23503, answered 404). */
export async function insertCustomer(db: Queryable, companyId: string, input: CustomerInput): Promise<CustomerRow> {
  const { rows } = await db.query<CustomerRow>(
    `INSERT INTO customers (company_id, name, email, phone, time_zone, home_branch_id, preferred_staff_id, push_subscription)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) RETURNING *`,
    [
      companyId,
      input.name,
      input.email ?? null,
      input.phone ?? null,
      input.timeZone,
      input.homeBranchId ?? null,
      input.preferredStaffId ?? null,
      json(input.pushSubscription),
    ],
  );
  return rows[0];
}

/** Scoped by company: another company's id is simply not found. */
export async function findCustomer(
  db: Queryable,
  companyId: string,
  id: string,
  options: { forShare?: boolean } = {},
): Promise<CustomerRow | undefined> {
  const { rows } = await db.query<CustomerRow>(
    `SELECT * FROM customers WHERE company_id = $1 AND id = $2${options.forShare ? ' FOR SHARE' : ''}`,
    [companyId, id],
  );
  return rows[0];
}

export async function listCustomers(db: Queryable, companyId: string, filter: CustomerFilter): Promise<CustomerRow[]> {
  const { rows } = await db.query<CustomerRow>(
    `SELECT * FROM customers
      WHERE company_id = $1 AND ($2::uuid IS NULL OR home_branch_id = $2) AND ($3::text IS NULL OR phone = $3)
      ORDER BY created_at, id LIMIT $4 OFFSET $5`,
    [companyId, filter.branchId ?? null, filter.phone ?? null, filter.limit, filter.offset],
  );
  return rows;
}

const CUSTOMER_COLUMNS: Record<keyof CustomerInput, string> = {
  name: 'name',
  email: 'email',
  phone: 'phone',
  timeZone: 'time_zone',
  homeBranchId: 'home_branch_id',
  preferredStaffId: 'preferred_staff_id',
  pushSubscription: 'push_subscription',
};

export async function updateCustomer(
  db: Queryable,
  companyId: string,
  id: string,
  patch: Partial<CustomerInput>,
): Promise<CustomerRow | undefined> {
  const { sets, values } = assignments(patch, CUSTOMER_COLUMNS, 2, { pushSubscription: '::jsonb' });
  if (sets.length === 0) return findCustomer(db, companyId, id);
  const { rows } = await db.query<CustomerRow>(
    `UPDATE customers SET ${sets.join(', ')}, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, ...values],
  );
  return rows[0];
}

// ---- appointments ----

export type AppointmentStatus = 'scheduled' | 'confirmed' | 'cancelled' | 'completed' | 'no_show';

export interface AppointmentRow {
  id: string;
  company_id: string;
  customer_id: string;
  branch_id: string;
  service_id: string;
  staff_id: string | null;
  starts_at: Date;
  ends_at: Date;
  status: AppointmentStatus;
  notes: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface AppointmentInput {
  customerId: string;
  branchId: string;
  serviceId: string;
  staffId?: string | null;
  startsAt: string | Date;
  endsAt: string | Date;
  status: AppointmentStatus;
  notes?: string | null;
}

/** What a PATCH may change: customer, branch and service are fixed once booked. */
export type AppointmentPatch = Partial<Pick<AppointmentInput, 'staffId' | 'startsAt' | 'endsAt' | 'status' | 'notes'>>;

export interface AppointmentFilter {
  customerId?: string;
  branchId?: string;
  staffId?: string;
  /** Starting at or after. */
  from?: string;
  /** Starting before. */
  to?: string;
  limit: number;
  offset: number;
}

/**
 * Inserts the row. The composite foreign keys refuse ids of another company (23503, answered
 * 404); that the service and staff member belong to the branch is the caller's check.
 */
export async function insertAppointment(db: Queryable, companyId: string, input: AppointmentInput): Promise<AppointmentRow> {
  const { rows } = await db.query<AppointmentRow>(
    `INSERT INTO appointments (company_id, customer_id, branch_id, service_id, staff_id, starts_at, ends_at, status, notes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
    [
      companyId,
      input.customerId,
      input.branchId,
      input.serviceId,
      input.staffId ?? null,
      input.startsAt,
      input.endsAt,
      input.status,
      input.notes ?? null,
    ],
  );
  return rows[0];
}

/** Scoped by company; `forUpdate` locks the row for a read-check-write in one transaction. */
export async function findAppointment(
  db: Queryable,
  companyId: string,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<AppointmentRow | undefined> {
  const { rows } = await db.query<AppointmentRow>(
    `SELECT * FROM appointments WHERE company_id = $1 AND id = $2${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [companyId, id],
  );
  return rows[0];
}

export async function listAppointments(db: Queryable, companyId: string, filter: AppointmentFilter): Promise<AppointmentRow[]> {
  const { rows } = await db.query<AppointmentRow>(
    `SELECT * FROM appointments
      WHERE company_id = $1
        AND ($2::uuid IS NULL OR customer_id = $2)
        AND ($3::uuid IS NULL OR branch_id = $3)
        AND ($4::uuid IS NULL OR staff_id = $4)
        AND ($5::timestamptz IS NULL OR starts_at >= $5)
        AND ($6::timestamptz IS NULL OR starts_at < $6)
      ORDER BY starts_at, id LIMIT $7 OFFSET $8`,
    [
      companyId,
      filter.customerId ?? null,
      filter.branchId ?? null,
      filter.staffId ?? null,
      filter.from ?? null,
      filter.to ?? null,
      filter.limit,
      filter.offset,
    ],
  );
  return rows;
}

const APPOINTMENT_COLUMNS: Record<keyof AppointmentPatch, string> = {
  staffId: 'staff_id',
  startsAt: 'starts_at',
  endsAt: 'ends_at',
  status: 'status',
  notes: 'notes',
};

export async function updateAppointment(
  db: Queryable,
  companyId: string,
  id: string,
  patch: AppointmentPatch,
): Promise<AppointmentRow | undefined> {
  const { sets, values } = assignments(patch, APPOINTMENT_COLUMNS, 2);
  if (sets.length === 0) return findAppointment(db, companyId, id);
  const { rows } = await db.query<AppointmentRow>(
    `UPDATE appointments SET ${sets.join(', ')}, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, ...values],
  );
  return rows[0];
}

// ---- personal data (export and erasure, src/privacy/) ----

/** What a customer's erasure must find elsewhere: the addresses as stored, and whether it already ran. */
export interface CustomerIdentity {
  email: string | null;
  phone: string | null;
  pushEndpoint: string | null;
  erasedAt: Date | null;
  erasedBy: string | null;
}

/** Locks the customer's row for an erasure (one at a time per customer). */
export async function lockCustomerIdentity(tx: Queryable, companyId: string, id: string): Promise<CustomerIdentity | undefined> {
  const { rows } = await tx.query(
    `SELECT email, phone, push_subscription ->> 'endpoint' AS push_endpoint, erased_at, erased_by
       FROM customers WHERE company_id = $1 AND id = $2 FOR UPDATE`,
    [companyId, id],
  );
  const r = rows[0];
  return r ? { email: r.email, phone: r.phone, pushEndpoint: r.push_endpoint, erasedAt: r.erased_at, erasedBy: r.erased_by } : undefined;
}

/** The customer's row and their appointments, as stored. */
export async function customerExport(
  db: Queryable,
  companyId: string,
  id: string,
): Promise<{ customer: Record<string, unknown> | null; appointments: Record<string, unknown>[] }> {
  const { rows } = await db.query(
    `SELECT (SELECT to_jsonb(c) FROM customers c WHERE c.company_id = $1 AND c.id = $2) AS customer,
            (SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.starts_at, a.id), '[]')
               FROM appointments a WHERE a.company_id = $1 AND a.customer_id = $2) AS appointments`,
    [companyId, id],
  );
  return rows[0];
}

export async function appointmentIdsOfCustomer(db: Queryable, companyId: string, customerId: string): Promise<string[]> {
  const { rows } = await db.query(`SELECT id FROM appointments WHERE company_id = $1 AND customer_id = $2`, [companyId, customerId]);
  return rows.map((r) => r.id);
}

/**
 * Erases the profile: no name, address, number or push subscription left; appointments keep their
 * times, status and links (analytics and quotas read them) but lose their free-text notes.
 */
export async function eraseCustomerProfile(
  tx: Queryable,
  companyId: string,
  id: string,
  erasedBy: string,
): Promise<Record<string, number>> {
  const customers = await tx.query(
    `UPDATE customers
        SET name = 'Erased customer', email = NULL, phone = NULL, push_subscription = NULL,
            erased_at = coalesce(erased_at, now()), erased_by = coalesce(erased_by, $3), updated_at = now()
      WHERE company_id = $1 AND id = $2
        AND (erased_at IS NULL OR name <> 'Erased customer' OR email IS NOT NULL OR phone IS NOT NULL OR push_subscription IS NOT NULL)`,
    [companyId, id, erasedBy],
  );
  const appointments = await tx.query(
    `UPDATE appointments SET notes = NULL, updated_at = now() WHERE company_id = $1 AND customer_id = $2 AND notes IS NOT NULL`,
    [companyId, id],
  );
  return { customers: customers.rowCount ?? 0, appointments: appointments.rowCount ?? 0 };
}
