import type { Queryable } from '../transaction';

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

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

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

const COLUMNS: Record<keyof CustomerInput, string> = {
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
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined) as Array<[keyof CustomerInput, unknown]>;
  if (entries.length === 0) return findCustomer(db, companyId, id);
  const sets = entries.map(([k], i) => (k === 'pushSubscription' ? `${COLUMNS[k]} = $${i + 3}::jsonb` : `${COLUMNS[k]} = $${i + 3}`));
  const { rows } = await db.query<CustomerRow>(
    `UPDATE customers SET ${sets.join(', ')}, updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, ...entries.map(([k, v]) => (k === 'pushSubscription' ? json(v) : v))],
  );
  return rows[0];
}
