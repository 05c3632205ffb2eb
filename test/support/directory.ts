import type { TestApi } from './api';

export type TestCompany = Awaited<ReturnType<TestApi['company']>>;

/** The field names of a 400 (`body.name`, `params.id`, …). */
export const fieldsOf = (res: { body: any }): string[] => (res.body?.error?.details?.fields ?? []).map((f: { field: string }) => f.field);

/** Rows of a directory table owned by one company (to prove a refused request wrote nothing). */
export async function countRows(api: TestApi, table: string, companyId: string): Promise<number> {
  const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE company_id = $1`, [companyId]);
  return rows[0].n;
}

/** Counts of every directory table of the given companies, for before/after comparisons. */
export async function snapshot(api: TestApi, ...companyIds: string[]): Promise<Record<string, number>> {
  const tables = ['branches', 'services', 'staff', 'staff_services', 'customers', 'appointments'];
  const out: Record<string, number> = {};
  for (const id of companyIds) for (const t of tables) out[`${id}.${t}`] = await countRows(api, t, id);
  return out;
}

async function created(api: TestApi, key: string, path: string, body: unknown): Promise<any> {
  const res = await api.request('POST', path, { key, body });
  if (res.status !== 201) throw new Error(`POST ${path} failed with ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/**
 * A company's small directory: two branches, a service in each, a staff member qualified for
 * the first branch's service, a staff member of the second branch, a customer.
 */
export async function seedDirectory(api: TestApi, company: TestCompany) {
  const post = (path: string, body: unknown) => created(api, company.admin, path, body);
  const branch = await post('/v1/branches', { name: 'Centro', timeZone: 'Europe/Madrid' });
  const otherBranch = await post('/v1/branches', { name: 'Norte' });
  const service = await post('/v1/services', { branchId: branch.id, name: 'Haircut', durationMinutes: 45, priceCents: 2500 });
  const otherService = await post('/v1/services', { branchId: otherBranch.id, name: 'Colour' });
  const staff = await post('/v1/staff', { branchId: branch.id, name: 'Ana', serviceIds: [service.id] });
  const otherStaff = await post('/v1/staff', { branchId: otherBranch.id, name: 'Bea', role: 'manager' });
  const customer = await post('/v1/customers', { name: 'Carla', phone: '+34 600 000 001', homeBranchId: branch.id });
  return { branch, otherBranch, service, otherService, staff, otherStaff, customer };
}

export type Directory = Awaited<ReturnType<typeof seedDirectory>>;

/** Two companies, each with its seeded directory: the isolation tests' usual starting point. */
export async function seedTwoCompanies(api: TestApi): Promise<{ a: TestCompany; b: TestCompany; dirA: Directory; dirB: Directory }> {
  const [a, b] = await Promise.all([api.company(), api.company()]);
  const [dirA, dirB] = await Promise.all([seedDirectory(api, a), seedDirectory(api, b)]);
  return { a, b, dirA, dirB };
}
