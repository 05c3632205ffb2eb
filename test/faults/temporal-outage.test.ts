import { Client, Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { NativeConnection } from '@temporalio/worker';
import { loadChannelConfig } from '../../src/channels/config';
import { createChannelRegistry } from '../../src/channels/registry';
import { createActivities } from '../../activities';
import { startTestApi, type TestApi } from '../support/api';
import { startSmtpServer, type SmtpTestServer } from '../support/channel-servers';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { uniqueTaskQueue } from '../support/temporal';
import { logger, startTestWorker, type TestWorker } from '../support/workers';
import { until } from '../support/until';

/**
 * Temporal refused or slow (not refused: a TCP proxy that accepts and stalls) under the API. No
 * request holds a database connection, lock or transaction while it calls Temporal, so every other
 * route keeps answering; a new notification is committed and answered 202 within the start
 * deadline; once Temporal is back, a repeat with the same Idempotency-Key or the reconciler starts
 * its workflow, and it is delivered once.
 */
describe('Temporal down or slow under the API', () => {
  const taskQueue = uniqueTaskQueue('temporal-outage');
  let api: TestApi;
  let refusedApi: TestApi;
  let slowApi: TestApi;
  let proxy: TcpProxy;
  let slowConnection: Connection;
  let smtp: SmtpTestServer;
  let native: NativeConnection;
  let worker: TestWorker;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    api = await startTestApi({ taskQueue });
    // Nothing listens on port 1: every call fails as during an outage.
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '1s' }) });
    refusedApi = await startTestApi({ temporal: unreachable, taskQueue, startTimeoutMs: 1_500 });
    const [host, port] = process.env.TEST_TEMPORAL_ADDRESS!.split(':');
    proxy = await startTcpProxy({ host, port: Number(port) });
    slowConnection = await Connection.connect({ address: proxy.address });
    slowApi = await startTestApi({
      temporal: testClient(slowConnection),
      taskQueue,
      startTimeoutMs: 1_500,
    });
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    worker = await startTestWorker({
      connection: native,
      client: api.temporal,
      pool: api.pool,
      taskQueue,
      channels: createChannelRegistry(loadChannelConfig({ SMTP_URL: smtp.url }), logger),
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await native?.close();
    await slowApi?.close();
    await slowConnection?.close();
    await proxy?.close();
    await refusedApi?.close();
    await api?.close();
    await smtp?.close();
  });

  async function companyWithCustomer(name: string) {
    const company = await api.company();
    const customer = await api.request('POST', '/v1/customers', {
      key: company.admin,
      body: { name, email: `${name.toLowerCase()}@example.test` },
    });
    return { company, customerId: customer.body.id as string, email: `${name.toLowerCase()}@example.test` };
  }
  const rows = async (companyId: string) =>
    (await api.pool.query(`SELECT id, status FROM notifications WHERE company_id = $1 ORDER BY created_at`, [companyId])).rows;
  const delivered = (email: string) => smtp.messages.filter((m) => m.to.includes(email)).length;

  it('refused: 202 with the row committed, reads still work, and the same key later starts it: delivered once', async () => {
    const { company, customerId, email } = await companyWithCustomer('Nuria');
    const body = { eventType: 'payment_received', notifiable: { type: 'customer', id: customerId } };
    const res = await refusedApi.request('POST', '/v1/notifications', {
      key: company.agent,
      body,
      headers: { 'idempotency-key': 'outage-1' },
    });
    expect([res.status, res.body.error]).toEqual([202, undefined]);
    expect(res.body.notification).toMatchObject({ status: 'pending' });
    expect((await refusedApi.request('GET', `/v1/customers/${customerId}`, { key: company.agent })).status).toBe(200);
    expect(await rows(company.id)).toEqual([{ id: res.body.notification.id, status: 'pending' }]);

    const retried = await api.request('POST', '/v1/notifications', {
      key: company.agent,
      body,
      headers: { 'idempotency-key': 'outage-1' },
    });
    expect(retried.status).toBe(200); // a replay: the same notification
    expect(retried.body.notification.id).toBe(res.body.notification.id);
    await until('delivery', async () => (await rows(company.id))[0].status === 'delivered');
    expect(delivered(email)).toBe(1);
  });

  it('slow (accepts and stalls): other routes keep answering, creates answer 202 within the deadline, the reconciler delivers each once', async () => {
    const { company, customerId, email } = await companyWithCustomer('Oriol');
    const body = { eventType: 'payment_received', notifiable: { type: 'customer', id: customerId } };
    proxy.stall();
    try {
      const started = Date.now();
      const creating = Array.from({ length: 6 }, () =>
        slowApi.request('POST', '/v1/notifications', { key: company.agent, body }).then((r) => ({ ...r, ms: Date.now() - started })),
      );
      // Meanwhile the rest of the API answers, from the same pool of 5 connections.
      const reads: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t = Date.now();
        expect((await slowApi.request('GET', '/v1/branches', { key: company.agent })).status).toBe(200);
        reads.push(Date.now() - t);
      }
      const created = await Promise.all(creating);
      expect(created.map((r) => r.status)).toEqual(Array(6).fill(202));
      expect(Math.max(...created.map((r) => r.ms))).toBeLessThan(6_000);
      expect(Math.max(...reads)).toBeLessThan(1_000);
      expect((await rows(company.id)).map((r) => r.status)).toEqual(Array(6).fill('pending'));
    } finally {
      proxy.forward();
    }
    // Temporal answers again. Whatever the stalled requests did once released, the reconciler makes sure.
    const { reconcileOutbox } = createActivities({
      pool: api.pool,
      logger,
      channels: createChannelRegistry(loadChannelConfig({ SMTP_URL: smtp.url }), logger),
      client: api.temporal,
      taskQueue,
    });
    await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [company.id] });
    await until('six deliveries', async () => (await rows(company.id)).every((r) => r.status === 'delivered'));
    expect(delivered(email)).toBe(6);
  }, 60_000);
});
