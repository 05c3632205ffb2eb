import type { Queryable } from './transaction';

export interface CompanyRow {
  id: string;
  name: string;
  time_zone: string;
  created_at: Date;
  updated_at: Date;
}

export async function insertCompany(db: Queryable, input: { name: string; timeZone: string }): Promise<CompanyRow> {
  const { rows } = await db.query<CompanyRow>(`INSERT INTO companies (name, time_zone) VALUES ($1, $2) RETURNING *`, [
    input.name,
    input.timeZone,
  ]);
  return rows[0];
}

export async function findCompany(db: Queryable, id: string): Promise<CompanyRow | undefined> {
  const { rows } = await db.query<CompanyRow>(`SELECT * FROM companies WHERE id = $1`, [id]);
  return rows[0];
}
