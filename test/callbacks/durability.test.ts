import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { callbackStateQuery, recordAttemptSignal, staffAvailableSignal, type Actor } from '../../src/callbacks/definitions';
import type { CreateCallback } from '../../src/callbacks/schemas';
import { createCallbackService, type CallbackService } from '../../src/callbacks/service';
import { createMetrics } from '../../src/api/metrics';
import { createPool } from '../../src/db/pool';
import { DEFAULT_DURABILITY } from '../../src/temporal/durability';
import { CallbackStatus as CallbackStatusKey } from '../../src/temporal/search-attribute-keys';
import { testDatabaseUrl, testPool } from '../support/database';
import { testClient } from '../support/encryption';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { until } from '../support/until';
import { logger, startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';

const manager: Actor = { kind: 'operator', role: null, staffId: null, label: 'test' };

/**
 * Callbacks against the real worker, PostgreSQL and the shared Temporal dev server, with the real
 * part failing at the risky moment: a deciding step retried after its first try committed, a
 * workflow reset that re-applies messages, an outage longer than a step's retry budget (the
 * worker's own connection to PostgreSQL through a TCP proxy that refuses), a bug in the workflow
 * code, the reconciler facing a row Temporal refuses and an orphan older than its window, and a
 * start deferred while Temporal refuses.
 */
describe('callbacks: decisions, keys and endings', () => {
  const pool = testPool();
  let servers: ChannelServers;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;
  /** Fault injection around one company's activity calls (`<activity>:<companyId>`). */
  const hooks = new Map<string, (run: () => Promise<unknown>, input: Record<string, unknown>) => Promise<unknown>>();
  let w: TestWorker;

  beforeAll(async () => {
    servers = await startChannelServers();
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = testClient(connection);
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    w = await startTestWorker({
      connection: native,
      client,
      pool,
      channels: testChannels(servers),
      durability: { ...DEFAULT_DURABILITY, infraInitialIntervalMs: 200, infraMaximumIntervalMs: 1_000, heartbeatTimeoutMs: 4_000 },
      around: (name, run, args) => {
        const input = args[0] as Record<string, unknown>;
        const hook = hooks.get(`${name}:${input?.companyId}`);
        return hook ? hook(run, input) : run();
      },
    });
  });
  afterAll(async () => {
    await w?.stop();
    await native?.close();
    await connection?.close();
    await servers?.close();
    await pool.end();
  });

  const create = (service: CallbackService, org: Organisation, over: Partial<CreateCallback> = {}) =>
    service
      .createCallback(
        org.companyId,
        { branchId: org.branchId, customerId: org.customerId, priority: 'normal', metadata: {}, ...over } as CreateCallback,
        { role: 'manager' },
      )
      .then((r) => r.callback);
  const row = async (id: string) => (await pool.query(`SELECT * FROM callback_requests WHERE id = $1`, [id])).rows[0];
  const count = async (sql: string, params: unknown[]) => (await pool.query(sql, params)).rows[0].n as number;
  const staff = async (org: Organisation, name: string, role: 'agent' | 'manager') =>
    (
      await pool.query(`INSERT INTO staff (company_id, branch_id, name, email, role) VALUES ($1, $2, $3, $4, $5) RETURNING id`, [
        org.companyId,
        org.branchId,
        name,
        `${name.toLowerCase()}.${randomUUID().slice(0, 8)}@example.test`,
        role,
      ])
    ).rows[0].id as string;
  const live = (workflowId: string) => client.workflow.getHandle(workflowId).query(callbackStateQuery);
  const reconcilerOf = (taskQueue: string) =>
    createActivities({ pool, logger, channels: testChannels(servers), client, taskQueue }).reconcileOutbox;

  it('a retried escalation step answers with the manager its first try committed, though that manager became unavailable between the tries', async () => {
    const org = await createOrganisation(pool); // Marta: the branch's manager, the first choice
    const second = await staff(org, 'Berta', 'manager'); // the choice once Marta is unavailable
    await w.callbacks.putSettings(org.companyId, { slaSeconds: { urgent: 2 } } as never);
    let tries = 0;
    hooks.set(`escalateCallback:${org.companyId}`, async (run) => {
      tries += 1;
      const result = await run();
      if (tries === 1) {
        // The first try committed (row and notification to Marta); then Marta goes off shift and the
        // completion is lost: the step is tried again.
        await pool.query(`UPDATE staff SET is_available = false WHERE id = $1`, [org.managerId]);
        throw new Error('injected: the completion of the committed escalation was lost');
      }
      return result;
    });
    const c = await create(w.callbacks, org, { priority: 'urgent' });
    const state = await until('the escalation in the workflow', async () => {
      const s = await live(c.workflowId);
      return s.escalations.length === 1 ? s : undefined;
    });
    expect(tries).toBe(2);
    expect(state.escalations[0].to).toBe(org.managerId);
    const escalations = (await pool.query(`SELECT escalated_to FROM callback_escalations WHERE callback_id = $1`, [c.id])).rows;
    expect(escalations).toEqual([{ escalated_to: org.managerId }]);
    const notices = await pool.query(
      `SELECT notifiable_id FROM notifications WHERE company_id = $1 AND event_type = 'callback_escalated'`,
      [org.companyId],
    );
    expect(notices.rows).toEqual([{ notifiable_id: org.managerId }]);
    expect(second).not.toBe(org.managerId);
    hooks.delete(`escalateCallback:${org.companyId}`);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  });

  it('a workflow reset re-applies its messages under the same keys: no second attempt row, no second assignment notice', async () => {
    const org = await createOrganisation(pool);
    const c = await create(w.callbacks, org);
    await until('the assignment', async () => (await live(c.workflowId)).assignedTo);
    const handle = client.workflow.getHandle(c.workflowId);
    // A message that changes nothing (its own workflow task: the point to reset to, after the assignment).
    await handle.signal(staffAvailableSignal);
    const isMark = (e: { workflowExecutionSignaledEventAttributes?: { signalName?: string | null } | null }) =>
      e.workflowExecutionSignaledEventAttributes?.signalName === 'staffAvailable';
    await until('the mark handled', async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      return events.slice(events.findIndex(isMark)).some((e) => e.workflowTaskCompletedEventAttributes);
    });
    // One attempt by signal (the Web UI, the CLI), one by update (the API).
    await handle.signal(recordAttemptSignal, { outcome: 'no_answer', actor: manager });
    await w.callbacks.message(org.companyId, c.id, 'attempt', { outcome: 'busy' }, manager);
    await until('both attempts', async () => (await live(c.workflowId)).attempts.length === 2);
    const resetTo = async (pick: (events: NonNullable<Awaited<ReturnType<typeof handle.fetchHistory>>['events']>) => number) => {
      const { runId } = await handle.describe();
      const events = (await handle.fetchHistory()).events ?? [];
      const index = pick(events);
      const reset = await client.workflowService.resetWorkflowExecution({
        namespace: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default',
        workflowExecution: { workflowId: c.workflowId, runId },
        reason: 'test: an operator resets the run',
        workflowTaskFinishEventId: events[index].eventId,
        requestId: randomUUID(),
      });
      expect(reset.runId).not.toBe(runId);
    };
    const completedTaskAfter = (events: Parameters<Parameters<typeof resetTo>[0]>[0], from: number) =>
      events.findIndex((e, i) => i > from && e.workflowTaskCompletedEventAttributes);
    // Reset to the task that handled the mark (after the assignment): the two attempts are re-applied to the new run.
    await resetTo((events) => completedTaskAfter(events, events.findIndex(isMark)));
    await until('the reset run applied the re-applied messages', async () => (await live(c.workflowId)).attempts.length === 2);
    // Reset to the first workflow task: the assignment step runs again.
    await resetTo((events) => completedTaskAfter(events, -1));
    await until('the reset run assigned again', async () => (await live(c.workflowId)).assignedTo);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
    await until('the cancellation', async () => (await row(c.id)).status === 'cancelled');
    expect(await count(`SELECT count(*)::int AS n FROM callback_attempts WHERE callback_id = $1`, [c.id])).toBe(2);
    expect((await row(c.id)).attempt_count).toBe(2);
    expect(
      await count(`SELECT count(*)::int AS n FROM notifications WHERE company_id = $1 AND event_type = 'staff_assigned'`, [org.companyId]),
    ).toBe(1);
  });

  it('Temporal refusing the start at creation: the reconciler’s start assigns the staff member the manager named (kept on the row)', async () => {
    const org = await createOrganisation(pool);
    const named = await staff(org, 'Pau', 'agent'); // the rules would choose Ana (qualified, older)
    const refusing = createCallbackService({
      pool,
      client: new Client({ connection, namespace: `missing-${randomUUID()}` }),
      taskQueue: w.taskQueue,
      logger,
    });
    const c = await create(refusing, org, { serviceId: org.serviceId, assignTo: named });
    expect(c.assignTo).toBe(named);
    await expect(client.workflow.getHandle(c.workflowId).describe()).rejects.toThrow();
    const reconciled = await reconcilerOf(w.taskQueue)({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [org.companyId] });
    expect(reconciled.started).toEqual([c.workflowId]);
    await until('the assignment', async () => (await row(c.id)).assigned_to);
    expect(await row(c.id)).toMatchObject({ assigned_to: named, assignment_reason: 'manual' });
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  });

  it('the reconciler: a row Temporal refuses to start holds up no other, and an orphan older than its window is closed (failed, escalations resolved)', async () => {
    const org = await createOrganisation(pool);
    // An orphan: a callback whose run an operator terminated, with an open escalation.
    const orphan = await create(w.callbacks, org);
    await until('the orphan assigned', async () => (await row(orphan.id)).workflow_started_at);
    await pool.query(
      `INSERT INTO callback_escalations (company_id, callback_id, reason, escalated_to, escalation_key) VALUES ($1, $2, 'manual', $3, 'x')`,
      [org.companyId, orphan.id, org.managerId],
    );
    await client.workflow.getHandle(orphan.workflowId).terminate('operator stopped it');
    await until('visibility to list the terminated run', async () => {
      const { count: n } = await client.workflow.count(`WorkflowId = '${orphan.workflowId}' AND ExecutionStatus = 'Terminated'`);
      return n === 1;
    });
    // A row whose start Temporal refuses (its memo is over the server's payload limit), older than a good one.
    const refusing = createCallbackService({
      pool,
      client: new Client({ connection, namespace: `missing-${randomUUID()}` }),
      taskQueue: w.taskQueue,
      logger,
    });
    const bad = await create(refusing, org, { priority: 'high' });
    await pool.query(
      `UPDATE callback_requests SET customer_name = repeat('x', 3 * 1024 * 1024), created_at = created_at - interval '1 minute' WHERE id = $1`,
      [bad.id],
    );
    const good = await create(refusing, org, { priority: 'high' });

    // A window of 0 hours: the orphan closed before the pass is older than the window.
    const reconciled = await reconcilerOf(w.taskQueue)({ graceSeconds: 0, lookbackHours: 0, limit: 100, companyIds: [org.companyId] });
    expect(reconciled.started).toEqual([good.workflowId]);
    expect(reconciled.failed.map((f) => f.workflowId)).toEqual([bad.workflowId]);
    expect(reconciled.closed).toEqual([orphan.workflowId]);
    expect(await row(orphan.id)).toMatchObject({ status: 'failed', status_reason: expect.stringContaining('terminated') });
    expect((await row(orphan.id)).failed_at).toBeInstanceOf(Date);
    expect(
      await count(`SELECT count(*)::int AS n FROM callback_escalations WHERE callback_id = $1 AND resolved_at IS NULL`, [orphan.id]),
    ).toBe(0);
    await until('the good one assigned', async () => (await row(good.id)).assigned_to);
    await w.callbacks.message(org.companyId, good.id, 'cancel', {}, manager);
    await pool.query(`UPDATE callback_requests SET status = 'cancelled' WHERE id = $1`, [bad.id]);
  });

  describe('endings that are no business outcome', () => {
    let proxy: TcpProxy;
    let proxiedPool: ReturnType<typeof createPool>;
    let outage: TestWorker;
    let service: CallbackService;
    const metrics = createMetrics();
    const failedMetric = async () => {
      const text = await metrics.registry.getSingleMetricAsString('callbacks_failed');
      return Number(/^callbacks_failed (\d+)$/m.exec(text)?.[1]);
    };
    // A budget of 10 s with retries 6 s apart: every retry of a bookkeeping (local) step waits on a
    // workflow timer, where its budget is counted (retries kept inside the worker were not stopped by it).
    const budget = {
      ...DEFAULT_DURABILITY,
      infraRetryMs: 10_000,
      infraInitialIntervalMs: 6_000,
      infraMaximumIntervalMs: 6_000,
      heartbeatTimeoutMs: 4_000,
    };

    beforeAll(async () => {
      // This worker reaches PostgreSQL through a proxy the test can make refuse: an outage for its
      // steps only (the test, the API side and the other workers keep the database).
      const url = new URL(testDatabaseUrl());
      proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
      url.port = String(proxy.port);
      proxiedPool = createPool(url.toString(), { max: 40, connectionTimeoutMillis: 1_000 });
      outage = await startTestWorker({
        connection: native,
        client,
        pool: proxiedPool,
        channels: testChannels(servers),
        durability: budget,
      });
      // Callbacks of this worker are created (and read) on the test's own connection, with the short budget.
      service = createCallbackService({ pool, client, taskQueue: outage.taskQueue, logger, durability: budget, updateTimeoutMs: 2_000 });
      service.registerMetrics(metrics.registry);
    });
    afterAll(async () => {
      proxy?.forward();
      await outage?.stop();
      await proxiedPool?.end();
      await proxy?.close();
    });

    it('an outage longer than a step’s retry budget: failed with the reason (row, search attribute, metric), and an accepted completion stays a completion', async () => {
      const org = await createOrganisation(pool);
      const a = await create(service, org);
      const b = await create(service, org);
      for (const c of [a, b]) await until('the assignment', async () => (await live(c.workflowId)).assignedTo);
      const failedBefore = await failedMetric();
      proxy.refuse();
      try {
        // An attempt and a completion accepted while the worker cannot reach the database.
        const attempt = service.message(org.companyId, a.id, 'attempt', { outcome: 'no_answer' }, manager).catch((e) => e);
        const done = service.message(org.companyId, b.id, 'complete', { notes: 'booked' }, manager).catch((e) => e);
        await Promise.all([attempt, done]);
        try {
          for (const c of [a, b]) {
            await until(
              'the run failed',
              async () => (await client.workflow.getHandle(c.workflowId).describe()).status.name === 'FAILED',
              60_000,
            );
          }
        } catch (e) {
          const h = (await client.workflow.getHandle(a.workflowId).fetchHistory()).events ?? [];
          console.log(
            'DEBUG',
            JSON.stringify(
              h.map((x) => [
                x.eventId?.toString(),
                x.eventType,
                x.eventTime?.seconds?.toString(),
                x.markerRecordedEventAttributes?.failure?.message,
              ]),
            ),
          );
          throw e;
        }
        const described = await client.workflow.getHandle(a.workflowId).describe();
        expect(described.typedSearchAttributes.get(CallbackStatusKey)).toBe('failed');
        expect((await client.workflow.getHandle(b.workflowId).describe()).typedSearchAttributes.get(CallbackStatusKey)).toBe('completed');
        // Nothing written yet: the database is still out of reach for the worker.
        expect((await row(a.id)).status).toBe('assigned');
      } finally {
        proxy.forward();
      }
      const reconciled = await reconcilerOf(outage.taskQueue)({
        graceSeconds: 0,
        lookbackHours: 1,
        limit: 100,
        companyIds: [org.companyId],
      });
      // (The assignees' notifications whose steps met the outage are closed too, by their own source.)
      expect(reconciled.closed).toEqual(expect.arrayContaining([a.workflowId, b.workflowId]));
      expect(await row(a.id)).toMatchObject({
        status: 'failed',
        status_reason: expect.stringContaining('recordCallbackAttempt gave up after its retries'),
      });
      expect(await row(b.id)).toMatchObject({ status: 'completed', outcome_notes: 'booked' });
      expect(await failedMetric()).toBeGreaterThanOrEqual(failedBefore + 1);
      // A manager finds it in the branch's list of callbacks that need someone.
      const overdue = await service.overdue(org.companyId, org.branchId);
      expect(overdue.items.map((i) => [i.id, i.status])).toEqual([[a.id, 'failed']]);
    }, 150_000);

    it('a bug in the workflow code (a TypeError from a poisoned row): the run fails and the callback ends failed, saying so', async () => {
      const org = await createOrganisation(pool);
      // A row whose settings snapshot is empty (as rows written before snapshots were): reading it throws.
      const poisoned = randomUUID();
      await pool.query(
        `INSERT INTO callback_requests (id, company_id, branch_id, customer_id, phone_number, customer_name, priority, expires_at, workflow_id, created_at)
         VALUES ($1, $2, $3, $4, '+34600000001', 'Carla', 'normal', now() + interval '1 day', $5, now() - interval '1 minute')`,
        [poisoned, org.companyId, org.branchId, org.customerId, `callback-${poisoned}`],
      );
      const failedBefore = await failedMetric();
      const reconciled = await reconcilerOf(outage.taskQueue)({
        graceSeconds: 0,
        lookbackHours: 1,
        limit: 100,
        companyIds: [org.companyId],
      });
      expect(reconciled.started).toEqual([`callback-${poisoned}`]);
      await until('the failed row', async () => (await row(poisoned)).status === 'failed');
      expect((await row(poisoned)).status_reason).toMatch(/a bug in the callback workflow: TypeError/);
      await until(
        'the run failed',
        async () => (await client.workflow.getHandle(`callback-${poisoned}`).describe()).status.name === 'FAILED',
      );
      const described = await client.workflow.getHandle(`callback-${poisoned}`).describe();
      expect(described.typedSearchAttributes.get(CallbackStatusKey)).toBe('failed');
      expect(await failedMetric()).toBeGreaterThanOrEqual(failedBefore + 1);
    });
  });
});
