import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { NativeConnection } from '@temporalio/worker';
import {
  ensureSchedules,
  purgeCalcomDeliveryBodiesScheduleId,
  purgeIdempotencyKeysScheduleId,
  reconcileOutboxScheduleId,
} from '../../src/temporal/schedules';
import { testPool } from '../support/database';
import { uniqueTaskQueue } from '../support/temporal';
import { startTestWorker, type TestWorker } from '../support/workers';

/** The hourly Temporal Schedules that forget old Idempotency-Key records and old Cal.com delivery bodies, on the real dev server. */
describe('retention schedules', () => {
  const pool = testPool();
  const taskQueue = uniqueTaskQueue('maint');
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;
  let worker: TestWorker;

  beforeAll(async () => {
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = testClient(connection);
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    worker = await startTestWorker({ connection: native, client, pool, taskQueue });
  });
  afterAll(async () => {
    for (const id of [
      purgeIdempotencyKeysScheduleId(taskQueue),
      purgeCalcomDeliveryBodiesScheduleId(taskQueue),
      reconcileOutboxScheduleId(taskQueue),
    ]) {
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    }
    await worker?.stop();
    await native?.close();
    await connection?.close();
    await pool.end();
  });

  const schedules = {
    taskQueue,
    idempotencyKeyTtlHours: 72,
    calcomDeliveryBodyTtlHours: 168,
    reconcile: { every: '1h', graceSeconds: 60, lookbackHours: 24, limit: 500 },
  };

  /** Triggers a schedule now and waits for the result of the run it started. */
  async function runNow<T>(scheduleId: string): Promise<T> {
    const handle = client.schedule.getHandle(scheduleId);
    const before = (await handle.describe()).info.recentActions.length;
    await handle.trigger();
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      const actions = (await handle.describe()).info.recentActions;
      workflowId = actions.length > before ? actions.at(-1)?.action.workflow.workflowId : undefined;
      if (!workflowId) await new Promise((r) => setTimeout(r, 100));
    }
    expect(workflowId).toBeDefined();
    return client.workflow.getHandle(workflowId!).result();
  }

  it('is created once, and its run deletes only keys older than the retention', async () => {
    expect(await ensureSchedules(client, schedules)).toEqual([
      purgeIdempotencyKeysScheduleId(taskQueue),
      purgeCalcomDeliveryBodiesScheduleId(taskQueue),
      reconcileOutboxScheduleId(taskQueue),
    ]);
    expect(await ensureSchedules(client, schedules)).toEqual([]);
    const handle = client.schedule.getHandle(purgeIdempotencyKeysScheduleId(taskQueue));
    const described = await handle.describe();
    expect(described.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'purgeIdempotencyKeysWorkflow',
      args: [{ olderThanHours: 72 }],
    });

    const {
      rows: [company],
    } = await pool.query(`INSERT INTO companies (name) VALUES ('Retention Co') RETURNING id`);
    const insert = (key: string, ageHours: number) =>
      pool.query(
        `INSERT INTO idempotency_keys (company_id, scope, key, request_hash, created_at) VALUES ($1, 'test', $2, 'h', now() - make_interval(hours => $3))`,
        [company.id, key, ageHours],
      );
    await insert(`old-${randomUUID()}`, 100);
    await insert(`fresh-${randomUUID()}`, 1);

    await handle.trigger();
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      workflowId = (await handle.describe()).info.recentActions.at(-1)?.action.workflow.workflowId;
      if (!workflowId) await new Promise((r) => setTimeout(r, 100));
    }
    expect(workflowId).toBeDefined();
    const result = await client.workflow.getHandle(workflowId!).result();
    expect(result.deleted).toBeGreaterThanOrEqual(1);
    const left = await pool.query(`SELECT key FROM idempotency_keys WHERE company_id = $1`, [company.id]);
    expect(left.rows.map((r) => r.key)).toEqual([expect.stringMatching(/^fresh-/)]);
  });

  it('the Cal.com body purge empties rejected and unmapped bodies past their time, and every applied or ignored one; the rows stay', async () => {
    await ensureSchedules(client, schedules);
    const described = await client.schedule.getHandle(purgeCalcomDeliveryBodiesScheduleId(taskQueue)).describe();
    expect(described.action).toMatchObject({ workflowType: 'purgeCalcomDeliveryBodiesWorkflow', args: [{ olderThanHours: 168 }] });
    const {
      rows: [company],
    } = await pool.query(`INSERT INTO companies (name) VALUES ('Body Co') RETURNING id`);
    const insert = (key: string, outcome: string, ageHours: number) =>
      pool.query(
        `INSERT INTO calcom_deliveries (company_id, trigger_event, booking_uid, outcome, detail, payload, first_received_at)
         VALUES ($1, 'BOOKING_CREATED', $2, $3, 'why', '{"triggerEvent": "BOOKING_CREATED"}', now() - make_interval(hours => $4))`,
        [company.id, key, outcome, ageHours],
      );
    await insert('old-rejected', 'rejected', 200);
    await insert('fresh-rejected', 'rejected', 2);
    await insert('fresh-unmapped', 'unmapped', 2);
    // Written before bodies were kept for rejected and unmapped deliveries only.
    await insert('old-applied', 'applied', 1);
    const result = await runNow<{ purged: number }>(purgeCalcomDeliveryBodiesScheduleId(taskQueue));
    expect(result.purged).toBeGreaterThanOrEqual(2);
    const left = await pool.query(
      `SELECT booking_uid, payload IS NOT NULL AS kept, detail FROM calcom_deliveries WHERE company_id = $1 ORDER BY booking_uid`,
      [company.id],
    );
    expect(left.rows).toEqual([
      { booking_uid: 'fresh-rejected', kept: true, detail: 'why' },
      { booking_uid: 'fresh-unmapped', kept: true, detail: 'why' },
      { booking_uid: 'old-applied', kept: false, detail: 'why' },
      { booking_uid: 'old-rejected', kept: false, detail: 'why' },
    ]);
  });
});
