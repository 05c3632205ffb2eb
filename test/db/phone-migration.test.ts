import { Client } from 'pg';
import { expectedMigrationNames, migrate } from '../../src/db/migrate';
import { scratchDatabase } from '../support/database';

const MIGRATION = '1764100000013_phone-numbers-e164';

/**
 * The migration that puts stored phone numbers in E.164, on a real PostgreSQL holding rows written
 * before it (as people typed them): every phone column rewritten in the country of the row's
 * branch (else its company's, from the time zone), the unreadable ones left as they were and
 * listed for the operator (table and printed line) without failing, and down then up again.
 */
describe(`migration ${MIGRATION}`, () => {
  it('normalises existing rows, reports the ones it cannot read, and goes down and up again', async () => {
    const scratch = await scratchDatabase();
    const db = new Client({ connectionString: scratch.url });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const before = expectedMigrationNames().indexOf(MIGRATION);
      expect(before).toBeGreaterThan(0);
      await migrate({ databaseUrl: scratch.url, count: before });
      await db.connect();
      const one = async (sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows[0];
      const id = async (sql: string, params: unknown[]) => (await one(sql, params)).id as string;

      // Rows as the earlier code stored them: the number as typed.
      const us = await id(`INSERT INTO companies (name, time_zone) VALUES ('US', 'America/Los_Angeles') RETURNING id`, []);
      const es = await id(`INSERT INTO companies (name, time_zone) VALUES ('ES', 'Europe/Madrid') RETURNING id`, []);
      const utc = await id(`INSERT INTO companies (name) VALUES ('UTC') RETURNING id`, []);
      const branch = (company: string, name: string, tz: string, phone: string | null) =>
        id(`INSERT INTO branches (company_id, name, time_zone, phone) VALUES ($1, $2, $3, $4) RETURNING id`, [company, name, tz, phone]);
      const paris = await branch(es, 'Paris', 'Europe/Paris', '01 42 68 53 00');
      const madrid = await branch(es, 'Madrid', 'Europe/Madrid', null);
      const sf = await branch(us, 'SF', 'UTC', '(415) 555-0100');
      const customer = (company: string, phone: string | null, home: string | null = null) =>
        id(`INSERT INTO customers (company_id, name, phone, home_branch_id) VALUES ($1, 'C', $2, $3) RETURNING id`, [company, phone, home]);
      const c = {
        us: await customer(us, '(415) 555-0142'),
        es: await customer(es, '600 123 456'),
        esParis: await customer(es, '06 00 12 34 56', paris),
        esJunk: await customer(es, 'call me'),
        utcNational: await customer(utc, '600 123 456'),
        utcIntl: await customer(utc, '+34 600 000 001'),
        already: await customer(es, '+34611223344'),
        none: await customer(es, null),
      };
      const staff = (company: string, branchId: string, phone: string) =>
        id(`INSERT INTO staff (company_id, branch_id, name, phone) VALUES ($1, $2, 'S', $3) RETURNING id`, [company, branchId, phone]);
      const s = { paris: await staff(es, paris, '07 00 00 00 01'), usJunk: await staff(us, sf, '12') };
      const callback = (phone: string) =>
        id(
          `INSERT INTO callback_requests (company_id, branch_id, phone_number, customer_name, expires_at, workflow_id)
           VALUES ($1, $2, $3, 'Cb', now() + interval '1 day', 'callback-' || gen_random_uuid()) RETURNING id`,
          [es, madrid, phone],
        );
      const cb = { madrid: await callback('600 111 222'), erased: await callback('[erased]') };
      const call = await id(
        `INSERT INTO calls (company_id, branch_id, external_call_id, from_number, to_number) VALUES ($1, $2, 'call_1', '+34 600 123 456', '910 000 000') RETURNING id`,
        [es, madrid],
      );

      await migrate({ databaseUrl: scratch.url, count: 1 });

      const phone = async (table: string, rowId: string, column = 'phone') =>
        (await one(`SELECT ${column} AS v FROM ${table} WHERE id = $1`, [rowId])).v;
      expect((await db.query(`SELECT id, country FROM companies ORDER BY name`)).rows).toEqual([
        { id: es, country: 'ES' },
        { id: us, country: 'US' },
        { id: utc, country: null },
      ]);
      expect([await phone('branches', paris), await phone('branches', sf)]).toEqual(['+33142685300', '+14155550100']);
      expect((await one(`SELECT country FROM branches WHERE id = $1`, [paris])).country).toBe('FR');
      expect((await one(`SELECT country FROM branches WHERE id = $1`, [sf])).country).toBeNull();
      const customers: Record<string, string | null> = {};
      for (const [k, v] of Object.entries(c)) customers[k] = await phone('customers', v);
      expect(customers).toEqual({
        us: '+14155550142',
        es: '+34600123456',
        esParis: '+33600123456',
        esJunk: 'call me',
        utcNational: '600 123 456',
        utcIntl: '+34600000001',
        already: '+34611223344',
        none: null,
      });
      expect([await phone('staff', s.paris), await phone('staff', s.usJunk)]).toEqual(['+33700000001', '12']);
      expect([
        await phone('callback_requests', cb.madrid, 'phone_number'),
        await phone('callback_requests', cb.erased, 'phone_number'),
      ]).toEqual(['+34600111222', '[erased]']);
      expect(await one(`SELECT from_number, to_number FROM calls WHERE id = $1`, [call])).toEqual({
        from_number: '+34600123456',
        to_number: '+34910000000',
      });

      // What the operator sees: each unread number by table, column, row, company and why (not the number itself)…
      const review = (await db.query(`SELECT company_id, table_name, column_name, row_id, reason FROM phone_number_review ORDER BY reason`))
        .rows;
      expect(review).toEqual([
        {
          company_id: utc,
          table_name: 'customers',
          column_name: 'phone',
          row_id: c.utcNational,
          reason: expect.stringMatching(/no country code/),
        },
        { company_id: es, table_name: 'customers', column_name: 'phone', row_id: c.esJunk, reason: 'not a phone number' },
        {
          company_id: us,
          table_name: 'staff',
          column_name: 'phone',
          row_id: s.usJunk,
          reason: expect.stringMatching(/^not a valid number for \+1/),
        },
      ]);
      // …and one line in the migrate command's output.
      expect(warn.mock.calls.map((args) => String(args[0]))).toEqual([
        expect.stringMatching(
          /10 phone number\(s\) rewritten in E\.164; 3 could not be read and were left as they were: SELECT \* FROM phone_number_review/,
        ),
      ]);
      const indexes = async () =>
        (
          await db.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'customers' AND indexname LIKE 'customers_phone%' ORDER BY 1`)
        ).rows.map((r) => r.indexname);
      expect(await indexes()).toEqual(['customers_phone_idx']);

      // Down: the columns, the table and the old indexes; the numbers stay in E.164.
      await migrate({ databaseUrl: scratch.url, direction: 'down', count: 1 });
      expect(await indexes()).toEqual(['customers_phone_digits_idx', 'customers_phone_tail_idx']);
      expect(await one(`SELECT to_regclass('phone_number_review') AS t`)).toEqual({ t: null });
      expect(await one(`SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'country'`)).toEqual({ n: 0 });
      expect(await phone('customers', c.us)).toBe('+14155550142');
      // Up again: nothing left to rewrite, the same three to review.
      warn.mockClear();
      await migrate({ databaseUrl: scratch.url, count: 1 });
      expect(await one(`SELECT count(*)::int AS n FROM phone_number_review`)).toEqual({ n: 3 });
      expect(warn.mock.calls.map((args) => String(args[0]))).toEqual([
        expect.stringMatching(/ 0 phone number\(s\) rewritten.*; 3 could not be read/),
      ]);
    } finally {
      warn.mockRestore();
      await db.end().catch(() => undefined);
      await scratch.drop();
    }
  });
});
