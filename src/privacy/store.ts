import type { Queryable } from '../db/transaction';

/**
 * The SQL of an export and an erasure that no feature owns: the phone-agent call log (`calls`,
 * written by the integrations). Every other table's part lives in its feature's store.
 */

/** The customer's calls, as stored. */
export async function customerCallsExport(db: Queryable, companyId: string, customerId: string): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query(
    `SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.started_at, c.id), '[]') AS calls
       FROM calls c WHERE c.company_id = $1 AND c.customer_id = $2`,
    [companyId, customerId],
  );
  return rows[0].calls;
}

/** Calls keep their direction, status, times and duration (call analytics); the numbers, summary and metadata go. */
export async function eraseCustomerCalls(tx: Queryable, companyId: string, customerId: string): Promise<Record<string, number>> {
  const r = await tx.query(
    `UPDATE calls SET from_number = NULL, to_number = NULL, summary = NULL, metadata = '{}'
      WHERE company_id = $1 AND customer_id = $2
        AND (from_number IS NOT NULL OR to_number IS NOT NULL OR summary IS NOT NULL OR metadata <> '{}')`,
    [companyId, customerId],
  );
  return { calls: r.rowCount ?? 0 };
}
