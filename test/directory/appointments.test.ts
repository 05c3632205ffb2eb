import { startTestApi, type TestApi } from '../support/api';
import { countRows, fieldsOf, snapshot, type TestCompany, seedTwoCompanies, type Directory } from '../support/directory';

describe('directory API: appointments (real Postgres)', () => {
  let api: TestApi;
  let a: TestCompany;
  let b: TestCompany;
  let dirA: Directory;
  let dirB: Directory;
  /** A valid booking in company A (branch, its service and staff member). */
  let booking: Record<string, unknown>;

  beforeAll(async () => {
    api = await startTestApi();
    ({ a, b, dirA, dirB } = await seedTwoCompanies(api));
    booking = {
      customerId: dirA.customer.id,
      branchId: dirA.branch.id,
      serviceId: dirA.service.id,
      staffId: dirA.staff.id,
      startsAt: '2026-03-02T10:00:00+01:00',
      endsAt: '2026-03-02T10:45:00+01:00',
    };
  });
  afterAll(() => api.close());

  const book = async (key: string, body: Record<string, unknown>) => api.request('POST', '/v1/appointments', { key, body });

  it('books (as manager), reads, lists with filters and patches an appointment', async () => {
    const created = await book(a.manager, { ...booking, notes: 'first visit' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      customerId: dirA.customer.id,
      branchId: dirA.branch.id,
      serviceId: dirA.service.id,
      staffId: dirA.staff.id,
      startsAt: '2026-03-02T09:00:00.000Z',
      endsAt: '2026-03-02T09:45:00.000Z',
      status: 'scheduled',
      notes: 'first visit',
      createdAt: expect.stringMatching(/Z$/),
      updatedAt: expect.stringMatching(/Z$/),
    });
    expect((await api.request('GET', `/v1/appointments/${created.body.id}`, { key: a.agent })).body).toEqual(created.body);

    const later = await book(a.admin, {
      ...booking,
      staffId: undefined,
      status: 'confirmed',
      startsAt: '2026-03-05T12:00:00Z',
      endsAt: '2026-03-05T12:30:00Z',
    });
    expect(later.status).toBe(201);
    expect(later.body).toMatchObject({ staffId: null, status: 'confirmed', notes: null });
    const elsewhere = await book(a.manager, {
      ...booking,
      branchId: dirA.otherBranch.id,
      serviceId: dirA.otherService.id,
      staffId: dirA.otherStaff.id,
      startsAt: '2026-03-03T08:00:00Z',
      endsAt: '2026-03-03T09:00:00Z',
    });
    expect(elsewhere.status).toBe(201);

    const ids = async (query: string) => {
      const res = await api.request('GET', `/v1/appointments${query}`, { key: a.agent });
      expect(res.status).toBe(200);
      return res.body.items.map((x: { id: string }) => x.id);
    };
    expect(await ids('')).toEqual([created.body.id, elsewhere.body.id, later.body.id]);
    expect(await ids(`?customerId=${dirA.customer.id}&branchId=${dirA.branch.id}`)).toEqual([created.body.id, later.body.id]);
    expect(await ids(`?staffId=${dirA.otherStaff.id}`)).toEqual([elsewhere.body.id]);
    expect(await ids(`?from=${encodeURIComponent('2026-03-02T09:00:00Z')}&to=${encodeURIComponent('2026-03-05T12:00:00Z')}`)).toEqual([
      created.body.id,
      elsewhere.body.id,
    ]);
    expect(await ids(`?from=${encodeURIComponent('2026-03-05T13:00:00+01:00')}`)).toEqual([later.body.id]);

    const patched = await api.request('PATCH', `/v1/appointments/${created.body.id}`, {
      key: a.manager,
      body: { startsAt: '2026-03-02T11:00:00+01:00', endsAt: '2026-03-02T12:00:00+01:00', status: 'confirmed', notes: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      startsAt: '2026-03-02T10:00:00.000Z',
      endsAt: '2026-03-02T11:00:00.000Z',
      status: 'confirmed',
      notes: null,
      staffId: dirA.staff.id,
    });
    const unassigned = await api.request('PATCH', `/v1/appointments/${created.body.id}`, { key: a.manager, body: { staffId: null } });
    expect(unassigned.body).toMatchObject({ staffId: null, startsAt: '2026-03-02T10:00:00.000Z', status: 'confirmed' });
    const done = await api.request('PATCH', `/v1/appointments/${created.body.id}`, {
      key: a.manager,
      body: { status: 'completed', staffId: dirA.staff.id },
    });
    expect(done.body).toMatchObject({ status: 'completed', staffId: dirA.staff.id });
  });

  it('refuses endsAt at or before startsAt (comparing instants, not strings) naming body.endsAt', async () => {
    const before = await countRows(api, 'appointments', a.id);
    const equal = await book(a.manager, { ...booking, endsAt: booking.startsAt });
    expect(equal.status).toBe(400);
    expect(fieldsOf(equal)).toEqual(['body.endsAt']);
    // Later as text, earlier as an instant: 11:00+02:00 is 09:00Z, before 10:00Z.
    const offsets = await book(a.manager, { ...booking, startsAt: '2026-03-02T10:00:00Z', endsAt: '2026-03-02T11:00:00+02:00' });
    expect(offsets.status).toBe(400);
    expect(fieldsOf(offsets)).toEqual(['body.endsAt']);
    expect(await countRows(api, 'appointments', a.id)).toBe(before);

    const appt = (await book(a.manager, booking)).body;
    const endsBefore = await api.request('PATCH', `/v1/appointments/${appt.id}`, {
      key: a.manager,
      body: { endsAt: '2026-03-02T08:59:00Z' },
    });
    expect(endsBefore.status).toBe(400);
    expect(fieldsOf(endsBefore)).toEqual(['body.endsAt']);
    const startsAfter = await api.request('PATCH', `/v1/appointments/${appt.id}`, {
      key: a.manager,
      body: { startsAt: '2026-03-02T11:00:00+01:00' },
    });
    expect(startsAfter.status).toBe(400);
    expect(fieldsOf(startsAfter)).toEqual(['body.startsAt']);
    expect((await api.request('GET', `/v1/appointments/${appt.id}`, { key: a.agent })).body).toEqual(appt);
  });

  it('names each bad field in a 400, refuses status cancelled outside the cancel route', async () => {
    const res = await book(a.manager, {
      customerId: 'c',
      branchId: dirA.branch.id,
      startsAt: '2026-03-02T10:00:00',
      endsAt: 'tomorrow',
      status: 'cancelled',
      price: 10,
    });
    expect(res.status).toBe(400);
    expect(fieldsOf(res).sort()).toEqual(
      ['body.customerId', 'body.serviceId', 'body.startsAt', 'body.endsAt', 'body.status', 'body.price'].sort(),
    );
    const cancel = await book(a.manager, { ...booking, status: 'cancelled' });
    expect(fieldsOf(cancel)).toEqual(['body.status']);
    expect(cancel.body.error.details.fields[0].message).toContain('/cancel');

    const appt = (await book(a.manager, booking)).body;
    const patchCancel = await api.request('PATCH', `/v1/appointments/${appt.id}`, { key: a.manager, body: { status: 'cancelled' } });
    expect(patchCancel.status).toBe(400);
    expect(fieldsOf(patchCancel)).toEqual(['body.status']);
    const fixed = await api.request('PATCH', `/v1/appointments/${appt.id}`, {
      key: a.manager,
      body: { customerId: dirA.customer.id, branchId: dirA.otherBranch.id },
    });
    expect(fieldsOf(fixed).sort()).toEqual(['body.branchId', 'body.customerId']);
    const query = await api.request(
      'GET',
      `/v1/appointments?from=${encodeURIComponent('2026-03-05T00:00:00Z')}&to=${encodeURIComponent('2026-03-04T00:00:00Z')}&staffId=1`,
      { key: a.agent },
    );
    expect(fieldsOf(query).sort()).toEqual(['query.staffId', 'query.to']);
    const range = await api.request(
      'GET',
      `/v1/appointments?from=${encodeURIComponent('2026-03-05T00:00:00Z')}&to=${encodeURIComponent('2026-03-04T00:00:00Z')}`,
      { key: a.agent },
    );
    expect(fieldsOf(range)).toEqual(['query.to']);
    expect(fieldsOf(await api.request('GET', '/v1/appointments/42', { key: a.agent }))).toEqual(['params.id']);
    expect((await api.request('GET', `/v1/appointments/${appt.id}`, { key: a.agent })).body.status).toBe('scheduled');
  });

  it('a manager may book and patch; an agent may only read', async () => {
    expect((await book(a.agent, booking)).status).toBe(403);
    const appt = (await book(a.manager, booking)).body;
    expect((await api.request('PATCH', `/v1/appointments/${appt.id}`, { key: a.agent, body: { status: 'confirmed' } })).status).toBe(403);
    expect((await api.request('GET', `/v1/appointments/${appt.id}`, { key: a.agent })).body.status).toBe('scheduled');
    expect((await api.request('GET', '/v1/appointments', {})).status).toBe(401);
  });

  it('requires the service and staff member to belong to the appointment branch (400 naming the field), writing nothing', async () => {
    const before = await snapshot(api, a.id);
    const service = await book(a.manager, { ...booking, serviceId: dirA.otherService.id });
    expect(service.status).toBe(400);
    expect(fieldsOf(service)).toEqual(['body.serviceId']);
    const staff = await book(a.manager, { ...booking, staffId: dirA.otherStaff.id });
    expect(fieldsOf(staff)).toEqual(['body.staffId']);
    const both = await book(a.manager, { ...booking, serviceId: dirA.otherService.id, staffId: dirA.otherStaff.id });
    expect(fieldsOf(both)).toEqual(['body.serviceId', 'body.staffId']);
    // Qualified elsewhere does not matter: staff of branch 2 cannot serve at branch 1.
    await api.request('PATCH', `/v1/staff/${dirA.otherStaff.id}`, {
      key: a.admin,
      body: { serviceIds: [dirA.service.id, dirA.otherService.id] },
    });
    expect(fieldsOf(await book(a.manager, { ...booking, staffId: dirA.otherStaff.id }))).toEqual(['body.staffId']);
    expect(await snapshot(api, a.id)).toEqual({ ...before, [`${a.id}.staff_services`]: before[`${a.id}.staff_services`] + 2 });

    const appt = (await book(a.manager, booking)).body;
    const move = await api.request('PATCH', `/v1/appointments/${appt.id}`, {
      key: a.manager,
      body: { staffId: dirA.otherStaff.id, notes: 'moved' },
    });
    expect(move.status).toBe(400);
    expect(fieldsOf(move)).toEqual(['body.staffId']);
    expect((await api.request('GET', `/v1/appointments/${appt.id}`, { key: a.agent })).body).toEqual(appt);
  });

  it("answers another company's appointments and every foreign id in a body with 404, writing nothing", async () => {
    const appt = (await book(a.manager, booking)).body;
    const bookingB = {
      customerId: dirB.customer.id,
      branchId: dirB.branch.id,
      serviceId: dirB.service.id,
      staffId: dirB.staff.id,
      startsAt: booking.startsAt,
      endsAt: booking.endsAt,
    };
    const mine = (await book(b.manager, bookingB)).body;
    const before = await snapshot(api, a.id, b.id);

    const read = await api.request('GET', `/v1/appointments/${appt.id}`, { key: b.admin });
    expect(read.status).toBe(404);
    expect(JSON.stringify(read.body)).not.toContain(dirA.customer.id);
    expect((await api.request('PATCH', `/v1/appointments/${appt.id}`, { key: b.admin, body: { status: 'no_show' } })).status).toBe(404);
    for (const filter of [`customerId=${dirA.customer.id}`, `branchId=${dirA.branch.id}`, `staffId=${dirA.staff.id}`]) {
      expect((await api.request('GET', `/v1/appointments?${filter}`, { key: b.agent })).status).toBe(404);
    }
    expect((await api.request('GET', '/v1/appointments', { key: b.agent })).body.items.map((x: { id: string }) => x.id)).toEqual([mine.id]);

    // Each foreign id alone, and the whole foreign set: 404, never 400 (which would confirm the row exists) or 500.
    for (const foreign of [
      { customerId: dirA.customer.id },
      { branchId: dirA.branch.id },
      { serviceId: dirA.service.id },
      { staffId: dirA.staff.id },
      { branchId: dirA.branch.id, serviceId: dirA.service.id, staffId: dirA.staff.id },
      { customerId: dirA.customer.id, branchId: dirA.branch.id, serviceId: dirA.service.id, staffId: dirA.staff.id },
    ]) {
      const res = await book(b.manager, { ...bookingB, ...foreign });
      expect({ foreign, status: res.status }).toEqual({ foreign, status: 404 });
      expect(res.body.error.code).toBe('not_found');
    }
    const steal = await api.request('PATCH', `/v1/appointments/${mine.id}`, {
      key: b.manager,
      body: { staffId: dirA.staff.id, notes: 'x' },
    });
    expect(steal.status).toBe(404);
    expect(await snapshot(api, a.id, b.id)).toEqual(before);
    expect((await api.request('GET', `/v1/appointments/${mine.id}`, { key: b.agent })).body).toEqual(mine);
    expect((await api.request('GET', `/v1/appointments/${appt.id}`, { key: a.agent })).body).toEqual(appt);
  });

  it('refuses to change a cancelled appointment (409)', async () => {
    const appt = (await book(a.manager, booking)).body;
    await api.pool.query(`UPDATE appointments SET status = 'cancelled' WHERE id = $1`, [appt.id]);
    const res = await api.request('PATCH', `/v1/appointments/${appt.id}`, { key: a.manager, body: { status: 'scheduled' } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('appointment_cancelled');
    expect((await api.request('GET', `/v1/appointments/${appt.id}`, { key: a.agent })).body.status).toBe('cancelled');
  });
});
