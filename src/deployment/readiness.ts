import type { Connection } from '@temporalio/client';
import type { Pool } from 'pg';
import { mismatchedForeignKeys, migrationLevel, missingTables, tenantUnsafeForeignKeys, type ForeignKeyColumn } from '../db/schema-check';
import { missingSearchAttributes } from '../temporal/search-attributes';

export interface DeploymentReport {
  ok: boolean;
  database: { ok: boolean; error?: string };
  tables: { ok: boolean; missing: string[] };
  migrations: { ok: boolean; current: string | null; pending: string[] };
  foreignKeys: {
    ok: boolean;
    mismatched: Array<Pick<ForeignKeyColumn, 'table' | 'column' | 'columnType' | 'referencedTable' | 'referencedType'>>;
  };
  /** Foreign keys between company-owned tables that leave company_id out (a row could point into another company). */
  tenancy: { ok: boolean; unsafe: string[] };
  temporal: { ok: boolean; namespace: string; error?: string };
  searchAttributes: { ok: boolean; missing: string[] };
  /** One line per problem, naming what is missing. */
  problems: string[];
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Everything a deployment needs, checked against the live dependencies: the database and every
 * required table, the applied migration level, FK column types, Temporal's namespace and the
 * product's search attributes. Used by `validate-deployment` and `GET /health/ready`.
 */
export async function checkDeployment(pool: Pool, temporal: Connection, namespace: string): Promise<DeploymentReport> {
  const [db, tmp] = await Promise.all([checkDatabase(pool), checkTemporal(temporal, namespace)]);
  const report = { ...db, ...tmp } as Omit<DeploymentReport, 'ok' | 'problems'>;
  const problems: string[] = [];
  if (!report.database.ok) problems.push(`database unreachable: ${report.database.error}`);
  for (const t of report.tables.missing) problems.push(`missing table: ${t}`);
  if (report.database.ok && report.migrations.pending.length) problems.push(`pending migrations: ${report.migrations.pending.join(', ')}`);
  for (const fk of report.foreignKeys.mismatched)
    problems.push(`foreign key type mismatch: ${fk.table}.${fk.column} (${fk.columnType}) -> ${fk.referencedTable} (${fk.referencedType})`);
  for (const fk of report.tenancy.unsafe) problems.push(`foreign key without company_id between company-owned tables: ${fk}`);
  if (!report.temporal.ok) problems.push(`temporal unreachable (namespace ${namespace}): ${report.temporal.error}`);
  for (const a of report.searchAttributes.missing) problems.push(`missing search attribute: ${a}`);
  return { ok: problems.length === 0, ...report, problems };
}

async function checkDatabase(pool: Pool) {
  try {
    await pool.query('SELECT 1');
    const [missing, level, mismatched, unsafe] = await Promise.all([
      missingTables(pool),
      migrationLevel(pool),
      mismatchedForeignKeys(pool),
      tenantUnsafeForeignKeys(pool),
    ]);
    return {
      database: { ok: true },
      tables: { ok: missing.length === 0, missing },
      migrations: { ok: level.pending.length === 0, current: level.current, pending: level.pending },
      tenancy: { ok: unsafe.length === 0, unsafe: unsafe.map((fk) => `${fk.table}.${fk.constraint} -> ${fk.referencedTable}`) },
      foreignKeys: {
        ok: mismatched.length === 0,
        mismatched: mismatched.map(({ table, column, columnType, referencedTable, referencedType }) => ({
          table,
          column,
          columnType,
          referencedTable,
          referencedType,
        })),
      },
    };
  } catch (error) {
    return {
      database: { ok: false, error: message(error) },
      tables: { ok: false, missing: [] },
      migrations: { ok: false, current: null, pending: [] },
      foreignKeys: { ok: false, mismatched: [] },
      tenancy: { ok: false, unsafe: [] },
    };
  }
}

async function checkTemporal(connection: Connection, namespace: string) {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    const missing = await missingSearchAttributes(connection, namespace);
    return { temporal: { ok: true, namespace }, searchAttributes: { ok: missing.length === 0, missing } };
  } catch (error) {
    return { temporal: { ok: false, namespace, error: message(error) }, searchAttributes: { ok: false, missing: [] } };
  }
}
