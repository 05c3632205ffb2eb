import { createPool } from '../../src/db/pool';
import { withTransaction } from '../../src/db/transaction';
import { testDatabaseUrl, testPool } from '../support/database';

/**
 * withTransaction against the suite's PostgreSQL when the connection it holds is lost mid-
 * transaction (a database restart, a network cut, a proxy refusing): the transaction fails, the
 * process does not (a checked-out pg client has no 'error' listener of its pool's, so an unhandled
 * 'error' event would end it), and the broken client never returns to the pool.
 */
describe('withTransaction when its connection is lost', () => {
  const other = testPool();
  afterAll(() => other.end());

  it('fails the transaction, not the process, and the pool goes on with a new connection', async () => {
    const pool = createPool(testDatabaseUrl(), { max: 1 });
    try {
      const outcome = withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const ended = new Promise((resolve) => tx.once('end', resolve));
        // Between two statements, the server ends this session.
        await other.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
        await ended;
        await tx.query('SELECT 1');
      });
      await expect(outcome).rejects.toThrow();
      // max 1: the lost client was discarded, so this is a new connection.
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
