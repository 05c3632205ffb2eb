import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import { appointmentStateQuery, type AppointmentResult } from '../../src/appointments/definitions';
import { AppointmentStartsAt, AppointmentStatus, BranchId, CompanyId, StaffId } from '../../src/temporal/search-attribute-keys';
import { testPool } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { timeSkippingTemporal } from '../support/temporal';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';
import { saveHistories } from '../workflows/recorded-histories';
import { book, bookingStack, H, messagesOf, MIN, until } from './support';

const manager = { keyId: randomUUID(), role: 'manager' as const };

/**
 * The appointment workflow end to end on the official time-skipping test server: real worker and
 * activities, real PostgreSQL, every message delivered through the notification workflows to real
 * SMTP and Twilio-style HTTP servers. Days of timers pass in seconds; the instants asserted are the
 * workflow's own clock (the server's), recorded on each message row as `decided_at`.
 */
describe('appointment workflow (time-skipping server)', () => {
  const pool = testPool();
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;
  let w: TestWorker;
  let stack: ReturnType<typeof bookingStack>;
  const recorded: Array<{ id: string; label: string }> = [];
  const recordedNotifications: Array<{ workflowId: string; label: string }> = [];

  beforeAll(async () => {
    [env, servers] = await Promise.all([timeSkippingTemporal(), startChannelServers()]);
    w = await startTestWorker({ connection: env.nativeConnection, client: env.client, pool, channels: testChannels(servers) });
    stack = bookingStack({ pool, client: env.client, taskQueue: w.taskQueue, historyLimit: 90 });
  });
  afterAll(async () => {
    if (process.env.UPDATE_HISTORIES && env) {
      const histories = [];
      for (const r of recorded)
        histories.push({ label: r.label, history: await env.client.workflow.getHandle(`appointment-${r.id}`).fetchHistory() });
      saveHistories('appointment', histories);
      const notifications = [];
      for (const r of recordedNotifications)
        notifications.push({ label: r.label, history: await env.client.workflow.getHandle(r.workflowId).fetchHistory() });
      saveHistories('notification', notifications);
    }
    await stack?.policies.close();
    await w?.stop();
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  /** Now on the server's clock, to the minute (so instants are easy to read in failures). */
  const now = async () => Math.ceil((await env.currentTimeMs()) / MIN) * MIN;
  /** Sleeps on the server's clock until `instant` (plus a little); timers fire on the way. */
  const sleepUntil = async (instant: number) => {
    const left = instant - (await env.currentTimeMs());
    if (left > 0) await env.sleep(left);
  };
  async function booked(org: Organisation, startsAt: number, over: Parameters<typeof book>[3] = {}) {
    const a = await book(stack, org, startsAt, over);
    recorded.push({
      id: a.id,
      label: (expect.getState().currentTestName ?? 'appointment').replace(/^appointment workflow \(time-skipping server\) /, ''),
    });
    return a;
  }
  const handle = (id: string) => env.client.workflow.getHandle(`appointment-${id}`);
  /**
   * The live state, or undefined when the workflow does not answer within 2 s: on the time-skipping
   * server a query that reaches a run just continued as new can wait until its next task, so a
   * probe asks again instead of waiting.
   */
  const stateOf = (id: string) =>
    env.client.withDeadline(Date.now() + 2_000, () => handle(id).query(appointmentStateQuery)).catch(() => undefined);
  const emailOf = async (customerId: string) => (await pool.query(`SELECT email FROM customers WHERE id = $1`, [customerId])).rows[0].email;
  const mailsTo = (email: string) => servers.smtp.messages.filter((m) => m.to.includes(email));
  const smsTo = (phone: string) => servers.twilio.messages.filter((m) => m.to === phone);
  const kinds = async (id: string) => (await messagesOf(pool, id)).map((m) => `${m.kind}:${m.status}`);
  const sent = async (id: string, kind: string) =>
    until(`${kind} of ${id}`, async () => (await messagesOf(pool, id)).find((m) => m.kind === kind && m.status === 'sent'));
  /**
   * Decided at its instant: the workflow's clock when the timer's workflow task ran, which the
   * server starts at the timer's instant (a few milliseconds later when several tasks queue up).
   */
  const expectAt = (decidedAt: Date, instant: number) =>
    expect([decidedAt.getTime() - instant >= 0, decidedAt.getTime() - instant < 2_000]).toEqual([true, true]);
  const local = (ms: number, zone: string, format: string) => DateTime.fromMillis(ms, { zone }).setLocale('en-GB').toFormat(format);

  it('sends "booked", the 24 h and 2 h reminders at their instants (text in the customer’s time zone), then the feedback request after the end', async () => {
    const org = await createOrganisation(pool, { customer: { timeZone: 'America/New_York' } });
    const email = await emailOf(org.customerId);
    const t0 = await now();
    const start = t0 + 3 * 24 * H;
    const a = await booked(org, start);
    await until('the booked email', async () => mailsTo(email).length === 1);
    expect(mailsTo(email)[0].subject).toBe('Your appointment at Centro is booked');
    // The body is quoted-printable: join its soft line breaks before reading the date.
    expect(mailsTo(email)[0].raw.replace(/=\r?\n/g, '')).toContain(local(start, 'America/New_York', 'cccc d LLLL yyyy'));

    // One minute before the 24 h instant: nothing yet. Just after: the reminder, decided exactly at its instant.
    await sleepUntil(start - 24 * H - MIN);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await kinds(a.id)).toEqual(['created:sent']);
    await sleepUntil(start - 24 * H + MIN);
    const r24 = await sent(a.id, 'reminder_24h');
    expect(r24.due_at.getTime()).toBe(start - 24 * H);
    expectAt(r24.decided_at, start - 24 * H);
    expect(r24.message_key).toBe(`reminder_24h@${new Date(start).toISOString()}`);
    await until('the 24 h reminder email', async () => mailsTo(email).length === 2);
    // The customer reads New York time, not the server's UTC nor the branch's Madrid time.
    expect(mailsTo(email)[1].subject).toBe(`Reminder: Haircut tomorrow at ${local(start, 'America/New_York', 'HH:mm')}`);

    await sleepUntil(start - 2 * H + MIN);
    const r2 = await sent(a.id, 'reminder_2h');
    expectAt(r2.decided_at, start - 2 * H);
    await until('the 2 h reminder SMS', async () =>
      smsTo('+34600000001').some((m) => m.body.includes(local(start, 'America/New_York', 'HH:mm'))),
    );

    // The end (45 min) plus the default delay (60 min): the feedback request, and the workflow ends.
    await sleepUntil(start + 45 * MIN + 60 * MIN + MIN);
    const fb = await sent(a.id, 'feedback');
    expectAt(fb.decided_at, start + 105 * MIN);
    await until('the feedback email', async () => mailsTo(email).some((m) => m.subject === 'How was your visit?'));
    const result: AppointmentResult = await handle(a.id).result();
    expect(result).toEqual({ outcome: 'ended', sent: ['created', 'reminder_24h', 'reminder_2h', 'feedback'], skipped: 0 });
    const row = (
      await pool.query(`SELECT workflow_finished_at, workflow_outcome, revision, workflow_revision FROM appointments WHERE id = $1`, [a.id])
    ).rows[0];
    expect(row).toMatchObject({ workflow_outcome: 'ended', revision: 1, workflow_revision: 1 });
    expect(row.workflow_finished_at).not.toBeNull();
    // Exactly one notification per message.
    const n = await pool.query(`SELECT event_type, count(*)::int AS n FROM notifications WHERE notifiable_id = $1 GROUP BY 1 ORDER BY 1`, [
      a.id,
    ]);
    expect(n.rows).toEqual([
      { event_type: 'appointment_created', n: 1 },
      { event_type: 'appointment_reminder_24h', n: 1 },
      { event_type: 'appointment_reminder_2h', n: 1 },
      { event_type: 'customer_feedback_request', n: 1 },
    ]);
  });

  it('carries company, branch, staff, start time and status as search attributes, and follows a change of status', async () => {
    const org = await createOrganisation(pool);
    const start = (await now()) + 2 * 24 * H;
    const a = await booked(org, start, { status: 'confirmed' });
    await until('the first read', async () => (await stateOf(a.id))?.facts);
    let attrs = (await handle(a.id).describe()).typedSearchAttributes;
    expect([attrs.get(CompanyId), attrs.get(BranchId), attrs.get(StaffId), attrs.get(AppointmentStatus)]).toEqual([
      org.companyId,
      org.branchId,
      org.staffId,
      'confirmed',
    ]);
    expect(attrs.get(AppointmentStartsAt)?.getTime()).toBe(start);
    // Booked confirmed: one "confirmed" message, no "booked" one.
    await sent(a.id, 'confirmed');
    expect(await kinds(a.id)).toEqual(['confirmed:sent']);
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'completed', staffId: null });
    await until(
      'the status attribute',
      async () => (await handle(a.id).describe()).typedSearchAttributes.get(AppointmentStatus) === 'completed',
    );
    attrs = (await handle(a.id).describe()).typedSearchAttributes;
    expect(attrs.get(StaffId)).toBeUndefined();
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
    expect(await handle(a.id).result()).toMatchObject({ outcome: 'no_show' });
  });

  it('a reschedule moves the timers: the reminder due for the old time is not sent, the new time’s are', async () => {
    const org = await createOrganisation(pool);
    const email = await emailOf(org.customerId);
    const t0 = await now();
    const first = t0 + 3 * 24 * H;
    const a = await booked(org, first);
    await sent(a.id, 'created');
    // Moved (through the policy engine, as a customer's reschedule) well before the old 24 h instant.
    stack.clock.ms = await env.currentTimeMs();
    const second = first + 2 * 24 * H;
    const moved = await stack.policies.rescheduleAppointment(org.companyId, a.id, { startsAt: new Date(second).toISOString() }, manager);
    expect(moved.appointment.startsAt).toBe(new Date(second).toISOString());
    await until('the workflow read the move', async () => (await stateOf(a.id))?.facts?.startsAt === new Date(second).toISOString());
    // Past the old 24 h and 2 h instants, and past the old start: nothing for the old time.
    await sleepUntil(first + H);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await kinds(a.id)).toEqual(['created:sent']);
    const state = await until('the state', () => stateOf(a.id));
    expect(
      state.messages
        .filter((m) => m.forStartsAt === new Date(first).toISOString() && m.kind !== 'created')
        .map((m) => [m.kind, m.state, m.reason]),
    ).toEqual([
      ['reminder_24h', 'skipped', `the appointment was moved to ${new Date(second).toISOString()}`],
      ['reminder_2h', 'skipped', `the appointment was moved to ${new Date(second).toISOString()}`],
    ]);
    // The new time's reminders, at the new instants.
    await sleepUntil(second - 24 * H + MIN);
    expectAt((await sent(a.id, 'reminder_24h')).decided_at, second - 24 * H);
    await sleepUntil(second - 2 * H + MIN);
    expectAt((await sent(a.id, 'reminder_2h')).decided_at, second - 2 * H);
    expect((await messagesOf(pool, a.id)).filter((m) => m.kind.startsWith('reminder')).map((m) => m.message_key)).toEqual([
      `reminder_24h@${new Date(second).toISOString()}`,
      `reminder_2h@${new Date(second).toISOString()}`,
    ]);
    // The customer heard of the move (the engine's notification) and got the new time's reminder.
    await until('the emails', async () => mailsTo(email).length === 3);
    // (The booking's message and the move's notice are separate workflows: either may arrive first.)
    expect(
      mailsTo(email)
        .map((m) => m.subject)
        .sort(),
    ).toEqual(
      [
        'Your appointment at Centro is booked',
        `Your appointment was moved to ${local(second, 'Europe/Madrid', 'cccc d LLLL yyyy')}`,
        `Reminder: Haircut tomorrow at ${local(second, 'Europe/Madrid', 'HH:mm')}`,
      ].sort(),
    );
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
  });

  it('a move after the 24 h reminder went out: the new time gets its own reminders, the old 2 h one is dropped', async () => {
    const org = await createOrganisation(pool);
    const first = (await now()) + 2 * 24 * H;
    const a = await booked(org, first);
    await sleepUntil(first - 24 * H + MIN);
    await sent(a.id, 'reminder_24h');
    // An administrator's correction (the directory's PATCH) moves the timers just the same.
    const second = first + 30 * H;
    await stack.directory.updateAppointment(org.companyId, a.id, {
      startsAt: new Date(second).toISOString(),
      endsAt: new Date(second + 45 * MIN).toISOString(),
    });
    await sleepUntil(second - 2 * H + MIN);
    await sent(a.id, 'reminder_2h');
    expect((await messagesOf(pool, a.id)).map((m) => [m.kind, m.status, m.for_starts_at.getTime()])).toEqual([
      ['created', 'sent', first],
      ['reminder_24h', 'sent', first],
      ['reminder_24h', 'sent', second],
      ['reminder_2h', 'sent', second],
    ]);
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
  });

  it('a cancellation ends the workflow: no further reminder or feedback, even days later', async () => {
    const org = await createOrganisation(pool);
    const start = (await now()) + 3 * 24 * H;
    const a = await booked(org, start);
    await sent(a.id, 'created');
    stack.clock.ms = await env.currentTimeMs();
    await stack.policies.cancelAppointment(org.companyId, a.id, { reason: 'ill' }, manager);
    expect(await handle(a.id).result()).toEqual({ outcome: 'cancelled', sent: ['created'], skipped: 3 });
    await sleepUntil(start + 6 * H);
    expect(await kinds(a.id)).toEqual(['created:sent']);
    const row = (await pool.query(`SELECT workflow_outcome, revision, workflow_revision FROM appointments WHERE id = $1`, [a.id])).rows[0];
    expect(row).toEqual({ workflow_outcome: 'cancelled', revision: 2, workflow_revision: 2 });
  });

  it('a booking inside the reminder window: 10 h ahead gets only the 2 h reminder; 90 minutes ahead gets none, nothing arrives after the start', async () => {
    const org = await createOrganisation(pool);
    const t0 = await now();
    const soon = await booked(org, t0 + 10 * H);
    const sooner = await booked(org, t0 + 90 * MIN);
    for (const [a, reminders] of [
      [soon, ['skipped', 'planned']],
      [sooner, ['skipped', 'skipped']],
    ] as const) {
      const state = await until('the plan', async () => {
        const s = await stateOf(a.id);
        return s?.facts ? s : null;
      });
      expect(state.messages.filter((m) => m.kind.startsWith('reminder')).map((m) => m.state)).toEqual(reminders);
    }
    await sleepUntil(t0 + 8 * H + MIN);
    expectAt((await sent(soon.id, 'reminder_2h')).decided_at, t0 + 8 * H);
    expect(await kinds(sooner.id)).toEqual(['created:sent', 'feedback:sent']);
    expect((await messagesOf(pool, sooner.id)).every((m) => m.kind !== 'reminder_2h' && m.kind !== 'reminder_24h')).toBe(true);
    await sleepUntil(t0 + 12 * H);
    expect(await kinds(soon.id)).toEqual(['created:sent', 'reminder_2h:sent', 'feedback:sent']);
  });

  it('the company’s settings turn messages off: recorded as skipped, with why, at their instant', async () => {
    const org = await createOrganisation(pool);
    await stack.appointments.putSettings(org.companyId, {
      sendCreated: false,
      sendConfirmed: true,
      reminder24h: false,
      reminder2h: true,
      feedbackRequest: false,
      feedbackDelayMinutes: 15,
    });
    const start = (await now()) + 30 * H;
    const a = await booked(org, start);
    await sleepUntil(start + 45 * MIN + 16 * MIN);
    expect(await handle(a.id).result()).toMatchObject({ outcome: 'ended', sent: ['reminder_2h'] });
    const rows = await messagesOf(pool, a.id);
    expect(rows.map((m) => [m.kind, m.status, m.reason])).toEqual([
      ['created', 'skipped', "turned off in the company's appointment settings (sendCreated)"],
      ['reminder_24h', 'skipped', "turned off in the company's appointment settings (reminder24h)"],
      ['reminder_2h', 'sent', null],
      ['feedback', 'skipped', "turned off in the company's appointment settings (feedbackRequest)"],
    ]);
    expectAt(rows[3].decided_at, start + 60 * MIN);
  });

  it('confirming a booked appointment sends "confirmed" once', async () => {
    const org = await createOrganisation(pool);
    const email = await emailOf(org.customerId);
    const a = await booked(org, (await now()) + 4 * 24 * H);
    await sent(a.id, 'created');
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'confirmed' });
    await sent(a.id, 'confirmed');
    await stack.directory.updateAppointment(org.companyId, a.id, { notes: 'bring the voucher' });
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'scheduled' });
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'confirmed' });
    await until('the confirmed email', async () => mailsTo(email).some((m) => /is confirmed/.test(m.subject ?? '')));
    await until('the workflow read the last change', async () => (await stateOf(a.id))?.facts?.revision === 4);
    expect(await kinds(a.id)).toEqual(['created:sent', 'confirmed:sent']);
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
  });

  it('quiet hours ending after the start: the 2 h reminder is suppressed as too late at once, never sent after the start', async () => {
    const phone = '+34600000077';
    const org = await createOrganisation(pool, { customer: { timeZone: 'UTC', phone } });
    // The company's 2 h reminders keep quiet from 05:00 to 09:00 (the customer's time, UTC).
    await pool.query(
      `INSERT INTO notification_configurations (company_id, configurable_type, configurable_id, event_type, quiet_hours_start, quiet_hours_end)
       VALUES ($1, 'company', $1, 'appointment_reminder_2h', '05:00', '09:00')`,
      [org.companyId],
    );
    const t0 = await now();
    const start = Math.floor(t0 / (24 * H)) * 24 * H + 2 * 24 * H + 8 * H; // 08:00 UTC, two days on
    const a = await booked(org, start);
    // 06:00: the step decides in time and queues the reminder; quiet hours would hold it until 09:00.
    await sleepUntil(start - 2 * H + MIN);
    const r2 = await sent(a.id, 'reminder_2h');
    expectAt(r2.decided_at, start - 2 * H);
    // Past the end of quiet hours: the reminder's notification ended, and nothing was sent after the start, nor before it.
    await sleepUntil(start + H + MIN);
    const notification = await until('the reminder notification final', async () => {
      const { rows } = await pool.query(`SELECT status, status_reason, workflow_id FROM notifications WHERE id = $1`, [r2.notification_id]);
      return ['suppressed', 'delivered', 'failed', 'cancelled'].includes(rows[0].status) ? rows[0] : null;
    });
    recordedNotifications.push({ workflowId: notification.workflow_id, label: 'late-quiet-hours-end-after-its-moment' });
    expect(notification.status).toBe('suppressed');
    expect(notification.status_reason).toBe(
      `too late: its moment passed at ${new Date(start).toISOString()} (quiet hours end at ${new Date(start + H).toISOString()})`,
    );
    expect(smsTo(phone)).toEqual([]);
    const schedule = await stack.appointments.getSchedule(org.companyId, a.id);
    expect(schedule.messages.find((m) => m.kind === 'reminder_2h')).toMatchObject({
      status: 'sent',
      notificationStatus: 'suppressed',
      notificationReason: notification.status_reason,
    });
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
  });

  it('a long life of many moves continues as new with a bounded history and keeps its plan', async () => {
    const org = await createOrganisation(pool);
    const t0 = await now();
    let start = t0 + 10 * 24 * H;
    const a = await booked(org, start);
    await sent(a.id, 'created');
    const firstRun = (await handle(a.id).describe()).runId;
    for (let i = 1; i <= 14; i += 1) {
      start += H;
      await stack.directory.updateAppointment(org.companyId, a.id, {
        startsAt: new Date(start).toISOString(),
        endsAt: new Date(start + 45 * MIN).toISOString(),
      });
      // Read when the workflow has published the new start (a server-side read: a query reaching
      // a run just continued as new can stay pending on the time-skipping server, holding its clock).
      await until(
        `move ${i} read`,
        async () => (await handle(a.id).describe()).typedSearchAttributes.get(AppointmentStartsAt)?.getTime() === start,
      );
    }
    // The first run handed over (continue-as-new); the one running now has a short history.
    expect((await env.client.workflow.getHandle(`appointment-${a.id}`, firstRun).describe()).status.name).toBe('CONTINUED_AS_NEW');
    const history = await handle(a.id).fetchHistory();
    expect(history.events!.length).toBeLessThan(120);
    await sleepUntil(start - 24 * H + MIN);
    expect((await sent(a.id, 'reminder_24h')).for_starts_at.getTime()).toBe(start);
    expect((await messagesOf(pool, a.id)).map((m) => m.kind)).toEqual(['created', 'reminder_24h']);
    await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
    // Fourteen moves, each read before the next: seconds alone, longer on a loaded machine.
  }, 180_000);
});
