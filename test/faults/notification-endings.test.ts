import { Client, Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { testPool } from '../support/database';
import { createOrganisation } from '../support/fixtures';
import { logger, startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';
import { until } from '../support/until';

/**
 * No row left behind: however a notification's run ends, its row ends in a final status with the
 * reason. A step that gives up, a Temporal cancellation and a termination (which no workflow code
 * sees: the reconciler writes it) each tried on the real dev server.
 */
describe('every end of a notification run leaves its row final', () => {
  const pool = testPool();
  let servers: ChannelServers;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;
  let worker: TestWorker;
  let failPrepare = false;

  beforeAll(async () => {
    servers = await startChannelServers();
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = testClient(connection);
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    worker = await startTestWorker({
      connection: native,
      client,
      pool,
      channels: testChannels(servers),
      // A step that fails for good (as after hours of a database outage): non-retryable here.
      around: async (name, run) => {
        if (name === 'prepareNotification' && failPrepare) throw ApplicationFailure.nonRetryable('the database said no', 'Boom');
        return run();
      },
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await native?.close();
    await connection?.close();
    await servers?.close();
    await pool.end();
  });
  afterEach(() => {
    failPrepare = false;
    servers.smtp.refuseAll(null);
  });

  const row = async (id: string) =>
    (await pool.query(`SELECT status, status_reason FROM notifications WHERE id = $1`, [id])).rows[0] as {
      status: string;
      status_reason: string;
    };
  const send = async (customerId: string, companyId: string) =>
    (await worker.service.sendNotification(companyId, { eventType: 'payment_received', notifiable: { type: 'customer', id: customerId } }))
      .notification;

  it('a step that gives up: the run fails and the row says why', async () => {
    const org = await createOrganisation(pool);
    failPrepare = true;
    const n = await send(org.customerId, org.companyId);
    await expect(client.workflow.getHandle(n.workflowId).result()).rejects.toThrow();
    expect(await row(n.id)).toEqual({ status: 'failed', status_reason: expect.stringContaining('the database said no') });
  });

  it('cancelled through Temporal (handle.cancel()) while waiting for a retry: the row is cancelled', async () => {
    const org = await createOrganisation(pool);
    servers.smtp.refuseAll({ code: 451 });
    const n = await send(org.customerId, org.companyId);
    await until('the retry wait', async () => (await row(n.id)).status === 'waiting');
    await client.workflow.getHandle(n.workflowId).cancel();
    await expect(client.workflow.getHandle(n.workflowId).result()).rejects.toThrow();
    expect(await row(n.id)).toEqual({ status: 'cancelled', status_reason: 'the workflow was cancelled' });
  });

  it('terminated (no workflow code runs): the reconciler finishes the row, and its attempt in flight says it may have been sent', async () => {
    const org = await createOrganisation(pool);
    const held = servers.smtp.hold();
    const n = await send(org.customerId, org.companyId);
    await held.arrived; // an attempt is in flight
    await client.workflow.getHandle(n.workflowId).terminate('operator stopped it');
    expect((await row(n.id)).status).toBe('sending');

    const { reconcileOutbox } = createActivities({ pool, logger, channels: testChannels(servers), client, taskQueue: worker.taskQueue });
    let closed: string[] = [];
    await until('visibility to list the terminated run', async () => {
      closed = (await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [org.companyId] })).closed;
      return closed.length > 0;
    });
    expect(closed).toEqual([n.workflowId]);
    expect(await row(n.id)).toEqual({ status: 'failed', status_reason: expect.stringContaining('terminated') });
    const attempts = await pool.query(`SELECT status, error_kind, may_have_sent FROM notification_deliveries WHERE notification_id = $1`, [
      n.id,
    ]);
    expect(attempts.rows).toEqual([{ status: 'failed', error_kind: 'unknown', may_have_sent: true }]);
    // Idempotent: a second pass changes nothing.
    expect((await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [org.companyId] })).closed).toEqual([]);
    held.release();
  });
});
