import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { testPool } from '../support/database';
import { createOrganisation } from '../support/fixtures';
import { timeSkippingTemporal, uniqueTaskQueue } from '../support/temporal';
import { attemptsOf, resultOf, startChannelServers, startRig, testChannels, timerDurations, type ChannelServers } from '../support/workers';
import { until as waitUntil } from '../support/until';

/**
 * The worker goes away in the middle of a notification and another one takes over: the message
 * is delivered exactly once (counted at the SMTP server), and the attempt rows stay one per attempt.
 */
describe('notification delivery survives a worker shutdown', () => {
  const pool = testPool();
  let env: TestWorkflowEnvironment;
  let servers: ChannelServers;

  beforeAll(async () => {
    [env, servers] = await Promise.all([timeSkippingTemporal(), startChannelServers()]);
  });
  afterAll(async () => {
    await env?.teardown();
    await servers?.close();
    await pool.end();
  });

  // No workflow cache, hence no sticky task queue: the time-skipping test server was observed not
  // to hand a sticky workflow task back to the shared queue once its worker is gone.
  const rig = (taskQueue: string, shutdownGraceMs = 2_000) =>
    startRig({
      connection: env.nativeConnection,
      client: env.client,
      pool,
      channels: testChannels(servers),
      taskQueue,
      shutdownGraceMs,
      maxCachedWorkflows: 0,
    });
  const mailsTo = (address: string) => servers.smtp.messages.filter((m) => m.to.includes(address));

  const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000) =>
    waitUntil(what, probe, timeoutMs);

  it('worker stopped while the workflow sleeps between retries: a new worker delivers once', async () => {
    const org = await createOrganisation(pool);
    const address = (await pool.query(`SELECT email FROM customers WHERE id = $1`, [org.customerId])).rows[0].email;
    const taskQueue = uniqueTaskQueue('crash-sleep');
    const first = await rig(taskQueue);
    servers.smtp.refuseNext({ code: 451 });
    const { notification } = await first.service.sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });
    await until('the retry wait', async () => (await first.service.getNotification(org.companyId, notification.id)).status === 'waiting');
    await first.stop();

    const second = await rig(taskQueue);
    try {
      expect(await resultOf(env.client, notification.id)).toMatchObject({ status: 'delivered', attempts: 2 });
    } finally {
      await second.stop();
    }
    expect(await timerDurations(env.client, notification.id)).toEqual([5 * 60_000]);
    expect(mailsTo(address)).toHaveLength(1);
    expect((await attemptsOf(pool, notification.id)).map((r) => [r.attempt_number, r.status])).toEqual([
      [1, 'failed'],
      [2, 'sent'],
    ]);
  });

  it('worker stopped mid-send: the connection closes, a new worker re-runs the same attempt and delivers once', async () => {
    const org = await createOrganisation(pool);
    const address = (await pool.query(`SELECT email FROM customers WHERE id = $1`, [org.customerId])).rows[0].email;
    const taskQueue = uniqueTaskQueue('crash-send');
    const first = await rig(taskQueue, 200);
    const held = servers.smtp.hold();
    const { notification } = await first.service.sendNotification(org.companyId, {
      eventType: 'payment_received',
      notifiable: { type: 'customer', id: org.customerId },
    });
    await held.arrived; // the SMTP conversation is in flight (RCPT TO unanswered)
    await first.stop(); // grace 200 ms, then the activity is cancelled and its socket closed
    held.release();

    const second = await rig(taskQueue);
    try {
      expect(await resultOf(env.client, notification.id)).toMatchObject({ status: 'delivered', attempts: 1 });
    } finally {
      await second.stop();
    }
    expect(mailsTo(address)).toHaveLength(1);
    expect(mailsTo(address)[0].messageId).toBe(`<${notification.id}.1.smtp@salon.test>`);
    // One row for the attempt, re-used by the re-executed activity, which says it may have been sent
    // twice (SMTP cannot deduplicate, and the first execution never reported).
    const rows = await attemptsOf(pool, notification.id);
    expect(rows.map((r) => [r.attempt_number, r.provider, r.status, r.may_have_sent])).toEqual([[1, 'smtp', 'sent', true]]);
    const history = await env.client.workflow.getHandle(`notification-${notification.id}`).fetchHistory();
    const sendAttempts = (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(Math.max(...sendAttempts.map(Number))).toBeGreaterThan(1);
  });
});
