import type { Queryable } from '../transaction';

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

const COLUMNS: Record<keyof ServiceInput, string> = {
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
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined) as Array<[keyof ServiceInput, unknown]>;
  if (entries.length === 0) return findService(db, companyId, id);
  const sets = entries.map(([k], i) => `${COLUMNS[k]} = $${i + 3}`);
  const { rows } = await db.query<ServiceRow>(
    `UPDATE services SET ${sets.join(', ')}, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, ...entries.map(([, v]) => v)],
  );
  return rows[0];
}
