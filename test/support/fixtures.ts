import { createECDH, randomBytes } from 'node:crypto';
import type { Queryable } from '../../src/db/transaction';

/**
 * A small organisation written straight through SQL (no API): a company, two branches, a service,
 * a staff member and a manager of the first branch, a customer with a home branch, an appointment
 * (customer + staff + service + branch). Each test file creates its own, so files can share the
 * database and run in parallel.
 */
export interface Organisation {
  companyId: string;
  branchId: string;
  otherBranchId: string;
  serviceId: string;
  staffId: string;
  managerId: string;
  customerId: string;
  appointmentId: string;
}

export interface OrganisationOptions {
  name?: string;
  customer?: { email?: string | null; phone?: string | null; timeZone?: string; pushSubscription?: unknown; homeBranch?: boolean };
  staff?: { email?: string | null; phone?: string | null; timeZone?: string };
  /** Appointment start (default: tomorrow 10:00 UTC). */
  startsAt?: Date;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

export async function createOrganisation(db: Queryable, options: OrganisationOptions = {}): Promise<Organisation> {
  const tag = unique('org');
  const one = async (sql: string, params: unknown[]) => (await db.query(sql, params)).rows[0].id as string;
  const companyId = await one(`INSERT INTO companies (name) VALUES ($1) RETURNING id`, [options.name ?? `Salon ${tag}`]);
  const branchId = await one(
    `INSERT INTO branches (company_id, name, time_zone, phone) VALUES ($1, 'Centro', 'Europe/Madrid', '+34910000000') RETURNING id`,
    [companyId],
  );
  const otherBranchId = await one(`INSERT INTO branches (company_id, name) VALUES ($1, 'Norte') RETURNING id`, [companyId]);
  const serviceId = await one(
    `INSERT INTO services (company_id, branch_id, name, duration_minutes) VALUES ($1, $2, 'Haircut', 45) RETURNING id`,
    [companyId, branchId],
  );
  const s = options.staff ?? {};
  const staffId = await one(
    `INSERT INTO staff (company_id, branch_id, name, email, phone, time_zone) VALUES ($1, $2, 'Ana', $3, $4, $5) RETURNING id`,
    [
      companyId,
      branchId,
      s.email === undefined ? `ana.${tag}@example.test` : s.email,
      s.phone === undefined ? '+34600000002' : s.phone,
      s.timeZone ?? 'Europe/Madrid',
    ],
  );
  const managerId = await one(
    `INSERT INTO staff (company_id, branch_id, name, email, role) VALUES ($1, $2, 'Marta', $3, 'manager') RETURNING id`,
    [companyId, branchId, `marta.${tag}@example.test`],
  );
  await db.query(`INSERT INTO staff_services (company_id, staff_id, service_id) VALUES ($1, $2, $3)`, [companyId, staffId, serviceId]);
  const c = options.customer ?? {};
  const customerId = await one(
    `INSERT INTO customers (company_id, home_branch_id, name, email, phone, time_zone, push_subscription)
     VALUES ($1, $2, 'Carla', $3, $4, $5, $6) RETURNING id`,
    [
      companyId,
      c.homeBranch === false ? null : branchId,
      c.email === undefined ? `carla.${tag}@example.test` : c.email,
      c.phone === undefined ? '+34600000001' : c.phone,
      c.timeZone ?? 'Europe/Madrid',
      c.pushSubscription === undefined ? null : JSON.stringify(c.pushSubscription),
    ],
  );
  const startsAt =
    options.startsAt ?? new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1, 10));
  const appointmentId = await one(
    `INSERT INTO appointments (company_id, customer_id, branch_id, service_id, staff_id, starts_at, ends_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
    [companyId, customerId, branchId, serviceId, staffId, startsAt, new Date(startsAt.getTime() + 45 * 60_000)],
  );
  return { companyId, branchId, otherBranchId, serviceId, staffId, managerId, customerId, appointmentId };
}

/** A browser-like push subscription (a real P-256 key pair and auth secret) for `endpoint`. */
export function pushSubscription(endpoint: string) {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint, keys: { p256dh: ecdh.getPublicKey('base64url'), auth: randomBytes(16).toString('base64url') } };
}
