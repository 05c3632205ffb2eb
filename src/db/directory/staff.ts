import { NotFoundError } from '../../errors';
import type { Queryable } from '../transaction';

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

const SERVICE_IDS = `ARRAY(SELECT ss.service_id FROM staff_services ss WHERE ss.company_id = s.company_id AND ss.staff_id = s.id ORDER BY ss.service_id) AS service_ids`;

/** Inserts the row only; qualified services follow through replaceStaffServices in the same transaction. */
export async function insertStaff(db: Queryable, companyId: string, input: StaffInput): Promise<StaffRow> {
  const { rows } = await db.query<StaffRow>(
    `INSERT INTO staff (company_id, branch_id, name, email, phone, role, is_available, time_zone)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *, '{}'::uuid[] AS service_ids`,
    [companyId, input.branchId, input.name, input.email ?? null, input.phone ?? null, input.role, input.available, input.timeZone],
  );
  return rows[0];
}

/** Scoped by company; `forShare` locks the row (e.g. its branch) until the transaction ends. */
export async function findStaff(
  db: Queryable,
  companyId: string,
  id: string,
  options: { forShare?: boolean } = {},
): Promise<StaffRow | undefined> {
  const { rows } = await db.query<StaffRow>(
    `SELECT s.*, ${SERVICE_IDS} FROM staff s WHERE s.company_id = $1 AND s.id = $2${options.forShare ? ' FOR SHARE OF s' : ''}`,
    [companyId, id],
  );
  return rows[0];
}

export async function listStaff(db: Queryable, companyId: string, filter: StaffFilter): Promise<StaffRow[]> {
  const { rows } = await db.query<StaffRow>(
    `SELECT s.*, ${SERVICE_IDS} FROM staff s
      WHERE s.company_id = $1
        AND ($2::uuid IS NULL OR s.branch_id = $2)
        AND ($3::text IS NULL OR s.role = $3)
        AND ($4::boolean IS NULL OR s.is_available = $4)
      ORDER BY s.created_at, s.id LIMIT $5 OFFSET $6`,
    [companyId, filter.branchId ?? null, filter.role ?? null, filter.available ?? null, filter.limit, filter.offset],
  );
  return rows;
}

const COLUMNS: Record<keyof StaffInput, string> = {
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
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined) as Array<[keyof StaffInput, unknown]>;
  const sets = entries.map(([k], i) => `${COLUMNS[k]} = $${i + 3}`);
  const { rows } = await db.query<StaffRow>(
    `UPDATE staff s SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE s.company_id = $1 AND s.id = $2 RETURNING s.*, ${SERVICE_IDS}`,
    [companyId, id, ...entries.map(([, v]) => v)],
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
