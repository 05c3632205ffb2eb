import { randomUUID } from 'node:crypto';
import { NativeConnection } from '@temporalio/worker';
import { createPool } from '../../src/db/pool';
import { createDirectoryService } from '../../src/directory/service';
import { createPolicyService, policyCacheFor, type PolicyService } from '../../src/policies/service';
import { testDatabaseUrl } from '../support/database';
import { startTestApi, type TestApi } from '../support/api';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';
import { fieldsOf, seedDirectory, type Directory, type TestCompany } from '../support/directory';
import { createOrganisation } from '../support/fixtures';

const H = 3_600_000;

/**
 * The cancellation/reschedule engine through the whole stack: HTTP API -> one transaction in
 * PostgreSQL -> notification workflows on the Temporal dev server -> worker -> SMTP.
 */
describe('policy engine: quote, cancel, reschedule (API, PostgreSQL, Temporal)', () => {
  let api: TestApi;
  let servers: ChannelServers;
  let connection: NativeConnection;
  let worker: TestWorker;
  let co: TestCompany;
  let dir: Directory;
  let customerId: string;

  beforeAll(async () => {
    api = await startTestApi();
    await api.policyCache.start();
    servers = await startChannelServers();
    connection = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    worker = await startTestWorker({
      connection,
      client: api.temporal,
      pool: api.pool,
      taskQueue: api.taskQueue,
      channels: testChannels(servers),
    });
  });
  beforeEach(async () => {
    co = await api.company();
    dir = await seedDirectory(api, co);
    customerId = await newCustomer();
  });
  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    await servers?.close();
    await api?.close();
  });

  async function newCustomer(company = co, directory = dir): Promise<string> {
    const res = await api.request('POST', '/v1/customers', {
      key: company.admin,
      body: {
        name: 'Lucía',
        email: `lucia.${randomUUID().slice(0, 8)}@example.test`,
        timeZone: 'Europe/Madrid',
        homeBranchId: directory.branch.id,
      },
    });
    return res.body.id;
  }

  /** Books through the API (so the terms are kept at booking), starting `inMs` from now. */
  async function book(inMs: number, options: { customer?: string; company?: TestCompany; directory?: Directory } = {}) {
    const company = options.company ?? co;
    const directory = options.directory ?? dir;
    const startsAt = new Date(Date.now() + inMs);
    const res = await api.request('POST', '/v1/appointments', {
      key: company.manager,
      body: {
        customerId: options.customer ?? customerId,
        branchId: directory.branch.id,
        serviceId: directory.service.id,
        staffId: directory.staff.id,
        startsAt: startsAt.toISOString(),
        endsAt: new Date(startsAt.getTime() + 45 * 60_000).toISOString(),
      },
    });
    if (res.status !== 201) throw new Error(`booking failed: ${JSON.stringify(res.body)}`);
    return res.body as { id: string; startsAt: string };
  }

  const setPolicy = (entityType: string, entityId: string, policyType: string, config: Record<string, unknown>) =>
    api.request('PUT', '/v1/policies', { key: co.manager, body: { entityType, entityId, policyType, config } }).then((r) => {
      if (r.status >= 300) throw new Error(JSON.stringify(r.body));
      return r.body as { id: string; version: number };
    });
  const cancel = (id: string, body: unknown = {}, key = co.agent, headers?: Record<string, string>) =>
    api.request('POST', `/v1/appointments/${id}/cancel`, { key, body, headers });
  const reschedule = (id: string, body: unknown, key = co.agent) => api.request('POST', `/v1/appointments/${id}/reschedule`, { key, body });
  const quote = (id: string, key = co.agent) => api.request('GET', `/v1/appointments/${id}/cancellation-quote`, { key });
  const delivered = (notificationId: string) => api.temporal.workflow.getHandle(`notification-${notificationId}`).result();
  const state = async (appointmentId: string) => {
    const q = (sql: string) => api.pool.query(sql, [appointmentId]).then((r) => r.rows);
    return {
      appointment: (
        await q(`SELECT status, starts_at, ends_at, reschedule_count, policy_terms, updated_at FROM appointments WHERE id = $1`)
      )[0],
      modifications: await q(`SELECT * FROM appointment_modifications WHERE appointment_id = $1 ORDER BY created_at`),
      stats: await q(
        `SELECT modification_type, period_month, count, fees_cents FROM appointment_modification_stats
          WHERE customer_id = (SELECT customer_id FROM appointments WHERE id = $1) ORDER BY modification_type`,
      ),
      // The engine's notifications; the appointment workflow's own messages (booked, reminders) come and go on their own time.
      notifications: await q(
        `SELECT event_type, status FROM notifications n WHERE notifiable_id = $1
            AND NOT EXISTS (SELECT 1 FROM appointment_messages m WHERE m.notification_id = n.id) ORDER BY created_at`,
      ),
    };
  };

  it('no policy anywhere: allowed and free; appointment, record, counter and notification in one transaction; delivered', async () => {
    const appt = await book(3 * H);
    const res = await cancel(appt.id, { reason: 'customer is ill' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      appointment: { id: appt.id, status: 'cancelled' },
      decision: {
        allowed: true,
        code: 'no_policy',
        fee: { cents: 0, currency: 'EUR', rule: 'none' },
        policy: null,
        remainingModifications: null,
      },
      modification: {
        type: 'cancel',
        withinPolicy: true,
        feeCharged: { cents: 0, currency: 'EUR' },
        reason: 'customer is ill',
        policyId: null,
        actorRole: 'agent',
        overridden: false,
        overrideReason: null,
      },
      notifications: [{ eventType: 'appointment_cancelled' }],
    });
    expect(res.body.modification.modifiedBy).toMatch(/^api_key:[0-9a-f-]{36}$/);
    const s = await state(appt.id);
    expect(s.appointment.status).toBe('cancelled');
    expect(s.modifications).toHaveLength(1);
    expect(s.modifications[0]).toMatchObject({
      modification_type: 'cancel',
      within_policy: true,
      fee_charged_cents: 0,
      decision_code: 'no_policy',
    });
    expect(s.modifications[0].notification_ids).toEqual([res.body.notifications[0].id]);
    expect(s.stats).toEqual([expect.objectContaining({ modification_type: 'cancel', count: 1, fees_cents: '0' })]);
    expect(await delivered(res.body.notifications[0].id)).toMatchObject({ status: 'delivered' });
    // Cancelled is final.
    const again = await cancel(appt.id);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('invalid_state');
    expect((await quote(appt.id)).status).toBe(409);
  });

  it('the quote answers without changing anything', async () => {
    await setPolicy('branch', dir.branch.id, 'cancellation', { hours_before: 24, max_cancellations_per_month: 3 });
    const appt = await book(30 * H);
    const before = await state(appt.id);
    const res = await quote(appt.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      appointmentId: appt.id,
      decision: {
        type: 'cancel',
        allowed: true,
        code: 'within_policy',
        fee: { cents: 1000, currency: 'EUR', rule: 'default_tiers' },
        policy: { level: 'branch', config: { hours_before: 24, max_cancellations_per_month: 3 } },
        quota: { scope: 'customer_month', limit: 3, used: 0 },
        remainingModifications: 2,
      },
      terms: { source: 'booking', currency: 'EUR' },
    });
    expect(await quote(appt.id)).toMatchObject({ status: 200 });
    expect(await state(appt.id)).toEqual(before);
  });

  it('a deadline denies (409 with the decision, nothing written); an agent may not override; a manager may, with a reason', async () => {
    await setPolicy('service', dir.service.id, 'cancellation', { hours_before: 48, fee_cents: 2500 });
    const appt = await book(10 * H);
    const before = await state(appt.id);
    const denied = await cancel(appt.id);
    expect(denied.status).toBe(409);
    expect(denied.body.error).toMatchObject({
      code: 'policy_denied',
      details: { decision: { allowed: false, code: 'deadline_passed', fee: { cents: 2500, rule: 'fixed' }, policy: { level: 'service' } } },
    });
    expect(await state(appt.id)).toEqual(before);

    const byAgent = await cancel(appt.id, { override: { reason: 'doctor’s note' } });
    expect(byAgent.status).toBe(403);
    const missingReason = await cancel(appt.id, { override: {} }, co.manager);
    expect(missingReason.status).toBe(400);
    expect(fieldsOf(missingReason)).toEqual(['body.override.reason']);
    expect(await state(appt.id)).toEqual(before);

    const overridden = await cancel(appt.id, { override: { reason: 'doctor’s note' } }, co.manager);
    expect(overridden.status).toBe(200);
    expect(overridden.body).toMatchObject({
      decision: { allowed: false, code: 'deadline_passed' },
      modification: {
        withinPolicy: false,
        overridden: true,
        overrideReason: 'doctor’s note',
        actorRole: 'manager',
        feeCharged: { cents: 2500 },
      },
    });
    expect(overridden.body.notifications.map((n: any) => n.eventType)).toEqual(['appointment_cancelled', 'policy_violation']);
    const s = await state(appt.id);
    expect(s.modifications[0]).toMatchObject({
      within_policy: false,
      overridden: true,
      override_reason: 'doctor’s note',
      fee_charged_cents: 2500,
    });
    expect(s.stats[0]).toMatchObject({ count: 1, fees_cents: '2500' });
    for (const n of overridden.body.notifications) expect(await delivered(n.id)).toMatchObject({ status: 'delivered' });
    // The customer is told (quoted-printable soft line breaks undone).
    const texts = servers.smtp.messages.map((m) => m.raw.replace(/=\r?\n/g, ''));
    expect(texts).toContainEqual(
      expect.stringContaining(
        'Your cancellation was accepted as an exception to our policy: cancellations close 48 h before the start. A fee of 25.00 EUR applies.',
      ),
    );
    expect(texts).toContainEqual(expect.stringContaining('was cancelled. A cancellation fee of 25.00 EUR applies.'));
  });

  it('the monthly cancellation quota per customer: the last allowed, then denied; modifications left counted down', async () => {
    await setPolicy('company', co.id, 'cancellation', { max_cancellations_per_month: 2 });
    const appts = [await book(100 * H), await book(101 * H), await book(102 * H)];
    expect((await quote(appts[0].id)).body.decision.remainingModifications).toBe(1);
    expect((await cancel(appts[0].id)).body.decision).toMatchObject({
      allowed: true,
      remainingModifications: 1,
      quota: { used: 0, limit: 2 },
    });
    expect((await cancel(appts[1].id)).body.decision).toMatchObject({ allowed: true, remainingModifications: 0, quota: { used: 1 } });
    const third = await cancel(appts[2].id);
    expect(third.status).toBe(409);
    expect(third.body.error.details.decision).toMatchObject({
      code: 'quota_exceeded',
      quota: { used: 2, limit: 2 },
      remainingModifications: 0,
    });
    // Another customer has a quota of their own.
    const other = await book(100 * H, { customer: await newCustomer() });
    expect((await cancel(other.id)).status).toBe(200);
  });

  it('fees at and around every default tier boundary, and a policy’s own tiers, through the service with a pinned clock', async () => {
    const T = new Date(Date.now() + 24 * H);
    const at = createPolicyService({
      pool: api.pool,
      client: api.temporal,
      taskQueue: api.taskQueue,
      cache: api.policyCache,
      now: () => T,
    });
    await setPolicy('branch', dir.branch.id, 'cancellation', {});
    const feeAt = async (service: PolicyService, msBefore: number) => {
      const appt = await book(0);
      await api.pool.query(`UPDATE appointments SET starts_at = $2, ends_at = $3 WHERE id = $1`, [
        appt.id,
        new Date(T.getTime() + msBefore),
        new Date(T.getTime() + msBefore + H),
      ]);
      return (await service.quoteCancellation(co.id, appt.id)).decision.fee;
    };
    // Booked now, quoted at T: the terms are this branch policy (default tiers).
    for (const [ms, cents] of [
      [48 * H + 1, 0],
      [48 * H, 1000],
      [24 * H, 1000],
      [24 * H - 1, 1500],
      [1, 1500],
    ]) {
      expect({ ms, fee: await feeAt(at, ms) }).toEqual({ ms, fee: { cents, currency: 'EUR', rule: 'default_tiers' } });
    }
    await setPolicy('branch', dir.branch.id, 'cancellation', {
      currency: 'GBP',
      fee_tiers: [
        { min_hours_before: 0, max_hours_before: 6, max_inclusive: true, fee_cents: 4000 },
        { min_hours_before: 6, min_inclusive: false, max_hours_before: null, fee_cents: 250 },
      ],
    });
    expect(await feeAt(at, 6 * H)).toEqual({ cents: 4000, currency: 'GBP', rule: 'policy_tiers' });
    expect(await feeAt(at, 6 * H + 1)).toEqual({ cents: 250, currency: 'GBP', rule: 'policy_tiers' });
    await setPolicy('branch', dir.branch.id, 'cancellation', { fee_cents: 999 });
    expect(await feeAt(at, 1_000 * H)).toEqual({ cents: 999, currency: 'EUR', rule: 'fixed' });
    // The company's currency is the default.
    await api.pool.query(`UPDATE companies SET currency = 'CHF' WHERE id = $1`, [co.id]);
    expect(await feeAt(at, 1_000 * H)).toEqual({ cents: 999, currency: 'CHF', rule: 'fixed' });
    // Deadlines at exactly 24 h and 48 h before the start are still allowed; 1 ms later they are not.
    for (const hours of [24, 48]) {
      await setPolicy('branch', dir.branch.id, 'cancellation', { hours_before: hours });
      const ok = await book(0);
      await api.pool.query(`UPDATE appointments SET starts_at = $2, ends_at = $3 WHERE id = $1`, [
        ok.id,
        new Date(T.getTime() + hours * H),
        new Date(T.getTime() + hours * H + H),
      ]);
      expect((await at.quoteCancellation(co.id, ok.id)).decision).toMatchObject({ allowed: true, code: 'within_policy' });
      await api.pool.query(`UPDATE appointments SET starts_at = $2 WHERE id = $1`, [ok.id, new Date(T.getTime() + hours * H - 1)]);
      expect((await at.quoteCancellation(co.id, ok.id)).decision).toMatchObject({ allowed: false, code: 'deadline_passed' });
    }
  });

  it('reschedules: the new start is validated, the per-appointment quota applies, and appointment_rescheduled is delivered', async () => {
    await setPolicy('staff', dir.staff.id, 'reschedule', { max_reschedules_per_appointment: 1, hours_before: 2 });
    const appt = await book(50 * H);
    const bad: Array<[unknown, string]> = [
      [{ startsAt: new Date(Date.now() - H).toISOString() }, 'body.startsAt'],
      [{ startsAt: appt.startsAt }, 'body.startsAt'],
      [{ startsAt: new Date(Date.now() + 60 * H).toISOString(), endsAt: new Date(Date.now() + 59 * H).toISOString() }, 'body.endsAt'],
      [{ startsAt: '2030-01-01T10:00:00' }, 'body.startsAt'],
      [{}, 'body.startsAt'],
    ];
    for (const [body, field] of bad) {
      const res = await reschedule(appt.id, body);
      expect({ body, status: res.status, fields: fieldsOf(res) }).toEqual({ body, status: 400, fields: [field] });
    }
    const target = new Date(Date.now() + 72 * H);
    target.setUTCMilliseconds(0);
    const moved = await reschedule(appt.id, { startsAt: target.toISOString(), reason: 'clash' });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      appointment: { startsAt: target.toISOString(), endsAt: new Date(target.getTime() + 45 * 60_000).toISOString(), status: 'scheduled' },
      decision: {
        type: 'reschedule',
        allowed: true,
        policy: { level: 'staff' },
        quota: { scope: 'appointment', used: 0, limit: 1 },
        remainingModifications: 0,
      },
      modification: { type: 'reschedule', previousStartsAt: new Date(appt.startsAt).toISOString(), newStartsAt: target.toISOString() },
      notifications: [{ eventType: 'appointment_rescheduled' }],
    });
    expect(await delivered(moved.body.notifications[0].id)).toMatchObject({ status: 'delivered' });
    const second = await reschedule(appt.id, { startsAt: new Date(target.getTime() + H).toISOString() });
    expect(second.status).toBe(409);
    expect(second.body.error.details.decision).toMatchObject({ code: 'quota_exceeded', quota: { used: 1, limit: 1 } });
    const s = await state(appt.id);
    expect(s.appointment.reschedule_count).toBe(1);
    expect(s.stats).toEqual([expect.objectContaining({ modification_type: 'reschedule', count: 1 })]);
  });

  it('terms at booking: later edits and deletions do not change an existing booking’s terms; new bookings get the new ones', async () => {
    const policy = await setPolicy('branch', dir.branch.id, 'cancellation', { hours_before: 12, fee_cents: 100 });
    const early = await book(20 * H);
    await setPolicy('branch', dir.branch.id, 'cancellation', { hours_before: 48, fee_cents: 5000 });
    const late = await book(20 * H);
    expect((await quote(early.id)).body.decision).toMatchObject({
      allowed: true,
      fee: { cents: 100 },
      policy: { id: policy.id, version: 1, config: { hours_before: 12, fee_cents: 100 } },
    });
    expect((await quote(late.id)).body.decision).toMatchObject({
      allowed: false,
      code: 'deadline_passed',
      policy: { id: policy.id, version: 2 },
    });
    await api.request('DELETE', `/v1/policies/${policy.id}`, { key: co.manager });
    const noPolicyNow = await book(20 * H);
    expect((await quote(noPolicyNow.id)).body.decision).toMatchObject({ code: 'no_policy' });
    // The early booking is cancelled under its own terms, against the (now deleted) policy's row.
    const cancelled = await cancel(early.id);
    expect(cancelled.body).toMatchObject({
      decision: { fee: { cents: 100 } },
      modification: { policyId: policy.id, policyLevel: 'branch' },
    });
  });

  it('bookings on a small pool: a cache miss is read on the booking’s own connection (no pool self-deadlock)', async () => {
    await setPolicy('branch', dir.branch.id, 'cancellation', { hours_before: 6 });
    // Two connections, both held by booking transactions: a miss that waited for a third would time out.
    const small = createPool(testDatabaseUrl(), { max: 2, connectionTimeoutMillis: 1_000 });
    const cache = policyCacheFor(small);
    const policies = createPolicyService({ pool: small, client: api.temporal, taskQueue: api.taskQueue, cache });
    const directory = createDirectoryService({ pool: small, onAppointmentBooked: policies.termsAtBooking });
    try {
      const startsAt = new Date(Date.now() + 40 * H);
      const booked = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          directory.createAppointment(co.id, {
            customerId,
            branchId: dir.branch.id,
            serviceId: dir.service.id,
            staffId: dir.staff.id,
            startsAt: new Date(startsAt.getTime() + i * H).toISOString(),
            endsAt: new Date(startsAt.getTime() + i * H + 30 * 60_000).toISOString(),
            status: 'scheduled',
          }),
        ),
      );
      const { rows } = await api.pool.query(`SELECT policy_terms FROM appointments WHERE id = ANY($1)`, [booked.map((b) => b.id)]);
      expect(rows).toHaveLength(8);
      for (const r of rows)
        expect(r.policy_terms).toMatchObject({ source: 'booking', cancellation: { level: 'branch', config: { hours_before: 6 } } });
    } finally {
      await cache.close();
      await small.end();
    }
  });

  it('an appointment booked before terms were kept gets them at its first quote, and keeps them', async () => {
    const org = await createOrganisation(api.pool, { startsAt: new Date(Date.now() + 5 * H) });
    const put = (config: Record<string, unknown>) =>
      api.pool.query(
        `INSERT INTO policy_configurations AS pc (company_id, configurable_type, configurable_id, policy_type, config)
         VALUES ($1, 'company', $1, 'cancellation', $2)
         ON CONFLICT (company_id, configurable_type, configurable_id, policy_type) WHERE deleted_at IS NULL
         DO UPDATE SET config = EXCLUDED.config, version = pc.version + 1`,
        [org.companyId, JSON.stringify(config)],
      );
    await put({ fee_cents: 300 });
    const service = createPolicyService({ pool: api.pool, client: api.temporal, taskQueue: api.taskQueue, cache: api.policyCache });
    expect(
      (await api.pool.query(`SELECT policy_terms FROM appointments WHERE id = $1`, [org.appointmentId])).rows[0].policy_terms,
    ).toBeNull();
    const first = await service.quoteCancellation(org.companyId, org.appointmentId);
    expect(first).toMatchObject({
      terms: { source: 'first_use', cancellation: { level: 'company', config: { fee_cents: 300 } } },
      decision: { fee: { cents: 300 } },
    });
    await put({ fee_cents: 9_000 });
    await new Promise((r) => setTimeout(r, 100)); // every cache has heard of the change by now
    expect((await service.quoteCancellation(org.companyId, org.appointmentId)).decision.fee.cents).toBe(300);
  });

  it('two cancellations racing at the edge of a customer’s quota: exactly one is within policy (10 rounds)', async () => {
    await setPolicy('company', co.id, 'cancellation', { max_cancellations_per_month: 3 });
    for (let round = 0; round < 10; round++) {
      const customer = await newCustomer();
      const booked = await Promise.all([1, 2, 3, 4].map((i) => book((100 + i) * H, { customer })));
      expect((await cancel(booked[0].id)).status).toBe(200);
      expect((await cancel(booked[1].id)).status).toBe(200);
      // One cancellation left this month; two ask at once.
      const [x, y] = await Promise.all([cancel(booked[2].id), cancel(booked[3].id)]);
      expect([x.status, y.status].sort()).toEqual([200, 409]);
      const loser = x.status === 409 ? x : y;
      expect(loser.body.error.details.decision).toMatchObject({ code: 'quota_exceeded', quota: { used: 3, limit: 3 } });
      const { rows } = await api.pool.query(
        `SELECT count(*)::int AS n, bool_and(within_policy) AS ok FROM appointment_modifications WHERE customer_id = $1`,
        [customer],
      );
      expect(rows[0]).toEqual({ n: 3, ok: true });
      const stats = await api.pool.query(`SELECT count FROM appointment_modification_stats WHERE customer_id = $1`, [customer]);
      expect(stats.rows).toEqual([{ count: 3 }]);
    }
  });

  it('a policy deleted while an appointment is being cancelled: the decision, the record and the terms tell one story', async () => {
    // An appointment without terms (booked before they were kept), so the cancellation itself reads the policy.
    const org = await createOrganisation(api.pool, { startsAt: new Date(Date.now() + 30 * H) });
    const service = createPolicyService({ pool: api.pool, client: api.temporal, taskQueue: api.taskQueue, cache: api.policyCache });
    const policy = await api.pool.query(
      `INSERT INTO policy_configurations (company_id, configurable_type, configurable_id, policy_type, config)
       VALUES ($1, 'branch', $2, 'cancellation', '{"fee_cents": 700}') RETURNING id`,
      [org.companyId, org.branchId],
    );
    const policyId = policy.rows[0].id;
    // Hold the appointment row: the cancellation waits for it, the deletion commits meanwhile.
    const holder = await api.pool.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM appointments WHERE id = $1 FOR UPDATE`, [org.appointmentId]);
    const cancelling = service.cancelAppointment(org.companyId, org.appointmentId, {}, { keyId: randomUUID(), role: 'agent' });
    await new Promise((r) => setTimeout(r, 200));
    await service.deletePolicy(org.companyId, policyId);
    await holder.query('COMMIT');
    holder.release();
    const result = await cancelling;
    const { rows } = await api.pool.query(
      `SELECT m.policy_id, m.fee_charged_cents, m.decision_code, a.policy_terms
         FROM appointment_modifications m JOIN appointments a ON a.id = m.appointment_id WHERE m.appointment_id = $1`,
      [org.appointmentId],
    );
    // The deletion committed before the decision: no policy, free, and every record agrees.
    expect(result.decision).toMatchObject({ code: 'no_policy', policy: null, fee: { cents: 0 } });
    expect(rows).toEqual([
      { policy_id: null, fee_charged_cents: 0, decision_code: 'no_policy', policy_terms: expect.objectContaining({ cancellation: null }) },
    ]);

    // Booked with terms: deletions racing the cancellation never change what it decides.
    for (let i = 0; i < 5; i++) {
      const p = await setPolicy('branch', dir.branch.id, 'cancellation', { fee_cents: 700 + i });
      const appt = await book(100 * H);
      const [res] = await Promise.all([cancel(appt.id), api.request('DELETE', `/v1/policies/${p.id}`, { key: co.manager })]);
      expect(res.body).toMatchObject({
        decision: { policy: { id: p.id }, fee: { cents: 700 + i } },
        modification: { policyId: p.id, feeCharged: { cents: 700 + i } },
      });
    }
  });

  it('an Idempotency-Key replays the first outcome; another body with it is a 409', async () => {
    const appt = await book(80 * H);
    const key = `cancel-${randomUUID()}`;
    const first = await cancel(appt.id, { reason: 'r' }, co.agent, { 'idempotency-key': key });
    const again = await cancel(appt.id, { reason: 'r' }, co.agent, { 'idempotency-key': key });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const other = await cancel(appt.id, { reason: 'other' }, co.agent, { 'idempotency-key': key });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    expect((await state(appt.id)).modifications).toHaveLength(1);
  });

  it('another company’s appointment is 404 for quote, cancel and reschedule, and nothing is written', async () => {
    const b = await api.company();
    const dirB = await seedDirectory(api, b);
    const theirs = await book(30 * H, { company: b, directory: dirB, customer: dirB.customer.id });
    const before = await state(theirs.id);
    const tries = [
      quote(theirs.id),
      cancel(theirs.id),
      cancel(theirs.id, { override: { reason: 'x' } }, co.manager),
      reschedule(theirs.id, { startsAt: new Date(Date.now() + 90 * H).toISOString() }),
      quote(randomUUID()),
    ];
    for (const res of await Promise.all(tries)) {
      expect(res.status).toBe(404);
      expect(Object.keys(res.body)).toEqual(['error']);
    }
    expect(await state(theirs.id)).toEqual(before);
    expect((await quote('not-a-uuid')).status).toBe(400);
  });
});
