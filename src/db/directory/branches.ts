import type { Queryable } from '../transaction';

export interface BranchRow {
  id: string;
  company_id: string;
  name: string;
  time_zone: string;
  phone: string | null;
  email: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface BranchInput {
  name: string;
  timeZone: string;
  phone?: string | null;
  email?: string | null;
}

export async function insertBranch(db: Queryable, companyId: string, input: BranchInput): Promise<BranchRow> {
  const { rows } = await db.query<BranchRow>(
    `INSERT INTO branches (company_id, name, time_zone, phone, email) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [companyId, input.name, input.timeZone, input.phone ?? null, input.email ?? null],
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

const COLUMNS: Record<keyof BranchInput, string> = { name: 'name', timeZone: 'time_zone', phone: 'phone', email: 'email' };

export async function updateBranch(
  db: Queryable,
  companyId: string,
  id: string,
  patch: Partial<BranchInput>,
): Promise<BranchRow | undefined> {
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined) as Array<[keyof BranchInput, unknown]>;
  if (entries.length === 0) return findBranch(db, companyId, id);
  const sets = entries.map(([k], i) => `${COLUMNS[k]} = $${i + 3}`);
  const { rows } = await db.query<BranchRow>(
    `UPDATE branches SET ${sets.join(', ')}, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, ...entries.map(([, v]) => v)],
  );
  return rows[0];
}
