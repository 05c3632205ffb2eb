import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { NativeConnection } from '@temporalio/worker';
import type { PoolClient } from 'pg';
import { createNotificationService } from '../../src/notifications/service';
import { DEFAULT_DURABILITY, type Durability } from '../../src/temporal/durability';
import { startSmtpServer, startTwilioServer, type SmtpTestServer, type TwilioTestServer } from '../support/channel-servers';
import { testDatabaseUrl, testPool } from '../support/database';
import { createOrganisation } from '../support/fixtures';
import { uniqueTaskQueue } from '../support/temporal';
import { logger, startTestWorker } from '../support/workers';
import { loadChannelConfig } from '../../src/channels/config';
import { createChannelRegistry } from '../../src/channels/registry';
import { until } from '../support/until';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The production worker process (`src/main.ts worker`) is SIGKILLed at the risky moments of a send,
 * and a second process takes over (real time, the shared dev server). What docs/durability.md promises:
 * - killed before the provider took the message: delivered exactly once;
 * - killed after the provider accepted it (SMTP DATA answered 250, HTTP 201) and before the attempt
 *   row was updated: neither SMTP nor Twilio's Messages API documents an idempotency key, so the
 *   retry sends again (at-least-once) and the attempt row says `may_have_sent`.
 */
describe('a worker process killed mid-send', () => {
  const pool = testPool();
  let smtp: SmtpTestServer;
  let twilio: TwilioTestServer;
  let connection: Connection;
  let client: Client;
  const workers: ChildProcess[] = [];
  // A dead worker's attempt moves on after 5 s without heartbeats (production: 15 s).
  const durability: Durability = { ...DEFAULT_DURABILITY, heartbeatTimeoutMs: 5_000 };

  beforeAll(async () => {
    [smtp, twilio] = await Promise.all([startSmtpServer(), startTwilioServer('ACkill', 'secret')]);
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = testClient(connection);
  });
  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await smtp?.close();
    await twilio?.close();
    await connection?.close();
    await pool.end();
  });

  /** Starts a worker process and resolves once it polls. */
  function startWorkerProcess(taskQueue: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: testDatabaseUrl(),
        TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
        TEMPORAL_TASK_QUEUE: taskQueue,
        SMTP_URL: smtp.url,
        TWILIO_BASE_URL: twilio.baseUrl,
        TWILIO_ACCOUNT_SID: 'ACkill',
        TWILIO_AUTH_TOKEN: 'secret',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    workers.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('"msg":"worker running"')) resolve(child);
      });
      child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
    });
  }
  const kill = async (child: ChildProcess) => {
    child.kill('SIGKILL');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  };
  /** Locks the notification's (reserved) attempt row, so that the worker's outcome UPDATE waits on it. */
  async function lockAttemptRow(notificationId: string): Promise<PoolClient> {
    const id = await until('the reserved attempt row', async () => {
      const { rows } = await pool.query(`SELECT id FROM notification_deliveries WHERE notification_id = $1 AND status = 'sending'`, [
        notificationId,
      ]);
      return rows[0]?.id as string | undefined;
    });
    const db = await pool.connect();
    await db.query('BEGIN');
    await db.query(`SELECT 1 FROM notification_deliveries WHERE id = $1 FOR UPDATE`, [id]);
    return db;
  }
  const attempts = async (notificationId: string) =>
    (
      await pool.query(`SELECT attempt_number, status, may_have_sent FROM notification_deliveries WHERE notification_id = $1`, [
        notificationId,
      ])
    ).rows;

  it('killed before the message data went out: delivered exactly once', async () => {
    const org = await createOrganisation(pool);
    const taskQueue = uniqueTaskQueue('kill');
    const first = await startWorkerProcess(taskQueue);
    const gate = smtp.hold(); // the SMTP server keeps the send in flight (no DATA yet)

    const service = createNotificationService({ pool, client, taskQueue, durability });
    const { notification } = await service.sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });
    await gate.arrived;
    await kill(first);
    gate.release();
    expect(smtp.messages.filter((m) => m.to.some((to) => to.startsWith('carla.')))).toHaveLength(0);

    await startWorkerProcess(taskQueue);
    expect(await client.workflow.getHandle(notification.workflowId).result()).toMatchObject({ status: 'delivered' });
    const email = (await pool.query(`SELECT email FROM customers WHERE id = $1`, [org.customerId])).rows[0].email;
    expect(smtp.messages.filter((m) => m.to.includes(email))).toHaveLength(1);
    // One attempt row; it says the first execution might have sent (SMTP cannot deduplicate).
    expect(await attempts(notification.id)).toEqual([{ attempt_number: 1, status: 'sent', may_have_sent: true }]);
  }, 90_000);

  it('killed after the SMTP server answered 250 and before the attempt row was updated: at-least-once, and the row says so', async () => {
    const org = await createOrganisation(pool);
    const email = (await pool.query(`SELECT email FROM customers WHERE id = $1`, [org.customerId])).rows[0].email;
    const taskQueue = uniqueTaskQueue('kill-250');
    const first = await startWorkerProcess(taskQueue);
    const gate = smtp.hold();
    const { notification } = await createNotificationService({ pool, client, taskQueue, durability }).sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });
    await gate.arrived;
    const lock = await lockAttemptRow(notification.id);
    try {
      const accepted = smtp.messages.length + 1;
      gate.release();
      await smtp.accepted(accepted); // DATA answered 250: the provider has the message
      await kill(first); // its outcome UPDATE is waiting on our lock: never recorded
    } finally {
      await lock.query('ROLLBACK');
      lock.release();
    }
    expect(smtp.messages.filter((m) => m.to.includes(email))).toHaveLength(1);

    await startWorkerProcess(taskQueue);
    expect(await client.workflow.getHandle(notification.workflowId).result()).toMatchObject({ status: 'delivered', attempts: 1 });
    const copies = smtp.messages.filter((m) => m.to.includes(email));
    expect(copies).toHaveLength(2);
    // Both copies carry the attempt's Message-ID, so a receiving system can drop the second.
    expect(new Set(copies.map((m) => m.messageId))).toEqual(new Set([`<${notification.id}.1.smtp@localhost>`]));
    expect(await attempts(notification.id)).toEqual([{ attempt_number: 1, status: 'sent', may_have_sent: true }]);
  }, 90_000);

  it('killed after Twilio answered 201 and before the attempt row was updated: at-least-once, and the row says so', async () => {
    const org = await createOrganisation(pool);
    await pool.query(
      `INSERT INTO notification_configurations (company_id, configurable_type, configurable_id, event_type, channel)
       VALUES ($1, 'company', $1, 'payment_received', 'sms')`,
      [org.companyId],
    );
    const taskQueue = uniqueTaskQueue('kill-201');
    const first = await startWorkerProcess(taskQueue);
    const gate = twilio.hold();
    const { notification } = await createNotificationService({ pool, client, taskQueue, durability }).sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });
    await gate.arrived;
    const lock = await lockAttemptRow(notification.id);
    const before = twilio.messages.length;
    try {
      const answered = twilio.requests.length;
      gate.release();
      await twilio.answered(answered); // 201 Created is on its way: Twilio has the message
      await kill(first);
    } finally {
      await lock.query('ROLLBACK');
      lock.release();
    }
    expect(twilio.messages.length).toBe(before + 1);

    await startWorkerProcess(taskQueue);
    expect(await client.workflow.getHandle(notification.workflowId).result()).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(twilio.messages.length).toBe(before + 2);
    expect(await attempts(notification.id)).toEqual([{ attempt_number: 1, status: 'sent', may_have_sent: true }]);
  }, 90_000);

  it('the send heartbeats through its transactions: an outcome UPDATE blocked longer than the heartbeat timeout is not retried', async () => {
    const org = await createOrganisation(pool);
    const email = (await pool.query(`SELECT email FROM customers WHERE id = $1`, [org.customerId])).rows[0].email;
    const native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    const channels = createChannelRegistry(loadChannelConfig({ SMTP_URL: smtp.url }), logger);
    const w = await startTestWorker({
      connection: native,
      client,
      pool,
      channels,
      durability: { ...durability, heartbeatTimeoutMs: 3_000 },
    });
    try {
      const gate = smtp.hold();
      const { notification } = await w.service.sendNotification(org.companyId, {
        eventType: 'payment_received',
        notifiable: { type: 'customer', id: org.customerId },
      });
      await gate.arrived;
      const lock = await lockAttemptRow(notification.id);
      try {
        const accepted = smtp.messages.length + 1;
        gate.release();
        await smtp.accepted(accepted);
        // Three heartbeat timeouts with the outcome UPDATE waiting on the row lock.
        await new Promise((r) => setTimeout(r, 9_000));
      } finally {
        await lock.query('ROLLBACK');
        lock.release();
      }
      expect(await client.workflow.getHandle(notification.workflowId).result()).toMatchObject({ status: 'delivered' });
      expect(w.calls.attemptDelivery).toBe(1);
      expect(smtp.messages.filter((m) => m.to.includes(email))).toHaveLength(1);
      expect(await attempts(notification.id)).toEqual([{ attempt_number: 1, status: 'sent', may_have_sent: false }]);
    } finally {
      await w.stop();
      await native.close();
    }
  }, 60_000);
});
