import type { Pool, PoolClient } from 'pg';

/** Something that runs queries: the pool itself, or a client inside a transaction. */
export type Queryable = Pick<Pool, 'query'> | PoolClient;

/**
 * Runs `work` in one transaction: committed when it resolves, rolled back when it throws,
 * so a failed request leaves nothing half-written.
 */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no 'error' listener of its pool's: a connection lost mid-transaction
  // (a restart, a network cut) would be an unhandled 'error' event and end the process. The
  // statement in flight (or the next one) fails with it anyway; the lost client is discarded.
  let lost: Error | undefined;
  const onError = (error: Error) => (lost ??= error);
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(lost);
  }
}
