import { Client, Connection } from '@temporalio/client';
import { startTestApi, type TestApi } from '../support/api';

/**
 * Temporal unreachable: creating a notification answers 503 and leaves no row behind (the row is
 * only committed once its workflow has started); reads that need only Postgres keep working.
 */
describe('Temporal down under the API', () => {
  let api: TestApi;
  let downApi: TestApi;

  beforeAll(async () => {
    api = await startTestApi();
    // Nothing listens on port 1: every call to this client fails as a Temporal outage does.
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '1s' }) });
    downApi = await startTestApi({ temporal: unreachable });
  });
  afterAll(async () => {
    await downApi?.close();
    await api?.close();
  });

  it('answers 503 for a new notification and writes nothing; directory reads still work', async () => {
    const company = await api.company();
    const customer = await api.request('POST', '/v1/customers', {
      key: company.admin,
      body: { name: 'Núria', email: 'nuria@example.test' },
    });
    const count = async () =>
      (await api.pool.query('SELECT count(*)::int AS n FROM notifications WHERE company_id = $1', [company.id])).rows[0].n;

    const res = await downApi.request('POST', '/v1/notifications', {
      key: company.agent,
      body: { eventType: 'payment_received', notifiable: { type: 'customer', id: customer.body.id } },
      headers: { 'idempotency-key': 'outage-1' },
    });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('unavailable');
    expect(await count()).toBe(0);
    expect((await downApi.request('GET', `/v1/customers/${customer.body.id}`, { key: company.agent })).status).toBe(200);

    // The same request with the same key succeeds once Temporal is back: the key was not burnt.
    const retried = await api.request('POST', '/v1/notifications', {
      key: company.agent,
      body: { eventType: 'payment_received', notifiable: { type: 'customer', id: customer.body.id } },
      headers: { 'idempotency-key': 'outage-1' },
    });
    expect(retried.status).toBe(202);
    expect(await count()).toBe(1);
  });

  it('reports every batch item as failed (207) and writes nothing', async () => {
    const company = await api.company();
    const customer = await api.request('POST', '/v1/customers', {
      key: company.admin,
      body: { name: 'Oriol', email: 'oriol@example.test' },
    });
    const item = { eventType: 'payment_received', notifiable: { type: 'customer', id: customer.body.id } };
    const res = await downApi.request('POST', '/v1/notifications/batch', { key: company.agent, body: { items: [item, item] } });
    expect(res.status).toBe(207);
    expect(res.body).toMatchObject({ accepted: 0, failed: 2 });
    expect(res.body.results[0].error.code).toBe('unavailable');
    expect((await api.pool.query('SELECT count(*)::int AS n FROM notifications WHERE company_id = $1', [company.id])).rows[0].n).toBe(0);
  });
});
