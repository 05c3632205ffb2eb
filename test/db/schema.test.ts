import { Client } from 'pg';
import { migrate, expectedMigrationNames } from '../../src/db/migrate';
import {
  foreignKeyColumns,
  mismatchedForeignKeys,
  missingTables,
  migrationLevel,
  REQUIRED_TABLES,
  tenantUnsafeForeignKeys,
} from '../../src/db/schema-check';
import { NOTIFICATION_EVENT_TYPES } from '../../src/notifications/definitions';
import { scratchDatabase, testPool } from '../support/database';

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const tableCount = (c: Client) =>
  c
    .query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'pgmigrations'`)
    .then((r) => r.rows[0].n as number);

describe('schema migrations (real PostgreSQL)', () => {
  const pool = testPool();
  afterAll(() => pool.end());

  it('creates every required table at the latest migration level', async () => {
    expect(await missingTables(pool)).toEqual([]);
    const level = await migrationLevel(pool);
    expect(level.pending).toEqual([]);
    expect(level.applied).toEqual(expectedMigrationNames());
  });

  it('gives every foreign key column exactly the type of the key it references', async () => {
    const fks = await foreignKeyColumns(pool);
    // The catalog query sees the FKs (composite tenant keys included), not an empty list.
    expect(fks.length).toBeGreaterThan(40);
    expect(fks.map((f) => f.table)).toEqual(expect.arrayContaining(['calcom_event_map', 'notification_deliveries']));
    expect(await mismatchedForeignKeys(pool)).toEqual([]);
  });

  it('every foreign key between two company-owned tables includes company_id (tenancy in the schema)', async () => {
    expect(await tenantUnsafeForeignKeys(pool)).toEqual([]);
    // The check sees the composite keys it is about (not an empty catalog).
    const composite = (await foreignKeyColumns(pool)).filter((f) => f.column === 'company_id' && f.referencedTable !== 'companies');
    expect(composite.map((f) => f.table)).toEqual(
      expect.arrayContaining(['notification_deliveries', 'appointment_modifications', 'policy_configurations', 'callback_escalations']),
    );
  });

  it('the tenancy check catches a foreign key that leaves company_id out', async () => {
    const scratch = await scratchDatabase();
    try {
      await withClient(scratch.url, async (c) => {
        await c.query(`CREATE TABLE notifications (id uuid PRIMARY KEY, company_id uuid NOT NULL, UNIQUE (company_id, id))`);
        await c.query(
          `CREATE TABLE notification_deliveries (id uuid PRIMARY KEY, company_id uuid NOT NULL,
             notification_id uuid REFERENCES notifications (id))`,
        );
        expect(await tenantUnsafeForeignKeys(c)).toEqual([
          expect.objectContaining({ table: 'notification_deliveries', referencedTable: 'notifications' }),
        ]);
      });
    } finally {
      await scratch.drop();
    }
  });

  it('the FK type check catches a mismatched column (the original deployment failure)', async () => {
    const scratch = await scratchDatabase();
    try {
      await withClient(scratch.url, async (c) => {
        await c.query(`CREATE TABLE branches (id bigint PRIMARY KEY)`);
        await c.query(
          `CREATE TABLE calcom_event_map (id serial PRIMARY KEY, branch_id integer REFERENCES branches (id) ON DELETE CASCADE)`,
        );
        const bad = await mismatchedForeignKeys(c);
        expect(bad).toEqual([
          expect.objectContaining({ table: 'calcom_event_map', column: 'branch_id', columnType: 'integer', referencedType: 'bigint' }),
        ]);
      });
    } finally {
      await scratch.drop();
    }
  });

  it('migrates up from empty, down to empty, and up again', async () => {
    const scratch = await scratchDatabase();
    try {
      await migrate({ databaseUrl: scratch.url });
      await withClient(scratch.url, async (c) => {
        expect(await missingTables(c)).toEqual([]);
        expect(await tableCount(c)).toBe(REQUIRED_TABLES.length);
      });
      await migrate({ databaseUrl: scratch.url, direction: 'down' });
      await withClient(scratch.url, async (c) => {
        expect(await tableCount(c)).toBe(0);
        expect((await migrationLevel(c)).applied).toEqual([]);
      });
      await migrate({ databaseUrl: scratch.url });
      await withClient(scratch.url, async (c) => {
        expect(await missingTables(c)).toEqual([]);
        expect(await mismatchedForeignKeys(c)).toEqual([]);
      });
    } finally {
      await scratch.drop();
    }
  });

  it('seeds the notification event types (the 13 of docs/design.md and two of the callbacks)', async () => {
    const { rows } = await pool.query(`SELECT event_type FROM notification_event_mappings ORDER BY event_type`);
    expect(rows.map((r) => r.event_type)).toEqual([...NOTIFICATION_EVENT_TYPES].sort());
  });

  it('allows at most one live policy per entity and type, any number of deleted ones', async () => {
    const {
      rows: [company],
    } = await pool.query(`INSERT INTO companies (name) VALUES ('Policy Co') RETURNING id`);
    const insert = (deleted: boolean) =>
      pool.query(
        `INSERT INTO policy_configurations (company_id, configurable_type, configurable_id, policy_type, config, deleted_at)
         VALUES ($1, 'company', $1, 'cancellation', '{}', ${deleted ? 'now()' : 'NULL'})`,
        [company.id],
      );
    await insert(true);
    await insert(true);
    await insert(false);
    await expect(insert(false)).rejects.toMatchObject({ code: '23505', constraint: 'policy_configurations_live_key' });
  });

  it('refuses a row that points into another company', async () => {
    const {
      rows: [a],
    } = await pool.query(`INSERT INTO companies (name) VALUES ('A') RETURNING id`);
    const {
      rows: [b],
    } = await pool.query(`INSERT INTO companies (name) VALUES ('B') RETURNING id`);
    const {
      rows: [branchOfA],
    } = await pool.query(`INSERT INTO branches (company_id, name) VALUES ($1, 'A main') RETURNING id`, [a.id]);
    await expect(
      pool.query(`INSERT INTO services (company_id, branch_id, name) VALUES ($1, $2, 'Cut')`, [b.id, branchOfA.id]),
    ).rejects.toMatchObject({ code: '23503' });
  });

  it('cascades a branch delete to its calendar event map', async () => {
    const {
      rows: [co],
    } = await pool.query(`INSERT INTO companies (name) VALUES ('Cal Co') RETURNING id`);
    const {
      rows: [br],
    } = await pool.query(`INSERT INTO branches (company_id, name) VALUES ($1, 'Main') RETURNING id`, [co.id]);
    await pool.query(`INSERT INTO calcom_event_map (company_id, calcom_event_type_id, branch_id) VALUES ($1, 'evt-1', $2)`, [co.id, br.id]);
    await pool.query(`DELETE FROM branches WHERE id = $1`, [br.id]);
    const { rowCount } = await pool.query(`SELECT 1 FROM calcom_event_map WHERE company_id = $1`, [co.id]);
    expect(rowCount).toBe(0);
  });
});
