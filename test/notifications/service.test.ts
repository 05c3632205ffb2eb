import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../../src/errors';
import { createNotificationService } from '../../src/notifications/service';
import type { SendNotificationInput } from '../../src/notifications/schemas';
import { CompanyId, NotificationChannel, NotificationEventType, NotificationStatus } from '../../src/temporal/search-attribute-keys';
import { testPool } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { sharedTemporal } from '../support/temporal';
import {
  attemptsOf,
  logger,
  resultOf,
  startChannelServers,
  startRig,
  testChannels,
  type ChannelServers,
  type NotificationRig,
} from '../support/workers';

/** The service the routes wrap, on the suite's real Temporal dev server and PostgreSQL. */
describe('notification service (Temporal dev server)', () => {
  const pool = testPool();
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;
  let rig: NotificationRig;
  let org: Organisation;
  let other: Organisation;

  beforeAll(async () => {
    [env, servers] = await Promise.all([sharedTemporal(), startChannelServers()]);
    rig = await startRig({ connection: env.nativeConnection, client: env.client, pool, channels: testChannels(servers) });
    [org, other] = [await createOrganisation(pool), await createOrganisation(pool)];
  });
  afterEach(() => servers.smtp.refuseAll(null));
  afterAll(async () => {
    await rig?.stop();
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  const body = (over: Partial<SendNotificationInput> = {}): SendNotificationInput => ({
    eventType: 'appointment_created',
    notifiable: { type: 'appointment', id: org.appointmentId },
    ...over,
  });
  const rowsOf = async (companyId: string) =>
    (await pool.query(`SELECT id FROM notifications WHERE company_id = $1`, [companyId])).rows.map((r) => r.id);

  it('creates the row and its workflow (id notification-<id>, search attributes) and delivers', async () => {
    const { created, notification } = await rig.service.sendNotification(org.companyId, body({ data: { note: 'hi' } }));
    expect(created).toBe(true);
    expect(notification).toMatchObject({
      companyId: org.companyId,
      eventType: 'appointment_created',
      workflowId: `notification-${notification.id}`,
      data: { note: 'hi' },
    });
    expect(await resultOf(env.client, notification.id)).toMatchObject({ status: 'delivered' });
    const described = await env.client.workflow.getHandle(notification.workflowId).describe();
    expect(described.typedSearchAttributes.get(CompanyId)).toBe(org.companyId);
    expect(described.typedSearchAttributes.get(NotificationEventType)).toBe('appointment_created');
    expect(described.typedSearchAttributes.get(NotificationChannel)).toBe('email');
    expect(described.typedSearchAttributes.get(NotificationStatus)).toBe('delivered');
    const view = await rig.service.getNotification(org.companyId, notification.id);
    expect(view).toMatchObject({
      status: 'delivered',
      live: null,
      attempts: [{ attemptNumber: 1, channel: 'email', status: 'sent', mayHaveSent: false }],
    });
    expect(view.resolvedConfig?.provenance.channel.level).toBe('default');
    expect(view.attempts[0].latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('shows the live state of a running notification and cancels it while it waits', async () => {
    servers.smtp.refuseAll({ code: 451 });
    const { notification } = await rig.service.sendNotification(org.companyId, body());
    let view = await rig.service.getNotification(org.companyId, notification.id);
    for (let i = 0; i < 200 && view.status !== 'waiting'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      view = await rig.service.getNotification(org.companyId, notification.id);
    }
    expect(view.live).toMatchObject({ status: 'waiting', waitingFor: 'retry', channel: 'email', cancelRequested: false });
    expect(new Date(view.live!.waitingUntil!).getTime() - Date.now()).toBeGreaterThan(4 * 60_000);
    const cancelled = await rig.service.cancelNotification(org.companyId, notification.id);
    expect(cancelled).toMatchObject({ outcome: 'cancelled', notification: { status: 'cancelled', statusReason: 'cancelled on request' } });
    expect((await env.client.workflow.getHandle(notification.workflowId).describe()).typedSearchAttributes.get(NotificationStatus)).toBe(
      'cancelled',
    );
  });

  it('a cancel answers at once while an attempt is in flight (cancel_requested), and the attempt decides', async () => {
    // The attempt gets through: delivered, although a cancel was requested meanwhile.
    let held = servers.smtp.hold();
    const first = (await rig.service.sendNotification(org.companyId, body())).notification;
    await held.arrived;
    let t = Date.now();
    const requested = await rig.service.cancelNotification(org.companyId, first.id, 'changed my mind');
    expect(Date.now() - t).toBeLessThan(2_500);
    expect(requested).toMatchObject({ outcome: 'cancel_requested', notification: { live: { cancelRequested: true, status: 'sending' } } });
    held.release();
    expect(await resultOf(env.client, first.id)).toMatchObject({ status: 'delivered' });

    // The attempt fails: cancelled, with no retry.
    held = servers.smtp.hold();
    servers.smtp.refuseNext({ code: 451 });
    const second = (await rig.service.sendNotification(org.companyId, body())).notification;
    await held.arrived;
    t = Date.now();
    expect((await rig.service.cancelNotification(org.companyId, second.id, 'changed my mind')).outcome).toBe('cancel_requested');
    expect(Date.now() - t).toBeLessThan(2_500);
    held.release();
    expect(await resultOf(env.client, second.id)).toMatchObject({ status: 'cancelled', reason: 'changed my mind', attempts: 1 });
    expect(await attemptsOf(pool, second.id)).toHaveLength(1);
  });

  it('honours an Idempotency-Key: same body -> the same notification, another body -> conflict', async () => {
    const key = `idem-${randomUUID()}`;
    const before = servers.smtp.messages.length;
    const first = await rig.service.sendNotification(org.companyId, body({ data: { a: 1, b: 2 } }), key);
    // Same body, keys in another order: the same request.
    const again = await rig.service.sendNotification(
      org.companyId,
      { data: { b: 2, a: 1 }, notifiable: { id: org.appointmentId, type: 'appointment' }, eventType: 'appointment_created' },
      key,
    );
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.notification.id).toBe(first.notification.id);
    await expect(rig.service.sendNotification(org.companyId, body({ data: { a: 2 } }), key)).rejects.toMatchObject({
      code: 'idempotency_key_reused',
    });
    await expect(rig.service.sendNotification(org.companyId, body({ data: { a: 2 } }), key)).rejects.toBeInstanceOf(ConflictError);
    await resultOf(env.client, first.notification.id);
    expect(servers.smtp.messages.length).toBe(before + 1);
    // The key belongs to the company: another company may use the same key.
    const elsewhere = await rig.service.sendNotification(
      other.companyId,
      { ...body(), notifiable: { type: 'customer', id: other.customerId }, eventType: 'payment_received' },
      key,
    );
    expect(elsewhere.created).toBe(true);
  });

  it('concurrent requests with one Idempotency-Key create one notification and one workflow', async () => {
    const o = await createOrganisation(pool);
    const key = `race-${randomUUID()}`;
    const req: SendNotificationInput = { eventType: 'payment_received', notifiable: { type: 'customer', id: o.customerId } };
    const results = await Promise.all(Array.from({ length: 8 }, () => rig.service.sendNotification(o.companyId, req, key)));
    expect(new Set(results.map((r) => r.notification.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await rowsOf(o.companyId)).toEqual([results[0].notification.id]);
  });

  it("another company's ids are not found, and a request naming them writes nothing", async () => {
    const mine = (await rig.service.sendNotification(org.companyId, body())).notification.id;
    await expect(rig.service.getNotification(other.companyId, mine)).rejects.toBeInstanceOf(NotFoundError);
    await expect(rig.service.cancelNotification(other.companyId, mine)).rejects.toBeInstanceOf(NotFoundError);
    await expect(rig.service.getNotification(org.companyId, 'not-a-uuid')).rejects.toBeInstanceOf(NotFoundError);
    const before = await rowsOf(org.companyId);
    await expect(
      rig.service.sendNotification(org.companyId, body({ notifiable: { type: 'appointment', id: other.appointmentId } })),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      rig.service.sendNotification(org.companyId, body({ notifiable: { type: 'staff', id: other.staffId } })),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(await rowsOf(org.companyId)).toEqual(before);
    await resultOf(env.client, mine);
  });

  it('Temporal refusing the start: the row is committed, and a repeat or the reconciler starts its workflow (no row without a workflow)', async () => {
    const o = await createOrganisation(pool);
    const broken = createNotificationService({
      pool,
      client: new Client({ connection: env.connection, namespace: `missing-${randomUUID()}` }),
      taskQueue: rig.taskQueue,
      logger,
    });
    const request: SendNotificationInput = { eventType: 'payment_received', notifiable: { type: 'customer', id: o.customerId } };
    const key = `down-${randomUUID()}`;
    const accepted = await broken.sendNotification(o.companyId, request, key);
    expect(accepted).toMatchObject({ created: true, notification: { status: 'pending' } });
    const exists = (id: string) =>
      env.client.workflow
        .getHandle(`notification-${id}`)
        .describe()
        .then(
          () => true,
          () => false,
        );
    expect(await exists(accepted.notification.id)).toBe(false);

    // The client repeats the request (same key) once Temporal answers: the same notification, now started.
    const repeated = await rig.service.sendNotification(o.companyId, request, key);
    expect(repeated).toMatchObject({ created: false, notification: { id: accepted.notification.id } });
    expect(await resultOf(env.client, accepted.notification.id)).toMatchObject({ status: 'delivered' });

    // Nobody repeats this one: the reconciler finds the committed row and starts its workflow.
    const orphan = await broken.sendNotification(o.companyId, request);
    expect(await exists(orphan.notification.id)).toBe(false);
    const { reconcileOutbox } = createActivities({
      pool,
      logger,
      channels: testChannels(servers),
      client: env.client,
      taskQueue: rig.taskQueue,
    });
    const reconciled = await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [o.companyId] });
    expect(reconciled.started).toEqual([`notification-${orphan.notification.id}`]);
    expect(await resultOf(env.client, orphan.notification.id)).toMatchObject({ status: 'delivered' });
    expect(await attemptsOf(pool, orphan.notification.id)).toHaveLength(1);
    // Idempotent: nothing left to start.
    expect((await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [o.companyId] })).started).toEqual([]);
  });

  it('a commit that fails starts no workflow (no workflow without a row)', async () => {
    const o = await createOrganisation(pool);
    // A deferred constraint trigger refuses this company's notifications at COMMIT, after every statement succeeded.
    const fn = `refuse_commit_${randomUUID().replace(/-/g, '')}`;
    await pool.query(
      `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.company_id = '${o.companyId}' THEN RAISE EXCEPTION 'commit refused'; END IF; RETURN NULL; END $$`,
    );
    await pool.query(
      `CREATE CONSTRAINT TRIGGER ${fn} AFTER INSERT ON notifications DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
    );
    try {
      const error = await rig.service
        .sendNotification(o.companyId, { eventType: 'payment_received', notifiable: { type: 'customer', id: o.customerId } })
        .catch((e) => e);
      expect(String(error.message)).toContain('commit refused');
    } finally {
      await pool.query(`DROP TRIGGER ${fn} ON notifications`);
      await pool.query(`DROP FUNCTION ${fn}()`);
    }
    expect(await rowsOf(o.companyId)).toEqual([]);
    // Visibility is eventually consistent: give it time to show a workflow, were there one.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await env.client.workflow.count(`CompanyId = '${o.companyId}'`)).toMatchObject({ count: 0 });
  });

  it('reports sent, failed and fallback counts and p50/p95 latency per event and channel', async () => {
    const a = await createOrganisation(pool);
    const b = await createOrganisation(pool);
    const t0 = new Date('2026-03-01T10:00:00Z');
    let seq = 0;
    async function delivery(
      o: Organisation,
      event: string,
      channel: string,
      status: string,
      latency: number | null,
      isFallback = false,
      at = t0,
    ) {
      const n = randomUUID();
      await pool.query(
        `INSERT INTO notifications (id, company_id, event_type, notifiable_type, notifiable_id, workflow_id, status) VALUES ($1, $2, $3, 'customer', $4, $5, 'delivered')`,
        [n, o.companyId, event, o.customerId, `notification-${n}`],
      );
      await pool.query(
        `INSERT INTO notification_deliveries (company_id, notification_id, event_type, channel, provider, recipient, attempt_number, is_fallback, status, idempotency_key, provider_key, started_at, latency_ms)
         VALUES ($1, $2, $3, $4, 'p', 'r', 1, $5, $6, $7, $7, $8, $9)`,
        [o.companyId, n, event, channel, isFallback, status, `${n}:1:p:${++seq}`, at, latency],
      );
    }
    for (const ms of [100, 200, 300, 400]) await delivery(a, 'payment_received', 'email', 'sent', ms);
    await delivery(a, 'payment_received', 'email', 'failed', 5);
    await delivery(a, 'payment_received', 'email', 'failed', 7);
    await delivery(a, 'payment_failed', 'sms', 'sent', 50, true);
    await delivery(a, 'payment_failed', 'email', 'sending', null);
    await delivery(a, 'payment_received', 'email', 'sent', 9_999, false, new Date('2026-02-01T00:00:00Z')); // outside the range
    await delivery(b, 'payment_received', 'email', 'sent', 9_999); // another company

    const report = await rig.service.notificationAnalytics(a.companyId, {
      from: new Date('2026-03-01T00:00:00Z'),
      to: new Date('2026-03-02T00:00:00Z'),
    });
    expect(report).toEqual({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-02T00:00:00.000Z',
      rows: [
        {
          eventType: 'payment_failed',
          channel: 'email',
          sent: 0,
          failed: 0,
          fallback: 0,
          sending: 1,
          latencyP50Ms: null,
          latencyP95Ms: null,
        },
        { eventType: 'payment_failed', channel: 'sms', sent: 1, failed: 0, fallback: 1, sending: 0, latencyP50Ms: 50, latencyP95Ms: 50 },
        {
          eventType: 'payment_received',
          channel: 'email',
          sent: 4,
          failed: 2,
          fallback: 0,
          sending: 0,
          latencyP50Ms: 250,
          latencyP95Ms: 385,
        },
      ],
      totals: { sent: 5, failed: 2, fallback: 1, sending: 1 },
    });
    await expect(
      rig.service.notificationAnalytics(a.companyId, { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z') }),
    ).rejects.toBeInstanceOf(ValidationError);
    expect((await rig.service.notificationAnalytics(a.companyId)).rows).toEqual([]); // default: the last 7 days
  });

  it('another workflow sends a notification through the requestNotification activity, once across retries', async () => {
    const { requestNotification } = createActivities({
      pool,
      logger,
      channels: testChannels(servers),
      client: env.client,
      taskQueue: rig.taskQueue,
    });
    const activityEnv = () =>
      new MockActivityEnvironment(
        {
          taskQueue: rig.taskQueue,
          activityId: '3',
          workflowExecution: { workflowId: `callback-${randomUUID().slice(0, 8)}`, runId: 'r1' },
        },
        { client: env.client },
      );
    const callback = activityEnv();
    const input = {
      companyId: org.companyId,
      eventType: 'callback_escalated' as const,
      notifiable: { type: 'staff' as const, id: org.managerId },
      data: { reason: 'sla_breach' },
    };
    const first = (await callback.run(requestNotification, input)) as { notificationId: string; created: boolean };
    const retried = await callback.run(requestNotification, input); // same workflow and activity id: a retry
    expect(first.created).toBe(true);
    expect(retried).toEqual({ notificationId: first.notificationId, created: false });
    expect(await resultOf(env.client, first.notificationId)).toMatchObject({ status: 'delivered' });
    const error = await activityEnv()
      .run(requestNotification, { ...input, notifiable: { type: 'staff' as const, id: other.managerId } })
      .catch((e) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ nonRetryable: true, type: 'NotFoundError' });
  });
});
