import { startTestApi, type TestApi } from '../support/api';
import { fieldsOf, snapshot, type TestCompany, seedTwoCompanies, type Directory } from '../support/directory';

const push = {
  endpoint: 'https://push.example.com/send/abc123',
  expirationTime: null,
  keys: {
    p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
    auth: 'tBHItJI5svbpez7KI4CCXg',
  },
};

describe('directory API: customers (real Postgres)', () => {
  let api: TestApi;
  let a: TestCompany;
  let b: TestCompany;
  let dirA: Directory;
  let dirB: Directory;

  beforeAll(async () => {
    api = await startTestApi();
    ({ a, b, dirA, dirB } = await seedTwoCompanies(api));
  });
  afterAll(() => api.close());

  it('creates, reads, lists by home branch and phone, and patches a customer', async () => {
    const created = await api.request('POST', '/v1/customers', {
      key: a.admin,
      body: {
        name: 'Elena',
        email: 'elena@example.com',
        phone: '+34 611 222 333',
        timeZone: 'Europe/Madrid',
        homeBranchId: dirA.otherBranch.id,
        preferredStaffId: dirA.otherStaff.id,
        pushSubscription: push,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      name: 'Elena',
      email: 'elena@example.com',
      phone: '+34611222333',
      timeZone: 'Europe/Madrid',
      homeBranchId: dirA.otherBranch.id,
      preferredStaffId: dirA.otherStaff.id,
      pushSubscription: push,
      createdAt: expect.stringMatching(/Z$/),
      updatedAt: expect.stringMatching(/Z$/),
    });
    expect((await api.request('GET', `/v1/customers/${created.body.id}`, { key: a.agent })).body).toEqual(created.body);

    const minimal = await api.request('GET', `/v1/customers/${dirA.customer.id}`, { key: a.agent });
    expect(minimal.body).toMatchObject({ email: null, timeZone: 'UTC', preferredStaffId: null, pushSubscription: null });

    const ids = async (query: string) => {
      const res = await api.request('GET', `/v1/customers${query}`, { key: a.agent });
      expect(res.status).toBe(200);
      return res.body.items.map((c: { id: string }) => c.id);
    };
    expect(await ids(`?branchId=${dirA.otherBranch.id}`)).toEqual([created.body.id]);
    expect(await ids(`?branchId=${dirA.branch.id}`)).toEqual([dirA.customer.id]);
    // By the number however it is written: compared in E.164.
    expect(await ids(`?phone=${encodeURIComponent('+34 611 222 333')}`)).toEqual([created.body.id]);
    expect(await ids(`?phone=${encodeURIComponent('+34611222333')}`)).toEqual([created.body.id]);
    expect(await ids(`?phone=${encodeURIComponent('+34 611 222 334')}`)).toEqual([]);
    expect(await ids('')).toEqual(expect.arrayContaining([dirA.customer.id, created.body.id]));

    const patched = await api.request('PATCH', `/v1/customers/${created.body.id}`, {
      key: a.admin,
      body: { phone: '+34 699 999 999', pushSubscription: null, preferredStaffId: dirA.staff.id },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      name: 'Elena',
      email: 'elena@example.com',
      timeZone: 'Europe/Madrid',
      homeBranchId: dirA.otherBranch.id,
      phone: '+34699999999',
      preferredStaffId: dirA.staff.id,
      pushSubscription: null,
    });
    const subscribed = await api.request('PATCH', `/v1/customers/${created.body.id}`, {
      key: a.admin,
      body: { pushSubscription: { endpoint: push.endpoint, keys: push.keys } },
    });
    expect(subscribed.body.pushSubscription).toEqual({ endpoint: push.endpoint, keys: push.keys });
  });

  it('names each bad field in a 400', async () => {
    const res = await api.request('POST', '/v1/customers', {
      key: a.admin,
      body: {
        name: '',
        email: 'x@',
        phone: '+12',
        timeZone: 'Nowhere/Town',
        homeBranchId: 'x',
        pushSubscription: { endpoint: 'not a url', keys: { p256dh: 'k' }, extra: true },
        loyalty: 'gold',
      },
    });
    expect(res.status).toBe(400);
    expect(fieldsOf(res).sort()).toEqual(
      [
        'body.name',
        'body.email',
        'body.phone',
        'body.timeZone',
        'body.homeBranchId',
        'body.pushSubscription.endpoint',
        'body.pushSubscription.keys.auth',
        'body.pushSubscription.extra',
        'body.loyalty',
      ].sort(),
    );
    const query = await api.request('GET', '/v1/customers?branchId=1&limit=0', { key: a.agent });
    expect(fieldsOf(query).sort()).toEqual(['query.branchId', 'query.limit']);
    expect(fieldsOf(await api.request('GET', '/v1/customers/zzz', { key: a.agent }))).toEqual(['params.id']);
  });

  it('needs admin to write, agent to read', async () => {
    expect((await api.request('POST', '/v1/customers', { key: a.manager, body: { name: 'X' } })).status).toBe(403);
    expect((await api.request('POST', '/v1/customers', { key: a.agent, body: { name: 'X' } })).status).toBe(403);
    expect((await api.request('PATCH', `/v1/customers/${dirA.customer.id}`, { key: a.manager, body: { name: 'X' } })).status).toBe(403);
    expect((await api.request('GET', `/v1/customers/${dirA.customer.id}`, { key: a.agent })).body.name).toBe('Carla');
  });

  it("answers another company's customers, branches and staff with 404 and writes nothing", async () => {
    const before = await snapshot(api, a.id, b.id);
    const read = await api.request('GET', `/v1/customers/${dirA.customer.id}`, { key: b.admin });
    expect(read.status).toBe(404);
    expect(JSON.stringify(read.body)).not.toContain('Carla');
    expect((await api.request('PATCH', `/v1/customers/${dirA.customer.id}`, { key: b.admin, body: { name: 'Stolen' } })).status).toBe(404);
    expect((await api.request('GET', `/v1/customers?branchId=${dirA.branch.id}`, { key: b.agent })).status).toBe(404);
    const byPhone = await api.request('GET', `/v1/customers?phone=${encodeURIComponent('+34 600 000 001')}`, { key: b.agent });
    expect(byPhone.body.items.map((c: { id: string }) => c.id)).toEqual([dirB.customer.id]);

    for (const body of [
      { name: 'Intruder', homeBranchId: dirA.branch.id },
      { name: 'Intruder', preferredStaffId: dirA.staff.id },
      { name: 'Intruder', homeBranchId: dirB.branch.id, preferredStaffId: dirA.staff.id },
    ]) {
      const res = await api.request('POST', '/v1/customers', { key: b.admin, body });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    for (const body of [{ homeBranchId: dirA.branch.id }, { name: 'Renamed', preferredStaffId: dirA.otherStaff.id }]) {
      expect((await api.request('PATCH', `/v1/customers/${dirB.customer.id}`, { key: b.admin, body })).status).toBe(404);
    }
    expect(await snapshot(api, a.id, b.id)).toEqual(before);
    const after = await api.request('GET', `/v1/customers/${dirB.customer.id}`, { key: b.agent });
    expect(after.body).toMatchObject({ name: 'Carla', homeBranchId: dirB.branch.id, preferredStaffId: null });
    expect((await api.request('GET', `/v1/customers/${dirA.customer.id}`, { key: a.agent })).body.name).toBe('Carla');
  });
});
