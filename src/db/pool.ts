import { Pool, type PoolClient, type PoolConfig } from 'pg';

export type { Pool, PoolClient };

/** A pg pool with the service's defaults; errors on idle clients are logged, not fatal. */
export function createPool(connectionString: string, options: Partial<PoolConfig> = {}): Pool {
  const pool = new Pool({
    connectionString,
    max: 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: 'appointment-orchestrator',
    ...options,
  });
  // A Postgres restart kills idle connections; the pool drops them and reconnects on next use.
  pool.on('error', () => undefined);
  return pool;
}
