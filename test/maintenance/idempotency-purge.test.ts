import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { NativeConnection } from '@temporalio/worker';
import { ensureSchedules, purgeIdempotencyKeysScheduleId, reconcileOutboxScheduleId } from '../../src/temporal/schedules';
import { testPool } from '../support/database';
import { uniqueTaskQueue } from '../support/temporal';
import { startTestWorker, type TestWorker } from '../support/workers';

/** The hourly Temporal Schedule that forgets old Idempotency-Key records, on the real dev server. */
describe('idempotency key retention schedule', () => {
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
    for (const id of [purgeIdempotencyKeysScheduleId(taskQueue), reconcileOutboxScheduleId(taskQueue)]) {
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

  const schedules = { taskQueue, idempotencyKeyTtlHours: 72, reconcile: { every: '1h', graceSeconds: 60, lookbackHours: 24, limit: 500 } };

  it('is created once, and its run deletes only keys older than the retention', async () => {
    expect(await ensureSchedules(client, schedules)).toEqual([
      purgeIdempotencyKeysScheduleId(taskQueue),
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
});
