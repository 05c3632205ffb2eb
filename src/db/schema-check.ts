import type { Queryable } from './transaction';
import { expectedMigrationNames, MIGRATIONS_TABLE } from './migrate';

/** Every table the product needs; `validate-deployment` and `/health/ready` name the missing ones. */
export const REQUIRED_TABLES = [
  'companies',
  'api_keys',
  'idempotency_keys',
  'branches',
  'services',
  'staff',
  'staff_services',
  'customers',
  'appointments',
  'calcom_event_map',
  'calls',
  'policy_configurations',
  'appointment_modifications',
  'appointment_modification_stats',
  'callback_settings',
  'callback_requests',
  'callback_attempts',
  'callback_escalations',
  'callback_assignments',
  'notification_configurations',
  'notification_event_mappings',
  'notifications',
  'notification_deliveries',
  'appointment_settings',
  'appointment_messages',
  'integrations',
  'calcom_deliveries',
  'customer_consents',
  'customer_consent_events',
  'company_features',
  'phone_number_review',
] as const;

export interface ForeignKeyColumn {
  constraint: string;
  table: string;
  column: string;
  columnType: string;
  referencedTable: string;
  referencedColumn: string;
  referencedType: string;
}

/**
 * Every column of every foreign key in the public schema, with its type and the type of the
 * column it references, read from the catalog (format_type includes length/precision).
 */
export async function foreignKeyColumns(db: Queryable): Promise<ForeignKeyColumn[]> {
  const { rows } = await db.query<ForeignKeyColumn>(`
    SELECT c.conname                              AS "constraint",
           src.relname                            AS "table",
           sa.attname                             AS "column",
           format_type(sa.atttypid, sa.atttypmod) AS "columnType",
           dst.relname                            AS "referencedTable",
           da.attname                             AS "referencedColumn",
           format_type(da.atttypid, da.atttypmod) AS "referencedType"
      FROM pg_constraint c
      JOIN pg_class src ON src.oid = c.conrelid
      JOIN pg_class dst ON dst.oid = c.confrelid
      JOIN pg_namespace n ON n.oid = src.relnamespace
      CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(src_att, dst_att)
      JOIN pg_attribute sa ON sa.attrelid = c.conrelid AND sa.attnum = k.src_att
      JOIN pg_attribute da ON da.attrelid = c.confrelid AND da.attnum = k.dst_att
     WHERE c.contype = 'f' AND n.nspname = current_schema()
     ORDER BY src.relname, c.conname, sa.attname`);
  return rows;
}

export async function mismatchedForeignKeys(db: Queryable): Promise<ForeignKeyColumn[]> {
  return (await foreignKeyColumns(db)).filter((fk) => fk.columnType !== fk.referencedType);
}

export interface TenantUnsafeForeignKey {
  constraint: string;
  table: string;
  referencedTable: string;
  definition: string;
}

/**
 * Foreign keys between two company-owned tables (both have company_id) whose columns do not
 * include company_id: such a key would let a row point into another company. Every one of them
 * must be composite, `(company_id, x) REFERENCES t (company_id, id)`.
 */
export async function tenantUnsafeForeignKeys(db: Queryable): Promise<TenantUnsafeForeignKey[]> {
  const { rows } = await db.query<TenantUnsafeForeignKey>(`
    SELECT c.conname AS "constraint", src.relname AS "table", dst.relname AS "referencedTable",
           pg_get_constraintdef(c.oid) AS "definition"
      FROM pg_constraint c
      JOIN pg_class src ON src.oid = c.conrelid
      JOIN pg_class dst ON dst.oid = c.confrelid
      JOIN pg_namespace n ON n.oid = src.relnamespace
     WHERE c.contype = 'f' AND n.nspname = current_schema()
       AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.conrelid AND attname = 'company_id' AND NOT attisdropped)
       AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.confrelid AND attname = 'company_id' AND NOT attisdropped)
       AND NOT EXISTS (
             SELECT 1 FROM unnest(c.conkey) AS k(att)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att
              WHERE a.attname = 'company_id')
     ORDER BY src.relname, c.conname`);
  return rows;
}

export async function missingTables(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY($1)`,
    [REQUIRED_TABLES],
  );
  const present = new Set(rows.map((r) => r.table_name));
  return REQUIRED_TABLES.filter((t) => !present.has(t));
}

export interface MigrationLevel {
  applied: string[];
  expected: string[];
  pending: string[];
  current: string | null;
}

export async function migrationLevel(db: Queryable): Promise<MigrationLevel> {
  const expected = expectedMigrationNames();
  const exists = await db.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [MIGRATIONS_TABLE]);
  const applied = exists.rows[0].ok
    ? (await db.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY run_on, id`)).rows.map((r) => r.name)
    : [];
  const done = new Set(applied);
  return { applied, expected, pending: expected.filter((m) => !done.has(m)), current: applied.at(-1) ?? null };
}
