import type { Pool } from 'pg';
import type { z } from 'zod';
import { withTransaction } from '../db/transaction';
import { NotFoundError } from '../errors';
import type { CreateApiKey, CreateCompany } from './schemas';
import { findCompany, insertApiKey, insertCompany, listApiKeys, revokeApiKey, type ApiKeyRow, type CompanyRow } from './store';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
export const companyView = (c: CompanyRow) => ({ id: c.id, name: c.name, timeZone: c.time_zone, createdAt: c.created_at.toISOString() });
export const apiKeyView = (k: ApiKeyRow) => ({
  id: k.id,
  name: k.name,
  role: k.role,
  staffId: k.staff_id,
  prefix: k.key_prefix,
  createdAt: k.created_at.toISOString(),
  lastUsedAt: iso(k.last_used_at),
  revokedAt: iso(k.revoked_at),
});

/** Companies (created with the platform token) and their API keys. */
export function createCompanyService({ pool }: { pool: Pool }) {
  return {
    /** The company and its first admin key, in one transaction; the key is returned only here. */
    createCompany: (input: z.output<typeof CreateCompany>) =>
      withTransaction(pool, async (tx) => {
        const company = await insertCompany(tx, input);
        const { row, key } = await insertApiKey(tx, company.id, input.adminKeyName, 'admin');
        return { company: companyView(company), apiKey: { ...apiKeyView(row), key } };
      }),
    getCompany: async (companyId: string) => {
      const company = await findCompany(pool, companyId);
      if (!company) throw new NotFoundError('company');
      return companyView(company);
    },
    createApiKey: async (companyId: string, input: z.output<typeof CreateApiKey>) => {
      if (input.staffId) {
        const { rowCount } = await pool.query(`SELECT 1 FROM staff WHERE company_id = $1 AND id = $2`, [companyId, input.staffId]);
        if (!rowCount) throw new NotFoundError('staff member', input.staffId);
      }
      const { row, key } = await insertApiKey(pool, companyId, input.name, input.role, input.staffId ?? null);
      return { ...apiKeyView(row), key };
    },
    listApiKeys: async (companyId: string) => (await listApiKeys(pool, companyId)).map(apiKeyView),
    revokeApiKey: async (companyId: string, id: string) => {
      if (!(await revokeApiKey(pool, companyId, id))) throw new NotFoundError('api key', id);
    },
  };
}

export type CompanyService = ReturnType<typeof createCompanyService>;
