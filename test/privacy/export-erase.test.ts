import { randomUUID } from 'node:crypto';
import { REQUIRED_TABLES } from '../../src/db/schema-check';
import { ERASED_REASON } from '../../src/privacy/service';
import type { TestApi } from '../support/api';
import { seedDirectory, type Directory, type TestCompany } from '../support/directory';
import type { ChannelServers } from '../support/workers';
import { until as waitUntil } from '../support/until';
import { startApiStack, type ApiStack } from '../support/stack';

/**
 * Export and erasure through the real API, worker, Temporal and PostgreSQL: a customer with an
 * appointment cancelled through the policy engine (a fee-free modification and its monthly
 * counter), another one booked, an open callback with an escalation, a delivered email, a
 * notification waiting out quiet hours, a consent answer with a note. The export holds all of it;
 * the erasure cancels the open workflows, leaves none of the customer's name, address or number in
 * any row of any table, keeps the aggregates, and is idempotent. Another company's customer with
 * the same phone number is untouched, and its ids answer 404.
 */
describe('customer export and erasure', () => {
  let stack: ApiStack;
  let api: TestApi;
  let servers: ChannelServers;

  beforeAll(async () => {
    stack = await startApiStack({ linksToApi: true });
    ({ api, servers } = stack);
  });
  afterAll(() => stack?.close());

  const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000) =>
    waitUntil(what, probe, timeoutMs);
  async function ok(method: string, path: string, key: string, body?: unknown): Promise<any> {
    const res = await api.request(method, path, { key, body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

  /** A customer with something in every table that can hold their data. */
  async function customerWithHistory(company: TestCompany, dir: Directory) {
    const tag = randomUUID().slice(0, 8);
    const name = `Carla Zubizarreta ${tag}`;
    const email = `carla.${tag}@example.test`;
    const customerId = dir.customer.id as string;
    await ok('PATCH', `/v1/customers/${customerId}`, company.admin, { name, email });
    await ok('PUT', `/v1/customers/${customerId}/consents`, company.agent, {
      consents: [{ channel: 'sms', kind: 'optional', granted: false, note: `${name} asked at the desk` }],
    });
    const book = (inDays: number) => {
      const startsAt = new Date(Date.now() + inDays * 86_400_000);
      return ok('POST', '/v1/appointments', company.manager, {
        customerId,
        branchId: dir.branch.id,
        serviceId: dir.service.id,
        staffId: dir.staff.id,
        startsAt: startsAt.toISOString(),
        endsAt: new Date(startsAt.getTime() + 45 * 60_000).toISOString(),
        notes: `${name} prefers the window seat`,
      });
    };
    const cancelled = await book(3);
    await ok('POST', `/v1/appointments/${cancelled.id}/cancel`, company.agent, { reason: `${name} is ill` });
    const kept = await book(5);
    const callback = (
      await ok('POST', '/v1/callbacks', company.manager, {
        branchId: dir.branch.id,
        customerId,
        assignTo: dir.staff.id,
        notes: `call ${name} about the colour`,
      })
    ).callback;
    await ok('POST', `/v1/callbacks/${callback.id}/escalate`, company.manager, { notes: `${name} called twice` });
    // A reminder held by quiet hours (the customer's zone is UTC): its workflow is still open at erasure.
    const now = Date.now();
    await ok('PUT', '/v1/notification-configs', company.admin, {
      configurableType: 'company',
      configurableId: company.id,
      eventType: 'appointment_reminder_24h',
      quietHours: { start: hhmm(now - 3_600_000), end: hhmm(now + 3 * 3_600_000) },
    });
    const waiting = (
      await ok('POST', '/v1/notifications', company.agent, {
        eventType: 'appointment_reminder_24h',
        notifiable: { type: 'appointment', id: kept.id },
        data: { note: `for ${name}` },
      })
    ).notification;
    await until('the reminder waiting for quiet hours to end', async () => {
      const n = await ok('GET', `/v1/notifications/${waiting.id}`, company.agent);
      return n.status === 'waiting';
    });
    // The cancellation's email reached the customer, and every other notification has settled
    // (the bookings' own messages from their appointment workflows) but the waiting reminder.
    await until('the cancellation email', async () => servers.smtp.messages.some((m) => m.to.includes(email)));
    await until('the other notifications to settle', async () => {
      const { rows } = await api.pool.query(
        `SELECT count(*)::int AS n FROM notifications WHERE company_id = $1 AND status IN ('pending', 'sending') AND id <> $2`,
        [company.id, waiting.id],
      );
      return rows[0].n === 0;
    });
    return { customerId, name, email, cancelled, kept, callback, waiting };
  }

  /** Every row of every table that has a company_id, of one company, as text. */
  async function everythingOf(companyId: string): Promise<string> {
    const { rows: tables } = await api.pool.query(
      `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'company_id'
          AND table_name = ANY($1::text[])`,
      [REQUIRED_TABLES],
    );
    const parts: string[] = [];
    for (const { table_name } of tables) {
      const { rows } = await api.pool.query(`SELECT to_jsonb(t)::text AS row FROM ${table_name} t WHERE company_id = $1`, [companyId]);
      parts.push(...rows.map((r) => `${table_name}: ${r.row}`));
    }
    return parts.join('\n');
  }
  const traces = (text: string, who: { name: string; email: string }) =>
    text.split('\n').filter((line) => [who.name, who.email, '600 000 001', '34600000001'].some((needle) => line.includes(needle)));

  it('exports everything held about the customer to a manager, in one document; agents 403; another company 404', async () => {
    const [a, b] = await Promise.all([api.company(), api.company()]);
    const [dirA, dirB] = await Promise.all([seedDirectory(api, a), seedDirectory(api, b)]);
    const who = await customerWithHistory(a, dirA);

    expect((await api.request('GET', `/v1/customers/${who.customerId}/export`, { key: a.agent })).status).toBe(403);
    const foreign = await api.request('GET', `/v1/customers/${who.customerId}/export`, { key: b.manager });
    expect([foreign.status, foreign.body.error.code]).toEqual([404, 'not_found']);
    expect((await api.request('GET', `/v1/customers/${dirB.customer.id}/export`, { key: a.manager })).status).toBe(404);

    const res = await api.request('GET', `/v1/customers/${who.customerId}/export`, { key: a.manager });
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc).toMatchObject({ companyId: a.id, customerId: who.customerId });
    expect(doc.customer).toMatchObject({ id: who.customerId, name: who.name, email: who.email, phone: '+34600000001' });
    expect(doc.appointments.map((x: any) => [x.id, x.status, x.notes])).toEqual([
      [who.cancelled.id, 'cancelled', `${who.name} prefers the window seat`],
      [who.kept.id, 'scheduled', `${who.name} prefers the window seat`],
    ]);
    expect(doc.appointmentModifications).toEqual([
      expect.objectContaining({ appointment_id: who.cancelled.id, modification_type: 'cancel', reason: `${who.name} is ill` }),
    ]);
    expect(doc.modificationStats).toEqual([expect.objectContaining({ modification_type: 'cancel', count: 1 })]);
    expect(doc.callbacks).toHaveLength(1);
    expect(doc.callbacks[0]).toMatchObject({ id: who.callback.id, customer_name: who.name, notes: `call ${who.name} about the colour` });
    expect(doc.callbacks[0].escalations).toEqual([expect.objectContaining({ reason: 'manual', notes: `${who.name} called twice` })]);
    // To the customer (the cancellation, the reminder) and to staff about the customer's callback.
    const events = doc.notifications.map((n: any) => n.event_type);
    expect(events).toEqual(expect.arrayContaining(['appointment_cancelled', 'appointment_reminder_24h', 'callback_escalated']));
    const cancellation = doc.notifications.find((n: any) => n.event_type === 'appointment_cancelled');
    expect(cancellation.deliveries).toEqual([expect.objectContaining({ channel: 'email', recipient: who.email, status: 'sent' })]);
    expect(doc.consents).toEqual([expect.objectContaining({ channel: 'sms', kind: 'optional', granted: false })]);
    expect(doc.consentEvents).toEqual([expect.objectContaining({ note: `${who.name} asked at the desk` })]);
    expect(doc.calls).toEqual([]);
    // Nothing of the other company, although its customer shares the phone number.
    expect(JSON.stringify(doc)).not.toContain(b.id);
  });

  it('erases: cancels the open workflows, leaves no trace in any table, keeps aggregates and quotas, and is idempotent', async () => {
    const [a, b] = await Promise.all([api.company(), api.company()]);
    const [dirA, dirB] = await Promise.all([seedDirectory(api, a), seedDirectory(api, b)]);
    const who = await customerWithHistory(a, dirA);
    const other = await customerWithHistory(b, dirB);

    const range = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 60_000).toISOString()}`;
    const aggregates = async () => ({
      callbacks: await ok('GET', `/v1/analytics/callbacks?${range}`, a.manager),
      notifications: await ok('GET', `/v1/analytics/notifications?${range}`, a.manager),
      stats: (
        await api.pool.query(
          `SELECT modification_type, period_month, count, fees_cents FROM appointment_modification_stats WHERE company_id = $1`,
          [a.id],
        )
      ).rows,
      quote: await ok('GET', `/v1/appointments/${who.kept.id}/cancellation-quote`, a.agent),
      appointments: (await api.pool.query(`SELECT id, status, starts_at FROM appointments WHERE company_id = $1 ORDER BY id`, [a.id])).rows,
    });
    const before = await aggregates();
    expect(traces(await everythingOf(a.id), who).length).toBeGreaterThan(5);

    expect((await api.request('POST', `/v1/customers/${who.customerId}/erase`, { key: a.manager })).status).toBe(403);
    expect((await api.request('POST', `/v1/customers/${who.customerId}/erase`, { key: b.admin })).status).toBe(404);
    expect(traces(await everythingOf(a.id), who).length).toBeGreaterThan(5);

    const res = await api.request('POST', `/v1/customers/${who.customerId}/erase`, { key: a.admin });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      customerId: who.customerId,
      alreadyErased: false,
      // The open callback, the waiting reminder, the booked appointment's workflow (the cancelled one's has ended).
      workflowsCancelled: { callbacks: 1, notifications: 1, appointments: 1, stillRunning: 0 },
    });
    expect(res.body.erasedBy).toMatch(/^api-key:[0-9a-f-]{36} \(admin\)$/);
    expect(res.body.rowsChanged).toMatchObject({ customers: 1, appointments: 2, callback_requests: 1, appointment_modifications: 1 });

    // The open workflows were cancelled through their own paths: the rows say why, the runs are closed.
    const callbackRow = (
      await api.pool.query(`SELECT status, status_reason, workflow_id FROM callback_requests WHERE id = $1`, [who.callback.id])
    ).rows[0];
    expect(callbackRow).toMatchObject({ status: 'cancelled', status_reason: ERASED_REASON });
    const waitingRow = (await api.pool.query(`SELECT status, workflow_id FROM notifications WHERE id = $1`, [who.waiting.id])).rows[0];
    expect(waitingRow.status).toBe('cancelled');
    const appointmentRow = (await api.pool.query(`SELECT workflow_id, workflow_outcome FROM appointments WHERE id = $1`, [who.kept.id]))
      .rows[0];
    expect(appointmentRow.workflow_outcome).toBe(ERASED_REASON);
    for (const workflowId of [callbackRow.workflow_id, waitingRow.workflow_id, appointmentRow.workflow_id]) {
      expect((await api.temporal.workflow.getHandle(workflowId).describe()).status.name).not.toBe('RUNNING');
    }

    // No name, email or phone number left in any row of any table of the company…
    expect(traces(await everythingOf(a.id), who)).toEqual([]);
    // …while the aggregates, the quota counters and the appointments' facts are exactly as before.
    expect(await aggregates()).toEqual(before);
    // The other company's customer, with the same phone number, keeps everything.
    expect(traces(await everythingOf(b.id), other).length).toBeGreaterThan(5);

    const exported = (await ok('GET', `/v1/customers/${who.customerId}/export`, a.manager)) as any;
    expect(exported.customer).toMatchObject({ name: 'Erased customer', email: null, phone: null });
    expect(Date.parse(exported.customer.erased_at)).toBe(Date.parse(res.body.erasedAt));

    // Idempotent: the second call changes nothing and says so.
    const again = await api.request('POST', `/v1/customers/${who.customerId}/erase`, { key: a.admin });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ alreadyErased: true, erasedAt: res.body.erasedAt, erasedBy: res.body.erasedBy });
    expect(again.body.workflowsCancelled).toEqual({ callbacks: 0, notifications: 0, appointments: 0, stillRunning: 0 });
    expect(Object.values(again.body.rowsChanged).every((n) => n === 0)).toBe(true);
  });

  it('erases in one transaction: a failure on its last statement leaves every row as it was, and a retry completes', async () => {
    const a = await api.company();
    const who = await customerWithHistory(a, await seedDirectory(api, a));
    const before = traces(await everythingOf(a.id), who);
    // The profile is erased last; make exactly that statement fail for this customer.
    const fn = `fail_erase_${who.customerId.replace(/-/g, '')}`;
    await api.pool.query(`
      CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = '${who.customerId}' AND NEW.erased_at IS NOT NULL THEN RAISE EXCEPTION 'disk full (test)'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER ${fn} BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION ${fn}();`);
    try {
      const failed = await api.request('POST', `/v1/customers/${who.customerId}/erase`, { key: a.admin });
      expect(failed.status).toBe(500);
      // Nothing half-written: every row that held the customer's data still holds it (the
      // notifications, callbacks and notes updated before the failing statement were rolled back
      // with it). The open workflows were cancelled first, so their rows' statuses did change.
      const rowsOf = (lines: string[]) => lines.map((l) => `${l.split(':')[0]} ${/"id": "([0-9a-f-]+)"/.exec(l)?.[1] ?? l}`).sort();
      expect(rowsOf(traces(await everythingOf(a.id), who))).toEqual(rowsOf(before));
    } finally {
      await api.pool.query(`DROP TRIGGER ${fn} ON customers; DROP FUNCTION ${fn}();`);
    }
    const retried = await api.request('POST', `/v1/customers/${who.customerId}/erase`, { key: a.admin });
    expect([retried.status, retried.body.alreadyErased]).toEqual([200, false]);
    expect(traces(await everythingOf(a.id), who)).toEqual([]);
  });
});
