import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { createCallbackService } from '../../src/callbacks/service';
import { Worker } from '@temporalio/worker';
import { CallbackEscalated, CallbackStatus as CallbackStatusKey, StaffId } from '../../src/temporal/search-attribute-keys';
import { callbackStateQuery, completeSignal, type Actor } from '../../src/callbacks/definitions';
import { ConflictError, ForbiddenError } from '../../src/errors';
import type { CreateCallback } from '../../src/callbacks/schemas';
import { testPool } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { timeSkippingTemporal, workflowBundle } from '../support/temporal';
import { testDataConverter } from '../support/encryption';
import { logger, startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';
import { saveHistories } from '../workflows/recorded-histories';
import { until } from '../support/until';

const H = 3_600_000;
const manager: Actor = { kind: 'api', role: 'manager', staffId: null, label: 'test manager' };

/**
 * The callback workflow end to end on the official time-skipping test server: real worker and
 * activities, real PostgreSQL, the escalation and warning notifications delivered through the
 * notification workflow to a real SMTP server. Hours of SLA pass in milliseconds.
 */
describe('callback workflow (time-skipping server)', () => {
  const pool = testPool();
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;
  let w: TestWorker;
  const started: Array<{ id: string; label: string; runId?: string }> = [];
  /** Fault injection around one company's activity calls (`<activity>:<companyId>`), set by a test. */
  const hooks = new Map<string, (run: () => Promise<unknown>, input: { callbackId: string }) => Promise<unknown>>();

  beforeAll(async () => {
    [env, servers] = await Promise.all([timeSkippingTemporal(), startChannelServers()]);
    w = await startTestWorker({
      connection: env.nativeConnection,
      client: env.client,
      pool,
      channels: testChannels(servers),
      historyLimit: 120,
      // Deadlines on the test server's clock, which skips ahead.
      clock: () => env.currentTimeMs(),
      around: (name, run, args) => {
        const hook = hooks.get(`${name}:${(args[0] as { companyId?: string })?.companyId}`);
        return hook ? hook(run, args[0] as { callbackId: string }) : run();
      },
    });
  });
  afterAll(async () => {
    await w?.stop();
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  const agentOf = (staffId: string): Actor => ({ kind: 'api', role: 'agent', staffId, label: 'test agent' });
  async function create(org: Organisation, over: Partial<CreateCallback> = {}) {
    const { callback } = await w.callbacks.createCallback(
      org.companyId,
      {
        branchId: org.branchId,
        customerId: org.customerId,
        priority: 'normal',
        metadata: {},
        ...over,
      } as CreateCallback,
      { role: 'manager' },
    );
    started.push({
      id: callback.id,
      label: (expect.getState().currentTestName ?? 'callback').replace(/^callback workflow \(time-skipping server\) /, ''),
    });
    return callback;
  }
  const handle = (id: string) => env.client.workflow.getHandle(`callback-${id}`);
  const row = async (id: string) => (await pool.query(`SELECT * FROM callback_requests WHERE id = $1`, [id])).rows[0];
  const escalations = async (id: string) =>
    (
      await pool.query(
        `SELECT reason, escalated_to, notification_id FROM callback_escalations WHERE callback_id = $1 ORDER BY escalated_at`,
        [id],
      )
    ).rows;
  const mailsTo = async (table: 'staff' | 'customers', id: string) => {
    const email = (await pool.query(`SELECT email FROM ${table} WHERE id = $1`, [id])).rows[0].email;
    return servers.smtp.messages.filter((m) => m.to.includes(email));
  };
  /** The assignee once the workflow itself knows it (the row is written a moment earlier, by its activity). */
  const assigned = (id: string) =>
    until('the assignment', async () => (await handle(id).query(callbackStateQuery)).assignedTo as string | null);

  it('the whole lifecycle: assigned (expertise), an attempt that reaches the customer, completed before the SLA: no warning, no escalation', async () => {
    const org = await createOrganisation(pool);
    const c = await create(org, { serviceId: org.serviceId, notes: 'call after 5 pm' });
    expect(await assigned(c.id)).toBe(org.staffId);
    expect((await row(c.id)).assignment_reason).toBe('expertise');
    const afterAttempt = await w.callbacks.message(
      org.companyId,
      c.id,
      'attempt',
      { outcome: 'reached', notes: 'spoke to her' },
      agentOf(org.staffId),
    );
    expect(afterAttempt).toMatchObject({ applied: true, callback: { status: 'contacted', attemptCount: 1 } });
    expect(afterAttempt.callback.contactedAt).not.toBeNull();
    const done = await w.callbacks.message(org.companyId, c.id, 'complete', { notes: 'booked a visit' }, agentOf(org.staffId));
    // The outcome's notes are kept beside the request's own.
    expect(done.callback).toMatchObject({
      status: 'completed',
      notes: 'call after 5 pm',
      outcomeNotes: 'booked a visit',
      escalated: false,
    });
    expect(await handle(c.id).result()).toMatchObject({ status: 'completed', escalations: 0, attempts: 1 });
    const r = await row(c.id);
    expect([r.warned_at, r.breached_at, r.escalation_count]).toEqual([null, null, 0]);
    const described = await handle(c.id).describe();
    expect(described.typedSearchAttributes.get(CallbackStatusKey)).toBe('completed');
    expect(described.typedSearchAttributes.get(StaffId)).toBe(org.staffId);
    expect(described.typedSearchAttributes.get(CallbackEscalated)).toBe(false);
    expect(described.memo).toMatchObject({ customerName: 'Carla', phone: expect.stringMatching(/001$/) });
  });

  it('each priority has its SLA: urgent 2 h, high 4 h, normal 24 h (defaults)', async () => {
    const org = await createOrganisation(pool);
    for (const [priority, hours] of [
      ['urgent', 2],
      ['high', 4],
      ['normal', 24],
    ] as const) {
      const c = await create(org, { priority });
      expect(Date.parse(c.dueAt) - Date.parse(c.createdAt)).toBe(hours * H);
      expect(Date.parse(c.warnAt!) - Date.parse(c.createdAt)).toBe(0.75 * hours * H);
      await w.callbacks.message(org.companyId, c.id, 'cancel', { reason: 'test' }, manager);
    }
  });

  it('an SLA breach warns the assignee first, then escalates to the manager (sla_breach) with a delivered notification; again after the cooldown while open', async () => {
    const org = await createOrganisation(pool);
    const c = await create(org, { priority: 'urgent' });
    await assigned(c.id);
    await env.sleep(2 * H + 60_000); // past the deadline
    await until('the escalation', async () => (await escalations(c.id)).length === 1);
    const [e] = await escalations(c.id);
    expect(e).toMatchObject({ reason: 'sla_breach', escalated_to: org.managerId });
    const r = await row(c.id);
    expect(r.warned_at).not.toBeNull();
    expect(r.breached_at).not.toBeNull();
    expect(r.escalated).toBe(true);
    await until('the manager email', async () => (await mailsTo('staff', org.managerId)).length === 1);
    expect((await mailsTo('staff', org.managerId))[0].subject).toMatch(/Escalated callback for Carla/);
    await until('the assignee warning', async () =>
      (await mailsTo('staff', org.staffId)).some((m) => /Callback due soon/.test(m.subject ?? '')),
    );
    // Within the 4 h cooldown: no second escalation. After it, while still open: a second one.
    await env.sleep(3 * H);
    expect(await escalations(c.id)).toHaveLength(1);
    await env.sleep(1 * H + 60_000);
    await until('the second escalation', async () => (await escalations(c.id)).length === 2);
    expect((await handle(c.id).describe()).typedSearchAttributes.get(CallbackEscalated)).toBe(true);
    await w.callbacks.message(org.companyId, c.id, 'complete', {}, manager);
    expect(await handle(c.id).result()).toMatchObject({ status: 'completed', escalations: 2 });
  });

  it('three failed contact attempts escalate (multiple_attempts_failed); a manual escalation inside the cooldown is refused (409)', async () => {
    const org = await createOrganisation(pool);
    const c = await create(org);
    await assigned(c.id);
    for (const outcome of ['no_answer', 'busy', 'voicemail'] as const) {
      await w.callbacks.message(org.companyId, c.id, 'attempt', { outcome }, agentOf(org.staffId));
    }
    await until('the escalation', async () => (await escalations(c.id)).length === 1);
    expect((await escalations(c.id))[0].reason).toBe('multiple_attempts_failed');
    await expect(w.callbacks.message(org.companyId, c.id, 'escalate', { notes: 'again' }, manager)).rejects.toMatchObject({
      code: 'invalid_transition',
      message: expect.stringContaining('cooldown'),
    });
    await env.sleep(4 * H + 60_000);
    const manual = await w.callbacks.message(org.companyId, c.id, 'escalate', { notes: 'now' }, manager);
    expect(manual.callback.escalations.map((e) => e.reason)).toEqual(['multiple_attempts_failed', 'manual']);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  });

  it('refuses invalid transitions (409) and an agent completing someone else’s callback (403)', async () => {
    const org = await createOrganisation(pool);
    const c = await create(org);
    await assigned(c.id);
    const other = (
      await pool.query(`INSERT INTO staff (company_id, branch_id, name, role) VALUES ($1, $2, 'Pau', 'agent') RETURNING id`, [
        org.companyId,
        org.otherBranchId,
      ])
    ).rows[0].id;
    await expect(w.callbacks.message(org.companyId, c.id, 'complete', {}, agentOf(other))).rejects.toBeInstanceOf(ForbiddenError);
    await expect(w.callbacks.message(org.companyId, c.id, 'cancel', {}, agentOf(org.staffId))).rejects.toBeInstanceOf(ForbiddenError);
    await w.callbacks.message(org.companyId, c.id, 'cancel', { reason: 'customer called back' }, manager);
    const error = await w.callbacks.message(org.companyId, c.id, 'complete', {}, manager).catch((e) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toMatch(/cancelled/);
    expect(await handle(c.id).result()).toMatchObject({ status: 'cancelled', reason: 'customer called back' });

    const d = await create(org);
    await assigned(d.id);
    await w.callbacks.message(org.companyId, d.id, 'complete', {}, agentOf(org.staffId));
    await expect(w.callbacks.message(org.companyId, d.id, 'complete', {}, manager)).rejects.toMatchObject({ code: 'invalid_transition' });
  });

  it('a signal from outside the API (the Web UI, temporal workflow signal) completes it, and the row follows', async () => {
    const org = await createOrganisation(pool);
    const c = await create(org);
    await assigned(c.id);
    await handle(c.id).signal(completeSignal, {
      notes: 'done by phone',
      actor: { kind: 'operator', role: null, staffId: null, label: 'ops' },
    });
    expect(await handle(c.id).result()).toMatchObject({ status: 'completed' });
    expect(await row(c.id)).toMatchObject({ status: 'completed', outcome_notes: 'done by phone' });
  });

  it('expires at the end of its open life and tells the manager', async () => {
    const org = await createOrganisation(pool);
    await w.callbacks.putSettings(org.companyId, { slaSeconds: { normal: 5 * 24 * 3600 }, maxOpenSeconds: 3 * 24 * 3600 } as never);
    const c = await create(org);
    await env.sleep(3 * 24 * H + 60_000);
    expect(await handle(c.id).result()).toMatchObject({ status: 'expired' });
    expect((await row(c.id)).status).toBe('expired');
    await until('the manager email', async () => (await mailsTo('staff', org.managerId)).some((m) => /expired/.test(m.subject ?? '')));
  });

  it('settings changed after creation do not move a running callback’s deadline', async () => {
    const org = await createOrganisation(pool);
    await w.callbacks.putSettings(org.companyId, { slaSeconds: { high: 3600 } } as never);
    const c = await create(org, { priority: 'high' });
    await w.callbacks.putSettings(org.companyId, { slaSeconds: { high: 60 } } as never);
    await env.sleep(10 * 60_000); // the new 60 s SLA would have breached long ago
    expect((await row(c.id)).breached_at).toBeNull();
    expect(await escalations(c.id)).toHaveLength(0);
    const later = await create(org, { priority: 'high' });
    expect(Date.parse(later.dueAt) - Date.parse(later.createdAt)).toBe(60_000);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
    await w.callbacks.message(org.companyId, later.id, 'cancel', {}, manager);
  });

  it('nobody available: stays pending, then is assigned when a staff member becomes available', async () => {
    const org = await createOrganisation(pool);
    await pool.query(`UPDATE staff SET is_available = false WHERE company_id = $1`, [org.companyId]);
    const c = await create(org);
    await until('the first assignment try', async () => (await row(c.id)).workflow_started_at);
    await new Promise((r) => setTimeout(r, 300));
    expect(await row(c.id)).toMatchObject({ status: 'pending', assigned_to: null });
    await pool.query(`UPDATE staff SET is_available = true WHERE id = $1`, [org.staffId]);
    expect(await w.callbacks.staffBecameAvailable(org.companyId, org.branchId)).toBe(1);
    expect(await assigned(c.id)).toBe(org.staffId);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  });

  it('reassigns by hand to a staff member, or lets the rules choose another', async () => {
    const org = await createOrganisation(pool);
    const pau = (
      await pool.query(`INSERT INTO staff (company_id, branch_id, name, role) VALUES ($1, $2, 'Pau', 'agent') RETURNING id`, [
        org.companyId,
        org.branchId,
      ])
    ).rows[0].id;
    const c = await create(org, { staffId: org.staffId });
    expect(await assigned(c.id)).toBe(org.staffId);
    expect((await row(c.id)).assignment_reason).toBe('preferred');
    const manual = await w.callbacks.message(org.companyId, c.id, 'reassign', { staffId: pau }, manager);
    expect(manual.callback).toMatchObject({ assignedTo: pau, assignmentReason: 'manual' });
    const auto = await w.callbacks.message(org.companyId, c.id, 'reassign', {}, manager);
    expect(auto.callback.assignedTo).toBe(org.staffId);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  });

  it('a long life (escalating every cooldown for days) continues as new, carrying its state', async () => {
    const org = await createOrganisation(pool);
    await w.callbacks.putSettings(org.companyId, {
      slaSeconds: { urgent: 60 },
      cooldownSeconds: 600,
      maxOpenSeconds: 7 * 24 * 3600,
    } as never);
    const c = await create(org, { priority: 'urgent' });
    await assigned(c.id);
    // Escalations every 10 minutes for 6 hours: far more events than the test limit (120) allows in one run.
    await env.sleep(6 * H);
    const state = await until('a continued run', async () => {
      const s = await w.callbacks.getCallback(org.companyId, c.id);
      return s.live && s.live.run > 1 ? s : undefined;
    });
    expect(state.escalations.length).toBeGreaterThan(30);
    // Each run stays near the limit: the current one started with the carried state, not the whole past.
    const current = (await handle(c.id).fetchHistory()).events ?? [];
    expect(current.length).toBeLessThan(200);
    const previousRun = current[0].workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    expect(previousRun).toBeTruthy();
    // The run that ended by continuing as new is recorded for the replay test too.
    started.push({ id: c.id, runId: previousRun!, label: 'a long life continued as new (the run before)' });
    await w.callbacks.message(org.companyId, c.id, 'complete', {}, manager);
    expect(await handle(c.id).result()).toMatchObject({ status: 'completed' });
    expect(await escalations(c.id)).toHaveLength(state.escalations.length);
  });

  it('a staff member who becomes available while the assignment step runs is not missed: assigned at once, not after the retry interval', async () => {
    const org = await createOrganisation(pool);
    await pool.query(`UPDATE staff SET is_available = false WHERE company_id = $1`, [org.companyId]);
    let tries = 0;
    hooks.set(`assignCallback:${org.companyId}`, async (run, { callbackId }) => {
      tries += 1;
      const result = await run(); // nobody available
      if (tries === 1) {
        // While this first step is still running: Ana becomes available and the waiting callback is told.
        await pool.query(`UPDATE staff SET is_available = true WHERE id = $1`, [org.staffId]);
        expect(await w.callbacks.staffBecameAvailable(org.companyId, org.branchId)).toBe(1);
        await until('the signal handled by a workflow task', async () => {
          const events = (await handle(callbackId).fetchHistory()).events ?? [];
          const signalled = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
          return signalled >= 0 && events.slice(signalled).some((e) => e.workflowTaskCompletedEventAttributes);
        });
      }
      return result;
    });
    const c = await create(org);
    // The retry interval is 15 min of workflow time, which does not pass here (nothing awaits a result).
    expect(await assigned(c.id)).toBe(org.staffId);
    expect(tries).toBe(2);
    hooks.delete(`assignCallback:${org.companyId}`);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  });

  it('the cooldown runs from the committed escalation: an escalation step that retried past the cooldown is not followed at once by another', async () => {
    const org = await createOrganisation(pool); // urgent SLA 2 h, cooldown 4 h
    let tries = 0;
    hooks.set(`escalateCallback:${org.companyId}`, async (run) => {
      tries += 1;
      // The first try fails (an outage); the next one runs five hours later, past the cooldown.
      if (tries === 1) throw ApplicationFailure.create({ message: 'injected: the database is down', nextRetryDelay: '5h' });
      return run();
    });
    const c = await create(org, { priority: 'urgent' });
    await assigned(c.id);
    const t0 = Date.parse(c.createdAt);
    await env.sleep(2 * H + 60_000); // breached: the escalation step starts, and fails
    await until('the failed first try', async () => tries === 1);
    await env.sleep(5 * H); // its retry commits
    await until('the escalation', async () => (await escalations(c.id)).length >= 1);
    const state = await until('the escalation in the workflow', async () => {
      const s = await handle(c.id).query(callbackStateQuery);
      return s.escalations.length >= 1 ? s : undefined;
    });
    expect(Date.parse(state.lastEscalatedAt!) - t0).toBeGreaterThanOrEqual(7 * H);
    // Measured from the decision (2 h), the next would be due at once; from the commit (7 h), at 11 h.
    await env.sleep(3 * H);
    expect(await escalations(c.id)).toHaveLength(1);
    await env.sleep(H + 2 * 60_000);
    await until('the second escalation', async () => (await escalations(c.id)).length === 2);
    hooks.delete(`escalateCallback:${org.companyId}`);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  });

  it('a short cooldown keeps the history bounded: every turn checks for continue-as-new, also right after an escalation', async () => {
    const org = await createOrganisation(pool);
    await w.callbacks.putSettings(org.companyId, { slaSeconds: { urgent: 60 }, cooldownSeconds: 1 } as never);
    // A slow escalation step (longer than the cooldown): the next escalation is due as soon as one ends.
    hooks.set(`escalateCallback:${org.companyId}`, async (run) => {
      await new Promise((r) => setTimeout(r, 1_100));
      return run();
    });
    const limit = 40;
    const service = createCallbackService({
      pool,
      client: env.client,
      taskQueue: w.taskQueue,
      logger,
      historyLimit: limit,
      clock: () => env.currentTimeMs(),
    });
    const { callback: c } = await service.createCallback(
      org.companyId,
      { branchId: org.branchId, customerId: org.customerId, priority: 'urgent', metadata: {} } as CreateCallback,
      { role: 'manager' },
    );
    await assigned(c.id);
    await env.sleep(2 * 60_000); // breached: escalations back to back from here
    // Ten escalations write far more than `limit` events: the run must have continued as new.
    await until('ten escalations', async () => (await escalations(c.id)).length >= 10, 60_000);
    const state = await handle(c.id).query(callbackStateQuery);
    expect(state.run).toBeGreaterThan(1);
    const current = (await handle(c.id).fetchHistory()).events ?? [];
    expect(current.length).toBeLessThan(limit + 20);
    hooks.delete(`escalateCallback:${org.companyId}`);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  }, 90_000);

  it('failed attempts count since the last escalation of any reason (a manual one included), as the README says', async () => {
    const org = await createOrganisation(pool);
    await w.callbacks.putSettings(org.companyId, { slaSeconds: {}, attemptsBeforeEscalation: 3, cooldownSeconds: 3600 } as never);
    const c = await create(org);
    await assigned(c.id);
    for (const outcome of ['no_answer', 'busy'] as const) {
      await w.callbacks.message(org.companyId, c.id, 'attempt', { outcome }, agentOf(org.staffId));
    }
    const escalated = await w.callbacks.message(org.companyId, c.id, 'escalate', { notes: 'a manager looks at it' }, manager);
    expect(escalated.callback.live?.failedAttemptsSinceEscalation).toBe(0);
    await env.sleep(H + 60_000); // past the cooldown
    const third = await w.callbacks.message(org.companyId, c.id, 'attempt', { outcome: 'voicemail' }, agentOf(org.staffId));
    // One failed attempt since the manual escalation: not the three that escalate again.
    expect(third.callback.live?.failedAttemptsSinceEscalation).toBe(1);
    expect((await handle(c.id).query(callbackStateQuery)).escalations.map((e) => e.reason)).toEqual(['manual']);
    await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
  });

  it('replays every history of this file deterministically with the current workflow code', async () => {
    const histories = await Promise.all(
      started.map(async ({ id, label, runId }) => ({
        label,
        workflowId: `callback-${id}`,
        history: await env.client.workflow.getHandle(`callback-${id}`, runId).fetchHistory(),
      })),
    );
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle(), dataConverter: testDataConverter() },
      histories,
    )) {
      expect(result.error).toBeUndefined();
    }
    if (process.env.UPDATE_HISTORIES === '1') saveHistories('callback', histories);
  });
});
