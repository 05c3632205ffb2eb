import type { Queryable } from '../../src/db/transaction';
import { PolicyCache, type PolicyCacheOptions } from '../../src/policies/cache';
import type { InvalidationMessage, PolicyLevel, PolicyType } from '../../src/policies/definitions';
import { resolveTargets } from '../../src/policies/store';
import { testDatabaseUrl } from '../support/database';

/**
 * A policy cache whose database loads are counted at the pool (every query it sends), listening on
 * the suite's PostgreSQL like any process's cache.
 */
export function countingCache(db: Queryable, options: Partial<PolicyCacheOptions> = {}) {
  let queries = 0;
  const counted: Queryable = {
    query: ((...args: Parameters<Queryable['query']>) => {
      queries++;
      return (db.query as (...a: unknown[]) => unknown)(...args);
    }) as Queryable['query'],
  };
  const cache = new PolicyCache({
    load: (companyId, targets, types) => resolveTargets(counted, companyId, targets, types),
    listen: { connectionString: testDatabaseUrl() },
    ...options,
  });
  return { cache, queries: () => queries };
}

/** A policy written straight through SQL (as another process, or an operator, would): the trigger announces it. */
export async function setPolicy(
  db: Queryable,
  companyId: string,
  level: PolicyLevel,
  entityId: string,
  policyType: PolicyType,
  config: Record<string, unknown>,
): Promise<string> {
  const { rows } = await db.query(
    `INSERT INTO policy_configurations AS pc (company_id, configurable_type, configurable_id, policy_type, config)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (company_id, configurable_type, configurable_id, policy_type) WHERE deleted_at IS NULL
     DO UPDATE SET config = EXCLUDED.config, version = pc.version + 1, updated_at = now()
     RETURNING id`,
    [companyId, level, entityId, policyType, JSON.stringify(config)],
  );
  return rows[0].id;
}

/**
 * setPolicy, then wait until the cache has heard of it: a load that overlaps the notification of a
 * change of its company is (rightly) not stored, so a test that counts queries lets it arrive first.
 */
export async function setPolicyHeard(cache: PolicyCache, ...args: Parameters<typeof setPolicy>): Promise<string> {
  const heard = invalidationOf(cache, args[3]);
  const id = await setPolicy(...args);
  await heard;
  return id;
}

/** Resolves when the cache has applied an invalidation about this entity (other test files' messages pass by). */
export function invalidationOf(
  cache: PolicyCache,
  entityId: string,
  timeoutMs = 5_000,
): Promise<{ message: InvalidationMessage; dropped: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cache.off('invalidated', listener);
      reject(new Error(`no invalidation of ${entityId} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (message: InvalidationMessage, dropped: number) => {
      if (message.i !== entityId) return;
      clearTimeout(timer);
      cache.off('invalidated', listener);
      resolve({ message, dropped });
    };
    cache.on('invalidated', listener);
  });
}

/** Resolves on the cache's next event of this name. */
export const nextEvent = (cache: PolicyCache, name: 'connected' | 'disconnected', timeoutMs = 10_000) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} within ${timeoutMs} ms`)), timeoutMs);
    cache.once(name, () => {
      clearTimeout(timer);
      resolve();
    });
  });

export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
