import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { ConflictError } from '../../src/errors';
import type { NotificationEventType } from '../../src/notifications/definitions';
import type { NotificationConfigInput, SendNotificationInput } from '../../src/notifications/schemas';
import {
  CompanyId,
  NotificationChannel,
  NotificationEventType as NotificationEventTypeKey,
  NotificationStatus,
} from '../../src/temporal/search-attribute-keys';
import { testPool } from '../support/database';
import { createOrganisation, pushSubscription, type Organisation } from '../support/fixtures';
import { Worker } from '@temporalio/worker';
import { saveHistories } from '../workflows/recorded-histories';
import { timeSkippingTemporal, workflowBundle } from '../support/temporal';
import { testDataConverter } from '../support/encryption';
import {
  attemptsOf,
  resultOf,
  startChannelServers,
  startRig,
  testChannels,
  timerDurations,
  type ChannelServers,
  type NotificationRig,
} from '../support/workers';
import { until as waitUntil } from '../support/until';

const MIN = 60_000;

/**
 * The notification workflow end to end on the official time-skipping test server: real worker,
 * real activities, real PostgreSQL, real SMTP/HTTP peers. Hours of retry delays pass in
 * milliseconds; the delays are read back from the workflow's timers in its history.
 */
describe('notification workflow (time-skipping server)', () => {
  const pool = testPool();
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;
  let rig: NotificationRig;

  beforeAll(async () => {
    [env, servers] = await Promise.all([timeSkippingTemporal(), startChannelServers()]);
    rig = await startRig({
      connection: env.nativeConnection,
      client: env.client,
      pool,
      channels: testChannels(servers),
      // A database blip on demand: the next bookkeeping step fails once, then succeeds.
      around: async (name, run) => {
        if (name === 'prepareNotification' && blipNextPrepare) {
          blipNextPrepare = false;
          throw new Error('connection terminated unexpectedly (injected blip)');
        }
        return run();
      },
    });
  });
  let blipNextPrepare = false;
  afterEach(() => {
    servers.smtp.refuseAll(null);
    servers.smtpBackup.refuseAll(null);
    servers.twilio.failAll(null);
    servers.push.failAll(null);
  });
  afterAll(async () => {
    await rig?.stop();
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  const config = (org: Organisation, body: NotificationConfigInput) => rig.service.upsertNotificationConfig(org.companyId, body);
  /** Every notification this file starts, with the test that started it (the label of its recorded history). */
  const started: Array<{ id: string; label: string }> = [];
  const send = async (
    org: Organisation,
    eventType: NotificationEventType,
    notifiable: SendNotificationInput['notifiable'],
    data: Record<string, unknown> = {},
  ) => {
    const id = (await rig.service.sendNotification(org.companyId, { eventType, notifiable, data })).notification.id;
    started.push({
      id,
      label: (expect.getState().currentTestName ?? 'notification').replace(/^notification workflow \(time-skipping server\) /, ''),
    });
    return id;
  };
  const mailsTo = (address: string) => servers.smtp.messages.filter((m) => m.to.includes(address)).length;
  const emailOf = async (table: 'customers' | 'staff', id: string) =>
    (await pool.query(`SELECT email FROM ${table} WHERE id = $1`, [id])).rows[0].email as string;

  const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000) =>
    waitUntil(what, probe, timeoutMs);

  it('retries on the exponential schedule, then falls back once; every attempt records the config used', async () => {
    const org = await createOrganisation(pool);
    const { config: cfg } = await config(org, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'appointment_confirmed',
      retryCount: 3,
      retryDelayMinutes: 5,
      retryStrategy: 'exponential',
      maxRetryDelayMinutes: 60,
    });
    servers.smtp.refuseAll({ code: 451, message: 'mailbox busy' });
    const id = await send(org, 'appointment_confirmed', { type: 'appointment', id: org.appointmentId });

    const result = await resultOf(env.client, id);
    expect(result).toMatchObject({
      status: 'delivered',
      attempts: 5,
      delivered: { channel: 'sms', provider: 'twilio-sms', attempt: 5, isFallback: true },
    });
    expect(await timerDurations(env.client, id)).toEqual([5 * MIN, 10 * MIN, 20 * MIN]);

    const rows = await attemptsOf(pool, id);
    expect(rows.map((r) => [r.attempt_number, r.channel, r.provider, r.is_fallback, r.status, r.error_kind])).toEqual([
      [1, 'email', 'smtp', false, 'failed', 'transient'],
      [2, 'email', 'smtp', false, 'failed', 'transient'],
      [3, 'email', 'smtp', false, 'failed', 'transient'],
      [4, 'email', 'smtp', false, 'failed', 'transient'],
      [5, 'sms', 'twilio-sms', true, 'sent', null],
    ]);
    expect(new Set(rows.map((r) => r.config_id))).toEqual(new Set([cfg.id]));
    expect(rows.every((r) => r.may_have_sent === false)).toBe(true);
    expect(rows[0].error).toContain('451');
    expect(servers.twilio.messages.at(-1)).toMatchObject({ to: '+34600000001' });
    // No attempt was ambiguous: each provider saw its attempt's own key.
    expect(rows.map((r) => r.provider_key)).toEqual(rows.map((r) => r.idempotency_key));
    expect(rows[4].provider_key).toBe(`${id}:5:twilio-sms`);

    const view = await rig.service.getNotification(org.companyId, id);
    expect(view).toMatchObject({ status: 'delivered', statusReason: null, live: null });
    expect(view.attempts).toHaveLength(5);
    expect(view.resolvedConfig?.provenance.retryCount).toEqual({ level: 'company', configId: cfg.id });
    expect(view.resolvedConfig?.provenance.channel).toEqual({ level: 'default', configId: null });

    const described = await env.client.workflow.getHandle(`notification-${id}`).describe();
    expect(described.typedSearchAttributes.get(CompanyId)).toBe(org.companyId);
    expect(described.typedSearchAttributes.get(NotificationEventTypeKey)).toBe('appointment_confirmed');
    expect(described.typedSearchAttributes.get(NotificationChannel)).toBe('sms');
    expect(described.typedSearchAttributes.get(NotificationStatus)).toBe('delivered');
  });

  it('fails when retries are exhausted without a fallback; each delay capped at the maximum', async () => {
    const org = await createOrganisation(pool);
    await config(org, {
      configurableType: 'branch',
      configurableId: org.branchId,
      eventType: 'payment_received',
      retryCount: 5,
      retryDelayMinutes: 10,
      retryStrategy: 'linear',
      maxRetryDelayMinutes: 25,
    });
    servers.smtp.refuseAll({ code: 421, message: 'service not available' });
    const id = await send(org, 'payment_received', { type: 'customer', id: org.customerId }, { amount: '25 EUR' });
    const result = await resultOf(env.client, id);
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(/every attempt failed; last: email\/smtp: .*421/);
    expect(await timerDurations(env.client, id)).toEqual([10 * MIN, 20 * MIN, 25 * MIN, 25 * MIN, 25 * MIN]);
    const rows = await attemptsOf(pool, id);
    expect(rows.map((r) => r.attempt_number)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rows.every((r) => r.status === 'failed' && !r.is_fallback)).toBe(true);
    expect((await rig.service.getNotification(org.companyId, id)).statusReason).toBe(result.reason);
  });

  it('a permanent refusal skips the retries and goes straight to the fallback', async () => {
    const org = await createOrganisation(pool);
    servers.smtp.refuseNext({ code: 550, message: 'no such mailbox' });
    const id = await send(org, 'appointment_created', { type: 'appointment', id: org.appointmentId });
    expect(await resultOf(env.client, id)).toMatchObject({
      status: 'delivered',
      delivered: { channel: 'sms', attempt: 2, isFallback: true },
    });
    expect(await timerDurations(env.client, id)).toEqual([]);
    const rows = await attemptsOf(pool, id);
    expect(rows.map((r) => [r.attempt_number, r.channel, r.status, r.error_kind])).toEqual([
      [1, 'email', 'failed', 'permanent'],
      [2, 'sms', 'sent', null],
    ]);
  });

  it('the fallback gets one attempt and never falls back again', async () => {
    const org = await createOrganisation(pool);
    await config(org, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'payment_failed',
      retryCount: 1,
      retryDelayMinutes: 1,
    });
    servers.smtp.refuseAll({ code: 451 });
    servers.twilio.failAll(503);
    const id = await send(org, 'payment_failed', { type: 'customer', id: org.customerId });
    const result = await resultOf(env.client, id);
    expect(result.status).toBe('failed');
    expect(result.reason).toContain('sms/twilio-sms');
    expect(await timerDurations(env.client, id)).toEqual([1 * MIN]);
    const rows = await attemptsOf(pool, id);
    expect(rows.map((r) => [r.attempt_number, r.channel, r.is_fallback, r.status])).toEqual([
      [1, 'email', false, 'failed'],
      [2, 'email', false, 'failed'],
      [3, 'sms', true, 'failed'],
    ]);
  });

  it('fails over to the next provider of the channel before waiting for a retry (fibonacci delays)', async () => {
    const org = await createOrganisation(pool);
    await config(org, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'payment_received',
      providers: ['smtp', 'smtp-backup'],
      retryCount: 3,
      retryDelayMinutes: 2,
      retryStrategy: 'fibonacci',
    });
    servers.smtp.refuseAll({ code: 451 });
    servers.smtpBackup.refuseNext({ code: 452 }, { code: 452 });
    const id = await send(org, 'payment_received', { type: 'customer', id: org.customerId });
    expect(await resultOf(env.client, id)).toMatchObject({ status: 'delivered', delivered: { provider: 'smtp-backup', attempt: 3 } });
    expect(await timerDurations(env.client, id)).toEqual([2 * MIN, 2 * MIN]);
    const rows = await attemptsOf(pool, id);
    expect(rows.map((r) => [r.attempt_number, r.provider, r.status])).toEqual([
      [1, 'smtp', 'failed'],
      [1, 'smtp-backup', 'failed'],
      [2, 'smtp', 'failed'],
      [2, 'smtp-backup', 'failed'],
      [3, 'smtp', 'failed'],
      [3, 'smtp-backup', 'sent'],
    ]);
    expect(servers.smtpBackup.messages.at(-1)!.messageId).toBe(`<${id}.3.smtp-backup@salon.test>`);
  });

  it('a provider refusing our credentials (401) is a configuration error: recorded as such, retried, not taken for a bad number', async () => {
    const org = await createOrganisation(pool);
    await config(org, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'payment_received',
      channel: 'sms',
      fallbackChannel: 'none',
      retryCount: 1,
      retryDelayMinutes: 1,
    });
    servers.twilio.failNext(401);
    const id = await send(org, 'payment_received', { type: 'customer', id: org.customerId });
    expect(await resultOf(env.client, id)).toMatchObject({ status: 'delivered', attempts: 2 });
    expect((await attemptsOf(pool, id)).map((r) => [r.attempt_number, r.status, r.error_kind])).toEqual([
      [1, 'failed', 'configuration'],
      [2, 'sent', null],
    ]);
  });

  it('a bookkeeping step that fails once (a database blip) is retried by the worker and costs no attempt', async () => {
    const org = await createOrganisation(pool);
    blipNextPrepare = true;
    const prepares = rig.calls.prepareNotification ?? 0;
    const id = await send(org, 'payment_received', { type: 'customer', id: org.customerId });
    expect(await resultOf(env.client, id)).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(rig.calls.prepareNotification - prepares).toBe(2);
    expect(await attemptsOf(pool, id)).toHaveLength(1);
  });

  it('a template error is recorded on an attempt row and never retried', async () => {
    const org = await createOrganisation(pool);
    const before = servers.smtp.received;
    await config(org, {
      configurableType: 'staff',
      configurableId: org.staffId,
      eventType: 'appointment_confirmed',
      templateBody: 'Hi {{data.missing}}',
    });
    const calls = { prepare: rig.calls.prepareNotification ?? 0, record: rig.calls.recordTemplateFailure ?? 0 };
    const missing = await send(org, 'appointment_confirmed', { type: 'appointment', id: org.appointmentId });
    const result = await resultOf(env.client, missing);
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(/^template error on email: .*"missing" not defined/);
    expect((await attemptsOf(pool, missing)).map((r) => [r.attempt_number, r.provider, r.status, r.error_kind])).toEqual([
      [1, 'template', 'failed', 'template'],
    ]);
    // Rendered once (with the plan) and recorded once: a template error is never retried.
    expect(rig.calls.prepareNotification - calls.prepare).toBe(1);
    expect(rig.calls.recordTemplateFailure - calls.record).toBe(1);

    // A syntax error that slipped past validation (written straight to the table) fails the same way.
    await pool.query(`UPDATE notification_configurations SET template_body = 'Hi {{#if}}' WHERE company_id = $1`, [org.companyId]);
    const broken = await send(org, 'appointment_confirmed', { type: 'appointment', id: org.appointmentId });
    expect((await resultOf(env.client, broken)).reason).toMatch(/template error on email: .*Parse error/);
    expect(servers.smtp.received).toBe(before);
  });

  it('suppresses a message over the recipient rate limit, also under concurrency', async () => {
    const org = await createOrganisation(pool);
    await config(org, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'payment_received',
      rateLimit: { count: 2, windowSeconds: 3600 },
    });
    const address = await emailOf('customers', org.customerId);
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await resultOf(env.client, await send(org, 'payment_received', { type: 'customer', id: org.customerId }))).status);
    expect(statuses).toEqual(['delivered', 'delivered', 'suppressed']);
    expect(mailsTo(address)).toBe(2);

    const busy = await createOrganisation(pool);
    await config(busy, {
      configurableType: 'company',
      configurableId: busy.companyId,
      eventType: 'payment_received',
      rateLimit: { count: 2, windowSeconds: 3600 },
    });
    const ids = await Promise.all(
      Array.from({ length: 6 }, () => send(busy, 'payment_received', { type: 'customer', id: busy.customerId })),
    );
    // The six run concurrently; their results are awaited one by one (concurrent result() calls
    // unbalance the time-skipping server's lock count and freeze its clock for the rest of the file).
    const results = [];
    for (const id of ids) results.push(await resultOf(env.client, id));
    expect(results.filter((r) => r.status === 'delivered')).toHaveLength(2);
    const suppressed = results.filter((r) => r.status === 'suppressed');
    expect(suppressed).toHaveLength(4);
    expect(suppressed[0].reason).toMatch(/rate limit reached: 2 of 2 email messages in 3600s/);
    expect(mailsTo(await emailOf('customers', busy.customerId))).toBe(2);
  });

  it('waits for the end of quiet hours in the recipient time zone; an urgent event does not', async () => {
    const org = await createOrganisation(pool, { customer: { timeZone: 'Asia/Tokyo' }, staff: { timeZone: 'America/Los_Angeles' } });
    const local = DateTime.fromMillis(await env.currentTimeMs(), { zone: 'Asia/Tokyo' });
    const quietHours = { start: local.minus({ hours: 1 }).toFormat('HH:mm'), end: local.plus({ hours: 2 }).toFormat('HH:mm') };
    await config(org, { configurableType: 'company', configurableId: org.companyId, eventType: 'payment_received', quietHours });
    const id = await send(org, 'payment_received', { type: 'customer', id: org.customerId });
    const waiting = await until('the quiet-hours wait', async () => {
      const v = await rig.service.getNotification(org.companyId, id);
      return v.live?.waitingFor === 'quiet_hours' && v.status === 'waiting' ? v : undefined;
    });
    expect(DateTime.fromISO(waiting.live!.waitingUntil!, { zone: 'Asia/Tokyo' }).toFormat('HH:mm')).toBe(quietHours.end);
    expect(await resultOf(env.client, id)).toMatchObject({ status: 'delivered' });
    const [wait] = await timerDurations(env.client, id);
    expect(wait).toBeGreaterThan(2 * 60 * MIN - 2 * MIN);
    expect(wait).toBeLessThanOrEqual(2 * 60 * MIN);

    // callback_escalated is urgent: the same quiet hours (in the staff member's zone) do not hold it.
    const la = DateTime.fromMillis(await env.currentTimeMs(), { zone: 'America/Los_Angeles' });
    await config(org, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'callback_escalated',
      quietHours: { start: la.minus({ hours: 1 }).toFormat('HH:mm'), end: la.plus({ hours: 2 }).toFormat('HH:mm') },
    });
    const urgent = await send(org, 'callback_escalated', { type: 'staff', id: org.staffId }, { reason: 'sla_breach' });
    expect(await resultOf(env.client, urgent)).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(await timerDurations(env.client, urgent)).toEqual([]);
  });

  it('cancels a notification waiting for a retry; a final one cannot be cancelled', async () => {
    const org = await createOrganisation(pool);
    servers.smtp.refuseAll({ code: 451 });
    const id = await send(org, 'payment_received', { type: 'customer', id: org.customerId });
    await until('the retry wait', async () => (await rig.service.getNotification(org.companyId, id)).status === 'waiting');
    const cancelled = await rig.service.cancelNotification(org.companyId, id, 'customer paid in person');
    expect(cancelled).toMatchObject({
      outcome: 'cancelled',
      notification: { status: 'cancelled', statusReason: 'customer paid in person', live: null },
    });
    expect(await resultOf(env.client, id)).toMatchObject({ status: 'cancelled', attempts: 1 });
    expect(await attemptsOf(pool, id)).toHaveLength(1);
    await expect(rig.service.cancelNotification(org.companyId, id)).rejects.toBeInstanceOf(ConflictError);
  });

  it('a disabled configuration suppresses the notification without an attempt', async () => {
    const org = await createOrganisation(pool);
    await config(org, { configurableType: 'branch', configurableId: org.branchId, eventType: 'customer_feedback_request', enabled: false });
    const id = await send(org, 'customer_feedback_request', { type: 'customer', id: org.customerId });
    expect(await resultOf(env.client, id)).toMatchObject({ status: 'suppressed', reason: 'disabled by configuration', attempts: 0 });
    expect(await attemptsOf(pool, id)).toHaveLength(0);
  });

  it('push: an expired subscription (410 Gone) is cleared from the customer and the email fallback delivers', async () => {
    const org = await createOrganisation(pool, {
      customer: { pushSubscription: pushSubscription(servers.push.endpoint(`gone-${randomUUID()}`)) },
    });
    await config(org, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'payment_received',
      channel: 'push',
      fallbackChannel: 'email',
    });
    servers.push.failNext(410);
    const id = await send(org, 'payment_received', { type: 'customer', id: org.customerId });
    expect(await resultOf(env.client, id)).toMatchObject({ status: 'delivered', delivered: { channel: 'email', isFallback: true } });
    const rows = await attemptsOf(pool, id);
    expect(rows.map((r) => [r.channel, r.status, r.error_kind])).toEqual([
      ['push', 'failed', 'permanent'],
      ['email', 'sent', null],
    ]);
    const customer = await pool.query('SELECT push_subscription FROM customers WHERE id = $1', [org.customerId]);
    expect(customer.rows[0].push_subscription).toBeNull();
  });

  it('push: staff have no subscription (passed by for email, recorded in the plan); a customer gets a Web Push message', async () => {
    const org = await createOrganisation(pool, {
      customer: { pushSubscription: pushSubscription(servers.push.endpoint(`c-${randomUUID()}`)) },
    });
    const toStaff = await send(org, 'staff_assigned', { type: 'staff', id: org.staffId }, { description: 'callback for Dora' });
    expect(await resultOf(env.client, toStaff)).toMatchObject({
      status: 'delivered',
      reason: 'delivered by the fallback channel email (the recipient has no push address)',
      delivered: { channel: 'email', isFallback: true, attempt: 1 },
    });
    // No attempt is spent on a channel that cannot deliver: the plan says why push was passed by.
    const rows = await attemptsOf(pool, toStaff);
    expect(rows.map((r) => [r.channel, r.recipient, r.status, r.error_kind])).toEqual([
      ['email', await emailOf('staff', org.staffId), 'sent', null],
    ]);
    const view = await rig.service.getNotification(org.companyId, toStaff);
    expect(view.statusReason).toBe('delivered by the fallback channel email (the recipient has no push address)');
    expect(view.resolvedConfig?.plan?.skipped).toEqual([{ channel: 'push', reason: 'no_address', leg: 'primary' }]);

    await config(org, { configurableType: 'company', configurableId: org.companyId, eventType: 'payment_received', channel: 'push' });
    const before = servers.push.requests.length;
    const toCustomer = await send(org, 'payment_received', { type: 'customer', id: org.customerId });
    expect(await resultOf(env.client, toCustomer)).toMatchObject({
      status: 'delivered',
      delivered: { channel: 'push', provider: 'webpush' },
    });
    expect(servers.push.requests.length).toBe(before + 1);
    expect(servers.push.requests.at(-1)!.headers.authorization).toMatch(/^vapid /);
  });

  it('WhatsApp as the fallback of SMS', async () => {
    const org = await createOrganisation(pool);
    servers.twilio.failNext(400);
    const id = await send(org, 'appointment_reminder_2h', { type: 'appointment', id: org.appointmentId });
    expect(await resultOf(env.client, id)).toMatchObject({ status: 'delivered', delivered: { channel: 'whatsapp', isFallback: true } });
    expect(servers.twilio.messages.at(-1)).toMatchObject({ to: 'whatsapp:+34600000001', from: 'whatsapp:+14155238886' });
  });

  it('a workflow started by hand without its row ends failed, sends nothing and writes nothing; it sets its own search attributes', async () => {
    const org = await createOrganisation(pool);
    const address = await emailOf('customers', org.customerId);
    const mails = mailsTo(address);
    const id = randomUUID();
    const handle = await env.client.workflow.start('notificationWorkflow', {
      workflowId: `notification-${id}`,
      taskQueue: rig.taskQueue,
      args: [{ notificationId: id, companyId: org.companyId, eventType: 'payment_received' }],
    });
    expect(await handle.result()).toMatchObject({ status: 'failed', reason: expect.stringContaining('does not exist'), attempts: 0 });
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(CompanyId)).toBe(org.companyId);
    expect(described.typedSearchAttributes.get(NotificationEventTypeKey)).toBe('payment_received');
    expect(mailsTo(address)).toBe(mails);
    const written = await pool.query(
      `SELECT 1 FROM notifications WHERE id = $1 UNION ALL SELECT 1 FROM notification_deliveries WHERE notification_id = $1`,
      [id],
    );
    expect(written.rowCount).toBe(0);
  });

  it('replays every history of this file deterministically with the current workflow code', async () => {
    expect(started.length).toBeGreaterThan(20);
    const histories = await Promise.all(
      started.map(async ({ id, label }) => ({
        label,
        workflowId: `notification-${id}`,
        history: await env.client.workflow.getHandle(`notification-${id}`).fetchHistory(),
      })),
    );
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle(), dataConverter: testDataConverter() },
      histories,
    )) {
      expect(result.error).toBeUndefined();
    }
    // UPDATE_HISTORIES=1 refreshes the recorded histories that test/workflows/replay.test.ts replays
    // against every later version of the workflow code (like jest -u for snapshots).
    if (process.env.UPDATE_HISTORIES === '1') saveHistories('notification', histories);
  });
});
