import { startTestApi, PLATFORM_TOKEN, type TestApi } from '../support/api';

describe('API skeleton (real Postgres, real Temporal)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('creates a company with the platform token and returns its first admin key', async () => {
    const res = await api.request('POST', '/v1/companies', { key: PLATFORM_TOKEN, body: { name: 'Salon Uno', timeZone: 'Europe/Madrid' } });
    expect(res.status).toBe(201);
    expect(res.body.company).toMatchObject({ name: 'Salon Uno', timeZone: 'Europe/Madrid' });
    expect(res.body.apiKey.key).toMatch(/^ak_[0-9a-f]{8}_/);
    expect(res.body.apiKey.role).toBe('admin');
    const { rows } = await api.pool.query('SELECT key_hash FROM api_keys WHERE id = $1', [res.body.apiKey.id]);
    expect(rows[0].key_hash).not.toContain(res.body.apiKey.key);
    const me = await api.request('GET', '/v1/company', { key: res.body.apiKey.key });
    expect(me.body.id).toBe(res.body.company.id);
  });

  it('records when a key was last used, and stops accepting a revoked key', async () => {
    const company = await api.company();
    const before = (await api.request('GET', '/v1/api-keys', { key: company.admin })).body.items;
    const agentKey = before.find((k: { role: string }) => k.role === 'agent');
    expect(agentKey.lastUsedAt).toBeNull();
    expect((await api.request('GET', '/v1/company', { key: company.agent })).status).toBe(200);
    const after = (await api.request('GET', '/v1/api-keys', { key: company.admin })).body.items;
    expect(after.find((k: { id: string }) => k.id === agentKey.id).lastUsedAt).toEqual(expect.any(String));
    expect((await api.request('DELETE', `/v1/api-keys/${agentKey.id}`, { key: company.admin })).status).toBe(204);
    expect((await api.request('GET', '/v1/company', { key: company.agent })).status).toBe(401);
  });

  it('refuses company creation without the platform token', async () => {
    const res = await api.request('POST', '/v1/companies', { key: 'wrong', body: { name: 'X' } });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });

  it('names each bad field in a 400', async () => {
    const res = await api.request('POST', '/v1/companies', { key: PLATFORM_TOKEN, body: { name: '', timeZone: 'Mars/Olympus', extra: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_error');
    const fields = res.body.error.details.fields.map((f: { field: string }) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['body.name', 'body.timeZone']));
  });

  it('answers malformed JSON with 400, an oversized body with 413, an unknown route with 404 JSON', async () => {
    const malformed = await api.request('POST', '/v1/companies', { key: PLATFORM_TOKEN, raw: '{"name": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('malformed_json');
    const big = await api.request('POST', '/v1/companies', { key: PLATFORM_TOKEN, body: { name: 'x'.repeat(200_000) } });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    const unknown = await api.request('GET', '/v1/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
  });

  it('enforces roles and isolates companies', async () => {
    const a = await api.company();
    const b = await api.company();
    const asAgent = await api.request('POST', '/v1/branches', { key: a.agent, body: { name: 'Nope' } });
    expect(asAgent.status).toBe(403);
    const branch = await api.request('POST', '/v1/branches', { key: a.admin, body: { name: 'Centro' } });
    expect(branch.status).toBe(201);
    expect((await api.request('GET', `/v1/branches/${branch.body.id}`, { key: a.agent })).status).toBe(200);
    const foreign = await api.request('GET', `/v1/branches/${branch.body.id}`, { key: b.admin });
    expect(foreign.status).toBe(404);
    const foreignPatch = await api.request('PATCH', `/v1/branches/${branch.body.id}`, { key: b.admin, body: { name: 'Stolen' } });
    expect(foreignPatch.status).toBe(404);
    const list = await api.request('GET', '/v1/branches', { key: b.admin });
    expect(list.body.items).toEqual([]);
    expect((await api.request('GET', '/v1/branches', { key: 'ak_nope' })).status).toBe(401);
  });

  it('serves health, readiness, metrics, the OpenAPI document and its UI', async () => {
    expect((await api.request('GET', '/health')).body).toEqual({ status: 'ok' });
    const ready = await api.request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ok: true, problems: [] });
    const metrics = await api.request('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('http_requests_total');
    const doc = await api.request('GET', '/openapi.json');
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/companies', '/v1/branches/{id}', '/health/ready']));
    const docs = await fetch(`${api.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger-ui');
  });
});
