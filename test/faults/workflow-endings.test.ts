import { createActivities } from '../../activities';
import { seedDirectory } from '../support/directory';
import { startApiStack, type ApiStack } from '../support/stack';
import { until } from '../support/until';
import { logger, testChannels } from '../support/workers';

/**
 * A callback's and an appointment's run terminated by an operator (no workflow code runs at all):
 * the outbox reconciler, the same pass that finishes a terminated notification
 * (notification-endings.test.ts), leaves each row final with the reason, once.
 */
describe('a terminated callback or appointment run leaves its row final', () => {
  let stack: ApiStack;

  beforeAll(async () => {
    stack = await startApiStack();
  });
  afterAll(() => stack?.close());

  it('the reconciler closes both rows, saying the run was terminated; a second pass changes nothing', async () => {
    const { api, servers, worker } = stack;
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const post = async (path: string, body: unknown) => {
      const res = await api.request('POST', path, { key: company.manager, body });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    const callback = (await post('/v1/callbacks', { branchId: dir.branch.id, customerId: dir.customer.id })).callback;
    const startsAt = new Date(Date.now() + 3 * 86_400_000);
    const appointment = await post('/v1/appointments', {
      customerId: dir.customer.id,
      branchId: dir.branch.id,
      serviceId: dir.service.id,
      startsAt: startsAt.toISOString(),
      endsAt: new Date(startsAt.getTime() + 45 * 60_000).toISOString(),
    });
    const appointmentWorkflow = await until('the appointment workflow started', async () => {
      const { rows } = await api.pool.query(`SELECT workflow_id FROM appointments WHERE id = $1 AND workflow_started_at IS NOT NULL`, [
        appointment.id,
      ]);
      return rows[0]?.workflow_id as string | undefined;
    });
    await until('the callback assigned', async () => {
      const { rows } = await api.pool.query(`SELECT status FROM callback_requests WHERE id = $1`, [callback.id]);
      return rows[0].status === 'assigned';
    });
    for (const id of [callback.workflowId, appointmentWorkflow]) await api.temporal.workflow.getHandle(id).terminate('operator stopped it');

    const { reconcileOutbox } = createActivities({
      pool: api.pool,
      logger,
      channels: testChannels(servers),
      client: api.temporal,
      taskQueue: worker.taskQueue,
    });
    const closed: string[] = [];
    await until('visibility to list both terminated runs', async () => {
      closed.push(...(await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [company.id] })).closed);
      return closed.includes(callback.workflowId) && closed.includes(appointmentWorkflow);
    });
    const callbackRow = (await api.pool.query(`SELECT status, status_reason FROM callback_requests WHERE id = $1`, [callback.id])).rows[0];
    // Not a business cancellation: the run was ended from outside, and the row says so.
    expect(callbackRow).toEqual({ status: 'failed', status_reason: expect.stringContaining('terminated') });
    const appointmentRow = (
      await api.pool.query(`SELECT status, workflow_finished_at, workflow_outcome FROM appointments WHERE id = $1`, [appointment.id])
    ).rows[0];
    expect(appointmentRow.workflow_finished_at).toBeInstanceOf(Date);
    expect(appointmentRow.workflow_outcome).toContain('terminated');
    // The appointment itself is the truth and stays booked; only its messages' workflow ended.
    expect(appointmentRow.status).toBe('scheduled');
    expect((await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [company.id] })).closed).toEqual([]);
  });
});
