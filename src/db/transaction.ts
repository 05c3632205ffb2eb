import type { Pool, PoolClient } from 'pg';

/** Something that runs queries: the pool itself, or a client inside a transaction. */
export type Queryable = Pick<Pool, 'query'> | PoolClient;

/**
 * Runs `work` in one transaction: committed when it resolves, rolled back when it throws,
 * so a failed request leaves nothing half-written.
 *
 * While the client is checked out, pg-pool no longer listens for its `error` event: a connection
 * that dies mid-transaction (a failover, a restart, `pg_terminate_backend`) would emit it unheard
 * and crash the process. It is heard here, the transaction's own query rejects, and the broken
 * connection is destroyed on release instead of going back to the pool.
 */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken ??= rollbackError;
    });
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
