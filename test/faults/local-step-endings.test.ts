import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { callbackStateQuery, type Actor } from '../../src/callbacks/definitions';
import type { CreateCallback } from '../../src/callbacks/schemas';
import { createCallbackService, type CallbackService } from '../../src/callbacks/service';
import { createPool } from '../../src/db/pool';
import { cancelNotificationUpdate, notificationStateQuery } from '../../src/notifications/definitions';
import type { Durability } from '../../src/temporal/durability';
import { testDatabaseUrl, testPool } from '../support/database';
import { testClient, testDataConverter } from '../support/encryption';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { workflowBundle } from '../support/temporal';
import { until } from '../support/until';
import { logger, startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';
import { saveHistories } from '../workflows/recorded-histories';

type History = temporal.api.history.v1.IHistory;

const manager: Actor = { kind: 'operator', role: null, staffId: null, label: 'test' };

/**
 * A local activity (a bookkeeping step) that spends its retry budget reaches the workflow as an
 * `ActivityFailure` when it happens, but replays from its marker as the bare cause (a
 * `TimeoutFailure` or an `ApplicationFailure`, without the wrapper and without `activityType`):
 * the SDK's core writes the failure into the marker unwrapped. A workflow that decides on the
 * wrapper takes one path when the step gives up and another when the run is replayed (a query of
 * the closed run, a worker that lost its cache, the replayer): nondeterminism, or another ending.
 *
 * Here each workflow meets a real PostgreSQL outage (the worker's own connections through a TCP
 * proxy that refuses) at the moment one of its local steps runs, for longer than that step's
 * budget; the closed run's history is then replayed against the current bundle, and the run is
 * queried (which replays it on the worker). The histories are recorded for
 * test/workflows/replay.test.ts with UPDATE_HISTORIES=1.
 */
describe('a local step that gives up: the run replays the ending it had', () => {
  const pool = testPool();
  let servers: ChannelServers;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;
  let proxy: TcpProxy;
  let proxiedPool: ReturnType<typeof createPool>;
  let w: TestWorker;
  let callbacks: CallbackService;
  /** Fault injection before one activity call, keyed `<activity>:<notificationId>`. */
  const hooks = new Map<string, () => Promise<void>>();
  const recorded: Record<'callback' | 'notification', Array<{ label: string; history: History }>> = { callback: [], notification: [] };
  // A budget of 10 s, every retry 6 s after the last: above the local retry threshold (5 s), so each
  // retry of a local step waits on a workflow timer and the budget is honoured (in-worker retries
  // last seconds and are not stopped by it), as in production, where it is hours.
  const budget: Durability = {
    infraRetryMs: 10_000,
    infraInitialIntervalMs: 6_000,
    infraMaximumIntervalMs: 6_000,
    heartbeatTimeoutMs: 4_000,
  };

  beforeAll(async () => {
    servers = await startChannelServers();
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = testClient(connection);
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    // The worker reaches PostgreSQL through a proxy the test makes refuse: an outage for its steps only.
    const url = new URL(testDatabaseUrl());
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    url.port = String(proxy.port);
    proxiedPool = createPool(url.toString(), { max: 20, connectionTimeoutMillis: 1_000 });
    w = await startTestWorker({
      connection: native,
      client,
      pool: proxiedPool,
      channels: testChannels(servers),
      durability: budget,
      around: async (name, run, args) => {
        await hooks.get(`${name}:${(args[0] as { notificationId?: string })?.notificationId}`)?.();
        return run();
      },
    });
    // Created and read on the test's own connection (the database stays up for the test itself).
    callbacks = createCallbackService({ pool, client, taskQueue: w.taskQueue, logger, durability: budget, updateTimeoutMs: 2_000 });
  });
  afterAll(async () => {
    if (process.env.UPDATE_HISTORIES === '1') {
      saveHistories('callback', recorded.callback);
      saveHistories('notification', recorded.notification);
    }
    proxy?.forward();
    await w?.stop();
    await proxiedPool?.end();
    await proxy?.close();
    await native?.close();
    await connection?.close();
    await servers?.close();
    await pool.end();
  });
  afterEach(() => {
    proxy.forward();
    hooks.clear();
  });
  /**
   * The database goes away for the worker, as a step is about to run: the proxy refuses, and the
   * step starts once the pool has dropped its dead idle connections (a connection that dies while
   * checked out emits an error nobody listens to, which is not what this file tests).
   */
  const outage = async () => {
    proxy.refuse();
    await until('the dead idle connections dropped', async () => proxiedPool.idleCount === 0);
  };

  const testLabel = () =>
    (expect.getState().currentTestName ?? 'local step').replace(/^a local step that gives up: the run replays the ending it had \w+ /, '');
  const failedRun = (workflowId: string) =>
    until('the run failed', async () => (await client.workflow.getHandle(workflowId).describe()).status.name === 'FAILED', 90_000);
  /**
   * The local activities of the run that gave up: their markers carry a failure and no backoff (a
   * try that failed and waits on a timer for the next one records its marker too). The failure in
   * the marker is the bare timeout, without the ActivityFailure wrapper the first run saw: what the
   * run gets when it replays.
   */
  const givenUp = (history: History) => {
    const markers = (history.events ?? [])
      .map((e) => e.markerRecordedEventAttributes)
      .filter((m) => m?.markerName === 'core_local_activity' && m.failure)
      .map((m) => ({ data: JSON.parse(Buffer.from(m!.details!.data!.payloads![0].data!).toString()), failure: m!.failure! }))
      .filter((m) => !m.data.backoff);
    for (const { failure } of markers) {
      expect(failure.timeoutFailureInfo).toBeTruthy();
      expect(failure.activityFailureInfo).toBeFalsy();
    }
    return markers.map((m) => m.data.activity_type as string);
  };
  /** How the closed run failed: its failure's type, message and details. */
  const failureOf = async (workflowId: string) => {
    const error = await client.workflow
      .getHandle(workflowId)
      .result()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
    return { type: cause.type, message: cause.message, details: cause.details };
  };
  /** Replays the closed run with the current workflow code; the replayer's error, if any. */
  const replay = async (workflowId: string, history: History) => {
    try {
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: testDataConverter() }, history, workflowId);
      return undefined;
    } catch (error) {
      return error as Error;
    }
  };

  describe('callback', () => {
    const create = async (org: Organisation) => {
      const { callback } = await callbacks.createCallback(
        org.companyId,
        { branchId: org.branchId, customerId: org.customerId, priority: 'normal', metadata: {} } as CreateCallback,
        { role: 'manager' },
      );
      await until(
        'the assignment',
        async () => (await client.workflow.getHandle(callback.workflowId).query(callbackStateQuery)).assignedTo,
      );
      return callback;
    };

    it('recording an attempt gives up: ended failed, naming the step, and replays so', async () => {
      const org = await createOrganisation(pool);
      const c = await create(org);
      await outage();
      await callbacks.message(org.companyId, c.id, 'attempt', { outcome: 'no_answer' }, manager).catch((e) => e);
      await failedRun(c.workflowId);
      proxy.forward();

      const handle = client.workflow.getHandle(c.workflowId);
      const history = await handle.fetchHistory();
      expect(givenUp(history)).toEqual(['recordCallbackAttempt', 'finishCallback']);
      recorded.callback.push({ label: testLabel(), history });
      // The ending as the run recorded it (the row could not be written: the reconciler writes it from this).
      const ending = await failureOf(c.workflowId);
      expect(ending).toMatchObject({ type: 'CallbackFailed', details: [{ status: 'failed', reason: ending.message }] });
      expect(ending.message).toMatch(/^the step recordCallbackAttempt gave up after its retries: /);
      expect(await replay(c.workflowId, history)).toBeUndefined();
      // Queried, the closed run is replayed by the worker: it ends as it did, failed, for the same reason.
      expect(await handle.query(callbackStateQuery)).toMatchObject({ status: 'failed', statusReason: ending.message });
    }, 150_000);

    it('writing an accepted completion gives up: still a completion, and replays so', async () => {
      const org = await createOrganisation(pool);
      const c = await create(org);
      await outage();
      await callbacks.message(org.companyId, c.id, 'complete', { notes: 'booked' }, manager).catch((e) => e);
      await failedRun(c.workflowId);
      proxy.forward();

      const handle = client.workflow.getHandle(c.workflowId);
      const history = await handle.fetchHistory();
      expect(givenUp(history)).toEqual(['finishCallback', 'finishCallback']);
      recorded.callback.push({ label: testLabel(), history });
      const ending = await failureOf(c.workflowId);
      expect(ending).toMatchObject({ type: 'CallbackFailed', details: [{ status: 'completed', reason: null, notes: 'booked' }] });
      expect(ending.message).toMatch(/^the step finishCallback gave up after its retries: /);
      expect(await replay(c.workflowId, history)).toBeUndefined();
      expect(await handle.query(callbackStateQuery)).toMatchObject({ status: 'completed', statusReason: null });
    }, 150_000);
  });

  describe('notification', () => {
    /** A notification whose first email meets a transient refusal: it waits (a durable timer) to retry. */
    const send = async (org: Organisation, before: (notificationId: string) => void) => {
      const held = servers.smtp.hold();
      servers.smtp.refuseNext({ code: 451 });
      const { notification } = await w.service.sendNotification(org.companyId, {
        eventType: 'payment_received',
        notifiable: { type: 'customer', id: org.customerId },
      });
      await held.arrived;
      before(notification.id);
      held.release();
      return notification;
    };

    it('its final write gives up (a cancel during the retry wait): the run fails without writing again, and replays so', async () => {
      const org = await createOrganisation(pool);
      const n = await send(org, (id) => hooks.set(`completeNotification:${id}`, outage));
      await until(
        'the retry wait',
        async () => (await pool.query(`SELECT status FROM notifications WHERE id = $1`, [n.id])).rows[0].status === 'waiting',
      );
      const handle = client.workflow.getHandle(n.workflowId);
      const cancelled = handle.executeUpdate(cancelNotificationUpdate, { args: [{ reason: 'the customer called' }] }).catch((e) => e);
      await failedRun(n.workflowId);
      await cancelled;
      proxy.forward();

      const history = await handle.fetchHistory();
      expect(givenUp(history)).toEqual(['completeNotification']);
      recorded.notification.push({ label: testLabel(), history });
      expect(await replay(n.workflowId, history)).toBeUndefined();
      expect(await handle.query(notificationStateQuery)).toMatchObject({ cancelRequested: true });
    }, 150_000);

    it('marking the retry wait gives up: the row says failed with the reason, and replays so', async () => {
      const org = await createOrganisation(pool);
      const n = await send(org, (id) => {
        hooks.set(`markNotificationWaiting:${id}`, outage);
        // The database is back for the final write.
        hooks.set(`completeNotification:${id}`, async () => proxy.forward());
      });
      await failedRun(n.workflowId);

      const handle = client.workflow.getHandle(n.workflowId);
      const history = await handle.fetchHistory();
      expect(givenUp(history)).toEqual(['markNotificationWaiting']);
      const row = (await pool.query(`SELECT status, status_reason FROM notifications WHERE id = $1`, [n.id])).rows[0];
      expect(row).toEqual({ status: 'failed', status_reason: expect.stringMatching(/^the workflow failed: /) });
      recorded.notification.push({ label: testLabel(), history });
      expect(await replay(n.workflowId, history)).toBeUndefined();
      expect(await handle.query(notificationStateQuery)).toMatchObject({ status: 'failed', reason: row.status_reason });
    }, 150_000);
  });
});
