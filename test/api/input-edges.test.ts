import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { toHttpError } from '../../src/api/errors';
import type { Pool } from '../../src/db/pool';
import { PLATFORM_TOKEN, startTestApi, type TestApi } from '../support/api';
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

  it('a JSON body nested deeper than the limit is a 400 naming the limit, before anything recurses into it', async () => {
    const s = await seeded();
    const deep = (n: number) =>
      `{"eventType":"payment_received","notifiable":{"type":"customer","id":"${s.customerId}"},"data":{"x":${'['.repeat(n)}${']'.repeat(n)}}}`;
    for (const n of [20_000, 63]) {
      const res = await api.request('POST', '/v1/notifications', { key: s.company.agent, raw: deep(n) });
      expect([n, res.status, res.body.error.code, fieldsOf(res)]).toEqual([n, 400, 'validation_error', ['body']]);
      expect(res.body.error.details.maxDepth).toBe(64);
      expect(res.body.error.message).toContain('64');
    }
    // Brackets inside strings are text, not depth; 64 levels (the root, data, 62 arrays) are fine.
    const inString = await api.request('POST', '/v1/notifications', {
      key: s.company.agent,
      raw: `{"eventType":"payment_received","notifiable":{"type":"customer","id":"${s.customerId}"},"data":{"x":"${'['.repeat(500)}\\"{{{"}}`,
    });
    expect(inString.status).toBe(202);
    const atLimit = await api.request('POST', '/v1/notifications', { key: s.company.agent, raw: deep(62) });
    expect(atLimit.status).toBe(202);
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM notifications WHERE company_id = $1`, [s.company.id]);
    expect(rows[0].n).toBe(2);
  });

  it('a body that is not JSON to a JSON route is 415 unsupported_media_type; an empty body is not a body', async () => {
    const s = await seeded();
    const key = s.company.admin;
    const plain = await api.request('POST', '/v1/branches', { key, raw: '{"name":"Plain"}', headers: { 'content-type': 'text/plain' } });
    expect([plain.status, plain.body.error.code]).toEqual([415, 'unsupported_media_type']);
    const form = await api.request('PATCH', `/v1/services/${s.serviceId}`, {
      key,
      raw: 'name=Form',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect([form.status, form.body.error.code]).toEqual([415, 'unsupported_media_type']);
    const none = await api.request('POST', '/v1/branches', { key, raw: '{"name":"None"}', headers: { 'content-type': '' } });
    expect([none.status, none.body.error.code]).toEqual([415, 'unsupported_media_type']);
    const charset = await api.request('POST', '/v1/branches', {
      key,
      raw: '{"name":"Latin"}',
      headers: { 'content-type': 'application/json; charset=latin1' },
    });
    expect([charset.status, charset.body.error.code]).toEqual([415, 'unsupported_media_type']);
    // JSON with a charset is JSON; a POST without a body is judged by its schema (here: name is required).
    const utf8 = await api.request('POST', '/v1/branches', {
      key,
      raw: '{"name":"Utf8"}',
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(utf8.status).toBe(201);
    const empty = await fetch(`${api.url}/v1/branches`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
    expect(empty.status).toBe(400);
    expect(fieldsOf({ body: await empty.json() })).toEqual(['body.name']);
    // Nothing of the refused ones was written.
    const names = (await api.request('GET', '/v1/branches', { key })).body.items.map((b: { name: string }) => b.name).sort();
    expect(names).toEqual(['Centro', 'Utf8']);
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

  it('invalid credentials: a key of the wrong shape never reaches the database; repeated failures are throttled', async () => {
    const before = queries;
    for (let i = 0; i < 3; i++) {
      expect((await api.request('GET', '/v1/branches', { key: 'not-a-key' })).status).toBe(401);
    }
    expect(queries).toBe(before);
    // Well-formed but unknown keys cost one lookup each; after 5 failures in a minute from this address: 429.
    const unknown = () => `ak_deadbeef_${'A'.repeat(43)}`;
    const statuses: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await api.request('GET', '/v1/branches', { key: unknown() })).status);
      counts.push(queries);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    expect(counts[3] - counts[2]).toBe(1); // the throttled request: one lookup, like any other key
    const throttled = await api.request('GET', '/v1/branches', { key: unknown() });
    expect(throttled.body.error.code).toBe('rate_limited');
    // Throttled, a malformed key still never reaches the database.
    const beforeMalformed = queries;
    expect((await api.request('GET', '/v1/branches', { key: 'still-not-a-key' })).status).toBe(429);
    expect(queries).toBe(beforeMalformed);
  });

  it('failed keys never lock out valid ones: behind one address, 40 bad keys, then every valid key still works', async () => {
    const shared = await startTestApi(); // the default limit: 30 failures per minute per address
    try {
      const company = await shared.company();
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++)
        statuses.push((await shared.request('GET', '/v1/branches', { key: `ak_deadbeef_${'B'.repeat(43)}` })).status);
      expect(statuses.slice(0, 30)).toEqual(Array(30).fill(401));
      expect(statuses.slice(30)).toEqual(Array(10).fill(429));
      // The same address, valid credentials: an API key, the platform token.
      expect((await shared.request('GET', '/v1/branches', { key: company.agent })).status).toBe(200);
      expect((await shared.request('POST', '/v1/branches', { key: company.admin, body: { name: 'After the storm' } })).status).toBe(201);
      expect((await shared.request('POST', '/v1/companies', { key: PLATFORM_TOKEN, body: { name: 'Another tenant' } })).status).toBe(201);
      // Bad keys are still refused with 429 after those successes, malformed ones too.
      const again = await shared.request('GET', '/v1/branches', { key: `ak_deadbeef_${'C'.repeat(43)}` });
      expect([again.status, again.body.error.code]).toEqual([429, 'rate_limited']);
      expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await shared.request('GET', '/v1/branches', { key: 'not-a-key' })).status).toBe(429);
      expect((await shared.request('POST', '/v1/companies', { key: 'wrong-platform-token', body: { name: 'x' } })).status).toBe(429);
    } finally {
      await shared.close();
    }
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
