import type { Pool, PoolClient } from 'pg';

/** Something that runs queries: the pool itself, or a client inside a transaction. */
export type Queryable = Pick<Pool, 'query'> | PoolClient;

/**
 * Runs `work` in one transaction: committed when it resolves, rolled back when it throws,
 * so a failed request leaves nothing half-written.
 */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
