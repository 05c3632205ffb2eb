import { randomUUID } from 'node:crypto';
import { startTestApi, type TestApi } from '../support/api';
import { snapshot, type TestCompany, seedTwoCompanies, type Directory } from '../support/directory';

/** docs/design.md, Cases each covered by a test: "constraint violations under load": parallel writes either commit whole or leave nothing. */
describe('directory API under concurrent writes (real Postgres)', () => {
  let api: TestApi;
  let a: TestCompany;
  let b: TestCompany;
  let dirA: Directory;
  let dirB: Directory;
  let servicesA: string[];

  beforeAll(async () => {
    api = await startTestApi();
    ({ a, b, dirA, dirB } = await seedTwoCompanies(api));
    const more = await Promise.all(
      ['Wash', 'Style', 'Shave', 'Nails'].map((name, i) =>
        api.request('POST', '/v1/services', { key: a.admin, body: { branchId: i % 2 ? dirA.branch.id : dirA.otherBranch.id, name } }),
      ),
    );
    servicesA = [dirA.service.id, dirA.otherService.id, ...more.map((r) => r.body.id as string)];
  });
  afterAll(() => api.close());

  it('50 parallel staff creations with services: each commits whole or (foreign service) leaves no row', async () => {
    const run = randomUUID().slice(0, 8);
    const before = await snapshot(api, a.id, b.id);
    const bodies = Array.from({ length: 50 }, (_, i) => ({
      branchId: i % 2 ? dirA.branch.id : dirA.otherBranch.id,
      name: `load-${run}-${i}`,
      serviceIds:
        i % 5 === 0
          ? [servicesA[i % 6], dirB.service.id, servicesA[(i + 1) % 6]]
          : [servicesA[i % 6], servicesA[(i + 1) % 6], servicesA[(i + 2) % 6]],
    }));
    const results = await Promise.all(bodies.map((body) => api.request('POST', '/v1/staff', { key: a.admin, body })));

    results.forEach((res, i) => expect({ i, status: res.status }).toEqual({ i, status: i % 5 === 0 ? 404 : 201 }));
    for (const [i, res] of results.entries()) {
      if (res.status === 201) expect(res.body.serviceIds).toEqual([...bodies[i].serviceIds].sort());
    }
    const { rows } = await api.pool.query(
      `SELECT s.name, count(ss.service_id)::int AS services
         FROM staff s LEFT JOIN staff_services ss ON ss.staff_id = s.id
        WHERE s.company_id = $1 AND s.name LIKE $2 GROUP BY s.name`,
      [a.id, `load-${run}-%`],
    );
    expect(rows).toHaveLength(40);
    expect(rows.every((r) => r.services === 3)).toBe(true);
    expect(rows.map((r) => Number(r.name.split('-').pop())).filter((i) => i % 5 === 0)).toEqual([]);
    const after = await snapshot(api, a.id, b.id);
    expect(after).toEqual({
      ...before,
      [`${a.id}.staff`]: before[`${a.id}.staff`] + 40,
      [`${a.id}.staff_services`]: before[`${a.id}.staff_services`] + 120,
    });
  });

  it('20 parallel PATCHes of one staff member’s services: the final set is exactly one of the accepted sets', async () => {
    const target = (
      await api.request('POST', '/v1/staff', {
        key: a.admin,
        body: { branchId: dirA.branch.id, name: 'contended', serviceIds: [servicesA[0]] },
      })
    ).body;
    const sets = Array.from({ length: 20 }, (_, i) =>
      i % 4 === 3
        ? [servicesA[i % 6], dirB.otherService.id]
        : [servicesA[i % 6], servicesA[(i + 2) % 6], ...(i % 2 ? [servicesA[(i + 3) % 6]] : [])],
    );
    const results = await Promise.all(
      sets.map((serviceIds, i) =>
        api.request('PATCH', `/v1/staff/${target.id}`, { key: a.admin, body: { serviceIds, name: `contended-${i}` } }),
      ),
    );
    results.forEach((res, i) => expect({ i, status: res.status }).toEqual({ i, status: i % 4 === 3 ? 404 : 200 }));

    const final = (await api.request('GET', `/v1/staff/${target.id}`, { key: a.agent })).body;
    const winner = Number(final.name.split('-').pop());
    expect(winner % 4).not.toBe(3);
    // Name and services come from the same request: no interleaving of two PATCHes.
    expect(final.serviceIds).toEqual([...new Set(sets[winner])].sort());
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM staff_services WHERE staff_id = $1`, [target.id]);
    expect(rows[0].n).toBe(sets[winner].length);
  });

  it('parallel bookings while the staff member moves branch: each is booked or refused with 400 body.staffId, never a 500', async () => {
    const mover = (await api.request('POST', '/v1/staff', { key: a.admin, body: { branchId: dirA.branch.id, name: 'mover' } })).body;
    const booking = (i: number) => ({
      customerId: dirA.customer.id,
      branchId: dirA.branch.id,
      serviceId: dirA.service.id,
      staffId: mover.id,
      startsAt: new Date(Date.UTC(2026, 5, 1, 8) + i * 3_600_000).toISOString(),
      endsAt: new Date(Date.UTC(2026, 5, 1, 9) + i * 3_600_000).toISOString(),
    });
    const [bookings, move] = await Promise.all([
      Promise.all(Array.from({ length: 30 }, (_, i) => api.request('POST', '/v1/appointments', { key: a.manager, body: booking(i) }))),
      new Promise((resolve) => setTimeout(resolve, 5)).then(() =>
        api.request('PATCH', `/v1/staff/${mover.id}`, { key: a.admin, body: { branchId: dirA.otherBranch.id } }),
      ),
    ]);
    expect(move.status).toBe(200);
    for (const res of bookings) {
      expect([201, 400]).toContain(res.status);
      if (res.status === 400) expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(['body.staffId']);
    }
    // After the move every new booking at the old branch is refused.
    const late = await api.request('POST', '/v1/appointments', { key: a.manager, body: booking(99) });
    expect(late.status).toBe(400);
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM appointments WHERE staff_id = $1`, [mover.id]);
    expect(rows[0].n).toBe(bookings.filter((r) => r.status === 201).length);
  });
});
