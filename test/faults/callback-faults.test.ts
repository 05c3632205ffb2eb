import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createCallbackService } from '../../src/callbacks/service';
import type { CreateCallback } from '../../src/callbacks/schemas';
import { DEFAULT_DURABILITY } from '../../src/temporal/durability';
import { startSmtpServer, type SmtpTestServer } from '../support/channel-servers';
import { testDatabaseUrl, testPool } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { uniqueTaskQueue } from '../support/temporal';
import { logger, startTestWorker, testChannels, startChannelServers, type ChannelServers } from '../support/workers';
import { until as waitUntil } from '../support/until';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Callbacks under faults, on the shared dev server in real time: the worker process killed in the
 * middle of an escalation (after its transaction committed, before the step completed), many
 * escalations at once with one of them failing, Temporal refusing the start, a commit that fails.
 */
describe('callbacks under faults', () => {
  const pool = testPool();
  let smtp: SmtpTestServer;
  let servers: ChannelServers;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;
  const children: ChildProcess[] = [];
  const durability = { ...DEFAULT_DURABILITY, heartbeatTimeoutMs: 4_000 };
  const manager = { kind: 'operator' as const, role: null, staffId: null, label: 'test' };

  beforeAll(async () => {
    smtp = await startSmtpServer();
    servers = await startChannelServers();
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = testClient(connection);
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await native?.close();
    await connection?.close();
    await smtp?.close();
    await servers?.close();
    await pool.end();
  });

  const create = (service: ReturnType<typeof createCallbackService>, org: Organisation, over: Partial<CreateCallback> = {}) =>
    service
      .createCallback(
        org.companyId,
        { branchId: org.branchId, customerId: org.customerId, priority: 'urgent', metadata: {}, ...over } as CreateCallback,
        {
          role: 'manager',
        },
      )
      .then((r) => r.callback);
  const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000) =>
    waitUntil(what, probe, timeoutMs);
  const count = async (sql: string, params: unknown[]) => (await pool.query(sql, params)).rows[0].n as number;

  function startWorkerProcess(taskQueue: string, temporalAddress: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: testDatabaseUrl(),
        TEMPORAL_ADDRESS: temporalAddress,
        TEMPORAL_TASK_QUEUE: taskQueue,
        SMTP_URL: smtp.url,
        LOG_LEVEL: 'info',
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

  it('the worker process killed in the middle of an escalation: one escalation row, one notification, one email after the restart', async () => {
    const org = await createOrganisation(pool);
    await pool.query(`INSERT INTO callback_settings (company_id, sla_urgent_seconds, escalation_cooldown_seconds) VALUES ($1, 3, 86400)`, [
      org.companyId,
    ]);
    const taskQueue = uniqueTaskQueue('cb-kill');
    const [host, port] = process.env.TEST_TEMPORAL_ADDRESS!.split(':');
    const proxy: TcpProxy = await startTcpProxy({ host, port: Number(port) });
    try {
      // The first worker reaches Temporal through a proxy we can stall.
      const first = await startWorkerProcess(taskQueue, proxy.address);
      const service = createCallbackService({ pool, client, taskQueue, logger, durability });
      const c = await create(service, org);
      // The escalation's transaction commits (its row is there); then Temporal goes silent for this
      // worker, so the step cannot complete; then the process dies.
      await until(
        'the escalation row',
        async () => (await count(`SELECT count(*)::int AS n FROM callback_escalations WHERE callback_id = $1`, [c.id])) > 0,
      );
      proxy.stall();
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      await startWorkerProcess(taskQueue, process.env.TEST_TEMPORAL_ADDRESS!);

      const email = (await pool.query(`SELECT email FROM staff WHERE id = $1`, [org.managerId])).rows[0].email;
      // The dead worker's step must time out first (its workflow task, then the step's own timeout,
      // while its polls stay open through the stalled proxy): tens of seconds on a loaded machine.
      await until('the manager email', async () => smtp.messages.some((m) => m.to.includes(email)), 90_000);
      // The retried step found its row and its queued notification: nothing twice.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await count(`SELECT count(*)::int AS n FROM callback_escalations WHERE callback_id = $1`, [c.id])).toBe(1);
      expect(
        await count(`SELECT count(*)::int AS n FROM notifications WHERE company_id = $1 AND event_type = 'callback_escalated'`, [
          org.companyId,
        ]),
      ).toBe(1);
      expect(smtp.messages.filter((m) => m.to.includes(email))).toHaveLength(1);
      // The live state is a query (1.5 s deadline). The killed worker's polls are still open through
      // the stalled proxy, so Temporal may hand the next workflow task to its sticky queue, where it
      // is lost until the task times out (10 s): queries wait for that (measured: 11 s under load).
      const state = await until('the live state', async () => {
        const s = await service.getCallback(org.companyId, c.id);
        return s.live ? s : undefined;
      });
      expect(state.escalations).toHaveLength(1);
      expect(state.live?.breached).toBe(true);
      await service.message(org.companyId, c.id, 'cancel', {}, manager);
    } finally {
      await proxy.close();
    }
  }, 180_000);

  it('the worker process killed after the assignment COMMIT, two agents of equal load: the retried step returns the committed assignee, one staff_assigned, and the callback keeps its timers', async () => {
    const org = await createOrganisation(pool); // Ana: agent; Marta: manager
    const pau = (
      await pool.query(`INSERT INTO staff (company_id, branch_id, name, role) VALUES ($1, $2, 'Pau', 'agent') RETURNING id`, [
        org.companyId,
        org.branchId,
      ])
    ).rows[0].id as string;
    // A 20 s SLA: the breach escalation shows that the workflow's timers run after the assignment.
    await pool.query(`INSERT INTO callback_settings (company_id, sla_normal_seconds, escalation_cooldown_seconds) VALUES ($1, 20, 86400)`, [
      org.companyId,
    ]);
    const taskQueue = uniqueTaskQueue('cb-assign-kill');
    const [host, port] = process.env.TEST_TEMPORAL_ADDRESS!.split(':');
    const proxy: TcpProxy = await startTcpProxy({ host, port: Number(port) });
    const lockKey = `callback-assign:${org.branchId}`;
    const holder = await pool.connect();
    try {
      const first = await startWorkerProcess(taskQueue, proxy.address);
      const service = createCallbackService({ pool, client, taskQueue, logger, durability });
      // The branch's assignment lock is held: the first try's transaction waits inside the step.
      await holder.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [lockKey]);
      const c = await create(service, org, { priority: 'normal' });
      await until(
        'the assignment step waiting for the branch lock',
        async () =>
          (
            await pool.query(
              `SELECT count(*)::int AS n FROM pg_locks l, (SELECT hashtextextended($1, 0) AS k) h
                WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
                  AND l.classid::bigint = ((h.k >> 32) & 4294967295) AND l.objid::bigint = (h.k & 4294967295)`,
              [lockKey],
            )
          ).rows[0].n > 0,
      );
      // Temporal goes silent for this worker, then the step goes on: it chooses (Ana: equal load, older),
      // commits, and cannot report it. Then the process dies.
      proxy.stall();
      await holder.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [lockKey]);
      await until(
        'the assignment committed',
        async () => (await pool.query(`SELECT assigned_to FROM callback_requests WHERE id = $1`, [c.id])).rows[0].assigned_to,
      );
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      await startWorkerProcess(taskQueue, process.env.TEST_TEMPORAL_ADDRESS!);

      // The retried step (on the new worker) answers with Ana, whose load now counts this callback:
      // choosing again would take Pau. The workflow then runs its timers: the breach escalates.
      await until(
        'the breach escalation',
        async () => (await count(`SELECT count(*)::int AS n FROM callback_escalations WHERE callback_id = $1`, [c.id])) > 0,
        120_000,
      );
      const state = await until('the live state', async () => (await service.getCallback(org.companyId, c.id)).live);
      expect(state.assignedTo).toBe(org.staffId);
      expect(state.breached).toBe(true);
      expect((await pool.query(`SELECT assigned_to FROM callback_requests WHERE id = $1`, [c.id])).rows[0].assigned_to).toBe(org.staffId);
      expect((await pool.query(`SELECT staff_id FROM callback_assignments WHERE callback_id = $1`, [c.id])).rows).toEqual([
        { staff_id: org.staffId },
      ]);
      const assignedNotices = await pool.query(
        `SELECT notifiable_id FROM notifications WHERE company_id = $1 AND event_type = 'staff_assigned'`,
        [org.companyId],
      );
      expect(assignedNotices.rows).toEqual([{ notifiable_id: org.staffId }]);
      expect(pau).not.toBe(org.staffId);
      await service.message(org.companyId, c.id, 'cancel', {}, manager);
    } finally {
      holder.release();
      await proxy.close();
    }
  }, 240_000);

  it('many callbacks escalating at once do not interfere; one whose escalation keeps failing does not hold up the others', async () => {
    const org = await createOrganisation(pool);
    await pool.query(`INSERT INTO callback_settings (company_id, sla_urgent_seconds) VALUES ($1, 2)`, [org.companyId]);
    let unlucky = '';
    let failures = 0;
    const w = await startTestWorker({
      connection: native,
      client,
      pool,
      channels: testChannels(servers),
      durability: { ...durability, infraInitialIntervalMs: 200, infraMaximumIntervalMs: 500 },
      around: async (name, run, args) => {
        // One callback's escalation fails its first 10 tries (a few seconds of retries).
        if (name === 'escalateCallback' && (args[0] as { callbackId: string }).callbackId === unlucky && failures < 10) {
          failures += 1;
          throw new Error('injected: this escalation fails for now');
        }
        return run();
      },
    });
    try {
      const first = await create(w.callbacks, org);
      unlucky = first.id;
      const created = [first, ...(await Promise.all(Array.from({ length: 9 }, () => create(w.callbacks, org))))];
      await until(
        'ten escalations',
        async () => (await count(`SELECT count(*)::int AS n FROM callback_escalations WHERE company_id = $1`, [org.companyId])) === 10,
      );
      const per = await pool.query(`SELECT callback_id, count(*)::int AS n FROM callback_escalations WHERE company_id = $1 GROUP BY 1`, [
        org.companyId,
      ]);
      expect(per.rows.map((r) => r.n)).toEqual(Array(10).fill(1));
      expect(failures).toBe(10);
      for (const c of created) await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
    } finally {
      await w.stop();
    }
  }, 60_000);

  it('Temporal refusing the start: the callback row is committed and the reconciler starts its workflow', async () => {
    const org = await createOrganisation(pool);
    const w = await startTestWorker({ connection: native, client, pool, channels: testChannels(servers) });
    try {
      const broken = createCallbackService({
        pool,
        client: new Client({ connection, namespace: `missing-${randomUUID()}` }),
        taskQueue: w.taskQueue,
        logger,
      });
      const c = await create(broken, org, { priority: 'normal' });
      expect(c.status).toBe('pending');
      await expect(client.workflow.getHandle(c.workflowId).describe()).rejects.toThrow();
      const { reconcileOutbox } = createActivities({ pool, logger, channels: testChannels(servers), client, taskQueue: w.taskQueue });
      const reconciled = await reconcileOutbox({ graceSeconds: 0, lookbackHours: 1, limit: 100, companyIds: [org.companyId] });
      expect(reconciled.started).toEqual([c.workflowId]);
      await until(
        'the assignment',
        async () => (await pool.query(`SELECT assigned_to FROM callback_requests WHERE id = $1`, [c.id])).rows[0].assigned_to,
      );
      await w.callbacks.message(org.companyId, c.id, 'cancel', {}, manager);
    } finally {
      await w.stop();
    }
  });

  it('a commit that fails starts no workflow: never a workflow without a row', async () => {
    const org = await createOrganisation(pool);
    const fn = `refuse_commit_${randomUUID().replace(/-/g, '')}`;
    await pool.query(
      `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.company_id = '${org.companyId}' THEN RAISE EXCEPTION 'commit refused'; END IF; RETURN NULL; END $$`,
    );
    await pool.query(
      `CREATE CONSTRAINT TRIGGER ${fn} AFTER INSERT ON callback_requests DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
    );
    const service = createCallbackService({ pool, client, taskQueue: uniqueTaskQueue('cb-commit'), logger });
    try {
      await expect(create(service, org)).rejects.toThrow('commit refused');
    } finally {
      await pool.query(`DROP TRIGGER ${fn} ON callback_requests`);
      await pool.query(`DROP FUNCTION ${fn}()`);
    }
    expect(await count(`SELECT count(*)::int AS n FROM callback_requests WHERE company_id = $1`, [org.companyId])).toBe(0);
    await new Promise((r) => setTimeout(r, 1_500)); // visibility is eventually consistent
    expect(await client.workflow.count(`CompanyId = '${org.companyId}'`)).toMatchObject({ count: 0 });
  });
});
