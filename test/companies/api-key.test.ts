import { startTestApi, type TestApi } from '../support/api';
import { seedDirectory } from '../support/directory';

/** GET /v1/api-key: the key a request is made with (the console signs in with it). */
describe('the caller’s own API key', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api?.close());

  it('GET /v1/api-key answers the caller’s own key: role and staff member, never the secret; 401 without a key', async () => {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const own = await api.request('POST', '/v1/api-keys', {
      key: company.admin,
      body: { name: 'ana', role: 'agent', staffId: dir.staff.id },
    });
    const mine = await api.request('GET', '/v1/api-key', { key: own.body.key });
    expect(mine.status).toBe(200);
    expect(mine.body).toEqual({
      id: own.body.id,
      name: 'ana',
      role: 'agent',
      staffId: dir.staff.id,
      prefix: own.body.prefix,
      createdAt: own.body.createdAt,
      lastUsedAt: expect.any(String),
      revokedAt: null,
    });
    expect(JSON.stringify(mine.body)).not.toContain(own.body.key);
    const manager = await api.request('GET', '/v1/api-key', { key: company.manager });
    expect([manager.body.role, manager.body.staffId]).toEqual(['manager', null]);
    expect((await api.request('GET', '/v1/api-key')).status).toBe(401);
    await api.request('DELETE', `/v1/api-keys/${own.body.id}`, { key: company.admin });
    expect((await api.request('GET', '/v1/api-key', { key: own.body.key })).status).toBe(401);
  });
});
