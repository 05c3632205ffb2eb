import { NativeConnection } from '@temporalio/worker';
import { loadChannelConfig } from '../../src/channels/config';
import { createChannelRegistry } from '../../src/channels/registry';
import { startTestApi, type TestApi } from '../support/api';
import { startSmtpServer, type SmtpTestServer } from '../support/channel-servers';
import { logger, startTestWorker, type TestWorker } from '../support/workers';

/**
 * The whole chain on real servers: HTTP API -> Temporal (CLI dev server) -> worker -> activity ->
 * PostgreSQL and an SMTP server, then back out through the API and Temporal's visibility.
 */
describe('end to end: API -> Temporal -> worker -> activities -> Postgres + SMTP', () => {
  let api: TestApi;
  let smtp: SmtpTestServer;
  let connection: NativeConnection;
  let worker: TestWorker;

  beforeAll(async () => {
    api = await startTestApi();
    smtp = await startSmtpServer();
    connection = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    worker = await startTestWorker({
      connection,
      client: api.temporal,
      pool: api.pool,
      taskQueue: api.taskQueue,
      channels: createChannelRegistry(loadChannelConfig({ SMTP_URL: smtp.url }), logger),
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    await smtp?.close();
    await api?.close();
  });

  it('sends an email notification requested over HTTP and reports it through the API and Temporal', async () => {
    const company = await api.company();
    const branch = await api.request('POST', '/v1/branches', { key: company.admin, body: { name: 'Centro', timeZone: 'Europe/Madrid' } });
    const customer = await api.request('POST', '/v1/customers', {
      key: company.admin,
      body: { name: 'Lucía', email: 'lucia@example.test', timeZone: 'Europe/Madrid', homeBranchId: branch.body.id },
    });
    expect(customer.status).toBe(201);

    const sent = await api.request('POST', '/v1/notifications', {
      key: company.agent,
      body: { eventType: 'payment_received', notifiable: { type: 'customer', id: customer.body.id }, data: { amount: '25.00 EUR' } },
    });
    expect(sent.status).toBe(202);
    const id = sent.body.notification.id as string;
    expect(sent.body.notification.workflowId).toBe(`notification-${id}`);

    // The workflow's result is the end of the chain; then the API shows what Postgres recorded.
    await api.temporal.workflow.getHandle(`notification-${id}`).result();
    const read = await api.request('GET', `/v1/notifications/${id}`, { key: company.agent });
    expect(read.body.status).toBe('delivered');
    expect(read.body.attempts).toEqual([
      expect.objectContaining({ attemptNumber: 1, channel: 'email', status: 'sent', isFallback: false }),
    ]);
    expect(smtp.messages.filter((m) => m.to.includes('lucia@example.test'))).toHaveLength(1);

    // Another company sees nothing of it.
    const other = await api.company();
    expect((await api.request('GET', `/v1/notifications/${id}`, { key: other.agent })).status).toBe(404);

    // The run is findable by its search attributes (visibility is eventually consistent).
    const query = `CompanyId = '${company.id}' AND NotificationEventType = 'payment_received'`;
    let found: string[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      for await (const wf of api.temporal.workflow.list({ query })) found.push(wf.workflowId);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toEqual([`notification-${id}`]);
  });

  it('sends a batch: every item its own notification, delivered once; repeated with its key it creates nothing', async () => {
    const company = await api.company();
    const customers: string[] = [];
    for (let i = 0; i < 12; i++) {
      const c = await api.request('POST', '/v1/customers', {
        key: company.admin,
        body: { name: `Batch ${i}`, email: `batch${i}.${company.id}@example.test` },
      });
      customers.push(c.body.id);
    }
    const items = customers.map((id) => ({ eventType: 'customer_feedback_request', notifiable: { type: 'customer', id } }));
    const count = async () =>
      (await api.pool.query('SELECT count(*)::int AS n FROM notifications WHERE company_id = $1', [company.id])).rows[0].n;

    // Checked whole before anything is sent: a bad item or a foreign recipient sends nothing.
    const invalid = await api.request('POST', '/v1/notifications/batch', {
      key: company.agent,
      body: { items: [...items.slice(0, 3), { eventType: 'nope', notifiable: items[0].notifiable }] },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details.fields.map((f: { field: string }) => f.field)).toContain('body.items.3.eventType');
    const other = await api.company();
    const foreign = await api.request('POST', '/v1/notifications/batch', { key: other.agent, body: { items } });
    expect(foreign.status).toBe(404);
    expect(await count()).toBe(0);

    const sent = await api.request('POST', '/v1/notifications/batch', {
      key: company.agent,
      body: { items },
      headers: { 'idempotency-key': 'feedback-run-1' },
    });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ accepted: 12, replayed: 0, failed: 0 });
    for (const r of sent.body.results) await api.temporal.workflow.getHandle(r.workflowId).result();
    for (let i = 0; i < 12; i++) expect(smtp.messages.filter((m) => m.to.includes(`batch${i}.${company.id}@example.test`))).toHaveLength(1);

    const again = await api.request('POST', '/v1/notifications/batch', {
      key: company.agent,
      body: { items },
      headers: { 'idempotency-key': 'feedback-run-1' },
    });
    expect(again.body).toMatchObject({ accepted: 0, replayed: 12, failed: 0 });
    expect(again.body.results.map((r: { notificationId: string }) => r.notificationId)).toEqual(
      sent.body.results.map((r: { notificationId: string }) => r.notificationId),
    );
    expect(await count()).toBe(12);
  });
});
