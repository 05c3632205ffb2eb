import { createPool } from '../../src/db/pool';
import { withTransaction } from '../../src/db/transaction';
import { testDatabaseUrl, testPool } from '../support/database';

/**
 * A connection that dies inside a transaction (a failover, a restart, a terminated backend) fails
 * that transaction, and only that: the process survives (pg emits `error` on a checked-out client,
 * which nobody heard before), nothing of it is committed, and the pool hands out a live connection
 * next.
 */
describe('withTransaction when the connection dies mid-transaction', () => {
  const admin = testPool();
  const pool = createPool(testDatabaseUrl(), { max: 1 });
  afterAll(async () => {
    await pool.end();
    await admin.end();
  });

  it('rejects, writes nothing, and leaves the pool working', async () => {
    await admin.query(`CREATE TABLE IF NOT EXISTS tx_probe (id text PRIMARY KEY)`);
    const marker = `probe-${Date.now()}`;
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      await expect(
        withTransaction(pool, async (client) => {
          await client.query(`INSERT INTO tx_probe VALUES ($1)`, [marker]);
          const { rows } = await client.query(`SELECT pg_backend_pid() AS pid`);
          await admin.query(`SELECT pg_terminate_backend($1)`, [rows[0].pid]);
          // The server closes the socket: the next statement fails, and the client emits `error`.
          await new Promise((r) => setTimeout(r, 200));
          await client.query(`SELECT 1`);
        }),
      ).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 200));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect((await admin.query(`SELECT count(*)::int AS n FROM tx_probe WHERE id = $1`, [marker])).rows[0].n).toBe(0);
    // The only connection of the pool was the broken one: the next transaction gets a new, live one.
    expect(await withTransaction(pool, async (client) => (await client.query(`SELECT 1 AS one`)).rows[0].one)).toBe(1);
    await admin.query(`DROP TABLE tx_probe`);
  });
});
