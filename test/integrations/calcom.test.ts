import { randomUUID } from 'node:crypto';
import { appointmentStateQuery } from '../../src/appointments/definitions';
import type { TestApi } from '../support/api';
import { seedDirectory, type Directory } from '../support/directory';
import { until } from '../support/until';
import { startApiStack, type ApiStack } from '../support/stack';
import {
  attendee,
  bookingPayload,
  envelope,
  guest,
  H,
  otherTriggerPayloads,
  pingPayload,
  sign,
  type BookingOptions,
} from './calcom-fixtures';

/**
 * POST /webhooks/calcom/<hook id> on the real API, the shared dev server and a worker, with
 * deliveries shaped and signed as Cal.com's own code makes them (./calcom-fixtures.ts): signatures
 * over the raw body, each booking trigger through calcom_event_map to the appointment row and its
 * workflow, every other trigger recorded, guests, seats, long texts and missing fields accepted,
 * Cal.com's retries changing nothing, what could not be applied recorded and listed, and each
 * integration's URL keeping companies apart.
 */
describe('Cal.com webhook', () => {
  let stack: ApiStack;
  let api: TestApi;

  beforeAll(async () => {
    stack = await startApiStack();
    ({ api } = stack);
  });
  afterAll(() => stack?.close());

  /** A company with its directory, a Cal.com integration and event type `eventTypeId` mapped to its branch, service and staff member. */
  async function setUp(eventTypeId = `${Math.floor(Math.random() * 1e9)}`) {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const integration = await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: {} });
    expect(integration.status).toBe(201);
    const map = await api.request('PUT', `/v1/calcom/event-types/${eventTypeId}`, {
      key: company.manager,
      body: { branchId: dir.branch.id, serviceId: dir.service.id, staffId: dir.staff.id },
    });
    expect(map.status).toBe(201);
    const path = integration.body.webhookPath as string;
    const secret = integration.body.secret as string;
    /** Posts `raw` to this company's webhook URL, signed with `signature` (default: its own secret; null: unsigned). */
    const deliver = (raw: string, signature: string | null = sign(raw, secret)) =>
      api.request('POST', path, { raw, headers: signature === null ? {} : { 'x-cal-signature-256': signature } });
    return { company, dir, secret, eventTypeId, path, deliver };
  }

  const booking = (trigger: string, o: BookingOptions) => envelope(trigger, bookingPayload(o));
  const minute = (t: number) => Math.ceil(t / 60_000) * 60_000;
  const count = async (sql: string, params: unknown[]) => (await api.pool.query(sql, params)).rows[0].n as number;
  const deliveriesOf = (companyId: string) => count(`SELECT count(*)::int AS n FROM calcom_deliveries WHERE company_id = $1`, [companyId]);
  const appointmentsOf = (companyId: string) => count(`SELECT count(*)::int AS n FROM appointments WHERE company_id = $1`, [companyId]);
  const statusOf = async (id: string) => (await api.pool.query(`SELECT status FROM appointments WHERE id = $1`, [id])).rows[0].status;
  const handle = (id: string) => api.temporal.workflow.getHandle(`appointment-${id}`);

  it('refuses a missing, wrong or tampered signature with 401 and writes nothing; an unknown hook is 404, the retired shared URL 410', async () => {
    const { company, secret, eventTypeId, path, deliver } = await setUp();
    const raw = booking('BOOKING_CREATED', { eventTypeId: Number(eventTypeId), startsAt: Date.now() + 3 * 24 * H });
    const missing = await deliver(raw, null);
    const wrong = await deliver(raw, sign(raw, 'whsec_someone-elses-secret-000'));
    // Signed, then changed in transit: the start moved by one hour.
    const tampered = await deliver(
      raw.replace(/"startTime":"[^"]+"/, `"startTime":"${new Date(Date.now() + 4 * 24 * H).toISOString()}"`),
      sign(raw, secret),
    );
    // The same JSON re-serialised (other spacing) is other bytes: the raw body is what is verified.
    const reserialised = await deliver(JSON.stringify(JSON.parse(raw), null, 2), sign(raw, secret));
    // Cal.com's header when the webhook has no secret.
    const noSecret = await deliver(raw, 'no-secret-provided');
    expect([missing.status, wrong.status, tampered.status, reserialised.status, noSecret.status]).toEqual([401, 401, 401, 401, 401]);
    expect(missing.body.error.code).toBe('unauthorized');
    expect([await deliveriesOf(company.id), await appointmentsOf(company.id)]).toEqual([0, 0]);
    // Another hook id (unguessable: 32 characters of base64url) is no one's.
    const unknown = await api.request('POST', `/webhooks/calcom/${randomUUID().replace(/-/g, '')}`, {
      raw,
      headers: { 'x-cal-signature-256': sign(raw, secret) },
    });
    expect(unknown.status).toBe(404);
    expect(path).toMatch(/^\/webhooks\/calcom\/[A-Za-z0-9_-]{32}$/);
    // The shared URL of earlier releases names the new one.
    const retired = await api.request('POST', '/webhooks/calcom', { raw, headers: { 'x-cal-signature-256': sign(raw, secret) } });
    expect(retired.status).toBe(410);
    expect(retired.body.error).toMatchObject({ code: 'webhook_url_retired', message: expect.stringContaining('GET /v1/integrations') });
    // The same bytes with their signature (upper-case hex too) are accepted.
    const good = await deliver(raw, sign(raw, secret).toUpperCase());
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ outcome: 'applied', duplicate: false });
  });

  it('BOOKING_CREATED becomes a confirmed appointment with its workflow; a redelivery is a duplicate and changes nothing', async () => {
    const { company, dir, eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const startsAt = minute(Date.now() + 3 * 24 * H);
    const raw = booking('BOOKING_CREATED', {
      uid,
      eventTypeId: Number(eventTypeId),
      startsAt,
      booker: { name: 'Dora Marques', email: `dora.${uid}@example.test` },
    });
    const first = await deliver(raw);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ outcome: 'applied', duplicate: false, detail: null });
    const id = first.body.appointmentId as string;
    const row = (
      await api.pool.query(
        `SELECT a.branch_id, a.service_id, a.staff_id, a.starts_at, a.status, a.source, a.calcom_booking_uid, a.workflow_id, c.name, c.email, c.time_zone
           FROM appointments a JOIN customers c ON c.id = a.customer_id WHERE a.company_id = $1 AND a.id = $2`,
        [company.id, id],
      )
    ).rows[0];
    expect(row).toMatchObject({
      branch_id: dir.branch.id,
      service_id: dir.service.id,
      staff_id: dir.staff.id,
      status: 'confirmed',
      source: 'calcom',
      calcom_booking_uid: uid,
      workflow_id: `appointment-${id}`,
      name: 'Dora Marques',
      email: `dora.${uid}@example.test`,
      time_zone: 'Europe/Lisbon',
    });
    expect(row.starts_at.getTime()).toBe(startsAt);
    // Its workflow runs and has planned the reminders of this start.
    const state = await until('the workflow read its row', async () => {
      const s = await handle(id).query(appointmentStateQuery);
      return s.facts ? s : null;
    });
    expect(state.messages.filter((m) => m.kind !== 'confirmed').map((m) => [m.kind, m.state])).toEqual([
      ['reminder_24h', 'planned'],
      ['reminder_2h', 'planned'],
      ['feedback', 'planned'],
    ]);

    const again = await deliver(raw);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ outcome: 'duplicate', firstOutcome: 'applied', duplicate: true, appointmentId: id });
    expect(await appointmentsOf(company.id)).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM customers WHERE company_id = $1`, [company.id])).toBe(2);
    expect(
      (
        await api.pool.query(`SELECT deliveries, payload FROM calcom_deliveries WHERE company_id = $1 AND booking_uid = $2`, [
          company.id,
          uid,
        ])
      ).rows,
    ).toEqual([{ deliveries: 2, payload: null }]);
    // Both copies at once: still one appointment.
    const uid2 = `bk_${randomUUID()}`;
    const raw2 = booking('BOOKING_CREATED', { uid: uid2, eventTypeId: Number(eventTypeId), startsAt: startsAt + 24 * H });
    const both = await Promise.all([deliver(raw2), deliver(raw2)]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(both.map((r) => r.body.duplicate).sort()).toEqual([false, true]);
    expect(
      await count(`SELECT count(*)::int AS n FROM appointments WHERE company_id = $1 AND calcom_booking_uid = $2`, [company.id, uid2]),
    ).toBe(1);
    const listed = await api.request('GET', '/v1/calcom/deliveries?outcome=duplicate', { key: company.manager });
    expect(listed.body).toEqual([
      expect.objectContaining({ bookingUid: uid2, key: uid2, outcome: 'applied', deliveries: 2, body: null }),
      expect.objectContaining({ bookingUid: uid, key: uid, outcome: 'applied', deliveries: 2, body: null }),
    ]);
  });

  it('a booking whose booker added guests is booked for the booker; its later BOOKING_CANCELLED cancels it and ends its reminders', async () => {
    const { company, eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const startsAt = minute(Date.now() + 3 * 24 * H);
    const o: BookingOptions = {
      uid,
      eventTypeId: Number(eventTypeId),
      startsAt,
      booker: { name: 'Dora Marques', email: `dora.${uid}@example.test`, phoneNumber: '+351912345678' },
      guests: [`friend.${uid}@example.test`, `mum.${uid}@example.test`],
    };
    const raw = booking('BOOKING_CREATED', o);
    // The guests as Cal.com sends them: no name at all.
    expect(JSON.parse(raw).payload.attendees[1]).toMatchObject({
      email: `friend.${uid}@example.test`,
      name: '',
      firstName: '',
      lastName: '',
    });
    const created = await deliver(raw);
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ outcome: 'applied' });
    const id = created.body.appointmentId as string;
    const customer = (
      await api.pool.query(`SELECT c.name, c.email FROM appointments a JOIN customers c ON c.id = a.customer_id WHERE a.id = $1`, [id])
    ).rows[0];
    expect(customer).toEqual({ name: 'Dora Marques', email: `dora.${uid}@example.test` });
    expect(await count(`SELECT count(*)::int AS n FROM customers WHERE company_id = $1 AND email LIKE $2`, [company.id, `%${uid}%`])).toBe(
      1,
    );
    await until('the workflow read its row', async () => (await handle(id).query(appointmentStateQuery)).facts);

    const cancelled = booking('BOOKING_CANCELLED', {
      ...o,
      status: 'CANCELLED',
      extra: { cancelledBy: `dora.${uid}@example.test`, cancellationReason: 'the whole family has the flu', requestReschedule: false },
    });
    const r = await deliver(cancelled);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'applied', appointmentId: id });
    expect(await statusOf(id)).toBe('cancelled');
    // The workflow ended: no reminder will go out.
    expect(await handle(id).result()).toMatchObject({ outcome: 'cancelled' });
    const sent = await api.pool.query(`SELECT kind FROM appointment_messages WHERE appointment_id = $1 AND kind LIKE 'reminder%'`, [id]);
    expect(sent.rows).toEqual([]);
  });

  it('free texts are cut, never refused: a 600-character cancellation reason, a 250-character name, a NUL character', async () => {
    const { eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const longName = `Maria ${'da Graça '.repeat(30)}`.trim();
    expect(longName.length).toBeGreaterThan(200);
    const o: BookingOptions = {
      uid,
      eventTypeId: Number(eventTypeId),
      startsAt: minute(Date.now() + 3 * 24 * H),
      booker: { name: longName, email: `maria.${uid}@example.test` },
      extra: { additionalNotes: `please\u0000be gentle ${'x'.repeat(5000)}` },
    };
    const created = await deliver(booking('BOOKING_CREATED', o));
    expect(created.body).toMatchObject({ outcome: 'applied' });
    const id = created.body.appointmentId as string;
    const name = (await api.pool.query(`SELECT c.name FROM appointments a JOIN customers c ON c.id = a.customer_id WHERE a.id = $1`, [id]))
      .rows[0].name as string;
    expect(Array.from(name)).toHaveLength(200);
    expect(name.endsWith('…')).toBe(true);
    expect(longName.startsWith(name.slice(0, -1))).toBe(true);

    const reason = `We are moving abroad. ${'Thank you for everything. '.repeat(25)}`;
    expect(reason.length).toBeGreaterThan(500);
    const r = await deliver(booking('BOOKING_CANCELLED', { ...o, status: 'CANCELLED', extra: { cancellationReason: reason } }));
    expect(r.body).toMatchObject({ outcome: 'applied', appointmentId: id });
    const stored = (await api.pool.query(`SELECT reason FROM appointment_modifications WHERE appointment_id = $1`, [id])).rows[0]
      .reason as string;
    expect(Array.from(stored)).toHaveLength(500);
    expect(reason.startsWith(stored.slice(0, -1))).toBe(true);
  });

  it('fields Cal.com leaves out refuse nothing: a booking with only what it is about', async () => {
    const { company, eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const startsAt = minute(Date.now() + 4 * 24 * H);
    // No organizer, responses, location, description, time zone or status; the event type id as a string.
    const raw = envelope('BOOKING_CREATED', {
      uid,
      eventTypeId,
      startTime: new Date(startsAt).toISOString(),
      endTime: new Date(startsAt + 30 * 60_000).toISOString(),
      attendees: [{ email: `min.${uid}@example.test`, name: '' }],
    });
    const r = await deliver(raw);
    expect(r.body).toMatchObject({ outcome: 'applied' });
    const row = (
      await api.pool.query(
        `SELECT a.status, c.name, c.time_zone FROM appointments a JOIN customers c ON c.id = a.customer_id WHERE a.company_id = $1 AND a.id = $2`,
        [company.id, r.body.appointmentId],
      )
    ).rows[0];
    // Without a status it is booked unconfirmed; without a name the address stands in; without a time zone, UTC.
    expect(row).toEqual({ status: 'scheduled', name: `min.${uid}`, time_zone: 'UTC' });
  });

  it('BOOKING_RESCHEDULED moves the appointment through the engine as the calendar, and its workflow’s timers follow; a redelivery changes nothing', async () => {
    const { eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const first = minute(Date.now() + 3 * 24 * H);
    const booker = { name: 'Dora Marques', email: `dora.${uid}@example.test` };
    const id = (
      await deliver(
        booking('BOOKING_CREATED', { uid, eventTypeId: Number(eventTypeId), startsAt: first, booker, guests: ['g@example.test'] }),
      )
    ).body.appointmentId as string;
    await until('the workflow read its row', async () => (await handle(id).query(appointmentStateQuery)).facts);

    const newUid = `bk_${randomUUID()}`;
    const second = first + 2 * 24 * H;
    const moved = booking('BOOKING_RESCHEDULED', {
      uid: newUid,
      eventTypeId: Number(eventTypeId),
      startsAt: second,
      booker,
      guests: ['g@example.test'],
      extra: {
        rescheduleId: 4242,
        rescheduleUid: uid,
        rescheduleStartTime: new Date(first).toISOString(),
        rescheduleEndTime: new Date(first + 45 * 60_000).toISOString(),
        rescheduledBy: booker.email,
      },
    });
    const r = await deliver(moved);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'applied', duplicate: false, appointmentId: id });
    const row = (await api.pool.query(`SELECT starts_at, calcom_booking_uid FROM appointments WHERE id = $1`, [id])).rows[0];
    expect([row.starts_at.getTime(), row.calcom_booking_uid]).toEqual([second, newUid]);
    const mods = await api.pool.query(
      `SELECT modification_type AS type, modified_by, actor_role, previous_starts_at, new_starts_at FROM appointment_modifications WHERE appointment_id = $1`,
      [id],
    );
    expect(mods.rows).toEqual([
      {
        type: 'reschedule',
        modified_by: 'calendar:calcom',
        actor_role: null,
        previous_starts_at: new Date(first),
        new_starts_at: new Date(second),
      },
    ]);
    // The workflow moved its timers: the old start's reminders dropped, the new start's planned.
    const state = await until('the workflow read the move', async () => {
      const s = await handle(id).query(appointmentStateQuery);
      return s.facts?.startsAt === new Date(second).toISOString() ? s : null;
    });
    expect(state.messages.filter((m) => m.state === 'planned' && m.kind.startsWith('reminder')).map((m) => m.forStartsAt)).toEqual([
      new Date(second).toISOString(),
      new Date(second).toISOString(),
    ]);

    const again = await deliver(moved);
    expect(again.body).toMatchObject({ outcome: 'duplicate', firstOutcome: 'applied' });
    expect(await count(`SELECT count(*)::int AS n FROM appointment_modifications WHERE appointment_id = $1`, [id])).toBe(1);
  });

  it('a seated event: each seat is its own appointment; a seat’s cancellation cancels that seat only, the organiser’s cancels the rest', async () => {
    const { company, eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const startsAt = minute(Date.now() + 5 * 24 * H);
    const seats = { seatsPerTimeSlot: 3, seatsShowAttendees: false };
    const ana = { name: 'Ana Lima', email: `ana.${uid}@example.test` };
    const rui = { name: 'Rui Costa', email: `rui.${uid}@example.test` };
    const seatA = randomUUID();
    const seatR = randomUUID();
    // The first seat (handleNewBooking), then the second (createNewSeat: the booking's attendees as stored, the new one last).
    const first = await deliver(
      booking('BOOKING_CREATED', {
        uid,
        eventTypeId: Number(eventTypeId),
        startsAt,
        booker: ana,
        extra: { ...seats, attendeeSeatId: seatA },
      }),
    );
    const storedAna = {
      id: 1,
      email: ana.email,
      name: ana.name,
      timeZone: 'Europe/Lisbon',
      phoneNumber: null,
      locale: 'en',
      bookingId: 77,
      noShow: false,
      bookingSeat: { id: 1, referenceUid: seatA, bookingId: 77, attendeeId: 1, data: { description: '', responses: {} }, metadata: null },
      language: { locale: 'en' },
      utcOffset: 60,
    };
    const second = await deliver(
      booking('BOOKING_CREATED', {
        uid,
        eventTypeId: Number(eventTypeId),
        startsAt,
        attendees: [storedAna, { ...attendee(rui), bookingSeat: { id: 2, referenceUid: seatR, bookingId: 77, attendeeId: 2 } }],
        extra: { ...seats, attendeeSeatId: seatR },
      }),
    );
    expect([first.body.outcome, second.body.outcome]).toEqual(['applied', 'applied']);
    expect(first.body.appointmentId).not.toBe(second.body.appointmentId);
    const seatOf = async (id: string) =>
      (
        await api.pool.query(
          `SELECT a.calcom_booking_uid AS uid, a.calcom_seat_uid AS seat, c.email FROM appointments a JOIN customers c ON c.id = a.customer_id WHERE a.id = $1`,
          [id],
        )
      ).rows[0];
    expect(await seatOf(first.body.appointmentId)).toEqual({ uid, seat: seatA, email: ana.email });
    expect(await seatOf(second.body.appointmentId)).toEqual({ uid, seat: seatR, email: rui.email });

    // Rui cancels his seat (cancelAttendeeSeat: his attendee only, no seat reference).
    const ruiCancels = booking('BOOKING_CANCELLED', {
      uid,
      eventTypeId: Number(eventTypeId),
      startsAt,
      status: 'CANCELLED',
      attendees: [
        {
          id: 2,
          email: rui.email,
          name: rui.name,
          timeZone: 'Europe/Lisbon',
          locale: 'en',
          bookingId: 77,
          noShow: false,
          language: { locale: 'en' },
        },
      ],
      extra: seats,
    });
    expect((await deliver(ruiCancels)).body).toMatchObject({ outcome: 'applied', appointmentId: second.body.appointmentId });
    expect([await statusOf(first.body.appointmentId), await statusOf(second.body.appointmentId)]).toEqual(['confirmed', 'cancelled']);
    // The organiser cancels the slot: every attendee listed; Ana's seat goes too.
    const all = booking('BOOKING_CANCELLED', {
      uid,
      eventTypeId: Number(eventTypeId),
      startsAt,
      status: 'CANCELLED',
      attendees: [storedAna],
      extra: { ...seats, cancellationReason: 'closed for a holiday' },
    });
    expect((await deliver(all)).body).toMatchObject({ outcome: 'applied', appointmentId: first.body.appointmentId });
    expect(await statusOf(first.body.appointmentId)).toBe('cancelled');
    expect(await deliveriesOf(company.id)).toBe(4);
  });

  it('BOOKING_NO_SHOW_UPDATED marks the appointment whose customer it lists as no_show, and unmarks it; a guest alone changes nothing', async () => {
    const { eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const booker = { name: 'Dora Marques', email: `dora.${uid}@example.test` };
    const id = (
      await deliver(
        booking('BOOKING_CREATED', {
          uid,
          eventTypeId: Number(eventTypeId),
          startsAt: minute(Date.now() + 2 * H),
          booker,
          guests: [`g.${uid}@example.test`],
        }),
      )
    ).body.appointmentId as string;
    const noShow = (attendees: Array<{ email: string; noShow: boolean }>) =>
      envelope('BOOKING_NO_SHOW_UPDATED', { message: 'x_marked_as_no_show', bookingUid: uid, bookingId: 77, attendees });
    const guestOnly = await deliver(noShow([{ email: `g.${uid}@example.test`, noShow: true }]));
    expect(guestOnly.body).toMatchObject({ outcome: 'ignored' });
    expect(await statusOf(id)).toBe('confirmed');
    const marked = await deliver(noShow([{ email: booker.email.toUpperCase(), noShow: true }]));
    expect(marked.body).toMatchObject({ outcome: 'applied', appointmentId: id });
    expect(await statusOf(id)).toBe('no_show');
    const unmarked = await deliver(noShow([{ email: booker.email, noShow: false }]));
    expect(unmarked.body).toMatchObject({ outcome: 'applied', appointmentId: id });
    expect(await statusOf(id)).toBe('confirmed');
    // Marked again (another delivery with the same attendees): applied again, not taken for a retry of the first.
    const again = await deliver(noShow([{ email: booker.email.toUpperCase(), noShow: true }]));
    expect(again.body).toMatchObject({ outcome: 'applied' });
    expect(await statusOf(id)).toBe('no_show');
  });

  it('requests, payments and every other trigger Cal.com sends are answered 200 and recorded: booked, or ignored saying why', async () => {
    const { company, eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const startsAt = minute(Date.now() + 6 * 24 * H);
    const o: BookingOptions = { uid, eventTypeId: Number(eventTypeId), startsAt };
    const outcomes: Record<string, string> = {};
    const send = async (trigger: string, payload: unknown) => {
      const r = await deliver(envelope(trigger, payload));
      expect(r.status).toBe(200);
      outcomes[trigger] = r.body.outcome;
      return r.body;
    };
    // A request waits for the organiser; the confirmation comes as BOOKING_CREATED of the same uid.
    expect(
      await send('BOOKING_REQUESTED', bookingPayload({ ...o, status: 'PENDING', extra: { requiresConfirmation: true } })),
    ).toMatchObject({
      outcome: 'ignored',
      detail: expect.stringContaining('confirmation'),
    });
    expect(await appointmentsOf(company.id)).toBe(0);
    const created = await send('BOOKING_CREATED', bookingPayload(o));
    expect(created).toMatchObject({ outcome: 'applied' });
    // A paid booking: payment initiated waits; BOOKING_PAID books it (a later BOOKING_CREATED finds it booked).
    const paidUid = `bk_${randomUUID()}`;
    const paid = { ...o, uid: paidUid, startsAt: startsAt + 24 * H, extra: { price: 2500, currency: 'eur', paymentId: 31 } };
    expect(await send('BOOKING_PAYMENT_INITIATED', bookingPayload(paid))).toMatchObject({ outcome: 'ignored' });
    expect(
      await send('BOOKING_PAID', bookingPayload({ ...paid, extra: { ...paid.extra, paymentData: { amount: 2500, success: true } } })),
    ).toMatchObject({
      outcome: 'applied',
    });
    const createdAfterPaid = await deliver(booking('BOOKING_CREATED', paid));
    expect(createdAfterPaid.body).toMatchObject({ outcome: 'ignored', detail: 'the booking is already an appointment' });
    // A rejected request never was an appointment.
    expect(
      await send(
        'BOOKING_REJECTED',
        bookingPayload({ ...o, uid: `bk_${randomUUID()}`, status: 'REJECTED', extra: { rejectionReason: 'fully booked' } }),
      ),
    ).toMatchObject({
      outcome: 'ignored',
    });
    expect(await send('PING', pingPayload())).toMatchObject({ outcome: 'ignored', detail: expect.stringContaining('Ping') });
    for (const [trigger, payload] of Object.entries(otherTriggerPayloads(uid))) {
      expect(await send(trigger, payload)).toMatchObject({ outcome: 'ignored', detail: expect.any(String) });
    }
    // A trigger a newer Cal.com may add.
    expect(await send('BOOKING_TELEPORTED', bookingPayload(o))).toMatchObject({
      outcome: 'ignored',
      detail: 'trigger BOOKING_TELEPORTED is not one this service acts on',
    });
    expect(Object.keys(outcomes).sort()).toEqual(
      [
        'AFTER_GUESTS_CAL_VIDEO_NO_SHOW',
        'AFTER_HOSTS_CAL_VIDEO_NO_SHOW',
        'BOOKING_CREATED',
        'BOOKING_PAID',
        'BOOKING_PAYMENT_INITIATED',
        'BOOKING_REJECTED',
        'BOOKING_REQUESTED',
        'BOOKING_TELEPORTED',
        'DELEGATION_CREDENTIAL_ERROR',
        'FORM_SUBMITTED',
        'FORM_SUBMITTED_NO_EVENT',
        'INSTANT_MEETING',
        'MEETING_ENDED',
        'MEETING_STARTED',
        'OOO_CREATED',
        'PING',
        'RECORDING_READY',
        'RECORDING_TRANSCRIPTION_GENERATED',
        'ROUTING_FORM_FALLBACK_HIT',
        'WRONG_ASSIGNMENT_REPORT',
      ].sort(),
    );
    // Every one is a row; the ignored ones keep no body.
    const rows = await api.pool.query(`SELECT trigger_event, outcome, payload FROM calcom_deliveries WHERE company_id = $1`, [company.id]);
    expect(rows.rowCount).toBe(Object.keys(outcomes).length + 1);
    expect(rows.rows.filter((r) => r.outcome === 'ignored').every((r) => r.payload === null)).toBe(true);
    expect(await appointmentsOf(company.id)).toBe(2);
  });

  it('what cannot be applied is answered 200, recorded as rejected with the reason and its body, and listed for a manager', async () => {
    const { company, eventTypeId, deliver } = await setUp();
    const startsAt = minute(Date.now() + 3 * 24 * H);
    const notJson = 'name=Dora&start=tomorrow';
    const noTrigger = JSON.stringify({ title: 'Haircut', startTime: new Date(startsAt).toISOString() });
    const noAttendee = booking('BOOKING_CREATED', { eventTypeId: Number(eventTypeId), startsAt, attendees: [] });
    const badStart = envelope('BOOKING_CREATED', {
      ...bookingPayload({ eventTypeId: Number(eventTypeId), startsAt }),
      startTime: 'next tuesday',
    });
    // The attendee the booking is for is the one part parsed strictly.
    const badBooker = booking('BOOKING_CREATED', {
      eventTypeId: Number(eventTypeId),
      startsAt,
      attendees: [{ email: 'x@example.test', name: 42 }, guest('g@example.test')],
    });
    // Nested 10,000 deep (signed, so from Cal.com or whoever holds the secret): refused before any recursion overflows.
    const deep = `{"triggerEvent":"BOOKING_CREATED","payload":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const answers = [];
    for (const raw of [notJson, noTrigger, noAttendee, badStart, badBooker, deep]) answers.push(await deliver(raw));
    expect(answers.map((a) => [a.status, a.body.outcome])).toEqual(Array(6).fill([200, 'rejected']));
    expect(answers.map((a) => a.body.detail)).toEqual([
      'the body is not JSON (a custom payload template in Cal.com that is not JSON?)',
      'the body has no triggerEvent (a custom payload template in Cal.com?)',
      'payload.attendees has no attendee the booking is for',
      'payload.startTime and payload.endTime must be ISO 8601 instants',
      'the attendee the booking is for: payload.attendees.0.name: Invalid input: expected string, received number',
      'the body is JSON nested too deeply',
    ]);
    expect(await appointmentsOf(company.id)).toBe(0);
    const listed = await api.request('GET', '/v1/calcom/deliveries?outcome=rejected', { key: company.manager });
    expect(listed.status).toBe(200);
    expect(listed.body).toHaveLength(6);
    const byDetail = new Map(listed.body.map((d: { detail: string; body: unknown }) => [d.detail, d.body]));
    expect(byDetail.get('the body is not JSON (a custom payload template in Cal.com that is not JSON?)')).toBe(notJson);
    expect(byDetail.get('payload.attendees has no attendee the booking is for')).toEqual(JSON.parse(noAttendee));
    expect((await api.request('GET', '/v1/calcom/deliveries?outcome=rejected', { key: company.agent })).status).toBe(403);
    // The same rejected body again is counted on its row.
    expect((await deliver(notJson)).body).toMatchObject({ outcome: 'duplicate', firstOutcome: 'rejected' });
  });

  it('an unmapped event type answers 200, is recorded as unmapped with its body and listed for an operator', async () => {
    const { company, deliver } = await setUp();
    const raw = booking('BOOKING_CREATED', { eventTypeId: 424242, startsAt: Date.now() + 3 * 24 * H });
    const r = await deliver(raw);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'unmapped', appointmentId: null, detail: 'event type 424242 is not in calcom_event_map' });
    expect(await appointmentsOf(company.id)).toBe(0);
    const listed = await api.request('GET', '/v1/calcom/deliveries?outcome=unmapped', { key: company.manager });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual([
      expect.objectContaining({
        trigger: 'BOOKING_CREATED',
        eventTypeId: '424242',
        outcome: 'unmapped',
        deliveries: 1,
        body: JSON.parse(raw),
      }),
    ]);
    expect((await api.request('GET', '/v1/calcom/deliveries?outcome=lost', { key: company.manager })).body.error.details.fields).toEqual([
      expect.objectContaining({ field: 'query.outcome' }),
    ]);
    expect((await api.request('GET', '/v1/calcom/deliveries', { key: company.agent })).status).toBe(403);
  });

  it('each integration’s URL names its company: B’s secret is refused on A’s URL; on B’s URL A’s event type and booking are B’s (unmapped)', async () => {
    const a = await setUp('777001');
    const b = await setUp('777002');
    const uid = `bk_${randomUUID()}`;
    const forA = booking('BOOKING_CREATED', { uid, eventTypeId: Number(a.eventTypeId), startsAt: Date.now() + 3 * 24 * H });
    expect((await a.deliver(forA, sign(forA, b.secret))).status).toBe(401);
    const id = (await a.deliver(forA)).body.appointmentId as string;
    // On B's URL, with B's secret: A's event type is unmapped in B; cancelling A's booking uid finds nothing in B.
    expect((await b.deliver(forA)).body).toMatchObject({ outcome: 'unmapped', duplicate: false });
    const cancel = booking('BOOKING_CANCELLED', { uid, eventTypeId: Number(a.eventTypeId), startsAt: Date.now() + 3 * 24 * H });
    expect((await b.deliver(cancel)).body).toMatchObject({ outcome: 'unmapped' });
    expect(await statusOf(id)).toBe('confirmed');
    expect([await deliveriesOf(a.company.id), await deliveriesOf(b.company.id)]).toEqual([1, 2]);
    const listedA = await api.request('GET', '/v1/calcom/deliveries', { key: a.company.manager });
    expect(listedA.body.map((d: { outcome: string }) => d.outcome)).toEqual(['applied']);
  });

  it('the operator’s routes: admin sets or generates the secret (shown once) and gets the URL to paste; event types map only to the company’s own branch, service and staff', async () => {
    const { company, dir, path, deliver } = await setUp();
    const other = await api.company();
    const otherDir: Directory = await seedDirectory(api, other);
    expect((await api.request('PUT', '/v1/integrations/calcom', { key: company.manager, body: {} })).status).toBe(403);
    const set = await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: { secret: 'short' } });
    expect(set.status).toBe(400);
    expect(set.body.error.details.fields).toEqual([expect.objectContaining({ field: 'body.secret' })]);
    const chosen = `whsec_${randomUUID()}`;
    const replaced = await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: { secret: chosen } });
    expect(replaced.status).toBe(200);
    // The URL stays when the secret changes.
    expect(replaced.body).toMatchObject({
      provider: 'calcom',
      secret: chosen,
      secretHint: `…${chosen.slice(-4)}`,
      webhookPath: path,
      webhookUrl: `${api.url}${path}`,
    });
    // The same secret as another company's: accepted (nothing says it is taken).
    const otherSet = await api.request('PUT', '/v1/integrations/calcom', { key: other.admin, body: { secret: chosen } });
    expect(otherSet.status).toBe(201);
    expect(otherSet.body.webhookPath).not.toBe(path);
    // Disabling keeps the secret (not shown again); its deliveries are then refused.
    const disabled = await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: { enabled: false } });
    expect(disabled.body).toMatchObject({ enabled: false, secretHint: `…${chosen.slice(-4)}`, webhookPath: path });
    expect(disabled.body.secret).toBeUndefined();
    const raw = envelope('PING', pingPayload());
    expect((await deliver(raw, sign(raw, chosen))).status).toBe(401);
    const listed = await api.request('GET', '/v1/integrations', { key: company.admin });
    expect(listed.body).toEqual([expect.objectContaining({ webhookUrl: `${api.url}${path}`, secretHint: `…${chosen.slice(-4)}` })]);
    expect(listed.body[0].secret).toBeUndefined();
    const foreign = await api.request('PUT', '/v1/calcom/event-types/1', {
      key: company.manager,
      body: { branchId: otherDir.branch.id, serviceId: dir.service.id },
    });
    expect(foreign.status).toBe(404);
    const wrongBranch = await api.request('PUT', '/v1/calcom/event-types/1', {
      key: company.manager,
      body: { branchId: dir.branch.id, serviceId: dir.otherService.id, staffId: dir.otherStaff.id },
    });
    expect(wrongBranch.status).toBe(400);
    expect(wrongBranch.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(['body.serviceId', 'body.staffId']);
  });

  it('takes a body over the API’s 100 kB limit (a seated event’s attendees, long notes) up to CALCOM_WEBHOOK_BODY_LIMIT', async () => {
    const { eventTypeId, deliver } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const attendees = [
      attendee({ name: 'Dora Marques', email: `dora.${uid}@example.test` }),
      ...Array.from({ length: 1200 }, (_, i) => guest(`guest${i}.${uid}@example.test`)),
    ];
    const raw = booking('BOOKING_CREATED', { uid, eventTypeId: Number(eventTypeId), startsAt: minute(Date.now() + 3 * 24 * H), attendees });
    expect(Buffer.byteLength(raw)).toBeGreaterThan(150_000);
    expect((await deliver(raw)).body).toMatchObject({ outcome: 'applied' });
    const huge = envelope('PING', { ...pingPayload(), notes: 'x'.repeat(1_100_000) });
    expect((await deliver(huge)).status).toBe(413);
  });
});
