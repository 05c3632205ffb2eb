import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { appointmentChangedSignal, appointmentStateQuery } from '../../src/appointments/definitions';
import { registerAppointmentMetrics } from '../../src/appointments/service';
import { migrate } from '../../src/db/migrate';
import { createPool, type Pool } from '../../src/db/pool';
import { freePort } from '../../src/dev/free-port';
import type { Durability } from '../../src/temporal/durability';
import { book, bookingStack, H, messagesOf, MIN, until } from '../appointments/support';
import { testClient } from '../support/encryption';
import { createOrganisation } from '../support/fixtures';
import { RestartablePostgres } from '../support/postgres-server';
import { timeSkippingTemporal } from '../support/temporal';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';
import { saveHistories } from '../workflows/recorded-histories';

/** Read by name, so that this file also runs (and fails for the right reason) against code without the attribute. */
const NeedsAttention = defineSearchAttributeKey('NeedsAttention', SearchAttributeType.BOOL);

/**
 * Appointment workflows when their database goes away (a PostgreSQL server of this file's own,
 * really stopped and started again) and when their own code has a bug, with a real worker, SMTP
 * and Twilio-style servers:
 * - on the time-skipping server, a message whose moment passes during an outage is recorded
 *   skipped, never sent late: the step, and the notification's own send, decide with the clock of
 *   the send;
 * - on the dev server (real time: a local activity's retry budget is measured on the worker's
 *   clock, which time skipping does not move), with a retry budget of seconds: a message step that
 *   spends it is recorded `failed` on its row; a bookkeeping step that spends it stalls visibly
 *   (NeedsAttention, the live state) and goes on when the database is back, the plan intact; a bug
 *   ends the run visibly (the row says `failed: …`, NeedsAttention, the run fails, the metrics count it).
 */
