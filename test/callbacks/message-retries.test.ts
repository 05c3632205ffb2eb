import { NativeConnection } from '@temporalio/worker';
import { startTestApi, type TestApi } from '../support/api';
import { seedDirectory } from '../support/directory';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { until } from '../support/until';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';

/**
 * Through the real API: a client that retries a callback message after a 503 (the update was
 * admitted, the answer did not come before the API's deadline because the worker was silent)
 * with the same Idempotency-Key reaches the same Temporal update, so the message is applied once
 * and the first answer is replayed. Also the words a customer reads in `callback_requested`.
 */
describe('callback messages with an Idempotency-Key', () => {
  let api: TestApi;
  let servers: ChannelServers;
  let proxy: TcpProxy;
  let native: NativeConnection;
  let worker: TestWorker;

  beforeAll(async () => {
    api = await startTestApi();
    servers = await startChannelServers();
    // The worker reaches Temporal through a proxy the test can stall (the API does not).
    const [host, port] = process.env.TEST_TEMPORAL_ADDRESS!.split(':');
    proxy = await startTcpProxy({ host, port: Number(port) });
    native = await NativeConnection.connect({ address: proxy.address });
    worker = await startTestWorker({
      connection: native,
      client: api.temporal,
      pool: api.pool,
      taskQueue: api.taskQueue,
      channels: testChannels(servers),
    });
  });
  afterAll(async () => {
    proxy?.forward();
    await worker?.stop();
    await native?.close();
    await proxy?.close();
    await servers?.close();
    await api?.close();
  });

  it('an attempt whose answer timed out (503) and is sent again with the same key is recorded once; the first answer is replayed', async () => {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const created = await api.request('POST', '/v1/callbacks', {
      key: company.manager,
      body: { branchId: dir.branch.id, customerId: dir.customer.id },
    });
    expect(created.status).toBe(201);
    const id = created.body.callback.id as string;
    await until('the assignment', async () => {
      const res = await api.request('GET', `/v1/callbacks/${id}`, { key: company.manager });
      return res.body.live?.assignedTo;
    });
    const send = (body: unknown) =>
      api.request('POST', `/v1/callbacks/${id}/attempts`, {
        key: company.manager,
        body,
        headers: { 'idempotency-key': 'attempt-1-evening-round' },
      });

    // The worker goes silent: Temporal admits the update, and the API's deadline passes first.
    proxy.stall();
    let first;
    try {
      first = await send({ outcome: 'no_answer', notes: 'rang out' });
    } finally {
      proxy.forward();
    }
    expect([first.status, first.body.error?.code]).toEqual([503, 'unavailable']);
    // The client retries with the same key: the same update, applied once.
    const retried = await send({ outcome: 'no_answer', notes: 'rang out' });
    expect(retried.status).toBe(200);
    expect(retried.body.callback.attemptCount).toBe(1);
    const again = await send({ outcome: 'no_answer', notes: 'rang out' });
    expect([again.status, again.body]).toEqual([200, retried.body]);
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM callback_attempts WHERE callback_id = $1`, [id]);
    expect(rows[0].n).toBe(1);
    // The workflow counted it once too.
    expect((await api.request('GET', `/v1/callbacks/${id}`, { key: company.manager })).body.live.failedAttemptsSinceEscalation).toBe(1);
    // The same key for another request is refused.
    const other = await send({ outcome: 'busy' });
    expect([other.status, other.body.error.code]).toEqual([409, 'idempotency_key_reused']);
    // A refusal is an answer too: replayed, not sent again.
    const completeTwice = (key: string) =>
      api.request('POST', `/v1/callbacks/${id}/complete`, { key: company.manager, body: {}, headers: { 'idempotency-key': key } });
    expect((await completeTwice('done-1')).status).toBe(200);
    const refused = await completeTwice('done-2');
    expect([refused.status, refused.body.error.code]).toEqual([409, 'invalid_transition']);
    expect(await completeTwice('done-2')).toMatchObject({ status: 409, body: refused.body });
    // A retry of the completion after the callback closed: still its first answer.
    expect((await completeTwice('done-1')).status).toBe(200);
  }, 90_000);

  it('callback_requested: the customer reads about their own request; staff read that a customer asked', async () => {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const post = async (path: string, body: unknown) => {
      const res = await api.request('POST', path, { key: company.admin, body });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    const customer = await post('/v1/customers', {
      name: 'Lucia',
      email: `lucia.${company.id}@example.test`,
      phone: '+34 600 222 333',
      homeBranchId: dir.branch.id,
    });
    const staff = await post('/v1/staff', { branchId: dir.branch.id, name: 'Nil', email: `nil.${company.id}@example.test` });
    const data = { customerName: 'Lucia', phoneNumber: '+34 600 222 333' };
    await post('/v1/notifications', { eventType: 'callback_requested', notifiable: { type: 'customer', id: customer.id }, data });
    await post('/v1/notifications', { eventType: 'callback_requested', notifiable: { type: 'staff', id: staff.id }, data });
    const mailTo = (address: string) =>
      until(`the email to ${address}`, async () => servers.smtp.messages.find((m) => m.to.includes(address)));
    /** The message's text as sent (quoted-printable soft line breaks joined). */
    const text = (m: { raw: string }) => m.raw.replace(/=\r?\n/g, '');
    const toCustomer = await mailTo(customer.email);
    expect(toCustomer.subject).toBe('We will call you back');
    expect(text(toCustomer)).toContain('Centro will call you back on +34 600 222 333');
    expect(text(toCustomer)).not.toMatch(/asked to be called back/);
    const toStaff = await mailTo(staff.email);
    expect(text(toStaff)).toContain('Lucia asked to be called back on +34 600 222 333');
  });
});
