import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createNotificationService } from '../../src/notifications/service';
import { startSmtpServer, type SmtpTestServer } from '../support/channel-servers';
import { testDatabaseUrl, testPool } from '../support/database';
import { createOrganisation } from '../support/fixtures';
import { uniqueTaskQueue } from '../support/temporal';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The production worker process (`src/main.ts worker`) is SIGKILLed while it is sending an email;
 * a second worker process takes over. The message reaches the SMTP server exactly once, the
 * notification ends delivered, and there is one attempt row. Real time on the shared dev server:
 * the send heartbeats, so the dead worker's attempt is retried after the 5 s heartbeat timeout.
 */
describe('a worker process killed mid-send', () => {
  const pool = testPool();
  const taskQueue = uniqueTaskQueue('kill');
  let smtp: SmtpTestServer;
  let connection: Connection;
  let client: Client;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    smtp = await startSmtpServer();
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = new Client({ connection, namespace: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default' });
  });
  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await smtp?.close();
    await connection?.close();
    await pool.end();
  });

  /** Starts a worker process and resolves once it polls. */
  function startWorkerProcess(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: testDatabaseUrl(),
        TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
        TEMPORAL_TASK_QUEUE: taskQueue,
        SMTP_URL: smtp.url,
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

  it('delivers exactly once after SIGKILL and a restart', async () => {
    const org = await createOrganisation(pool);
    const first = await startWorkerProcess();
    const gate = smtp.hold(); // the SMTP server keeps the send in flight (no DATA yet)

    const service = createNotificationService({ pool, client, taskQueue });
    const { notification } = await service.sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });
    await gate.arrived;
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    gate.release();
    expect(smtp.messages).toHaveLength(0);

    await startWorkerProcess();
    const result = await client.workflow.getHandle(notification.workflowId).result();
    expect(result.status).toBe('delivered');

    expect(smtp.messages.filter((m) => m.to.some((to) => to.startsWith('carla.')))).toHaveLength(1);
    const { rows } = await pool.query(
      `SELECT attempt_number, status, may_have_sent FROM notification_deliveries WHERE notification_id = $1`,
      [notification.id],
    );
    // One attempt row; it says the first execution might have sent (SMTP cannot deduplicate).
    expect(rows).toEqual([{ attempt_number: 1, status: 'sent', may_have_sent: true }]);
    const row = await pool.query(`SELECT status FROM notifications WHERE id = $1`, [notification.id]);
    expect(row.rows[0].status).toBe('delivered');
  }, 90_000);
});
