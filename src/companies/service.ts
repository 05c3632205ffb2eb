import type { Pool } from 'pg';
import type { z } from 'zod';
import { withTransaction } from '../db/transaction';
import { NotFoundError } from '../errors';
import { featureStates } from './definitions';
import { createFeatureSwitches, type FeatureSwitches } from './features';
import { countryOfTimeZone } from '../directory/phone';
import type { CompanyFeatures, CreateApiKey, CreateCompany, UpdateCompany, UpdateCompanyFeatures } from './schemas';
import {
  findCompany,
  findApiKeyById,
  findCompanyFeatures,
  insertApiKey,
  insertCompany,
  listApiKeys,
  revokeApiKey,
  updateCompanyCountry,
  upsertCompanyFeatures,
  type ApiKeyRow,
  type CompanyFeaturesRow,
  type CompanyRow,
} from './store';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
export const companyView = (c: CompanyRow) => ({
  id: c.id,
  name: c.name,
  timeZone: c.time_zone,
  country: c.country,
  createdAt: c.created_at.toISOString(),
});
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

/** Companies (created with the platform token), their API keys and their feature switches. */
export function createCompanyService({ pool, features = createFeatureSwitches({ db: pool }) }: { pool: Pool; features?: FeatureSwitches }) {
  const featuresView = (row: CompanyFeaturesRow | undefined): z.output<typeof CompanyFeatures> => ({
    ...featureStates(row, features.defaults),
    updatedAt: iso(row?.updated_at ?? null),
    updatedBy: row?.updated_by ?? null,
  });
  return {
    /**
     * The company and its first admin key, in one transaction; the key is returned only here. The
     * country defaults to the time zone's (none for UTC): callers that never sent one keep working.
     */
    createCompany: (input: z.output<typeof CreateCompany>) =>
      withTransaction(pool, async (tx) => {
        const company = await insertCompany(tx, { ...input, country: input.country ?? countryOfTimeZone(input.timeZone) });
        const { row, key } = await insertApiKey(tx, company.id, input.adminKeyName, 'admin');
        return { company: companyView(company), apiKey: { ...apiKeyView(row), key } };
      }),
    getCompany: async (companyId: string) => {
      const company = await findCompany(pool, companyId);
      if (!company) throw new NotFoundError('company');
      return companyView(company);
    },
    /** Numbers already stored stay as they are (E.164 does not depend on the country); new ones are read in the new country. */
    updateCompany: async (companyId: string, patch: z.output<typeof UpdateCompany>) => {
      const company =
        patch.country === undefined ? await findCompany(pool, companyId) : await updateCompanyCountry(pool, companyId, patch.country);
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
    /** The key a request is made with: its role and the staff member it belongs to (the console's sign-in). */
    getApiKey: async (companyId: string, keyId: string) => {
      const key = await findApiKeyById(pool, companyId, keyId);
      if (!key) throw new NotFoundError('api key', keyId);
      return apiKeyView(key);
    },
    revokeApiKey: async (companyId: string, id: string) => {
      if (!(await revokeApiKey(pool, companyId, id))) throw new NotFoundError('api key', id);
    },
    /** The company's feature switches: each one's state, its own setting and the default. */
    getFeatures: async (companyId: string) => featuresView(await findCompanyFeatures(pool, companyId)),
    /**
     * Switches features on or off (null: back to the default). Work already running is not touched:
     * a switch only decides whether new work starts. This process sees the change at once, others
     * within FEATURE_CACHE_TTL_SECONDS.
     */
    setFeatures: async (companyId: string, changes: z.output<typeof UpdateCompanyFeatures>, actor: { keyId: string }) => {
      const given = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
      const row =
        Object.keys(given).length === 0
          ? await findCompanyFeatures(pool, companyId)
          : await upsertCompanyFeatures(pool, companyId, given, `api_key:${actor.keyId}`);
      features.forget(companyId);
      return featuresView(row);
    },
  };
}

export type CompanyService = ReturnType<typeof createCompanyService>;
