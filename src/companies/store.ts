import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../api/roles';
import type { Queryable } from '../db/transaction';

/**
 * API keys: `ak_<prefix>_<secret>`. Only the SHA-256 of the whole key is stored (keys are 256-bit
 * random, so a fast hash is enough); the prefix is kept in clear to recognise a key in lists.
 */
export interface ApiKeyRow {
  id: string;
  company_id: string;
  name: string;
  role: Role;
  /** The staff member the key belongs to (an agent's own key), or null. */
  staff_id: string | null;
  key_prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, company_id, name, role, staff_id, key_prefix, created_at, last_used_at, revoked_at';

export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');

export function generateApiKey(): { key: string; prefix: string } {
  const prefix = randomBytes(4).toString('hex');
  return { key: `ak_${prefix}_${randomBytes(32).toString('base64url')}`, prefix };
}

export async function insertApiKey(db: Queryable, companyId: string, name: string, role: Role, staffId: string | null = null) {
  const { key, prefix } = generateApiKey();
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (company_id, name, role, key_prefix, key_hash, staff_id) VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING ${COLUMNS}`,
    [companyId, name, role, prefix, hashApiKey(key), staffId],
  );
  return { row: rows[0], key };
}

/**
 * The live key with this secret, or undefined. A read on every request; last_used_at is written
 * at most once a minute per key (an UPDATE, even a no-op one, writes a new row version).
 */
export async function findApiKey(db: Queryable, key: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query<ApiKeyRow>(
    `SELECT ${COLUMNS}
       FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
    [hashApiKey(key)],
  );
  const row = rows[0];
  if (row && (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000)) {
    await db.query(
      `UPDATE api_keys SET last_used_at = now()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [row.id],
    );
  }
  return row;
}

export async function listApiKeys(db: Queryable, companyId: string): Promise<ApiKeyRow[]> {
  const { rows } = await db.query<ApiKeyRow>(
    `SELECT ${COLUMNS}
       FROM api_keys WHERE company_id = $1 ORDER BY created_at`,
    [companyId],
  );
  return rows;
}

/** One key of the company by id (revoked or not), or undefined. */
export async function findApiKeyById(db: Queryable, companyId: string, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE company_id = $1 AND id = $2`, [companyId, id]);
  return rows[0];
}

export async function revokeApiKey(db: Queryable, companyId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`UPDATE api_keys SET revoked_at = now() WHERE company_id = $1 AND id = $2 AND revoked_at IS NULL`, [
    companyId,
    id,
  ]);
  return (rowCount ?? 0) > 0;
}

// ---- companies ----

export interface CompanyRow {
  id: string;
  name: string;
  time_zone: string;
  /** ISO 3166-1 alpha-2: where phone numbers without a country code are read; null: none. */
  country: string | null;
  created_at: Date;
  updated_at: Date;
}

export async function insertCompany(db: Queryable, input: { name: string; timeZone: string; country: string | null }): Promise<CompanyRow> {
  const { rows } = await db.query<CompanyRow>(`INSERT INTO companies (name, time_zone, country) VALUES ($1, $2, $3) RETURNING *`, [
    input.name,
    input.timeZone,
    input.country,
  ]);
  return rows[0];
}

export async function updateCompanyCountry(db: Queryable, id: string, country: string | null): Promise<CompanyRow | undefined> {
  const { rows } = await db.query<CompanyRow>(`UPDATE companies SET country = $2, updated_at = now() WHERE id = $1 RETURNING *`, [
    id,
    country,
  ]);
  return rows[0];
}

export async function findCompany(db: Queryable, id: string): Promise<CompanyRow | undefined> {
  const { rows } = await db.query<CompanyRow>(`SELECT * FROM companies WHERE id = $1`, [id]);
  return rows[0];
}

// ---- feature switches ----

/** A company's own feature settings: null means the deployment's default. */
export interface CompanyFeaturesRow {
  policies: boolean | null;
  callbacks: boolean | null;
  notifications: boolean | null;
  updated_at: Date;
  updated_by: string | null;
}

export async function findCompanyFeatures(db: Queryable, companyId: string): Promise<CompanyFeaturesRow | undefined> {
  const { rows } = await db.query<CompanyFeaturesRow>(
    `SELECT policies, callbacks, notifications, updated_at, updated_by FROM company_features WHERE company_id = $1`,
    [companyId],
  );
  return rows[0];
}

/**
 * Writes the given settings (a key left out keeps its value; null returns it to the default).
 * One statement: two concurrent writes of different switches both land.
 */
export async function upsertCompanyFeatures(
  db: Queryable,
  companyId: string,
  changes: Partial<Record<'policies' | 'callbacks' | 'notifications', boolean | null>>,
  updatedBy: string,
): Promise<CompanyFeaturesRow> {
  const set = (name: 'policies' | 'callbacks' | 'notifications') => name in changes;
  const value = (name: 'policies' | 'callbacks' | 'notifications') => (set(name) ? changes[name] : null);
  const { rows } = await db.query<CompanyFeaturesRow>(
    `INSERT INTO company_features AS f (company_id, policies, callbacks, notifications, updated_by)
     VALUES ($1, $2, $4, $6, $8)
     ON CONFLICT (company_id) DO UPDATE SET
       policies      = CASE WHEN $3 THEN EXCLUDED.policies ELSE f.policies END,
       callbacks     = CASE WHEN $5 THEN EXCLUDED.callbacks ELSE f.callbacks END,
       notifications = CASE WHEN $7 THEN EXCLUDED.notifications ELSE f.notifications END,
       updated_at = now(), updated_by = EXCLUDED.updated_by
     RETURNING policies, callbacks, notifications, updated_at, updated_by`,
    [
      companyId,
      value('policies'),
      set('policies'),
      value('callbacks'),
      set('callbacks'),
      value('notifications'),
      set('notifications'),
      updatedBy,
    ],
  );
  return rows[0];
}
