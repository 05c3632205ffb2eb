import { createHmac, randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { createActivities } from '../../activities';
import { REQUIRED_TABLES } from '../../src/db/schema-check';
import { ERASED_REASON } from '../../src/privacy/service';
import type { TestApi } from '../support/api';
import { seedDirectory } from '../support/directory';
import { startApiStack, type ApiStack } from '../support/stack';
import { until } from '../support/until';
import { logger, testChannels, type ChannelServers } from '../support/workers';
import { saveHistories } from '../workflows/recorded-histories';

const H = 3_600_000;

/**
 * An erasure meeting the appointment workflows at their most awkward moments, through the real
 * API, worker, Temporal dev server and PostgreSQL:
 * - a reminder step already inside its send (held on a row lock) when the erasure starts: the step
 *   commits and queues its notification; nothing of the customer may be left anywhere afterwards,
 *   and nothing may be sent after the erasure has committed;
 * - a calendar reschedule (a signed Cal.com delivery) and an edit after the erasure: the erased
 *   customer's appointment never gets a new workflow run.
 */
describe('erasure against running appointment workflows', () => {
  let stack: ApiStack;
  let api: TestApi;
  let servers: ChannelServers;
  const recorded: Array<{ workflowId: string; label: string }> = [];

  beforeAll(async () => {
    stack = await startApiStack();
    ({ api, servers } = stack);
  });
  afterAll(async () => {
    if (process.env.UPDATE_HISTORIES && api) {
      const histories = [];
      for (const r of recorded)
        histories.push({ label: r.label, history: await api.temporal.workflow.getHandle(r.workflowId).fetchHistory() });
      saveHistories('appointment', histories);
    }
    await stack?.close();
  });

  async function ok(method: string, path: string, key: string, body?: unknown): Promise<any> {
    const res = await api.request(method, path, { key, body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
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
  const traces = (text: string, needles: string[]) => text.split('\n').filter((line) => needles.some((n) => line.includes(n)));
  /** Backends waiting for a lock held by this session. */
  const blockedBy = async (holder: PoolClient) => {
    const pid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const { rows } = await api.pool.query(`SELECT query FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, [pid]);
    return rows.map((r) => r.query as string);
  };
  const lockRow = async (table: string, id: string) => {
    const client = await api.pool.connect();
    await client.query('BEGIN');
    await client.query(`SELECT 1 FROM ${table} WHERE id = $1 FOR UPDATE`, [id]);
    return client;
  };
  const release = async (client: PoolClient | undefined) => {
    if (!client) return;
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  };

  it('erasure while a reminder step is inside its send: the step’s notification is swept too, and no trace of the customer is left', async () => {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const tag = randomUUID().slice(0, 8);
    const who = { name: `Dolores Ibarruri ${tag}`, email: `dolores.${tag}@example.test`, phone: '+34 611 222 333' };
    await ok('PATCH', `/v1/customers/${dir.customer.id}`, company.admin, who);
    // The 2 h reminder falls due 25 seconds after the booking.
    const startsAt = Date.now() + 2 * H + 25_000;
    const appointment = await ok('POST', '/v1/appointments', company.manager, {
      customerId: dir.customer.id,
      branchId: dir.branch.id,
      serviceId: dir.service.id,
      startsAt: new Date(startsAt).toISOString(),
      endsAt: new Date(startsAt + 45 * 60_000).toISOString(),
    });
    const handle = api.temporal.workflow.getHandle(`appointment-${appointment.id}`);
    recorded.push({ workflowId: handle.workflowId, label: 'erased-while-a-reminder-step-is-inside-its-send' });
    await until('the booked message', async () => {
      const { rows } = await api.pool.query(`SELECT 1 FROM appointment_messages WHERE appointment_id = $1 AND kind = 'created'`, [
        appointment.id,
      ]);
      return rows.length === 1;
    });
    // A call of the customer's (the erasure anonymises it after the notifications).
    const call = await api.pool.query(
      `INSERT INTO calls (company_id, customer_id, external_call_id, from_number) VALUES ($1, $2, $3, '+34611222333') RETURNING id`,
      [company.id, dir.customer.id, `call-${tag}`],
    );

    let stepHeld: PoolClient | undefined;
    let erasureHeld: PoolClient | undefined;
    try {
      // The reminder's step will wait inside its transaction on the appointment row…
      stepHeld = await lockRow('appointments', appointment.id);
      // …and the erasure's transaction, once it runs, on the call (after it has erased the notifications).
      erasureHeld = await lockRow('calls', call.rows[0].id);
      await until('the 2 h reminder step inside its send', async () => (await blockedBy(stepHeld!)).length > 0, 60_000);

      const erasing = api.request('POST', `/v1/customers/${dir.customer.id}/erase`, { key: company.admin });
      // The erasure has done what it does before the step can go on: it waits for the cancelled run
      // to close (the run waits for its step), or it went on and is inside its transaction.
      await until('the erasure under way', async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const requested = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
        // The run has taken the cancellation in (a workflow task completed since)…
        if (requested < 0 || !events.slice(requested).some((e) => e.workflowTaskCompletedEventAttributes)) return false;
        // …and either still runs (it waits for its step) or has closed, the erasure then going on to its transaction.
        if ((await handle.describe()).status.name === 'RUNNING') return true;
        return (await blockedBy(erasureHeld!)).length > 0;
      });
      await release(stepHeld);
      stepHeld = undefined;

      // The step commits and queues the reminder: it is swept (cancelled) or it went out before the erasure's transaction.
      const reminder = await until('the reminder settled, or sent', async () => {
        const { rows } = await api.pool.query(
          `SELECT id, status, workflow_id FROM notifications WHERE notifiable_id = $1 AND event_type = 'appointment_reminder_2h'`,
          [appointment.id],
        );
        const sms = servers.twilio.messages.some((m) => m.to === '+34611222333');
        return rows[0] && (['delivered', 'failed', 'suppressed', 'cancelled'].includes(rows[0].status) || sms) ? rows[0] : null;
      });
      await release(erasureHeld);
      erasureHeld = undefined;

      const res = await erasing;
      expect(res.status).toBe(200);
      expect(res.body.workflowsCancelled).toMatchObject({ appointments: 1, stillRunning: 0 });
      // Nothing of the customer anywhere, the reminder's attempt rows included.
      expect(traces(await everythingOf(company.id), [who.name, who.email, '611 222 333', '611222333'])).toEqual([]);
      // The reminder ended before the erasure committed, and its run is closed: nothing can be sent any more.
      const after = await api.pool.query(`SELECT status, completed_at FROM notifications WHERE id = $1`, [reminder.id]);
      expect(['delivered', 'cancelled']).toContain(after.rows[0].status);
      expect((await api.temporal.workflow.getHandle(reminder.workflow_id).describe()).status.name).not.toBe('RUNNING');
      const { rows } = await api.pool.query(`SELECT workflow_outcome FROM appointments WHERE id = $1`, [appointment.id]);
      expect(rows[0].workflow_outcome).toBe(ERASED_REASON);
    } finally {
      await release(stepHeld);
      await release(erasureHeld);
    }
  }, 120_000);

  it('a Cal.com reschedule and an edit after the erasure start no new run: the appointment moves, its workflow stays closed', async () => {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const integration = await ok('PUT', '/v1/integrations/calcom', company.admin, {});
    const eventTypeId = `${Math.floor(Math.random() * 1e9)}`;
    await ok('PUT', `/v1/calcom/event-types/${eventTypeId}`, company.manager, {
      branchId: dir.branch.id,
      serviceId: dir.service.id,
      staffId: dir.staff.id,
    });
    // Deliveries as Cal.com signs them (HMAC-SHA256 of the raw body with the webhook's secret, in X-Cal-Signature-256).
    const deliver = (trigger: string, uid: string, startsAt: number, extra: Record<string, unknown> = {}) => {
      const raw = JSON.stringify({
        triggerEvent: trigger,
        createdAt: new Date().toISOString(),
        payload: {
          type: 'haircut',
          title: 'Haircut between Salon and Elena',
          eventTypeId: Number(eventTypeId),
          uid,
          startTime: new Date(startsAt).toISOString(),
          endTime: new Date(startsAt + 45 * 60_000).toISOString(),
          status: 'ACCEPTED',
          attendees: [{ name: 'Elena', email: `elena.${uid}@example.test`, timeZone: 'Europe/Madrid', language: { locale: 'es' } }],
          organizer: { name: 'Salon', email: 'salon@example.test', timeZone: 'Europe/Madrid' },
          ...extra,
        },
      });
      const signature = createHmac('sha256', integration.secret).update(raw).digest('hex');
      return api.request('POST', integration.webhookPath, { raw, headers: { 'x-cal-signature-256': signature } });
    };
    const uid = `bk_${randomUUID()}`;
    const first = Math.ceil((Date.now() + 3 * 24 * H) / 60_000) * 60_000;
    const created = await deliver('BOOKING_CREATED', uid, first);
    expect(created.body).toMatchObject({ outcome: 'applied' });
    const id = created.body.appointmentId as string;
    const handle = api.temporal.workflow.getHandle(`appointment-${id}`);
    recorded.push({ workflowId: handle.workflowId, label: 'erased-then-rescheduled-in-calcom' });
    await until('the workflow read its row', async () => {
      const { rows } = await api.pool.query(`SELECT 1 FROM appointments WHERE id = $1 AND workflow_started_at IS NOT NULL`, [id]);
      return rows.length === 1;
    });
    const customerId = (await api.pool.query(`SELECT customer_id FROM appointments WHERE id = $1`, [id])).rows[0].customer_id;
    const erased = await ok('POST', `/v1/customers/${customerId}/erase`, company.admin);
    expect(erased.workflowsCancelled).toMatchObject({ appointments: 1, stillRunning: 0 });
    const closed = await handle.describe();
    expect(closed.status.name).toBe('CANCELLED');

    // Cal.com moves the booking two days on; then an administrator edits it.
    const second = first + 2 * 24 * H;
    const moved = await deliver('BOOKING_RESCHEDULED', `bk_${randomUUID()}`, second, { rescheduleUid: uid });
    expect([moved.status, moved.body.outcome, moved.body.appointmentId]).toEqual([200, 'applied', id]);
    await ok('PATCH', `/v1/appointments/${id}`, company.admin, { status: 'confirmed' });
    // The reconciler's pass does not start it either.
    const { reconcileOutbox } = createActivities({
      pool: api.pool,
      logger,
      channels: testChannels(servers),
      client: api.temporal,
      taskQueue: stack.worker.taskQueue,
    });
    await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [company.id] });

    const row = (
      await api.pool.query(
        `SELECT starts_at, status, workflow_finished_at, workflow_outcome, revision, workflow_revision FROM appointments WHERE id = $1`,
        [id],
      )
    ).rows[0];
    expect([row.starts_at.getTime(), row.status]).toEqual([second, 'confirmed']);
    // The row keeps its finished mark and the erasure's reason; its workflow knows of every change (nothing lags).
    expect(row).toMatchObject({ workflow_finished_at: expect.any(Date), workflow_outcome: ERASED_REASON });
    expect(row.workflow_revision).toBe(row.revision);
    // The one run there was is the one the erasure cancelled.
    const now = await handle.describe();
    expect([now.runId, now.status.name]).toEqual([closed.runId, 'CANCELLED']);
    // And nothing of the appointment's own was sent or queued after the erasure.
    const messages = await api.pool.query(`SELECT kind FROM appointment_messages WHERE appointment_id = $1 ORDER BY decided_at`, [id]);
    expect(messages.rows.map((m) => m.kind)).toEqual(['confirmed']);

    // A new booking for the erased customer is an appointment like any other, without a workflow.
    const later = await ok('POST', '/v1/appointments', company.manager, {
      customerId,
      branchId: dir.branch.id,
      serviceId: dir.service.id,
      startsAt: new Date(second + 24 * H).toISOString(),
      endsAt: new Date(second + 24 * H + 45 * 60_000).toISOString(),
    });
    const booked = (await api.pool.query(`SELECT workflow_id FROM appointments WHERE id = $1`, [later.id])).rows[0];
    expect(booked.workflow_id).toBeNull();
    await expect(api.temporal.workflow.getHandle(`appointment-${later.id}`).describe()).rejects.toThrow(/not found/i);
  });
});
