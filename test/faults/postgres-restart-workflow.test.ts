import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadChannelConfig } from '../../src/channels/config';
import { createChannelRegistry } from '../../src/channels/registry';
import { migrate } from '../../src/db/migrate';
import { createPool, type Pool } from '../../src/db/pool';
import { freePort } from '../../src/dev/free-port';
import { createNotificationService } from '../../src/notifications/service';
import { startSmtpServer, type SmtpTestServer } from '../support/channel-servers';
import { createOrganisation } from '../support/fixtures';
import { RestartablePostgres } from '../support/postgres-server';
import { uniqueTaskQueue } from '../support/temporal';
import { logger, startTestWorker, type TestWorker } from '../support/workers';

/**
 * PostgreSQL goes away while a notification workflow has work to do: the workflow's activities
 * retry until the database is back, then the message is delivered exactly once (real time, the
 * shared dev server, a database of this file's own).
 */
describe('PostgreSQL restart under a running notification', () => {
  const taskQueue = uniqueTaskQueue('pg-restart');
  let dataDir: string;
  let pg: RestartablePostgres;
  let pool: Pool;
  let smtp: SmtpTestServer;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection | undefined;
  let worker: TestWorker | undefined;

  beforeAll(async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-fault-pgwf-'));
    fs.chmodSync(parent, 0o755);
    dataDir = path.join(parent, 'data');
    pg = new RestartablePostgres(dataDir, await freePort(), 'faults');
    const url = await pg.start();
    await migrate({ databaseUrl: url });
    pool = createPool(url, { max: 4, connectionTimeoutMillis: 2_000 });
    smtp = await startSmtpServer();
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = new Client({ connection, namespace: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default' });
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await native?.close();
    await connection?.close();
    await smtp?.close();
    await pool?.end().catch(() => undefined);
    await pg.stop();
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });

  it('retries through the outage and delivers once when the database is back', async () => {
    const org = await createOrganisation(pool);
    // The row and its workflow exist; no worker has picked the workflow up yet.
    const service = createNotificationService({ pool, client, taskQueue });
    const { notification } = await service.sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });

    await pg.stop();
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    worker = await startTestWorker({
      connection: native,
      client,
      pool,
      taskQueue,
      channels: createChannelRegistry(loadChannelConfig({ SMTP_URL: smtp.url }), logger),
    });

    // Let the worker meet the outage (its first activity fails and is retried), then restore.
    await new Promise((r) => setTimeout(r, 3_000));
    const describe = await client.workflow.getHandle(notification.workflowId).describe();
    expect(describe.status.name).toBe('RUNNING');
    expect(smtp.messages).toHaveLength(0);
    // The worker really met the outage: its first step failed against the stopped database.
    expect(worker.failures.prepareNotification ?? 0).toBeGreaterThanOrEqual(1);
    await pg.start();

    const result = await client.workflow.getHandle(notification.workflowId).result();
    expect(result.status).toBe('delivered');
    expect(smtp.received).toBe(1);
    const { rows } = await pool.query(`SELECT attempt_number, status FROM notification_deliveries WHERE notification_id = $1`, [
      notification.id,
    ]);
    expect(rows).toEqual([{ attempt_number: 1, status: 'sent' }]);
    const row = await pool.query(`SELECT status FROM notifications WHERE id = $1`, [notification.id]);
    expect(row.rows[0].status).toBe('delivered');
  }, 90_000);
});
