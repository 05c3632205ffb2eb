import { startTestApi, type TestApi } from '../support/api';

/** Per-API-key request limit: 429 with the API's error body and Retry-After; other keys unaffected. */
describe('API rate limit per key', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ rateLimitPerMinute: 5 });
  });
  afterAll(() => api.close());

  it('answers 429 after the limit, per key', async () => {
    const company = await api.company(); // uses the platform token (not limited) and the admin key twice
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await api.request('GET', '/v1/branches', { key: company.agent })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await api.request('GET', '/v1/branches', { key: company.agent });
    expect(limited.body.error).toMatchObject({ code: 'rate_limited', details: { limit: 5, windowSeconds: 60 } });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await api.request('GET', '/v1/branches', { key: company.manager })).status).toBe(200);
    expect((await api.request('GET', '/health')).status).toBe(200);
  });
});
