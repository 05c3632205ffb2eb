import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { migrate } from '../../src/db/migrate';
import { createPool, type Pool } from '../../src/db/pool';
import { freePort } from '../../src/dev/free-port';
import { createNotificationService } from '../../src/notifications/service';
import type { Durability } from '../../src/temporal/durability';
import { createOrganisation } from '../support/fixtures';
import { RestartablePostgres } from '../support/postgres-server';
import { timeSkippingTemporal, uniqueTaskQueue } from '../support/temporal';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';

/**
 * PostgreSQL goes away under running notifications (a database of this file's own, really stopped
 * and started again). An outage is infrastructure, not a business answer: the workflow waits it
 * out, uses no retry, no fallback, records no `unknown` attempt, and delivers once; its history
 * stays small however long the outage; any end leaves its row final with the reason.
 */
describe('PostgreSQL outages under running notifications', () => {
  let dataDir: string;
  let pg: RestartablePostgres;
  let pool: Pool;
  let servers: ChannelServers;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;
  const workers: TestWorker[] = [];

  // Short intervals so the test is quick; the old fixed budget (8 attempts) would be used up in ~3 s.
  const quick: Durability = {
    infraRetryMs: 10 * 60_000,
    infraInitialIntervalMs: 100,
    infraMaximumIntervalMs: 400,
    heartbeatTimeoutMs: 15_000,
  };

  beforeAll(async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-fault-pgwf-'));
    fs.chmodSync(parent, 0o755); // the server may run as the unprivileged postgres user
    dataDir = path.join(parent, 'data');
    pg = new RestartablePostgres(dataDir, await freePort(), 'faults');
    const url = await pg.start();
    await migrate({ databaseUrl: url });
    pool = createPool(url, { max: 6, connectionTimeoutMillis: 1_000 });
    servers = await startChannelServers();
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = testClient(connection);
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await w.stop();
    await native?.close();
    await connection?.close();
    await servers?.close();
    await pool?.end().catch(() => undefined);
    await pg.stop();
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });

  const worker = async (options: Partial<Parameters<typeof startTestWorker>[0]> = {}) => {
    const w = await startTestWorker({ connection: native, client, pool, channels: testChannels(servers), ...options });
    workers.push(w);
    return w;
  };
  const history = (workflowId: string) => client.workflow.getHandle(workflowId).fetchHistory();

  it('the first step waits through the outage, then delivers once', async () => {
    const org = await createOrganisation(pool);
    const taskQueue = uniqueTaskQueue('pg-first-step');
    // The row and its workflow exist; no worker has picked the workflow up yet.
    const { notification } = await createNotificationService({ pool, client, taskQueue }).sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });
    const before = servers.smtp.received;

    await pg.stop();
    const w = await worker({ taskQueue });
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await client.workflow.getHandle(notification.workflowId).describe()).status.name).toBe('RUNNING');
    // The worker really met the outage: its first step failed against the stopped database.
    expect(w.failures.prepareNotification ?? 0).toBeGreaterThanOrEqual(1);
    expect(servers.smtp.received).toBe(before);
    await pg.start();

    expect(await client.workflow.getHandle(notification.workflowId).result()).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(servers.smtp.received).toBe(before + 1);
    const { rows } = await pool.query(`SELECT attempt_number, status FROM notification_deliveries WHERE notification_id = $1`, [
      notification.id,
    ]);
    expect(rows).toEqual([{ attempt_number: 1, status: 'sent' }]);
  }, 90_000);

  it('an outage longer than the old 8-attempt budget during the send is no attempt: no fallback, no unknown attempt, one delivery', async () => {
    const org = await createOrganisation(pool);
    const smtpBefore = servers.smtp.received;
    const smsBefore = servers.twilio.messages.length;
    let outage: Promise<void> | undefined;
    const w = await worker({
      durability: quick,
      // The database goes away just as the first send starts, for 8 s (about 25 retries at these intervals).
      around: async (name, run) => {
        if (name === 'attemptDelivery' && !outage) {
          await pg.stop();
          outage = new Promise((r) => setTimeout(r, 8_000)).then(async () => {
            await pg.start();
          });
        }
        return run();
      },
    });
    const { notification } = await w.service.sendNotification(org.companyId, {
      eventType: 'payment_received', // email, falls back to SMS
      notifiable: { type: 'customer', id: org.customerId },
    });
    const result = await client.workflow.getHandle(notification.workflowId).result();
    await outage;
    expect(result).toMatchObject({ status: 'delivered', attempts: 1, delivered: { channel: 'email', isFallback: false } });
    expect(servers.smtp.received).toBe(smtpBefore + 1);
    expect(servers.twilio.messages.length).toBe(smsBefore);
    const { rows } = await pool.query(
      `SELECT attempt_number, channel, status, error_kind, is_fallback FROM notification_deliveries WHERE notification_id = $1`,
      [notification.id],
    );
    expect(rows).toEqual([{ attempt_number: 1, channel: 'email', status: 'sent', error_kind: null, is_fallback: false }]);
    // It really outlasted the old budget: Temporal retried the send activity more than 8 times.
    const events = (await history(notification.workflowId)).events ?? [];
    const sendAttempts = events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt!);
    expect(Math.max(...sendAttempts)).toBeGreaterThan(8);
  }, 90_000);

  it('a template error during a database blip still leaves the row failed, with the reason', async () => {
    const org = await createOrganisation(pool);
    await pool.query(
      `INSERT INTO notification_configurations (company_id, configurable_type, configurable_id, event_type, template_body)
       VALUES ($1, 'company', $1, 'payment_received', 'Paid {{data.amount}}')`,
      [org.companyId],
    );
    let blip: Promise<void> | undefined;
    const w = await worker({
      durability: quick,
      around: async (name, run) => {
        if (name === 'recordTemplateFailure' && !blip) {
          await pg.stop();
          blip = new Promise((r) => setTimeout(r, 3_000)).then(async () => {
            await pg.start();
          });
        }
        return run();
      },
    });
    const { notification } = await w.service.sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });
    const result = await client.workflow.getHandle(notification.workflowId).result();
    await blip;
    expect(result).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^template error on email: .*amount/) });
    expect(w.failures.recordTemplateFailure ?? 0).toBeGreaterThanOrEqual(1);
    const row = await pool.query(`SELECT status, status_reason FROM notifications WHERE id = $1`, [notification.id]);
    expect(row.rows[0]).toEqual({ status: 'failed', status_reason: result.reason });
    const attempts = await pool.query(`SELECT provider, status, error_kind FROM notification_deliveries WHERE notification_id = $1`, [
      notification.id,
    ]);
    expect(attempts.rows).toEqual([{ provider: 'template', status: 'failed', error_kind: 'template' }]);
  }, 90_000);

  describe('on the time-skipping server', () => {
    let env: TestWorkflowEnvironment;
    const onEnv: TestWorker[] = [];
    beforeAll(async () => {
      env = await timeSkippingTemporal();
    });
    afterAll(async () => {
      for (const w of onEnv) await w.stop();
      await env?.teardown();
    });

    it('a one-hour outage keeps the notification history under 1,000 events', async () => {
      const org = await createOrganisation(pool);
      const taskQueue = uniqueTaskQueue('pg-hour');
      const { notification } = await createNotificationService({ pool, client: env.client, taskQueue }).sendNotification(org.companyId, {
        eventType: 'payment_received',
        notifiable: { type: 'customer', id: org.customerId },
      });
      await pg.stop();
      let down = true;
      try {
        const live = await startTestWorker({
          connection: env.nativeConnection,
          client: env.client,
          pool,
          channels: testChannels(servers),
          taskQueue,
        });
        onEnv.push(live);
        // One hour of skipped time with the database down (production retry policy: 1 s doubling to 5 min).
        await env.sleep('1h');
        const during = (await env.client.workflow.getHandle(notification.workflowId).fetchHistory()).events ?? [];
        expect(live.failures.prepareNotification ?? 0).toBeGreaterThan(5);
        await pg.start();
        down = false;
        const result = await env.client.workflow.getHandle(notification.workflowId).result();
        expect(result).toMatchObject({ status: 'delivered', attempts: 1 });
        const events = (await env.client.workflow.getHandle(notification.workflowId).fetchHistory()).events ?? [];
        expect(during.length).toBeLessThan(1_000);
        expect(events.length).toBeLessThan(1_000);
        // The local retries waited on timers (skipped time), not in the worker (which heartbeats the task).
        expect(events.filter((e) => e.timerStartedEventAttributes).length).toBeGreaterThan(5);
      } finally {
        if (down) await pg.start();
      }
    }, 120_000);
  });
});
