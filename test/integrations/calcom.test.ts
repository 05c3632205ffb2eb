import { createHmac, randomUUID } from 'node:crypto';
import { appointmentStateQuery } from '../../src/appointments/definitions';
import type { TestApi } from '../support/api';
import { seedDirectory, type Directory } from '../support/directory';
import type { ChannelServers } from '../support/workers';
import { until } from '../support/until';
import { startApiStack, type ApiStack } from '../support/stack';

const H = 3_600_000;

/**
 * POST /webhooks/calcom on the real API, the shared dev server and a worker: signatures over the
 * raw body, each booking trigger through calcom_event_map to the appointment row and its
 * workflow, Cal.com's retries changing nothing, unmapped event types recorded and listed, and
 * the webhook secret keeping companies apart.
 */
describe('Cal.com webhook', () => {
  let stack: ApiStack;
  let api: TestApi;
  let servers: ChannelServers;

  beforeAll(async () => {
    stack = await startApiStack();
    ({ api, servers } = stack);
  });
  afterAll(() => stack?.close());

  /** A company with its directory, a Cal.com secret and event type `evt` mapped to its branch, service and staff member. */
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
    return { company, dir, secret: integration.body.secret as string, eventTypeId };
  }

  const booking = (trigger: string, eventTypeId: string, uid: string, startsAt: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      triggerEvent: trigger,
      createdAt: new Date().toISOString(),
      payload: {
        type: 'haircut',
        title: 'Haircut between Salon and Dora',
        eventTypeId: Number(eventTypeId),
        uid,
        startTime: new Date(startsAt).toISOString(),
        endTime: new Date(startsAt + 45 * 60_000).toISOString(),
        status: 'ACCEPTED',
        attendees: [{ name: 'Dora', email: `dora.${uid}@example.test`, timeZone: 'Europe/Lisbon', language: { locale: 'pt' } }],
        organizer: { name: 'Salon', email: 'salon@example.test', timeZone: 'Europe/Madrid' },
        ...extra,
      },
    });
  const sign = (raw: string, secret: string) => createHmac('sha256', secret).update(raw).digest('hex');
  const deliver = (raw: string, signature?: string) =>
    api.request('POST', '/webhooks/calcom', { raw, headers: signature === undefined ? {} : { 'x-cal-signature-256': signature } });
  const count = async (sql: string, params: unknown[]) => (await api.pool.query(sql, params)).rows[0].n as number;
  const deliveriesOf = (companyId: string) => count(`SELECT count(*)::int AS n FROM calcom_deliveries WHERE company_id = $1`, [companyId]);
  const appointmentsOf = (companyId: string) => count(`SELECT count(*)::int AS n FROM appointments WHERE company_id = $1`, [companyId]);
  const handle = (id: string) => api.temporal.workflow.getHandle(`appointment-${id}`);

  it('refuses a missing, wrong or tampered signature with 401 and writes nothing', async () => {
    const { company, secret, eventTypeId } = await setUp();
    const raw = booking('BOOKING_CREATED', eventTypeId, randomUUID(), Date.now() + 3 * 24 * H);
    const missing = await deliver(raw);
    const wrong = await deliver(raw, sign(raw, 'whsec_someone-elses-secret-000'));
    // Signed, then changed in transit: the start moved by one hour.
    const tampered = await deliver(
      raw.replace(/"startTime":"[^"]+"/, `"startTime":"${new Date(Date.now() + 4 * 24 * H).toISOString()}"`),
      sign(raw, secret),
    );
    // The same JSON re-serialised (other spacing) is other bytes: the raw body is what is verified.
    const reserialised = await deliver(JSON.stringify(JSON.parse(raw), null, 2), sign(raw, secret));
    expect([missing.status, wrong.status, tampered.status, reserialised.status]).toEqual([401, 401, 401, 401]);
    expect(missing.body.error.code).toBe('unauthorized');
    expect([await deliveriesOf(company.id), await appointmentsOf(company.id)]).toEqual([0, 0]);
    // The same bytes with their signature (upper-case hex too) are accepted.
    const good = await deliver(raw, sign(raw, secret).toUpperCase());
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ outcome: 'applied', duplicate: false });
  });

  it('BOOKING_CREATED becomes a confirmed appointment with its workflow; a redelivery changes nothing', async () => {
    const { company, dir, secret, eventTypeId } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const startsAt = Math.ceil((Date.now() + 3 * 24 * H) / 60_000) * 60_000;
    const raw = booking('BOOKING_CREATED', eventTypeId, uid, startsAt);
    const first = await deliver(raw, sign(raw, secret));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ outcome: 'applied', duplicate: false, detail: null });
    const id = first.body.appointmentId as string;
    const row = (
      await api.pool.query(
        `SELECT a.branch_id, a.service_id, a.staff_id, a.starts_at, a.status, a.source, a.calcom_booking_uid, a.workflow_id, c.email, c.time_zone
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
    await until(
      'the "confirmed" message',
      async () =>
        (await api.pool.query(`SELECT 1 FROM appointment_messages WHERE appointment_id = $1 AND kind = 'confirmed'`, [id])).rowCount,
    );

    const again = await deliver(raw, sign(raw, secret));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ outcome: 'applied', duplicate: true, appointmentId: id });
    expect(await appointmentsOf(company.id)).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM customers WHERE company_id = $1`, [company.id])).toBe(2);
    expect(
      (await api.pool.query(`SELECT deliveries FROM calcom_deliveries WHERE company_id = $1 AND booking_uid = $2`, [company.id, uid])).rows,
    ).toEqual([{ deliveries: 2 }]);
    // Both copies at once: still one appointment.
    const uid2 = `bk_${randomUUID()}`;
    const raw2 = booking('BOOKING_CREATED', eventTypeId, uid2, startsAt + 24 * H);
    const both = await Promise.all([deliver(raw2, sign(raw2, secret)), deliver(raw2, sign(raw2, secret))]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(both.map((r) => r.body.duplicate).sort()).toEqual([false, true]);
    expect(
      await count(`SELECT count(*)::int AS n FROM appointments WHERE company_id = $1 AND calcom_booking_uid = $2`, [company.id, uid2]),
    ).toBe(1);
  });

  it('BOOKING_RESCHEDULED moves the appointment through the engine as the calendar, and its workflow’s timers follow; a redelivery changes nothing', async () => {
    const { company, secret, eventTypeId } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const first = Math.ceil((Date.now() + 3 * 24 * H) / 60_000) * 60_000;
    const created = booking('BOOKING_CREATED', eventTypeId, uid, first);
    const id = (await deliver(created, sign(created, secret))).body.appointmentId as string;
    await until('the workflow read its row', async () => (await handle(id).query(appointmentStateQuery)).facts);

    const newUid = `bk_${randomUUID()}`;
    const second = first + 2 * 24 * H;
    const moved = booking('BOOKING_RESCHEDULED', eventTypeId, newUid, second, { rescheduleUid: uid });
    const r = await deliver(moved, sign(moved, secret));
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

    const again = await deliver(moved, sign(moved, secret));
    expect(again.body).toMatchObject({ outcome: 'applied', duplicate: true });
    expect(await count(`SELECT count(*)::int AS n FROM appointment_modifications WHERE appointment_id = $1`, [id])).toBe(1);
  });

  it('BOOKING_CANCELLED cancels through the engine and ends the workflow; a redelivery changes nothing', async () => {
    const { company, secret, eventTypeId } = await setUp();
    const uid = `bk_${randomUUID()}`;
    const created = booking('BOOKING_CREATED', eventTypeId, uid, Date.now() + 3 * 24 * H);
    const id = (await deliver(created, sign(created, secret))).body.appointmentId as string;
    const cancelled = booking('BOOKING_CANCELLED', eventTypeId, uid, Date.now() + 3 * 24 * H, {
      cancellationReason: 'sick',
      status: 'CANCELLED',
    });
    const r = await deliver(cancelled, sign(cancelled, secret));
    expect(r.body).toMatchObject({ outcome: 'applied', duplicate: false, appointmentId: id });
    expect((await api.pool.query(`SELECT status FROM appointments WHERE id = $1`, [id])).rows[0].status).toBe('cancelled');
    expect(await handle(id).result()).toMatchObject({ outcome: 'cancelled' });
    const mods = await api.pool.query(
      `SELECT modification_type AS type, modified_by, reason FROM appointment_modifications WHERE appointment_id = $1`,
      [id],
    );
    expect(mods.rows).toEqual([{ type: 'cancel', modified_by: 'calendar:calcom', reason: 'sick' }]);
    const again = await deliver(cancelled, sign(cancelled, secret));
    expect(again.body).toMatchObject({ outcome: 'applied', duplicate: true });
    expect(await count(`SELECT count(*)::int AS n FROM appointment_modifications WHERE appointment_id = $1`, [id])).toBe(1);
  });

  it('an unmapped event type answers 200, is recorded as unmapped and listed for an operator', async () => {
    const { company, secret } = await setUp();
    const raw = booking('BOOKING_CREATED', '424242', `bk_${randomUUID()}`, Date.now() + 3 * 24 * H);
    const r = await deliver(raw, sign(raw, secret));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'unmapped', appointmentId: null, detail: 'event type 424242 is not in calcom_event_map' });
    expect(await appointmentsOf(company.id)).toBe(0);
    const ping = JSON.stringify({ triggerEvent: 'PING', payload: {} });
    expect((await deliver(ping, sign(ping, secret))).body).toMatchObject({ outcome: 'ignored' });
    const listed = await api.request('GET', '/v1/calcom/deliveries?outcome=unmapped', { key: company.manager });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual([
      expect.objectContaining({ trigger: 'BOOKING_CREATED', eventTypeId: '424242', outcome: 'unmapped', deliveries: 1 }),
    ]);
    expect((await api.request('GET', '/v1/calcom/deliveries?outcome=lost', { key: company.manager })).body.error.details.fields).toEqual([
      expect.objectContaining({ field: 'query.outcome' }),
    ]);
    expect((await api.request('GET', '/v1/calcom/deliveries', { key: company.agent })).status).toBe(403);
  });

  it('the webhook secret names the company: a delivery signed with B’s secret touches only B, even for A’s event type and booking', async () => {
    const a = await setUp('777001');
    const b = await setUp('777002');
    const uid = `bk_${randomUUID()}`;
    const forA = booking('BOOKING_CREATED', a.eventTypeId, uid, Date.now() + 3 * 24 * H);
    const id = (await deliver(forA, sign(forA, a.secret))).body.appointmentId as string;
    // B's secret over A's event type: unmapped in B; A gets nothing.
    const r = await deliver(forA, sign(forA, b.secret));
    expect(r.body).toMatchObject({ outcome: 'unmapped', duplicate: false });
    // B's secret cancelling A's booking uid: B has no such booking; A's appointment stays.
    const cancel = booking('BOOKING_CANCELLED', a.eventTypeId, uid, Date.now() + 3 * 24 * H);
    expect((await deliver(cancel, sign(cancel, b.secret))).body).toMatchObject({ outcome: 'unmapped' });
    expect((await api.pool.query(`SELECT status FROM appointments WHERE id = $1`, [id])).rows[0].status).toBe('confirmed');
    expect([await deliveriesOf(a.company.id), await deliveriesOf(b.company.id)]).toEqual([1, 2]);
    const listedA = await api.request('GET', '/v1/calcom/deliveries', { key: a.company.manager });
    expect(listedA.body.map((d: { bookingUid: string; outcome: string }) => d.outcome)).toEqual(['applied']);
  });

  it('the operator’s routes: admin sets or generates the secret (shown once), event types map only to the company’s own branch, service and staff', async () => {
    const { company, dir } = await setUp();
    const other = await api.company();
    const otherDir: Directory = await seedDirectory(api, other);
    expect((await api.request('PUT', '/v1/integrations/calcom', { key: company.manager, body: {} })).status).toBe(403);
    const set = await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: { secret: 'short' } });
    expect(set.status).toBe(400);
    expect(set.body.error.details.fields).toEqual([expect.objectContaining({ field: 'body.secret' })]);
    const chosen = `whsec_${randomUUID()}`;
    const replaced = await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: { secret: chosen } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({
      provider: 'calcom',
      secret: chosen,
      secretHint: `…${chosen.slice(-4)}`,
      webhookPath: '/webhooks/calcom',
    });
    // Disabling keeps the secret (not shown again); its deliveries are then refused.
    const disabled = await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: { enabled: false } });
    expect(disabled.body).toMatchObject({ enabled: false, secretHint: `…${chosen.slice(-4)}` });
    expect(disabled.body.secret).toBeUndefined();
    const raw = JSON.stringify({ triggerEvent: 'PING', payload: {} });
    expect((await deliver(raw, sign(raw, chosen))).status).toBe(401);
    const listed = await api.request('GET', '/v1/integrations', { key: company.admin });
    expect(listed.body).toEqual([expect.not.objectContaining({ secret: expect.anything() })]);
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
});
