import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { toHttpError } from '../../src/api/errors';
import type { Pool } from '../../src/db/pool';
import { startTestApi, type TestApi } from '../support/api';
import { testDatabaseUrl, testPool } from '../support/database';
import { fieldsOf } from '../support/directory';

/**
 * The edges of input, each a 400 naming the field (never a 500 from PostgreSQL) — the regression
 * tests of what Schemathesis found (see scripts/schemathesis.sh, run in CI) — plus the mapping of
 * PostgreSQL's own errors and the throttling of invalid credentials.
 */
describe('edges of input', () => {
  let api: TestApi;
  let queries = 0;
  beforeAll(async () => {
    const pool = testPool();
    // Counts the API's database queries (a spy over the real pool).
    const counting = new Proxy(pool, {
      get(target, prop, receiver) {
        if (prop === 'query') {
          return (...args: unknown[]) => {
            queries += 1;
            return (target.query as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Pool;
    api = await startTestApi({ pool: counting, authFailuresPerMinute: 5 });
  });
  afterAll(() => api.close());

  async function seeded() {
    const company = await api.company();
    const branch = await api.request('POST', '/v1/branches', { key: company.admin, body: { name: 'Centro' } });
    const service = await api.request('POST', '/v1/services', { key: company.admin, body: { branchId: branch.body.id, name: 'Cut' } });
    const staff = await api.request('POST', '/v1/staff', { key: company.admin, body: { branchId: branch.body.id, name: 'Ana' } });
    const customer = await api.request('POST', '/v1/customers', { key: company.admin, body: { name: 'Carla' } });
    return { company, branchId: branch.body.id, serviceId: service.body.id, staffId: staff.body.id, customerId: customer.body.id };
  }

  it('a NUL character in any string is a 400 naming the field, in bodies, free-form JSON and queries', async () => {
    const s = await seeded();
    const key = s.company.admin;
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/v1/services', { branchId: s.branchId, name: 'Cut\u0000' }, 'body.name'],
      ['PATCH', `/v1/services/${s.serviceId}`, { name: '\u0000' }, 'body.name'],
      ['PATCH', `/v1/staff/${s.staffId}`, { name: 'A\u0000na' }, 'body.name'],
      ['POST', '/v1/customers', { name: '\u0000' }, 'body.name'],
      ['POST', '/v1/api-keys', { name: '\u0000', role: 'agent' }, 'body.name'],
      [
        'POST',
        '/v1/customers',
        { name: 'x', pushSubscription: { endpoint: 'https://push.example/1', keys: { p256dh: '\u0000', auth: 'a' } } },
        'body.pushSubscription.keys.p256dh',
      ],
      [
        'POST',
        '/v1/notifications',
        {
          eventType: 'appointment_created',
          notifiable: { type: 'customer', id: s.customerId },
          data: { note: { deep: ['ok', 'n\u0000'] } },
        },
        'body.data.note.deep.1',
      ],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await api.request(method, path, { key, body });
      expect([path, res.status, fieldsOf(res)]).toEqual([path, 400, [field]]);
    }
    const query = await api.request('GET', '/v1/customers?phone=%00', { key });
    expect([query.status, fieldsOf(query)]).toEqual([400, ['query.phone']]);
    // Nothing was written.
    expect((await api.request('GET', '/v1/customers', { key })).body.items).toHaveLength(1);
  });

  it('timestamps PostgreSQL cannot store are 400s naming the field', async () => {
    const s = await seeded();
    const key = s.company.admin;
    const bad = await api.request('GET', `/v1/appointments?from=${encodeURIComponent('1544-05-13T20:48:55.1069-17:39')}`, { key });
    expect([bad.status, fieldsOf(bad)]).toEqual([400, ['query.from']]);
    const base = { customerId: s.customerId, branchId: s.branchId, serviceId: s.serviceId, startsAt: '2030-03-01T10:00:00Z' };
    for (const endsAt of ['2030-03-01T10:30:00-16:00', '2030-03-01T10:30:00+15:00', '0000-03-01T10:00:00Z', '9999-12-31T23:00:00-10:00']) {
      const res = await api.request('POST', '/v1/appointments', { key, body: { ...base, endsAt } });
      expect([endsAt, res.status, fieldsOf(res)]).toEqual([endsAt, 400, ['body.endsAt']]);
    }
    const ok = await api.request('POST', '/v1/appointments', { key, body: { ...base, endsAt: '2030-03-01T10:30:00+14:00' } });
    expect(ok.status).toBe(400); // valid timestamp, but it ends before it starts: the rule, not the format
    expect(fieldsOf(ok)).toEqual(['body.endsAt']);
    const analytics = await api.request('GET', `/v1/analytics/notifications?from=${encodeURIComponent('-100000-01-01T00:00:00Z')}`, {
      key,
    });
    expect([analytics.status, fieldsOf(analytics)]).toEqual([400, ['query.from']]);
  });

  it('an Idempotency-Key is 1-255 visible ASCII characters: else a 400 naming the header, and nothing written', async () => {
    const s = await seeded();
    const body = { eventType: 'payment_received', notifiable: { type: 'customer', id: s.customerId } };
    for (const header of ['x'.repeat(3_000), '', 'has space', 'ünïcode']) {
      const res = await api.request('POST', '/v1/notifications', { key: s.company.agent, body, headers: { 'idempotency-key': header } });
      expect([res.status, fieldsOf(res)]).toEqual([400, ['headers.idempotency-key']]);
    }
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM notifications WHERE company_id = $1`, [s.company.id]);
    expect(rows[0].n).toBe(0);
  });

  it('invalid credentials: a key of the wrong shape never reaches the database; repeated failures are throttled before it', async () => {
    const before = queries;
    for (let i = 0; i < 3; i++) {
      expect((await api.request('GET', '/v1/branches', { key: 'not-a-key' })).status).toBe(401);
    }
    expect(queries).toBe(before);
    // Well-formed but unknown keys are looked up, until this address has failed 5 times in a minute.
    const unknown = () => `ak_deadbeef_${'A'.repeat(43)}`;
    const statuses: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await api.request('GET', '/v1/branches', { key: unknown() })).status);
      counts.push(queries);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    expect(counts[3]).toBe(counts[2]); // the throttled request asked the database nothing
    const throttled = await api.request('GET', '/v1/branches', { key: unknown() });
    expect(throttled.body.error.code).toBe('rate_limited');
  });

  it("PostgreSQL's own refusals map to proper answers, not 500", async () => {
    const url = testDatabaseUrl();
    const connect = async () => {
      const c = new Client({ connectionString: url });
      await c.connect();
      return c;
    };
    const errorOf = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e) => e,
      );
    const table = `edge_${randomUUID().replace(/-/g, '')}`;
    const a = await connect();
    const b = await connect();
    try {
      await a.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
      await a.query(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`);

      // 57014: a statement timeout.
      const timeout = await errorOf(a.query(`SET statement_timeout = 50; SELECT pg_sleep(1)`));
      await a.query(`SET statement_timeout = 0`);
      expect([timeout.code, toHttpError(timeout).status]).toEqual(['57014', 503]);

      // 40P01: a deadlock between two transactions.
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query(`UPDATE ${table} SET v = 'a1' WHERE id = 1`);
      await b.query(`UPDATE ${table} SET v = 'b1' WHERE id = 2`);
      const first = errorOf(a.query(`UPDATE ${table} SET v = 'a2' WHERE id = 2`));
      const second = errorOf(b.query(`UPDATE ${table} SET v = 'b2' WHERE id = 1`));
      const deadlock = (await first) ?? (await second);
      await a.query('ROLLBACK');
      await b.query('ROLLBACK');
      expect([deadlock.code, toHttpError(deadlock).status, toHttpError(deadlock).code]).toEqual(['40P01', 409, 'concurrent_update']);

      // 40001: a serialization failure.
      await a.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await a.query(`SELECT v FROM ${table} WHERE id = 1`);
      await b.query(`UPDATE ${table} SET v = 'changed' WHERE id = 1`);
      const serialization = await errorOf(a.query(`UPDATE ${table} SET v = 'mine' WHERE id = 1`));
      await a.query('ROLLBACK');
      expect([serialization.code, toHttpError(serialization).status]).toEqual(['40001', 409]);

      // 54000: a value too large for a btree index row.
      await a.query(`CREATE INDEX ON ${table} (v)`);
      const large = await errorOf(
        a.query(`INSERT INTO ${table} VALUES (3, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g))`),
      );
      expect([large.code, toHttpError(large).status]).toEqual(['54000', 400]);

      // 53300: too many connections (for a role limited to none).
      const role = `edge_${randomUUID().slice(0, 8)}`;
      await a.query(`CREATE ROLE ${role} LOGIN PASSWORD 'x' CONNECTION LIMIT 0`);
      try {
        const u = new URL(url);
        u.username = role;
        u.password = 'x';
        const limited = await errorOf(new Client({ connectionString: u.toString() }).connect());
        expect([limited.code, toHttpError(limited).status]).toEqual(['53300', 503]);
      } finally {
        await a.query(`DROP ROLE ${role}`);
      }
    } finally {
      await a.query(`DROP TABLE IF EXISTS ${table}`);
      await a.end();
      await b.end();
    }
  });
});
