import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { testPool } from '../support/database';
import { createOrganisation, type OrganisationOptions } from '../support/fixtures';
import { timeSkippingTemporal } from '../support/temporal';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';
import { saveHistories } from '../workflows/recorded-histories';
import { book, bookingStack, H, messagesOf, MIN, until } from './support';

/**
 * Every appointment message reaches the customer on a channel they have (docs/notifications.md,
 * Reaching the recipient), with the seeded defaults and no configuration: a customer with only an
 * email, only a phone, or both, each booked confirmed, gets the confirmation, the 24 h and 2 h
 * reminders and the feedback request, through the appointment workflow and one notification
 * workflow per message, on the time-skipping server, to the real SMTP and Twilio-style HTTP sinks.
 * Each channel passed by is on the notification's plan with its reason; none costs an attempt.
 */
describe('appointment messages reach every customer (time-skipping server)', () => {
  const pool = testPool();
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;
  let w: TestWorker;
  let stack: ReturnType<typeof bookingStack>;
  const recorded: Array<{ workflowId: string; label: string }> = [];

  beforeAll(async () => {
    [env, servers] = await Promise.all([timeSkippingTemporal(), startChannelServers()]);
    w = await startTestWorker({ connection: env.nativeConnection, client: env.client, pool, channels: testChannels(servers) });
    stack = bookingStack({ pool, client: env.client, taskQueue: w.taskQueue });
  });
  afterAll(async () => {
    // UPDATE_HISTORIES=1 adds these runs to the histories test/workflows/replay.test.ts replays.
    if (process.env.UPDATE_HISTORIES && env) {
      const byKind = { appointment: [] as unknown[], notification: [] as unknown[] };
      for (const r of recorded) {
        const kind = r.workflowId.startsWith('appointment-') ? 'appointment' : 'notification';
        byKind[kind].push({ label: r.label, history: await env.client.workflow.getHandle(r.workflowId).fetchHistory() });
      }
      saveHistories('appointment', byKind.appointment as Parameters<typeof saveHistories>[1]);
      saveHistories('notification', byKind.notification as Parameters<typeof saveHistories>[1]);
    }
    await stack?.policies.close();
    await w?.stop();
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  const now = async () => Math.ceil((await env.currentTimeMs()) / MIN) * MIN;
  const sleepUntil = async (instant: number) => {
    const left = instant - (await env.currentTimeMs());
    if (left > 0) await env.sleep(left);
  };

  type Who = 'only an email' | 'only a phone' | 'both';
  const CUSTOMERS: Record<Who, { email: boolean; phone: string | null }> = {
    'only an email': { email: true, phone: null },
    'only a phone': { email: false, phone: '+34600001001' },
    both: { email: true, phone: '+34600001002' },
  };
  const EVENTS = ['appointment_confirmed', 'appointment_reminder_24h', 'appointment_reminder_2h', 'customer_feedback_request'] as const;
  type Event = (typeof EVENTS)[number];
  /** Where each message goes with the seeded defaults: the configured channel when the customer has it, else the next they have. */
  const EXPECTED: Record<Who, Record<Event, { channel: string; isFallback: boolean; skipped: string[] }>> = {
    'only an email': {
      appointment_confirmed: { channel: 'email', isFallback: false, skipped: ['sms', 'whatsapp', 'push'] },
      appointment_reminder_24h: { channel: 'email', isFallback: false, skipped: ['sms', 'whatsapp', 'push'] },
      appointment_reminder_2h: { channel: 'email', isFallback: true, skipped: ['sms', 'whatsapp', 'push'] },
      customer_feedback_request: { channel: 'email', isFallback: false, skipped: [] },
    },
    'only a phone': {
      appointment_confirmed: { channel: 'sms', isFallback: true, skipped: ['email'] },
      appointment_reminder_24h: { channel: 'sms', isFallback: true, skipped: ['email'] },
      appointment_reminder_2h: { channel: 'sms', isFallback: false, skipped: [] },
      customer_feedback_request: { channel: 'sms', isFallback: true, skipped: ['email'] },
    },
    both: {
      appointment_confirmed: { channel: 'email', isFallback: false, skipped: [] },
      appointment_reminder_24h: { channel: 'email', isFallback: false, skipped: [] },
      appointment_reminder_2h: { channel: 'sms', isFallback: false, skipped: [] },
      customer_feedback_request: { channel: 'email', isFallback: false, skipped: [] },
    },
  };

  it('a customer with only an email, only a phone, or both gets the confirmation, both reminders and the feedback request', async () => {
    const start = (await now()) + 3 * 24 * H;
    const booked: Array<{ who: Who; appointmentId: string; email: string | null; phone: string | null }> = [];
    for (const who of Object.keys(CUSTOMERS) as Who[]) {
      const c = CUSTOMERS[who];
      const customer: OrganisationOptions['customer'] = { phone: c.phone, ...(c.email ? {} : { email: null }), timeZone: 'Europe/Madrid' };
      const org = await createOrganisation(pool, { customer });
      const email = c.email ? (await pool.query(`SELECT email FROM customers WHERE id = $1`, [org.customerId])).rows[0].email : null;
      const a = await book(stack, org, start, { status: 'confirmed' });
      booked.push({ who, appointmentId: a.id, email, phone: c.phone });
      recorded.push({ workflowId: `appointment-${a.id}`, label: `reach ${who}` });
    }

    // The end (45 min) plus the default delay (60 min): the feedback request has gone out for all three.
    await sleepUntil(start + 105 * MIN + MIN);
    for (const b of booked) {
      expect([b.who, await env.client.workflow.getHandle(`appointment-${b.appointmentId}`).result()]).toEqual([
        b.who,
        { outcome: 'ended', sent: ['confirmed', 'reminder_24h', 'reminder_2h', 'feedback'], skipped: 0 },
      ]);
    }

    // Every message delivered once, on the channel expected: the whole table at once.
    const notifications: Array<{ who: Who; event: Event; id: string }> = [];
    const outcomes: unknown[] = [];
    const expectedOutcomes: unknown[] = [];
    for (const b of booked) {
      for (const m of await messagesOf(pool, b.appointmentId)) {
        const { rows } = await pool.query(`SELECT event_type, workflow_id FROM notifications WHERE id = $1`, [m.notification_id]);
        const event = rows[0].event_type as Event;
        notifications.push({ who: b.who, event, id: m.notification_id! });
        recorded.push({ workflowId: rows[0].workflow_id, label: `reach ${b.who} ${event}` });
        const result = await env.client.workflow.getHandle(rows[0].workflow_id).result();
        outcomes.push([
          b.who,
          event,
          result.status,
          result.delivered?.channel ?? result.reason,
          result.delivered?.isFallback,
          result.attempts,
        ]);
        const expected = EXPECTED[b.who][event];
        expectedOutcomes.push([b.who, event, 'delivered', expected.channel, expected.isFallback, 1]);
      }
    }
    expect(outcomes).toEqual(expectedOutcomes);

    // Each channel passed by is on the plan with its reason, and cost no attempt.
    for (const { who, event, id } of notifications) {
      const expected = EXPECTED[who][event];
      const { rows: n } = await pool.query(`SELECT resolved_config, status_reason FROM notifications WHERE id = $1`, [id]);
      const plan = n[0].resolved_config.plan;
      expect([who, event, plan.skipped.map((s: { channel: string; reason: string }) => `${s.channel}:${s.reason}`)]).toEqual([
        who,
        event,
        expected.skipped.map((c) => `${c}:no_address`),
      ]);
      const { rows: attempts } = await pool.query(`SELECT channel, status FROM notification_deliveries WHERE notification_id = $1`, [id]);
      expect(attempts).toEqual([{ channel: expected.channel, status: 'sent' }]);
      if (expected.isFallback && expected.skipped.length)
        expect(n[0].status_reason).toMatch(new RegExp(`^delivered by the fallback channel ${expected.channel} \\(the recipient has no `));
    }

    // What the sinks received: per customer, one message per appointment message, on the channel expected.
    const mailsTo = (email: string | null) => (email ? servers.smtp.messages.filter((m) => m.to.includes(email)) : []);
    const smsTo = (phone: string | null) => (phone ? servers.twilio.messages.filter((m) => m.to === phone) : []);
    await until('every message at the sinks', async () =>
      booked.every((b) => {
        const expected = Object.values(EXPECTED[b.who]);
        return (
          mailsTo(b.email).length === expected.filter((e) => e.channel === 'email').length &&
          smsTo(b.phone).length === expected.filter((e) => e.channel === 'sms').length
        );
      }),
    );
    const emailOnly = booked.find((b) => b.who === 'only an email')!;
    expect(mailsTo(emailOnly.email).map((m) => m.subject)).toEqual([
      expect.stringMatching(/^Your appointment on .* is confirmed$/),
      expect.stringMatching(/^Reminder: Haircut tomorrow at \d\d:\d\d$/),
      expect.stringMatching(/^See you at \d\d:\d\d$/),
      'How was your visit?',
    ]);
    const phoneOnly = booked.find((b) => b.who === 'only a phone')!;
    expect(smsTo(phoneOnly.phone)).toHaveLength(4);
    expect(smsTo(phoneOnly.phone).at(-1)!.body).toMatch(/how was your visit\?/);
    // Nobody got a WhatsApp message: the first channel that reached each customer delivered.
    expect(
      servers.twilio.messages.filter((m) => m.to.startsWith('whatsapp:') && booked.some((b) => m.to.endsWith(b.phone ?? '-'))),
    ).toEqual([]);
  });
});
