import type { Queryable } from '../transaction';

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

const COLUMNS: Record<keyof AppointmentPatch, string> = {
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
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined) as Array<[keyof AppointmentPatch, unknown]>;
  if (entries.length === 0) return findAppointment(db, companyId, id);
  const sets = entries.map(([k], i) => `${COLUMNS[k]} = $${i + 3}`);
  const { rows } = await db.query<AppointmentRow>(
    `UPDATE appointments SET ${sets.join(', ')}, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, ...entries.map(([, v]) => v)],
  );
  return rows[0];
}
