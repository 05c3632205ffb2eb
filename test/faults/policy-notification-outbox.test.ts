import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { insertApiKey } from '../../src/companies/store';
import { createPolicyService } from '../../src/policies/service';
import { testDatabaseUrl, testPool } from '../support/database';
import { createOrganisation } from '../support/fixtures';
import { startTcpProxy } from '../support/tcp-proxy';
import { sharedTemporal } from '../support/temporal';
import { logger, startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * A cancellation's notifications are rows in the cancellation's own transaction and their workflows
 * start after COMMIT: when that start never happens (Temporal refuses it, or the process dies right
 * after the COMMIT), the outbox reconciler starts them and they are delivered. Never lost.
 */
describe('policy modifications: notifications survive a lost workflow start (outbox)', () => {
  const pool = testPool();
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;
  let worker: TestWorker;

  beforeAll(async () => {
    [env, servers] = await Promise.all([sharedTemporal(), startChannelServers()]);
    worker = await startTestWorker({ connection: env.nativeConnection, client: env.client, pool, channels: testChannels(servers) });
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  const exists = (workflowId: string) =>
    env.client.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        () => true,
        () => false,
      );
  const reconcile = (companyId: string) =>
    createActivities({ pool, logger, channels: testChannels(servers), client: env.client, taskQueue: worker.taskQueue }).reconcileOutbox({
      graceSeconds: 0,
      lookbackHours: 1,
      limit: 100,
      companyIds: [companyId],
    });
  const notificationsOf = (appointmentId: string) =>
    pool
      .query(`SELECT id, event_type, status FROM notifications WHERE notifiable_id = $1 ORDER BY event_type`, [appointmentId])
      .then((r) => r.rows);

  it('Temporal refusing the start: the cancellation commits and answers; the reconciler starts its notifications', async () => {
    const org = await createOrganisation(pool, { startsAt: new Date(Date.now() + 3 * 3_600_000) });
    await pool.query(
      `INSERT INTO policy_configurations (company_id, configurable_type, configurable_id, policy_type, config)
       VALUES ($1, 'company', $1, 'cancellation', '{"hours_before": 24}')`,
      [org.companyId],
    );
    const broken = createPolicyService({
      pool,
      client: new Client({ connection: env.connection, namespace: `missing-${randomUUID()}` }),
      taskQueue: worker.taskQueue,
      logger,
    });
    try {
      // A manager's override: two notifications (appointment_cancelled and policy_violation).
      const result = await broken.cancelAppointment(
        org.companyId,
        org.appointmentId,
        { override: { reason: 'flood' } },
        { keyId: randomUUID(), role: 'manager' },
      );
      expect(result.notifications.map((n) => n.eventType)).toEqual(['appointment_cancelled', 'policy_violation']);
      expect(await notificationsOf(org.appointmentId)).toEqual([
        expect.objectContaining({ event_type: 'appointment_cancelled', status: 'pending' }),
        expect.objectContaining({ event_type: 'policy_violation', status: 'pending' }),
      ]);
      for (const n of result.notifications) expect(await exists(n.workflowId)).toBe(false);

      const reconciled = await reconcile(org.companyId);
      expect(reconciled.started.sort()).toEqual(result.notifications.map((n) => n.workflowId).sort());
      for (const n of result.notifications) {
        expect(await env.client.workflow.getHandle(n.workflowId).result()).toMatchObject({ status: 'delivered' });
      }
      expect((await reconcile(org.companyId)).started).toEqual([]);
    } finally {
      await broken.close();
    }
  });

  it('the API process killed after COMMIT and before the start: the reconciler delivers the notification', async () => {
    const org = await createOrganisation(pool, { startsAt: new Date(Date.now() + 72 * 3_600_000) });
    // The process's Temporal is reachable at the TCP level but answers nothing: its start hangs after the COMMIT.
    const [host, port] = process.env.TEST_TEMPORAL_ADDRESS!.split(':');
    const proxy = await startTcpProxy({ host, port: Number(port) });
    proxy.stall();
    const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(ROOT, 'test/policies/second-api-process.ts')], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: testDatabaseUrl(), TEMPORAL_ADDRESS: proxy.address, TASK_QUEUE: worker.taskQueue },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]).url);
        });
        child.once('exit', (code) => reject(new Error(`exited early (${code})`)));
      });
      const { key } = await insertApiKey(pool, org.companyId, 'kill test', 'agent');
      const request = fetch(`${url}/v1/appointments/${org.appointmentId}/cancel`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: '{}',
      }).catch((error: Error) => error);
      // Committed: the appointment is cancelled and its notification row exists; the start is hanging.
      const deadline = Date.now() + 10_000;
      while ((await notificationsOf(org.appointmentId)).length === 0) {
        if (Date.now() > deadline) throw new Error('the cancellation did not commit');
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(String(await request)).toContain('fetch failed'); // the client never got an answer
      const [row] = await notificationsOf(org.appointmentId);
      expect(row).toMatchObject({ event_type: 'appointment_cancelled', status: 'pending' });
      expect((await pool.query(`SELECT status FROM appointments WHERE id = $1`, [org.appointmentId])).rows[0].status).toBe('cancelled');
      expect(await exists(`notification-${row.id}`)).toBe(false);

      expect((await reconcile(org.companyId)).started).toEqual([`notification-${row.id}`]);
      expect(await env.client.workflow.getHandle(`notification-${row.id}`).result()).toMatchObject({ status: 'delivered' });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await proxy.close();
    }
  });
});
