import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createConsentService } from '../../src/consent/service';
import type { NotificationEventType } from '../../src/notifications/definitions';
import type { SendNotificationInput } from '../../src/notifications/schemas';
import { TEST_UNSUBSCRIBE_SECRET } from '../support/api';
import { mailHeader } from '../support/channel-servers';
import { testPool } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { timeSkippingTemporal } from '../support/temporal';
import {
  attemptsOf,
  resultOf,
  startChannelServers,
  startRig,
  testChannels,
  type ChannelServers,
  type NotificationRig,
} from '../support/workers';
import { saveHistories } from '../workflows/recorded-histories';

/**
 * Consent in the notification workflow, end to end on the time-skipping server with the real
 * worker, PostgreSQL and SMTP/HTTP peers: an opted-out channel is passed by for the next channel the
 * customer has, a customer opted out of every channel they have is `suppressed` (`opted_out`) with nothing sent, optional messages
 * follow the company default, an opt-out made while a retry waits is honoured at the next send,
 * staff messages are not customers' and carry no unsubscribe link.
 */
describe('consent in the notification workflow (time-skipping server)', () => {
  const pool = testPool();
  const consent = createConsentService({ pool, unsubscribeSecret: TEST_UNSUBSCRIBE_SECRET });
  const actor = { apiKeyId: null, label: 'test' };
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;
  let rig: NotificationRig;

  beforeAll(async () => {
    [env, servers] = await Promise.all([timeSkippingTemporal(), startChannelServers()]);
    rig = await startRig({ connection: env.nativeConnection, client: env.client, pool, channels: testChannels(servers) });
  });
  afterEach(() => servers.smtp.refuseAll(null));
  afterAll(async () => {
    // UPDATE_HISTORIES=1 adds these runs to the histories test/workflows/replay.test.ts replays.
    if (process.env.UPDATE_HISTORIES === '1') {
      const histories = [];
      for (const { id, label } of started) {
        histories.push({ label, history: await env.client.workflow.getHandle(`notification-${id}`).fetchHistory() });
      }
      saveHistories('notification', histories);
    }
    await rig?.stop();
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  const started: Array<{ id: string; label: string }> = [];
  const send = async (org: Organisation, eventType: NotificationEventType, notifiable: SendNotificationInput['notifiable']) => {
    const id = (await rig.service.sendNotification(org.companyId, { eventType, notifiable, data: {} })).notification.id;
    started.push({ id, label: `consent ${(expect.getState().currentTestName ?? '').split(') ').pop()}` });
    return id;
  };
  const emailOf = async (id: string) => (await pool.query(`SELECT email FROM customers WHERE id = $1`, [id])).rows[0].email as string;
  const mailsTo = (address: string) => servers.smtp.messages.filter((m) => m.to.includes(address));
  const smsTo = (phone: string) => servers.twilio.messages.filter((m) => m.to === phone).length;

  it('an opted-out channel is skipped: the fallback delivers, and the notification says why', async () => {
    const org = await createOrganisation(pool);
    await consent.updateConsents(org.companyId, org.customerId, [{ channel: 'email', kind: 'transactional', granted: false }], actor);
    const address = await emailOf(org.customerId);
    const id = await send(org, 'appointment_confirmed', { type: 'appointment', id: org.appointmentId });
    expect(await resultOf(env.client, id)).toMatchObject({
      status: 'delivered',
      reason: 'delivered by the fallback channel sms (the customer opted out of email)',
      delivered: { channel: 'sms', isFallback: true, attempt: 1 },
    });
    expect(mailsTo(address)).toHaveLength(0);
    const rows = await attemptsOf(pool, id);
    expect(rows.map((r) => [r.attempt_number, r.channel, r.is_fallback, r.status])).toEqual([[1, 'sms', true, 'sent']]);
    const view = await rig.service.getNotification(org.companyId, id);
    expect(view.resolvedConfig?.consent).toEqual({
      customerId: org.customerId,
      kind: 'transactional',
      channels: { email: 'opted_out', sms: 'allowed', whatsapp: 'allowed', push: 'allowed' },
    });
  });

  it('opted out of both the channel and its fallback: the next channel they have delivers; opted out of all: suppressed (opted_out), nothing sent', async () => {
    const org = await createOrganisation(pool);
    await consent.updateConsents(
      org.companyId,
      org.customerId,
      [
        { channel: 'email', kind: 'all', granted: false },
        { channel: 'sms', kind: 'transactional', granted: false },
      ],
      actor,
    );
    const before = smsTo('+34600000001');
    const whatsapp = await send(org, 'appointment_created', { type: 'appointment', id: org.appointmentId });
    expect(await resultOf(env.client, whatsapp)).toMatchObject({
      status: 'delivered',
      reason: 'delivered by the fallback channel whatsapp (the customer opted out of email and sms)',
      delivered: { channel: 'whatsapp', isFallback: true, attempt: 1 },
    });
    expect(servers.twilio.messages.filter((m) => m.to === 'whatsapp:+34600000001').length).toBeGreaterThanOrEqual(1);
    // Every channel the customer has is refused: nothing is sent, nothing attempted.
    await consent.updateConsents(org.companyId, org.customerId, [{ channel: 'whatsapp', kind: 'transactional', granted: false }], actor);
    const id = await send(org, 'appointment_created', { type: 'appointment', id: org.appointmentId });
    const result = await resultOf(env.client, id);
    expect(result).toMatchObject({ status: 'suppressed', attempts: 0 });
    expect(result.reason).toBe(
      'opted_out: the customer opted out of transactional messages by email, sms and whatsapp; the recipient has no push address',
    );
    expect(await attemptsOf(pool, id)).toHaveLength(0);
    expect(smsTo('+34600000001')).toBe(before);
    expect(mailsTo(await emailOf(org.customerId))).toHaveLength(0);
    const view = await rig.service.getNotification(org.companyId, id);
    expect(view).toMatchObject({ status: 'suppressed', statusReason: result.reason });
    expect(view.resolvedConfig?.plan).toEqual({
      order: ['email', 'sms', 'whatsapp', 'push'],
      legs: [],
      skipped: [
        { channel: 'email', reason: 'opted_out', leg: 'primary' },
        { channel: 'sms', reason: 'opted_out', leg: 'primary' },
        { channel: 'whatsapp', reason: 'opted_out', leg: 'primary' },
        { channel: 'push', reason: 'no_address', leg: 'primary' },
      ],
    });
  });

  it('optional messages follow the company default until the customer answers', async () => {
    const org = await createOrganisation(pool);
    const address = await emailOf(org.customerId);
    await consent.setOptionalDefault(org.companyId, false);
    // customer_feedback_request is optional and has no fallback.
    const refused = await send(org, 'customer_feedback_request', { type: 'appointment', id: org.appointmentId });
    expect(await resultOf(env.client, refused)).toMatchObject({
      status: 'suppressed',
      // Optional messages are refused on every channel by the company's default; the customer has no push subscription.
      reason: 'opted_out: the customer opted out of optional messages by email, sms and whatsapp; the recipient has no push address',
    });
    // A transactional message still goes out.
    const transactional = await send(org, 'appointment_reminder_24h', { type: 'appointment', id: org.appointmentId });
    expect(await resultOf(env.client, transactional)).toMatchObject({ status: 'delivered', delivered: { channel: 'email' } });
    // The customer opts in to optional email: the next feedback request is sent.
    await consent.updateConsents(org.companyId, org.customerId, [{ channel: 'email', kind: 'optional', granted: true }], actor);
    const accepted = await send(org, 'customer_feedback_request', { type: 'appointment', id: org.appointmentId });
    expect(await resultOf(env.client, accepted)).toMatchObject({ status: 'delivered' });
    expect(mailsTo(address)).toHaveLength(2);
  });

  it('an opt-out made while a retry waits is honoured at the next send', async () => {
    const org = await createOrganisation(pool);
    await rig.service.upsertNotificationConfig(org.companyId, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'appointment_rescheduled',
      retryCount: 2,
      retryDelayMinutes: 30,
      retryStrategy: 'constant',
    });
    servers.smtp.refuseNext({ code: 451, message: 'try later' });
    const id = await send(org, 'appointment_rescheduled', { type: 'appointment', id: org.appointmentId });
    // Without a result() waiting, the test server does not skip time: the retry's timer holds.
    const deadline = Date.now() + 15_000;
    while ((await pool.query(`SELECT status FROM notifications WHERE id = $1`, [id])).rows[0].status !== 'waiting') {
      if (Date.now() > deadline) throw new Error('the notification never waited for its retry');
      await new Promise((r) => setTimeout(r, 50));
    }
    await consent.updateConsents(org.companyId, org.customerId, [{ channel: 'email', kind: 'all', granted: false }], actor);
    const result = await resultOf(env.client, id);
    expect(result).toMatchObject({
      status: 'delivered',
      delivered: { channel: 'sms', isFallback: true, attempt: 2 },
      reason: 'delivered by the fallback channel sms (the customer opted out of email)',
    });
    const rows = await attemptsOf(pool, id);
    // One email attempt (refused), then no second email attempt: straight to the fallback.
    expect(rows.map((r) => [r.attempt_number, r.channel, r.status])).toEqual([
      [1, 'email', 'failed'],
      [2, 'sms', 'sent'],
    ]);
  });

  it('emails to customers carry a one-click unsubscribe link (RFC 8058); staff emails do not', async () => {
    const org = await createOrganisation(pool);
    const id = await send(org, 'payment_received', { type: 'customer', id: org.customerId });
    await resultOf(env.client, id);
    const [mail] = mailsTo(await emailOf(org.customerId));
    expect(mailHeader(mail.raw, 'List-Unsubscribe')).toMatch(/^<http:\/\/127\.0\.0\.1:9\/unsubscribe\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>$/);
    expect(mailHeader(mail.raw, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');

    const staffMail = (await pool.query(`SELECT email FROM staff WHERE id = $1`, [org.staffId])).rows[0].email;
    await rig.service.upsertNotificationConfig(org.companyId, {
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'staff_assigned',
      channel: 'email',
    });
    const again = await send(org, 'staff_assigned', { type: 'staff', id: org.staffId });
    await resultOf(env.client, again);
    const staffMails = servers.smtp.messages.filter((m) => m.to.includes(staffMail));
    expect(staffMails).toHaveLength(1);
    for (const m of staffMails) expect(mailHeader(m.raw, 'List-Unsubscribe')).toBeUndefined();
    expect((await rig.service.getNotification(org.companyId, again)).resolvedConfig?.consent).toBeUndefined();
  });
});
