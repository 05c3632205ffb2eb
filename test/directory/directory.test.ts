import { startTestApi, type TestApi } from '../support/api';
import { fieldsOf, snapshot, type TestCompany, seedTwoCompanies, type Directory } from '../support/directory';

/** Services and staff (with their qualified services), each company isolated from the others. */
describe('directory API: services and staff (real Postgres)', () => {
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

  describe('branches', () => {
    it('keeps an omitted timeZone on PATCH', async () => {
      const res = await api.request('PATCH', `/v1/branches/${dirA.branch.id}`, { key: a.admin, body: { name: 'Centro 2' } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: 'Centro 2', timeZone: 'Europe/Madrid' });
    });
  });

  describe('services', () => {
    it('creates, reads, lists by branch and patches a service', async () => {
      const created = await api.request('POST', '/v1/services', {
        key: a.admin,
        body: { branchId: dirA.branch.id, name: 'Beard trim', durationMinutes: 15, priceCents: 900 },
      });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.any(String),
        branchId: dirA.branch.id,
        name: 'Beard trim',
        durationMinutes: 15,
        priceCents: 900,
        createdAt: expect.stringMatching(/Z$/),
        updatedAt: expect.stringMatching(/Z$/),
      });
      const read = await api.request('GET', `/v1/services/${created.body.id}`, { key: a.agent });
      expect(read.status).toBe(200);
      expect(read.body).toEqual(created.body);

      const inBranch = await api.request('GET', `/v1/services?branchId=${dirA.branch.id}`, { key: a.agent });
      expect(inBranch.status).toBe(200);
      const ids = inBranch.body.items.map((s: { id: string }) => s.id);
      expect(ids).toEqual(expect.arrayContaining([dirA.service.id, created.body.id]));
      expect(ids).not.toContain(dirA.otherService.id);
      const all = await api.request('GET', '/v1/services', { key: a.agent });
      expect(all.body.items.map((s: { id: string }) => s.id)).toEqual(
        expect.arrayContaining([dirA.service.id, dirA.otherService.id, created.body.id]),
      );

      const patched = await api.request('PATCH', `/v1/services/${created.body.id}`, {
        key: a.admin,
        body: { priceCents: 1100, branchId: dirA.otherBranch.id },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ name: 'Beard trim', durationMinutes: 15, priceCents: 1100, branchId: dirA.otherBranch.id });
    });

    it('names each bad field in a 400', async () => {
      const res = await api.request('POST', '/v1/services', {
        key: a.admin,
        body: { branchId: 'nope', name: ' ', durationMinutes: 0, priceCents: -1, colour: 'red' },
      });
      expect(res.status).toBe(400);
      expect(fieldsOf(res)).toEqual(
        expect.arrayContaining(['body.branchId', 'body.name', 'body.durationMinutes', 'body.priceCents', 'body.colour']),
      );
      const badId = await api.request('GET', '/v1/services/123', { key: a.agent });
      expect(badId.status).toBe(400);
      expect(fieldsOf(badId)).toEqual(['params.id']);
      const badFilter = await api.request('GET', '/v1/services?branchId=x&colour=red', { key: a.agent });
      expect(badFilter.status).toBe(400);
      expect(fieldsOf(badFilter)).toEqual(expect.arrayContaining(['query.branchId', 'query.colour']));
      const badPatch = await api.request('PATCH', `/v1/services/${dirA.service.id}`, { key: a.admin, body: { durationMinutes: 1.5 } });
      expect(fieldsOf(badPatch)).toEqual(['body.durationMinutes']);
    });

    it('needs admin to write, agent to read', async () => {
      const body = { branchId: dirA.branch.id, name: 'Nope' };
      expect((await api.request('POST', '/v1/services', { key: a.agent, body })).status).toBe(403);
      expect((await api.request('POST', '/v1/services', { key: a.manager, body })).status).toBe(403);
      expect((await api.request('PATCH', `/v1/services/${dirA.service.id}`, { key: a.manager, body: { name: 'Nope' } })).status).toBe(403);
      expect((await api.request('GET', '/v1/services', {})).status).toBe(401);
    });

    it("answers another company's services and branches with 404 and writes nothing", async () => {
      const before = await snapshot(api, a.id, b.id);
      const read = await api.request('GET', `/v1/services/${dirA.service.id}`, { key: b.agent });
      expect(read.status).toBe(404);
      expect(JSON.stringify(read.body)).not.toContain('Haircut');
      const patch = await api.request('PATCH', `/v1/services/${dirA.service.id}`, { key: b.admin, body: { name: 'Stolen' } });
      expect(patch.status).toBe(404);
      const list = await api.request('GET', `/v1/services?branchId=${dirA.branch.id}`, { key: b.agent });
      expect(list.status).toBe(404);
      const own = await api.request('GET', '/v1/services', { key: b.agent });
      expect(own.body.items.map((s: { branchId: string }) => s.branchId)).not.toContain(dirA.branch.id);
      const create = await api.request('POST', '/v1/services', { key: b.admin, body: { branchId: dirA.branch.id, name: 'Intruder' } });
      expect(create.status).toBe(404);
      const move = await api.request('PATCH', `/v1/services/${dirB.service.id}`, { key: b.admin, body: { branchId: dirA.branch.id } });
      expect(move.status).toBe(404);
      expect(await snapshot(api, a.id, b.id)).toEqual(before);
      expect((await api.request('GET', `/v1/services/${dirA.service.id}`, { key: a.agent })).body.name).toBe('Haircut');
      expect((await api.request('GET', `/v1/services/${dirB.service.id}`, { key: b.agent })).body.branchId).toBe(dirB.branch.id);
    });
  });

  describe('staff', () => {
    it('creates a staff member qualified for services of several branches, reads, lists and patches', async () => {
      const created = await api.request('POST', '/v1/staff', {
        key: a.admin,
        body: {
          branchId: dirA.branch.id,
          name: 'Dora',
          email: 'dora@example.com',
          phone: '+34 (600) 123-456',
          role: 'manager',
          available: false,
          timeZone: 'Europe/Madrid',
          serviceIds: [dirA.service.id, dirA.otherService.id, dirA.service.id],
        },
      });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.any(String),
        branchId: dirA.branch.id,
        name: 'Dora',
        email: 'dora@example.com',
        // Stored and returned in E.164, whatever was typed.
        phone: '+34600123456',
        role: 'manager',
        available: false,
        timeZone: 'Europe/Madrid',
        serviceIds: [dirA.service.id, dirA.otherService.id].sort(),
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const read = await api.request('GET', `/v1/staff/${created.body.id}`, { key: a.agent });
      expect(read.body).toEqual(created.body);

      const defaults = await api.request('GET', `/v1/staff/${dirA.staff.id}`, { key: a.agent });
      expect(defaults.body).toMatchObject({
        role: 'agent',
        available: true,
        timeZone: 'UTC',
        email: null,
        phone: null,
        serviceIds: [dirA.service.id],
      });

      const ids = async (query: string) => {
        const res = await api.request('GET', `/v1/staff${query}`, { key: a.agent });
        expect(res.status).toBe(200);
        return res.body.items.map((s: { id: string }) => s.id);
      };
      expect(await ids(`?branchId=${dirA.branch.id}`)).toEqual(expect.arrayContaining([dirA.staff.id, created.body.id]));
      expect(await ids(`?branchId=${dirA.branch.id}`)).not.toContain(dirA.otherStaff.id);
      expect(await ids('?role=manager')).toEqual(expect.arrayContaining([dirA.otherStaff.id, created.body.id]));
      expect(await ids('?role=manager')).not.toContain(dirA.staff.id);
      expect(await ids(`?branchId=${dirA.branch.id}&available=false`)).toEqual([created.body.id]);
      expect(await ids('?available=true')).not.toContain(created.body.id);

      const patched = await api.request('PATCH', `/v1/staff/${created.body.id}`, {
        key: a.admin,
        body: { available: true, serviceIds: [dirA.otherService.id] },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({
        name: 'Dora',
        role: 'manager',
        timeZone: 'Europe/Madrid',
        available: true,
        serviceIds: [dirA.otherService.id],
      });
      const renamed = await api.request('PATCH', `/v1/staff/${created.body.id}`, { key: a.admin, body: { name: 'Dora M.', email: null } });
      expect(renamed.body).toMatchObject({ name: 'Dora M.', email: null, serviceIds: [dirA.otherService.id] });
      const cleared = await api.request('PATCH', `/v1/staff/${created.body.id}`, { key: a.admin, body: { serviceIds: [] } });
      expect(cleared.body.serviceIds).toEqual([]);
      expect((await api.request('GET', `/v1/staff/${created.body.id}`, { key: a.agent })).body.serviceIds).toEqual([]);
    });

    it('names each bad field in a 400', async () => {
      const res = await api.request('POST', '/v1/staff', {
        key: a.admin,
        body: {
          branchId: dirA.branch.id,
          name: '',
          email: 'not-an-email',
          phone: 'call me',
          role: 'admin',
          available: 'yes',
          timeZone: 'Mars/Olympus',
          serviceIds: [dirA.service.id, 'nope'],
          salary: 1,
        },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_error');
      expect(fieldsOf(res).sort()).toEqual(
        [
          'body.name',
          'body.email',
          'body.phone',
          'body.role',
          'body.available',
          'body.timeZone',
          'body.serviceIds.1',
          'body.salary',
        ].sort(),
      );
      const query = await api.request('GET', '/v1/staff?available=maybe&role=admin', { key: a.agent });
      expect(query.status).toBe(400);
      expect(fieldsOf(query).sort()).toEqual(['query.available', 'query.role']);
      const badId = await api.request('PATCH', '/v1/staff/not-a-uuid', { key: a.admin, body: { name: 'x' } });
      expect(fieldsOf(badId)).toEqual(['params.id']);
    });

    it('needs admin to write, agent to read', async () => {
      const body = { branchId: dirA.branch.id, name: 'Nope' };
      expect((await api.request('POST', '/v1/staff', { key: a.agent, body })).status).toBe(403);
      expect((await api.request('POST', '/v1/staff', { key: a.manager, body })).status).toBe(403);
      const patch = await api.request('PATCH', `/v1/staff/${dirA.staff.id}`, { key: a.manager, body: { serviceIds: [] } });
      expect(patch.status).toBe(403);
      expect((await api.request('GET', `/v1/staff/${dirA.staff.id}`, { key: a.agent })).body.serviceIds).toEqual([dirA.service.id]);
    });

    it("answers another company's staff, branches and services with 404 and writes nothing", async () => {
      const before = await snapshot(api, a.id, b.id);
      expect((await api.request('GET', `/v1/staff/${dirA.staff.id}`, { key: b.admin })).status).toBe(404);
      expect(
        (await api.request('PATCH', `/v1/staff/${dirA.staff.id}`, { key: b.admin, body: { name: 'Stolen', serviceIds: [] } })).status,
      ).toBe(404);
      expect((await api.request('GET', `/v1/staff?branchId=${dirA.branch.id}`, { key: b.agent })).status).toBe(404);
      const own = await api.request('GET', '/v1/staff', { key: b.agent });
      expect(own.body.items.map((s: { id: string }) => s.id)).not.toContain(dirA.staff.id);

      const foreignBranch = await api.request('POST', '/v1/staff', { key: b.admin, body: { branchId: dirA.branch.id, name: 'Intruder' } });
      expect(foreignBranch.status).toBe(404);
      const foreignService = await api.request('POST', '/v1/staff', {
        key: b.admin,
        body: { branchId: dirB.branch.id, name: 'Intruder', serviceIds: [dirB.service.id, dirA.service.id] },
      });
      expect(foreignService.status).toBe(404);
      expect(foreignService.body.error.code).toBe('not_found');
      const move = await api.request('PATCH', `/v1/staff/${dirB.staff.id}`, { key: b.admin, body: { branchId: dirA.branch.id } });
      expect(move.status).toBe(404);
      expect(await snapshot(api, a.id, b.id)).toEqual(before);
      const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM staff WHERE name = 'Intruder'`);
      expect(rows[0].n).toBe(0);
    });

    it('replaces the services as a whole: a PATCH with one foreign service id changes nothing', async () => {
      const before = await snapshot(api, a.id, b.id);
      const original = (await api.request('GET', `/v1/staff/${dirB.staff.id}`, { key: b.agent })).body;
      const res = await api.request('PATCH', `/v1/staff/${dirB.staff.id}`, {
        key: b.admin,
        body: { name: 'Renamed', available: false, serviceIds: [dirB.otherService.id, dirA.service.id] },
      });
      expect(res.status).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain('Haircut');
      const after = (await api.request('GET', `/v1/staff/${dirB.staff.id}`, { key: b.agent })).body;
      expect(after).toEqual(original);
      expect(after.serviceIds).toEqual([dirB.service.id]);
      expect(await snapshot(api, a.id, b.id)).toEqual(before);
      // A service id that exists nowhere is refused the same way.
      const unknown = await api.request('PATCH', `/v1/staff/${dirB.staff.id}`, {
        key: b.admin,
        body: { serviceIds: ['00000000-0000-4000-8000-000000000000'] },
      });
      expect(unknown.status).toBe(404);
      expect((await api.request('GET', `/v1/staff/${dirB.staff.id}`, { key: b.agent })).body).toEqual(original);
    });
  });

  it('documents every directory route in the OpenAPI document', async () => {
    const doc = await api.request('GET', '/openapi.json');
    for (const resource of ['services', 'staff', 'customers', 'appointments']) {
      expect(Object.keys(doc.body.paths[`/v1/${resource}`])).toEqual(expect.arrayContaining(['get', 'post']));
      expect(Object.keys(doc.body.paths[`/v1/${resource}/{id}`])).toEqual(expect.arrayContaining(['get', 'patch']));
    }
    expect(doc.body.components.schemas.CreateStaff.additionalProperties).toBe(false);
  });
});
