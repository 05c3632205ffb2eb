import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { PoolClient } from 'pg';
import { DEFAULT_DURABILITY } from '../../src/temporal/durability';
import { book, bookingStack, H, messagesOf, MIN, until } from '../appointments/support';
import { testDatabaseUrl, testPool } from '../support/database';
import { createOrganisation } from '../support/fixtures';
import { timeSkippingTemporal, uniqueTaskQueue } from '../support/temporal';
import { startChannelServers, type ChannelServers } from '../support/workers';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The product's worker process SIGKILLed between an appointment's two reminders, and again while
 * the second reminder's step waits inside its transaction; each time another process takes over.
 * Time-skipping server (the reminders are 24 h and 2 h before the start), real PostgreSQL, real
 * SMTP and Twilio-style servers. Promise: every reminder arrives once, none twice, none lost.
 */
describe('appointment reminders with the worker process killed', () => {
  const pool = testPool();
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    [env, servers] = await Promise.all([timeSkippingTemporal(), startChannelServers()]);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  function startWorkerProcess(taskQueue: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(__dirname, '..', 'appointments', 'worker-process.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: testDatabaseUrl(),
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        SMTP_URL: servers.smtp.url,
        TWILIO_BASE_URL: servers.twilio.baseUrl,
        TWILIO_ACCOUNT_SID: servers.twilio.accountSid,
        TWILIO_AUTH_TOKEN: servers.twilio.authToken,
        LOG_LEVEL: 'info',
        // No sticky queue: a workflow task routed to the dead worker's sticky queue waits for its
        // schedule-to-start timeout, which on the time-skipping server is server time, frozen
        // while the test holds the clock. With no cache every task goes to the shared queue.
        WORKER_MAX_CACHED_WORKFLOWS: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
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
  const sleepUntil = async (instant: number) => {
    const left = instant - (await env.currentTimeMs());
    if (left > 0) await env.sleep(left);
  };

  it('killed after the 24 h reminder and again inside the 2 h reminder’s step: each reminder sent exactly once', async () => {
    const org = await createOrganisation(pool);
    const taskQueue = uniqueTaskQueue('appt-kill');
    // A dead worker's step moves on after 3 s without heartbeats (production: 15 s).
    const stack = bookingStack({ pool, client: env.client, taskQueue, durability: { ...DEFAULT_DURABILITY, heartbeatTimeoutMs: 3_000 } });
    const email = (await pool.query(`SELECT email FROM customers WHERE id = $1`, [org.customerId])).rows[0].email;
    const mails = () => servers.smtp.messages.filter((m) => m.to.includes(email));
    const sms = () => servers.twilio.messages.filter((m) => m.to === '+34600000001');
    const sentKinds = async (id: string) => (await messagesOf(pool, id)).filter((m) => m.status === 'sent').map((m) => m.kind);

    let worker = await startWorkerProcess(taskQueue);
    const start = Math.ceil((await env.currentTimeMs()) / MIN) * MIN + 3 * 24 * H;
    const a = await book(stack, org, start);
    await sleepUntil(start - 24 * H + MIN);
    await until('the 24 h reminder email', async () => mails().length === 2);
    expect(await sentKinds(a.id)).toEqual(['created', 'reminder_24h']);

    // Between the two reminders: the workflow sleeps on its 2 h timer; its worker dies.
    await kill(worker);
    worker = await startWorkerProcess(taskQueue);

    // The 2 h step will wait on this lock inside its transaction (before anything is written).
    const lock: PoolClient = await pool.connect();
    try {
      await lock.query('BEGIN');
      await lock.query(`SELECT 1 FROM appointments WHERE id = $1 FOR UPDATE`, [a.id]);
      // Exactly the 2 h instant: the clock does not skip while the step runs (it waits on our lock).
      await sleepUntil(start - 2 * H);
      await until('the 2 h step waiting on the lock', async () => {
        const { rows } = await pool.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR SHARE OF a%'`,
        );
        return rows[0].n > 0;
      });
      await kill(worker);
    } finally {
      await lock.query('ROLLBACK');
      lock.release();
    }
    expect(await sentKinds(a.id)).toEqual(['created', 'reminder_24h']);
    expect(sms()).toHaveLength(0);

    // A third process retries the step (the dead one's heartbeat timed out) and finishes the story.
    await startWorkerProcess(taskQueue);
    await until('the 2 h reminder SMS', async () => sms().length === 1);
    await sleepUntil(start + 45 * MIN + 61 * MIN);
    expect(await env.client.workflow.getHandle(`appointment-${a.id}`).result()).toMatchObject({
      outcome: 'ended',
      sent: ['created', 'reminder_24h', 'reminder_2h', 'feedback'],
    });
    const counts = await pool.query(
      `SELECT event_type, count(*)::int AS n FROM notifications WHERE notifiable_id = $1 GROUP BY 1 ORDER BY 1`,
      [a.id],
    );
    expect(counts.rows).toEqual([
      { event_type: 'appointment_created', n: 1 },
      { event_type: 'appointment_reminder_24h', n: 1 },
      { event_type: 'appointment_reminder_2h', n: 1 },
      { event_type: 'customer_feedback_request', n: 1 },
    ]);
    await until('the feedback email', async () => mails().length === 3);
    expect(mails().map((m) => m.subject)).toEqual([
      'Your appointment at Centro is booked',
      expect.stringMatching(/^Reminder: Haircut tomorrow at /),
      'How was your visit?',
    ]);
    expect(sms()).toHaveLength(1);
    await stack.policies.close();
  }, 120_000);
});
