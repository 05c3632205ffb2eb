import { NOTIFICATION_EVENT_TYPES } from '../../src/notifications/definitions';
import { startTestApi, type TestApi } from '../support/api';

/**
 * The notification routes' HTTP contract (validation, roles, isolation, idempotency). No worker
 * polls this file's task queue: the workflows start and wait, which is all these checks need.
 * Delivery itself is covered in test/notifications and test/e2e.
 */
describe('notification routes', () => {
  let api: TestApi;
  let company: Awaited<ReturnType<TestApi['company']>>;
  let customerId: string;
  let branchId: string;

  beforeAll(async () => {
    api = await startTestApi();
    company = await api.company();
    branchId = (await api.request('POST', '/v1/branches', { key: company.admin, body: { name: 'Centro' } })).body.id;
    customerId = (
      await api.request('POST', '/v1/customers', {
        key: company.admin,
        body: { name: 'Pau', email: 'pau@example.test', homeBranchId: branchId },
      })
    ).body.id;
  });
  afterAll(() => api.close());

  const send = (body: unknown, headers: Record<string, string> = {}, key = company.agent) =>
    api.request('POST', '/v1/notifications', { key, body, headers });

  it('lists the seeded event types', async () => {
    const res = await api.request('GET', '/v1/notification-events', { key: company.agent });
    expect(res.status).toBe(200);
    expect(res.body.items.map((e: { eventType: string }) => e.eventType).sort()).toEqual([...NOTIFICATION_EVENT_TYPES].sort());
    expect(res.body.items.find((e: { eventType: string }) => e.eventType === 'callback_escalated').isUrgent).toBe(true);
  });

  it('names each bad field of a notification request', async () => {
    const res = await send({ eventType: 'party_invite', notifiable: { type: 'customer', id: 'nope' }, colour: 'red' });
    expect(res.status).toBe(400);
    const fields = res.body.error.details.fields.map((f: { field: string }) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['body.eventType', 'body.notifiable.id', 'body.colour']));
  });

  it('answers 404 for another company’s recipient and writes nothing', async () => {
    const other = await api.company();
    const before = await api.pool.query('SELECT count(*)::int AS n FROM notifications WHERE company_id = $1', [other.id]);
    const res = await send({ eventType: 'payment_received', notifiable: { type: 'customer', id: customerId } }, {}, other.agent);
    expect(res.status).toBe(404);
    const after = await api.pool.query('SELECT count(*)::int AS n FROM notifications WHERE company_id = $1', [other.id]);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('honours Idempotency-Key: same body replays (200), another body conflicts (409)', async () => {
    const body = { eventType: 'payment_received', notifiable: { type: 'customer', id: customerId }, data: { amount: '10 EUR' } };
    const first = await send(body, { 'idempotency-key': 'pay-42' });
    expect(first.status).toBe(202);
    expect(first.headers.get('location')).toBe(`/v1/notifications/${first.body.notification.id}`);
    const again = await send(body, { 'idempotency-key': 'pay-42' });
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);
    expect(again.body.notification.id).toBe(first.body.notification.id);
    const different = await send({ ...body, data: { amount: '99 EUR' } }, { 'idempotency-key': 'pay-42' });
    expect(different.status).toBe(409);
    const { rows } = await api.pool.query('SELECT count(*)::int AS n FROM notifications WHERE company_id = $1 AND data->>$2 IS NOT NULL', [
      company.id,
      'amount',
    ]);
    expect(rows[0].n).toBe(1);
  });

  it('reads a notification only within its company; cancelling needs a manager', async () => {
    const created = await send({ eventType: 'customer_feedback_request', notifiable: { type: 'customer', id: customerId } });
    const id = created.body.notification.id;
    expect((await api.request('GET', `/v1/notifications/${id}`, { key: company.agent })).status).toBe(200);
    const other = await api.company();
    expect((await api.request('GET', `/v1/notifications/${id}`, { key: other.admin })).status).toBe(404);
    expect((await api.request('POST', `/v1/notifications/${id}/cancel`, { key: other.admin, body: {} })).status).toBe(404);
    expect((await api.request('POST', `/v1/notifications/${id}/cancel`, { key: company.agent, body: {} })).status).toBe(403);
    expect((await api.request('GET', '/v1/notifications/not-a-uuid', { key: company.agent })).body.error.details.fields[0].field).toBe(
      'params.id',
    );
  });

  it('validates notification configs: a fallback equal to the channel is rejected, naming the field', async () => {
    const res = await api.request('PUT', '/v1/notification-configs', {
      key: company.manager,
      body: {
        configurableType: 'branch',
        configurableId: branchId,
        eventType: 'payment_failed',
        channel: 'sms',
        fallbackChannel: 'sms',
        retryDelayMinutes: -1,
      },
    });
    expect(res.status).toBe(400);
    const fields = res.body.error.details.fields.map((f: { field: string }) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['body.fallbackChannel', 'body.retryDelayMinutes']));
    expect(
      (
        await api.request('PUT', '/v1/notification-configs', {
          key: company.agent,
          body: { configurableType: 'branch', configurableId: branchId, eventType: 'payment_failed' },
        })
      ).status,
    ).toBe(403);
  });

  it('sets a branch config (201, then 200) and resolves it with provenance', async () => {
    const body = { configurableType: 'branch', configurableId: branchId, eventType: 'payment_failed', channel: 'sms', retryCount: 2 };
    expect((await api.request('PUT', '/v1/notification-configs', { key: company.manager, body })).status).toBe(201);
    const replaced = await api.request('PUT', '/v1/notification-configs', { key: company.manager, body: { ...body, retryCount: 4 } });
    expect(replaced.status).toBe(200);
    expect(replaced.body.retryCount).toBe(4);
    const resolved = await api.request(
      'GET',
      `/v1/notification-configs/resolve?eventType=payment_failed&notifiableType=customer&notifiableId=${customerId}`,
      {
        key: company.agent,
      },
    );
    expect(resolved.status).toBe(200);
    expect(resolved.body.settings).toMatchObject({ channel: 'sms', retryCount: 4 });
    expect(resolved.body.provenance.channel.level).toBe('branch');
    expect(resolved.body.provenance.retryStrategy.level).toBe('default');
    const foreign = await api.company();
    const foreignPut = await api.request('PUT', '/v1/notification-configs', { key: foreign.manager, body });
    expect(foreignPut.status).toBe(404);
  });

  it('the channel order is a setting like the others: the company’s inherited by a branch, a branch’s own wins, each with its row', async () => {
    const put = (body: Record<string, unknown>) =>
      api.request('PUT', '/v1/notification-configs', { key: company.manager, body: { eventType: 'appointment_reminder_2h', ...body } });
    const resolve = async () =>
      (
        await api.request(
          'GET',
          `/v1/notification-configs/resolve?eventType=appointment_reminder_2h&notifiableType=customer&notifiableId=${customerId}`,
          { key: company.agent },
        )
      ).body;
    // The system default: phone channels, push, then email.
    expect((await resolve()).settings.channelOrder).toEqual(['sms', 'whatsapp', 'push', 'email']);
    const atCompany = await put({ configurableType: 'company', configurableId: company.id, channelOrder: ['push', 'email'] });
    expect([atCompany.status, atCompany.body.channelOrder]).toEqual([201, ['push', 'email']]);
    expect((await resolve()).provenance.channelOrder).toEqual({ level: 'company', configId: atCompany.body.id });
    const atBranch = await put({ configurableType: 'branch', configurableId: branchId, channelOrder: ['whatsapp'], retryCount: 1 });
    const resolved = await resolve();
    expect(resolved.settings).toMatchObject({ channelOrder: ['whatsapp'], retryCount: 1 });
    expect(resolved.provenance.channelOrder).toEqual({ level: 'branch', configId: atBranch.body.id });
    // Left out at the branch: the company's order again.
    await put({ configurableType: 'branch', configurableId: branchId, retryCount: 1 });
    expect((await resolve()).settings.channelOrder).toEqual(['push', 'email']);
    for (const channelOrder of [['sms', 'sms'], ['fax'], []]) {
      const bad = await put({ configurableType: 'company', configurableId: company.id, channelOrder });
      expect([bad.status, bad.body.error.details.fields.map((f: { field: string }) => f.field.replace(/\.\d+$/, ''))]).toEqual([
        400,
        ['body.channelOrder'],
      ]);
    }
  });

  it('serves analytics for a manager and rejects an inverted range naming query.from', async () => {
    const ok = await api.request('GET', '/v1/analytics/notifications', { key: company.manager });
    expect(ok.status).toBe(200);
    expect(ok.body.totals).toEqual(expect.objectContaining({ sent: expect.any(Number), failed: expect.any(Number) }));
    const bad = await api.request('GET', '/v1/analytics/notifications?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', {
      key: company.manager,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields[0].field).toBe('query.from');
    expect((await api.request('GET', '/v1/analytics/notifications', { key: company.agent })).status).toBe(403);
  });
});