describe('appointment workflows through PostgreSQL outages and a bug', () => {
  let dataDir: string;
  let pg: RestartablePostgres;
  let pool: Pool;
  let servers: ChannelServers;
  const metrics = new Registry();
  /** Fault injection around the real activities, set by each test. */
  let around: NonNullable<Parameters<typeof startTestWorker>[0]['around']> | undefined;
  const smsTo = (phone: string) => servers.twilio.messages.filter((m) => m.to === phone);
  const rowOf = async (id: string) =>
    (await pool.query(`SELECT workflow_finished_at, workflow_outcome FROM appointments WHERE id = $1`, [id])).rows[0];
  const message = (id: string, kind: string, timeoutMs?: number) =>
    until(`the ${kind} row of ${id}`, async () => (await messagesOf(pool, id)).find((m) => m.kind === kind), timeoutMs);
  /** A metric's value for one label set (0 when absent), as the API's /metrics shows it. */
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = await metrics.getSingleMetric(name)!.get();
    return m.values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))?.value ?? 0;
  };

  beforeAll(async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-fault-appt-'));
    fs.chmodSync(parent, 0o755); // the server may run as the unprivileged postgres user
    dataDir = path.join(parent, 'data');
    pg = new RestartablePostgres(dataDir, await freePort(), 'appointments');
    const url = await pg.start();
    await migrate({ databaseUrl: url });
    pool = createPool(url, { max: 10, connectionTimeoutMillis: 1_000 });
    servers = await startChannelServers();
    registerAppointmentMetrics(metrics, pool);
  }, 120_000);
  afterAll(async () => {
    await servers?.close();
    await pool?.end().catch(() => undefined);
    await pg?.stop();
    if (dataDir) fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });
  afterEach(async () => {
    around = undefined;
    const up = await pool.query('SELECT 1').then(
      () => true,
      () => false,
    );
    if (!up) await pg.start();
  });
  const worker = (connection: NativeConnection, client: Client) =>
    startTestWorker({
      connection,
      client,
      pool,
      channels: testChannels(servers),
      around: (name, run, args) => (around ? around(name, run, args) : run()),
    });

  describe('on the time-skipping server', () => {
    let env: TestWorkflowEnvironment;
    let w: TestWorker;
    let stack: ReturnType<typeof bookingStack>;
    beforeAll(async () => {
      env = await timeSkippingTemporal();
      w = await worker(env.nativeConnection, env.client);
      stack = bookingStack({ pool, client: env.client, taskQueue: w.taskQueue });
    });
    afterAll(async () => {
      await stack?.policies.close();
      await w?.stop();
      await env?.teardown();
    });
    const now = async () => Math.ceil((await env.currentTimeMs()) / MIN) * MIN;
    const sleepUntil = async (instant: number) => {
      const left = instant - (await env.currentTimeMs());
      if (left > 0) await env.sleep(left);
    };
    const handle = (id: string) => env.client.workflow.getHandle(`appointment-${id}`);

    it('an outage longer than the gap before the start: the 2 h reminder is recorded skipped when its step runs at last, never sent', async () => {
      const phone = '+34611000001';
      const org = await createOrganisation(pool, { customer: { phone } });
      const start = (await now()) + 3 * 24 * H;
      const a = await book(stack, org, start);
      await message(a.id, 'created');
      await sleepUntil(start - 2 * H - MIN);

      // PostgreSQL goes away a minute before the 2 h reminder and stays away 2.5 h: past the start.
      await pg.stop();
      try {
        await env.sleep(150 * MIN);
        expect(w.failures.sendAppointmentMessage ?? 0).toBeGreaterThan(5);
        expect(await messagesOf(pool, a.id).catch(() => 'unreachable')).toBe('unreachable');
      } finally {
        await pg.start();
      }
      // The step's next retry (at most 5 minutes later) decides with its own clock: after the start.
      await env.sleep(10 * MIN);
      const r2 = await message(a.id, 'reminder_2h');
      expect([r2.status, r2.reason, r2.notification_id]).toEqual(['skipped', 'the appointment had started', null]);
      expect(r2.decided_at.getTime()).toBeGreaterThanOrEqual(start);
      await sleepUntil(start + 45 * MIN + 61 * MIN);
      expect(await handle(a.id).result()).toMatchObject({ outcome: 'ended' });
      expect(smsTo(phone)).toEqual([]);
    });

    it('an outage inside the reminder’s own send, longer than the gap: the notification ends suppressed as too late, nothing sent', async () => {
      const phone = '+34611000002';
      const org = await createOrganisation(pool, { customer: { phone } });
      const start = (await now()) + 3 * 24 * H;
      const a = await book(stack, org, start);
      await message(a.id, 'created');
      let stopped: Promise<void> | undefined;
      around = async (name, run, args) => {
        const input = args[0] as { eventType?: string; companyId?: string };
        // The database goes away as the 2 h reminder's notification is about to send.
        if (name === 'attemptDelivery' && input.eventType === 'appointment_reminder_2h' && input.companyId === org.companyId)
          stopped ??= pg.stop();
        await stopped;
        return run();
      };
      await sleepUntil(start - 2 * H + MIN);
      await until('the send attempt met the outage', async () => stopped !== undefined);
      try {
        await env.sleep(150 * MIN);
        expect(w.failures.attemptDelivery ?? 0).toBeGreaterThan(3);
      } finally {
        await stopped;
        await pg.start();
      }
      await env.sleep(10 * MIN);
      const r2 = await message(a.id, 'reminder_2h');
      // The step queued it in time (before the start)…
      expect(r2.status).toBe('sent');
      // …and its notification, retried past the start, did not send: suppressed, saying why.
      const n = await until('the reminder notification final', async () => {
        const { rows } = await pool.query(`SELECT status, status_reason FROM notifications WHERE id = $1`, [r2.notification_id]);
        return ['suppressed', 'delivered', 'failed', 'cancelled'].includes(rows[0].status) ? rows[0] : null;
      });
      expect(n.status).toBe('suppressed');
      expect(n.status_reason).toMatch(new RegExp(`^too late: its moment passed at ${new Date(start).toISOString()}`));
      const deliveries = await pool.query(`SELECT count(*)::int AS n FROM notification_deliveries WHERE notification_id = $1`, [
        r2.notification_id,
      ]);
      expect(deliveries.rows[0].n).toBe(0);
      expect(smsTo(phone)).toEqual([]);
      const schedule = await stack.appointments.getSchedule(org.companyId, a.id);
      expect(schedule.messages.find((m) => m.kind === 'reminder_2h')).toMatchObject({ status: 'sent', notificationStatus: 'suppressed' });
      await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
    });
  });

  describe('on the dev server, with a retry budget of seconds', () => {
    let connection: Connection;
    let client: Client;
    let native: NativeConnection;
    let w: TestWorker;
    let stack: ReturnType<typeof bookingStack>;
    /** The same, with runs that continue as new once their history holds 30 events. */
    let shortLived: ReturnType<typeof bookingStack>;
    const recorded: Array<{ id: string; label: string; runId?: string }> = [];
    // Production: 6 hours of retries per step, 5 minutes at most between two. Here a budget of 10 s,
    // every backoff (6 s) longer than the local retry threshold (5 s), so that local activities wait
    // on workflow timers as they do in production (a schedule-to-close timeout that expires during
    // an in-worker backoff is not reported by the SDK's core: in-worker retries only last seconds).
    const QUICK: Durability = {
      infraRetryMs: 10_000,
      infraInitialIntervalMs: 6_000,
      infraMaximumIntervalMs: 6_000,
      heartbeatTimeoutMs: 15_000,
    };

    beforeAll(async () => {
      connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
      client = testClient(connection);
      native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
      w = await worker(native, client);
      stack = bookingStack({ pool, client, taskQueue: w.taskQueue, durability: QUICK });
      shortLived = bookingStack({ pool, client, taskQueue: w.taskQueue, durability: QUICK, historyLimit: 30 });
    });
    afterAll(async () => {
      if (process.env.UPDATE_HISTORIES && client) {
        const histories = [];
        for (const r of recorded)
          histories.push({ label: r.label, history: await client.workflow.getHandle(`appointment-${r.id}`, r.runId).fetchHistory() });
        saveHistories('appointment', histories);
      }
      await stack?.policies.close();
      await shortLived?.policies.close();
      await w?.stop();
      await native?.close();
      await connection?.close();
    });
    const handle = (id: string) => client.workflow.getHandle(`appointment-${id}`);
    const attention = async (id: string) => (await handle(id).describe()).typedSearchAttributes.get(NeedsAttention);
    const stateOf = (id: string) =>
      client.withDeadline(Date.now() + 2_000, () => handle(id).query(appointmentStateQuery)).catch(() => undefined);
    const testLabel = () => (expect.getState().currentTestName ?? 'outage').replace(/^.*? with a retry budget of seconds /, '');
    const inThreeDays = () => Math.ceil((Date.now() + 3 * 24 * H) / MIN) * MIN;
    /** Waits until the outage has really been met (the worker counted failures of this activity). */
    const failing = (activity: string, before: number) => until(`${activity} failing`, async () => (w.failures[activity] ?? 0) > before);

    it('a message step that outlasts its retry budget is recorded failed; recording it stalls visibly until the database is back; the run goes on', async () => {
      const phone = '+34611000003';
      const org = await createOrganisation(pool, { customer: { phone } });
      const [failedBefore, cancelledBefore] = [
        await metric('appointment_messages_decided', { status: 'failed' }),
        await metric('appointment_workflow_endings', { ending: 'cancelled' }),
      ];
      // The database goes away as the "booked" message's step is about to run, for longer than its budget.
      let stopped: Promise<void> | undefined;
      around = async (name, run, args) => {
        if (name === 'sendAppointmentMessage' && (args[0] as { companyId: string }).companyId === org.companyId) stopped ??= pg.stop();
        await stopped;
        return run();
      };
      const a = await book(stack, org, inThreeDays());
      recorded.push({ id: a.id, label: testLabel() });
      try {
        await until('the run flagged', async () => (await attention(a.id)) === true);
        const during = await until('the live state', async () => (await stateOf(a.id))?.stalled ?? null);
        expect(during).toMatchObject({ step: 'recording a message that could not be sent', error: expect.any(String) });
        expect((await handle(a.id).describe()).status.name).toBe('RUNNING');
        expect(await messagesOf(pool, a.id).catch(() => 'unreachable')).toBe('unreachable');
      } finally {
        await stopped;
        await pg.start();
      }
      // Back: the stalled step goes through on its next try; the message is on its row, failed, with why.
      const created = await message(a.id, 'created');
      expect([created.status, created.notification_id]).toEqual(['failed', null]);
      expect(created.reason).toMatch(/^could not be sent: /);
      await until('the stall cleared', async () => (await stateOf(a.id))?.stalled === null);
      const schedule = await stack.appointments.getSchedule(org.companyId, a.id);
      expect(schedule.messages.map((m) => [m.kind, m.status, m.reason])).toEqual([['created', 'failed', created.reason]]);
      // The rest of the plan is intact: its reminders still planned, and a later message goes out.
      expect(schedule.planned!.map((m) => m.kind)).toEqual(['reminder_24h', 'reminder_2h', 'feedback']);
      await stack.directory.updateAppointment(org.companyId, a.id, { status: 'confirmed' });
      expect((await message(a.id, 'confirmed')).status).toBe('sent');
      await until('the confirmation SMS or email', async () => {
        const { rows } = await pool.query(`SELECT status FROM notifications WHERE notifiable_id = $1`, [a.id]);
        return rows.length === 1 && rows[0].status === 'delivered';
      });
      stack.clock.ms = Date.now();
      await stack.policies.cancelAppointment(org.companyId, a.id, { reason: 'test' }, { keyId: org.staffId, role: 'manager' });
      expect(await handle(a.id).result()).toMatchObject({ outcome: 'cancelled', sent: ['confirmed'] });
      expect(await rowOf(a.id)).toMatchObject({ workflow_outcome: 'cancelled', workflow_finished_at: expect.any(Date) });
      // A message was lost to the outage: the run stays flagged, and the metrics count it.
      expect(await attention(a.id)).toBe(true);
      expect(await metric('appointment_messages_decided', { status: 'failed' })).toBe(failedBefore + 1);
      expect(await metric('appointment_workflow_endings', { ending: 'cancelled' })).toBe(cancelledBefore + 1);
    });

    it('reading the row outlasts its retry budget: the run stalls visibly instead of failing, continues as new to bound its history, and keeps its plan', async () => {
      const org = await createOrganisation(pool, { customer: { phone: '+34611000004' } });
      const noShowsBefore = await metric('appointment_workflow_endings', { ending: 'no_show' });
      const a = await book(shortLived, org, inThreeDays());
      recorded.push({ id: a.id, label: testLabel() });
      await message(a.id, 'created');
      const firstRun = (await handle(a.id).describe()).runId;

      const before = w.failures.readAppointment ?? 0;
      await pg.stop();
      try {
        // A change is announced while the database is away: the workflow must read the row.
        await handle(a.id).signal(appointmentChangedSignal, {});
        await failing('readAppointment', before);
        await until('the run flagged', async () => (await attention(a.id)) === true);
        const during = await until('the live state', async () => (await stateOf(a.id))?.stalled ?? null);
        expect(during.step).toBe('reading the appointment');
        expect((await handle(a.id).describe()).status.name).toBe('RUNNING');
        expect(await rowOf(a.id).catch(() => 'unreachable')).toBe('unreachable');
        // A long outage: the stalled run hands over to a new run (carrying its plan and the stall)
        // instead of growing its history without bound.
        const later = await until(
          'a new run, still stalled',
          async () => {
            const s = await stateOf(a.id);
            return s && s.run >= 2 && s.stalled ? s : null;
          },
          60_000,
        );
        expect(later.stalled!.since).toBe(during.since);
        const first = await client.workflow.getHandle(`appointment-${a.id}`, firstRun).describe();
        expect(first.status.name).toBe('CONTINUED_AS_NEW');
        expect(first.historyLength).toBeLessThan(60);
      } finally {
        await pg.start();
      }
      await until('the stall cleared', async () => (await attention(a.id)) === false);
      // Nothing was lost: the plan still holds its reminders, and a change is still acted on.
      const state = await until('the state', () => stateOf(a.id));
      expect(state.messages.filter((m) => m.state === 'planned').map((m) => m.kind)).toEqual(['reminder_24h', 'reminder_2h', 'feedback']);
      await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
      expect(await handle(a.id).result()).toMatchObject({ outcome: 'no_show' });
      expect(await rowOf(a.id)).toMatchObject({ workflow_outcome: 'no_show', workflow_finished_at: expect.any(Date) });
      expect(await attention(a.id)).toBe(false);
      expect(await metric('appointment_workflow_endings', { ending: 'no_show' })).toBe(noShowsBefore + 1);
    }, 120_000);

    it('a bug in the workflow code fails the run visibly: the row says failed with the error, NeedsAttention, the metrics count it', async () => {
      const org = await createOrganisation(pool, { customer: { phone: '+34611000005' } });
      // The bug: a value the workflow code never expected (a start time that is no date) reaches it.
      around = async (name, run) => {
        const result = (await run()) as { companyId?: string } | null;
        if (name === 'readAppointment' && result?.companyId === org.companyId) return { ...result, startsAt: 'not-a-date' };
        return result;
      };
      const [failedBefore, endingsBefore] = [
        await metric('appointment_workflows_failed'),
        await metric('appointment_workflow_endings', { ending: 'failed' }),
      ];
      const a = await book(stack, org, inThreeDays());
      // Not Running for ever: the run fails, and says why.
      await until('the run closed', async () => (await handle(a.id).describe()).status.name !== 'RUNNING');
      recorded.push({ id: a.id, label: testLabel(), runId: (await handle(a.id).describe()).runId });
      const failure = await handle(a.id)
        .result()
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect((failure as WorkflowFailedError).cause?.message).toBe('a bug in the appointment workflow: RangeError: Invalid time value');
      expect((await handle(a.id).describe()).status.name).toBe('FAILED');
      expect(await rowOf(a.id)).toEqual({
        workflow_finished_at: expect.any(Date),
        workflow_outcome: 'failed: a bug in the appointment workflow: RangeError: Invalid time value',
      });
      expect(await attention(a.id)).toBe(true);
      expect(await metric('appointment_workflows_failed')).toBe(failedBefore + 1);
      expect(await metric('appointment_workflow_endings', { ending: 'failed' })).toBe(endingsBefore + 1);
      expect(await messagesOf(pool, a.id)).toEqual([]);

      // The bug fixed (no more bad value), a change of the appointment starts its workflow again.
      around = undefined;
      await stack.directory.updateAppointment(org.companyId, a.id, { status: 'confirmed' });
      expect((await message(a.id, 'confirmed')).status).toBe('sent');
      expect(await rowOf(a.id)).toEqual({ workflow_finished_at: null, workflow_outcome: null });
      expect(await attention(a.id)).not.toBe(true);
      expect(await metric('appointment_workflows_failed')).toBe(failedBefore);
      await stack.directory.updateAppointment(org.companyId, a.id, { status: 'no_show' });
      expect(await handle(a.id).result()).toMatchObject({ outcome: 'no_show', sent: ['confirmed'] });
    });
  });
});
