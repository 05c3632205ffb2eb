import { randomUUID } from 'node:crypto';
import { createFeatureSwitches } from '../../src/companies/features';
import { startTestApi, type TestApi } from '../support/api';
import { testPool } from '../support/database';
import { seedDirectory, type Directory, type TestCompany } from '../support/directory';
import type { ChannelServers } from '../support/workers';
import { until } from '../support/until';
import { startApiStack, type ApiStack } from '../support/stack';

/**
 * Feature switches per company (PUT/GET /v1/company/features) on the real API, PostgreSQL, the
 * shared dev server and a worker: a feature switched off answers 409 `feature_disabled` on the
 * routes that start its work and writes and starts nothing; only an admin switches; another
 * company is not affected; work already running goes on; a second API process (its own cache)
 * sees the change within FEATURE_CACHE_TTL_SECONDS.
 */
describe('feature switches per company', () => {
  let stack: ApiStack;
  let api: TestApi;
  let servers: ChannelServers;

  beforeAll(async () => {
    stack = await startApiStack();
    ({ api, servers } = stack);
  });
  afterAll(() => stack?.close());

  const setFeatures = (company: TestCompany, body: unknown, key = company.admin) =>
    api.request('PUT', '/v1/company/features', { key, body });
  const rows = async (table: string, companyId: string) =>
    (await api.pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE company_id = $1`, [companyId])).rows[0].n as number;
  /** Workflows Temporal has for the company (visibility lags a little: asked twice, a second apart). */
  async function workflowsOf(companyId: string, extra = ''): Promise<number> {
    await new Promise((r) => setTimeout(r, 1_000));
    return (await api.temporal.workflow.count(`CompanyId = "${companyId}"${extra}`)).count;
  }
  async function book(company: TestCompany, dir: Directory) {
    const startsAt = new Date(Date.now() + 7 * 24 * 3_600_000);
    const res = await api.request('POST', '/v1/appointments', {
      key: company.manager,
      body: {
        customerId: dir.customer.id,
        branchId: dir.branch.id,
        serviceId: dir.service.id,
        staffId: dir.staff.id,
        startsAt: startsAt.toISOString(),
        endsAt: new Date(startsAt.getTime() + 45 * 60_000).toISOString(),
      },
    });
    expect(res.status).toBe(201);
    return res.body as { id: string };
  }
  const newCallback = (company: TestCompany, dir: Directory) =>
    api.request('POST', '/v1/callbacks', {
      key: company.agent,
      body: { branchId: dir.branch.id, customerId: dir.customer.id, priority: 'normal' },
    });
  const newNotification = (company: TestCompany, dir: Directory) =>
    api.request('POST', '/v1/notifications', {
      key: company.agent,
      body: { eventType: 'payment_received', notifiable: { type: 'customer', id: dir.customer.id }, data: { amount: '10.00 EUR' } },
    });

  it('GET shows every feature on by default; only an admin may switch (403 for agent and manager keys, nothing written)', async () => {
    const company = await api.company();
    const read = await api.request('GET', '/v1/company/features', { key: company.manager });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      policies: { enabled: true, override: null, default: true },
      callbacks: { enabled: true, override: null, default: true },
      notifications: { enabled: true, override: null, default: true },
      updatedAt: null,
    });
    for (const key of [company.agent, company.manager]) {
      const refused = await setFeatures(company, { callbacks: false }, key);
      expect(refused.status).toBe(403);
    }
    expect(await rows('company_features', company.id)).toBe(0);
    const bad = await setFeatures(company, { callbacks: 'off', sms: true });
    expect(bad.status).toBe(400);

    const off = await setFeatures(company, { callbacks: false });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ callbacks: { enabled: false, override: false, default: true }, policies: { enabled: true } });
    expect(off.body.updatedBy).toMatch(/^api_key:/);
    // null: back to the deployment's default.
    const back = await setFeatures(company, { callbacks: null });
    expect(back.body).toMatchObject({ callbacks: { enabled: true, override: null } });
  });

  it('callbacks off: POST /v1/callbacks is 409 feature_disabled, no row and no workflow; another company still creates', async () => {
    const [company, other] = await Promise.all([api.company(), api.company()]);
    const [dir, otherDir] = await Promise.all([seedDirectory(api, company), seedDirectory(api, other)]);
    expect((await setFeatures(company, { callbacks: false })).status).toBe(200);

    const refused = await newCallback(company, dir);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'feature_disabled', details: { feature: 'callbacks' } });
    expect(await rows('callback_requests', company.id)).toBe(0);

    const created = await newCallback(other, otherDir);
    expect(created.status).toBe(201);
    expect(await rows('callback_requests', other.id)).toBe(1);
    // The visibility query finds the other company's workflow (so it would find one of this company).
    await until('the other company’s callback in visibility', async () => (await workflowsOf(other.id)) > 0);
    expect(await workflowsOf(company.id)).toBe(0);
  });

  it('notifications off: POST /v1/notifications (one and batch) is 409 feature_disabled, no row and no workflow; another company still sends', async () => {
    const [company, other] = await Promise.all([api.company(), api.company()]);
    const [dir, otherDir] = await Promise.all([seedDirectory(api, company), seedDirectory(api, other)]);
    expect((await setFeatures(company, { notifications: false })).status).toBe(200);

    const refused = await newNotification(company, dir);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'feature_disabled', details: { feature: 'notifications' } });
    const batch = await api.request('POST', '/v1/notifications/batch', {
      key: company.agent,
      body: { items: [{ eventType: 'payment_received', notifiable: { type: 'customer', id: dir.customer.id } }] },
    });
    expect(batch.status).toBe(409);
    expect(batch.body.error.code).toBe('feature_disabled');
    expect(await rows('notifications', company.id)).toBe(0);

    const sent = await newNotification(other, otherDir);
    expect(sent.status).toBe(202);
    await until('the other company’s notification in visibility', async () => (await workflowsOf(other.id)) > 0);
    expect(await workflowsOf(company.id)).toBe(0);
  });

  it('policies off: cancel, reschedule and the quote are 409 feature_disabled; the appointment, its records and notifications are untouched', async () => {
    const [company, other] = await Promise.all([api.company(), api.company()]);
    const [dir, otherDir] = await Promise.all([seedDirectory(api, company), seedDirectory(api, other)]);
    const appointment = await book(company, dir);
    const otherAppointment = await book(other, otherDir);
    expect((await setFeatures(company, { policies: false })).status).toBe(200);
    const before = (await api.pool.query(`SELECT status, starts_at FROM appointments WHERE id = $1`, [appointment.id])).rows[0];

    const answers = [
      await api.request('POST', `/v1/appointments/${appointment.id}/cancel`, { key: company.agent, body: {} }),
      await api.request('POST', `/v1/appointments/${appointment.id}/reschedule`, {
        key: company.agent,
        body: { startsAt: new Date(Date.now() + 8 * 24 * 3_600_000).toISOString() },
      }),
      await api.request('GET', `/v1/appointments/${appointment.id}/cancellation-quote`, { key: company.agent }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'feature_disabled', details: { feature: 'policies' } });
    }
    expect((await api.pool.query(`SELECT status, starts_at FROM appointments WHERE id = $1`, [appointment.id])).rows[0]).toEqual(before);
    expect(await rows('appointment_modifications', company.id)).toBe(0);
    // The engine's notifications only: the booking's own message comes from the appointment's workflow.
    const ENGINE_EVENTS = `('appointment_cancelled', 'appointment_rescheduled', 'policy_violation')`;
    const engineNotifications = await api.pool.query(
      `SELECT count(*)::int AS n FROM notifications WHERE company_id = $1 AND event_type IN ${ENGINE_EVENTS}`,
      [company.id],
    );
    expect(engineNotifications.rows[0].n).toBe(0);
    expect(await workflowsOf(company.id, ` AND NotificationEventType IN ${ENGINE_EVENTS}`)).toBe(0);

    // The other company cancels through the policy engine as usual.
    const cancelled = await api.request('POST', `/v1/appointments/${otherAppointment.id}/cancel`, { key: other.agent, body: {} });
    expect(cancelled.status).toBe(200);
  });

  it('switching off never disturbs running work: a callback started before goes on to its end', async () => {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const created = await newCallback(company, dir);
    expect(created.status).toBe(201);
    const id = created.body.callback.id as string;
    await until('the callback workflow running', async () => (await api.temporal.workflow.getHandle(`callback-${id}`).describe()).status);

    expect((await setFeatures(company, { callbacks: false, notifications: false, policies: false })).status).toBe(200);
    // Reading it and messages to it still work; the workflow ends as usual.
    expect((await api.request('GET', `/v1/callbacks/${id}`, { key: company.agent })).status).toBe(200);
    const done = await api.request('POST', `/v1/callbacks/${id}/complete`, { key: company.manager, body: { notes: 'called back' } });
    expect(done.status).toBeLessThan(300);
    expect(await api.temporal.workflow.getHandle(`callback-${id}`).result()).toMatchObject({ status: 'completed' });
    expect((await api.pool.query(`SELECT status FROM callback_requests WHERE id = $1`, [id])).rows[0].status).toBe('completed');
    // New work is refused.
    expect((await newCallback(company, dir)).status).toBe(409);
  });

  it('another API process (its own cache) sees a change within FEATURE_CACHE_TTL_SECONDS, both ways', async () => {
    const ttlMs = 1_000;
    // Another process: its own pool and its own switches (a 1 s TTL here; 5 s by default).
    const otherPool = testPool();
    const other = await startTestApi({ taskQueue: api.taskQueue, features: createFeatureSwitches({ db: otherPool, ttlMs }) });
    try {
      const company = await api.company();
      const dir = await seedDirectory(api, company);
      // Primes the other process's cache with "on".
      expect((await other.request('POST', '/v1/notifications', notificationBody(company, dir))).status).toBe(202);

      const changedAt = Date.now();
      expect((await setFeatures(company, { notifications: false })).status).toBe(200);
      // This process forgets at once.
      expect((await newNotification(company, dir)).status).toBe(409);
      await until('the other process refusing', async () => {
        const res = await other.request('POST', '/v1/notifications', notificationBody(company, dir));
        return res.status === 409 ? res : undefined;
      });
      expect(Date.now() - changedAt).toBeLessThan(ttlMs + 3_000);

      expect((await setFeatures(company, { notifications: true })).status).toBe(200);
      const onAgain = await until('the other process accepting again', async () => {
        const res = await other.request('POST', '/v1/notifications', notificationBody(company, dir));
        return res.status === 202 ? res : undefined;
      });
      expect(onAgain.body.notification.id).toBeDefined();
    } finally {
      await other.close();
      await otherPool.end();
    }
  });

  const notificationBody = (company: TestCompany, dir: Directory) => ({
    key: company.agent,
    headers: { 'idempotency-key': randomUUID() },
    body: { eventType: 'payment_received', notifiable: { type: 'customer', id: dir.customer.id } },
  });
});
