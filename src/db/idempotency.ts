import { createHash } from 'node:crypto';
import { ConflictError } from '../errors';
import type { Queryable } from './transaction';

/** Rows deleted per statement by the purge: short transactions, no long lock on a busy table. */
const PURGE_BATCH = 5_000;

/**
 * Idempotency-Key handling shared by every create route (notifications, callbacks, ...): a key is
 * claimed inside the request's transaction together with a hash of the request; a repeated
 * request with the same key and body replays the first outcome, another body is a 409. A
 * concurrent request with the same key waits on the first one's row lock until it commits or
 * rolls back (then the key is free again). Keys are forgotten after IDEMPOTENCY_KEY_TTL_HOURS by
 * the purge schedule.
 */
export interface IdempotencyScope {
  companyId: string;
  /** e.g. `notifications.send`: the same key may be used once per scope. */
  scope: string;
  key: string;
}

/** JSON with sorted keys: the same request body always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export const requestHash = (request: unknown) => createHash('sha256').update(canonicalJson(request)).digest('hex');

export type Claim<T> = { kind: 'claimed' } | { kind: 'replay'; response: T };

/**
 * Claims `key` for this request, or returns the response recorded by the first request with it.
 * Throws ConflictError `idempotency_key_reused` (another request body) or `idempotency_in_progress`
 * (the first request has not recorded its response).
 */
export async function claimIdempotencyKey<T>(tx: Queryable, scope: IdempotencyScope, hash: string): Promise<Claim<T>> {
  const claimed = await tx.query(
    `INSERT INTO idempotency_keys (company_id, scope, key, request_hash) VALUES ($1, $2, $3, $4)
     ON CONFLICT (company_id, scope, key) DO NOTHING`,
    [scope.companyId, scope.scope, scope.key, hash],
  );
  if (claimed.rowCount) return { kind: 'claimed' };
  const { rows } = await tx.query(
    `SELECT request_hash, response_body FROM idempotency_keys WHERE company_id = $1 AND scope = $2 AND key = $3`,
    [scope.companyId, scope.scope, scope.key],
  );
  if (rows[0]?.request_hash !== hash) {
    throw new ConflictError('this Idempotency-Key was already used with a different request', 'idempotency_key_reused');
  }
  if (rows[0].response_body === null) {
    throw new ConflictError('a request with this Idempotency-Key is still in progress', 'idempotency_in_progress');
  }
  return { kind: 'replay', response: rows[0].response_body as T };
}

/**
 * For a request that is safe to send again while its first attempt has no answer (it carries its
 * own deduplication downstream, e.g. a Temporal update id derived from the key): claims the key,
 * or returns the recorded answer (`replay`), or says an earlier attempt claimed it and recorded
 * nothing yet (`retry`: send it again, under the same downstream id). Another body is a 409.
 */
export async function claimRetryableKey<T>(
  db: Queryable,
  scope: IdempotencyScope,
  hash: string,
): Promise<{ kind: 'claimed' } | { kind: 'retry' } | { kind: 'replay'; status: number; response: T }> {
  const claimed = await db.query(
    `INSERT INTO idempotency_keys (company_id, scope, key, request_hash) VALUES ($1, $2, $3, $4)
     ON CONFLICT (company_id, scope, key) DO NOTHING`,
    [scope.companyId, scope.scope, scope.key, hash],
  );
  if (claimed.rowCount) return { kind: 'claimed' };
  const { rows } = await db.query(
    `SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE company_id = $1 AND scope = $2 AND key = $3`,
    [scope.companyId, scope.scope, scope.key],
  );
  if (rows[0]?.request_hash !== hash) {
    throw new ConflictError('this Idempotency-Key was already used with a different request', 'idempotency_key_reused');
  }
  if (rows[0].response_body === null) return { kind: 'retry' };
  return { kind: 'replay', status: rows[0].response_status, response: rows[0].response_body as T };
}

/** Records the response a repeated request will replay (same transaction as the claim). */
export async function recordIdempotentResponse(tx: Queryable, scope: IdempotencyScope, status: number, response: unknown): Promise<void> {
  await tx.query(`UPDATE idempotency_keys SET response_status = $4, response_body = $5 WHERE company_id = $1 AND scope = $2 AND key = $3`, [
    scope.companyId,
    scope.scope,
    scope.key,
    status,
    JSON.stringify(response),
  ]);
}

/** Forgets keys older than `olderThanHours` (a retried request older than that is a new request), in batches; returns how many. */
export async function purgeIdempotencyKeys(db: Queryable, olderThanHours: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `DELETE FROM idempotency_keys
        WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1) LIMIT $2)`,
      [olderThanHours, PURGE_BATCH],
    );
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < PURGE_BATCH) return deleted;
  }
}

/**
 * An erasure's part (src/privacy/): a recorded response that names one of `ids` (the customer, their
 * callbacks, appointments, notifications) keeps only its resource id and says it was erased. The
 * key itself stays until it expires, so a retried request still replays instead of recreating the
 * personal data it carried.
 */
export async function redactIdempotentResponses(tx: Queryable, companyId: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await tx.query(
    `UPDATE idempotency_keys
        SET response_body = jsonb_build_object('id', response_body -> 'id', 'erased', true)
      WHERE company_id = $1 AND response_body IS NOT NULL AND NOT coalesce(response_body @> '{"erased": true}', false)
        AND response_body::text ~ $2`,
    [companyId, ids.map((id) => id.replace(/[^0-9a-f-]/gi, '')).join('|')],
  );
  return rowCount ?? 0;
}
