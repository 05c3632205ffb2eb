import { Client, Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { NativeConnection } from '@temporalio/worker';
import type { CreateCallback } from '../../src/callbacks/schemas';
import { createPool } from '../../src/db/pool';
import { testDatabaseUrl } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';

/**
 * Assignment (docs/design.md, Callbacks) through the real workflow and activity, on the shared dev server: each rule
 * and the reason it stores, and 200 callbacks created at once: 200 rows, 200 workflows, spread
 * evenly over the available agents.
 */
describe('callback assignment', () => {
  // 200 creates at once share this pool with the worker's assignment steps, which queue on the branch's lock while holding
  // a connection: the burst waits its turn (the production worker has a pool of its own, one connection per activity slot).
  const pool = createPool(testDatabaseUrl(), { max: 20, connectionTimeoutMillis: 60_000 });
  let servers: ChannelServers;
  let connection: Connection;
  let client: Client;
  let native: NativeConnection;
  let w: TestWorker;

  beforeAll(async () => {
    servers = await startChannelServers();
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = testClient(connection);
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    w = await startTestWorker({ connection: native, client, pool, channels: testChannels(servers) });
  });
  afterAll(async () => {
    await w?.stop();
    await native?.close();
    await connection?.close();
    await servers?.close();
    await pool.end();
  });

  const agent = async (org: Organisation, name: string, extra: { branchId?: string; available?: boolean; serviceId?: string } = {}) => {
    const id = (
      await pool.query(
        `INSERT INTO staff (company_id, branch_id, name, role, is_available) VALUES ($1, $2, $3, 'agent', $4) RETURNING id`,
        [org.companyId, extra.branchId ?? org.branchId, name, extra.available ?? true],
      )
    ).rows[0].id as string;
    if (extra.serviceId) await pool.query(`INSERT INTO staff_services VALUES ($1, $2, $3)`, [org.companyId, id, extra.serviceId]);
    return id;
  };
  const create = (org: Organisation, over: Partial<CreateCallback> = {}) =>
    w.callbacks
      .createCallback(
        org.companyId,
        { branchId: org.branchId, customerId: org.customerId, priority: 'normal', metadata: {}, ...over } as CreateCallback,
        {
          role: 'manager',
        },
      )
      .then((r) => r.callback);
  async function assignment(id: string): Promise<{ assigned_to: string | null; assignment_reason: string | null; status: string }> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rows } = await pool.query(
        `SELECT assigned_to, assignment_reason, status, workflow_started_at FROM callback_requests WHERE id = $1`,
        [id],
      );
      // The first assignment try happens right after the workflow's first step.
      if (
        rows[0].assigned_to ||
        (rows[0].workflow_started_at && rows[0].status === 'pending' && Date.now() - rows[0].workflow_started_at > 500)
      ) {
        return rows[0];
      }
      if (Date.now() > deadline) throw new Error('timed out waiting for the assignment');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const cancelAll = async (org: Organisation) => {
    const { rows } = await pool.query(
      `SELECT id FROM callback_requests WHERE company_id = $1 AND status IN ('pending', 'assigned', 'contacted')`,
      [org.companyId],
    );
    for (const r of rows)
      await w.callbacks.message(org.companyId, r.id, 'cancel', {}, { kind: 'operator', role: null, staffId: null, label: 'test' });
  };

  it('each rule, with its reason: manual, preferred, expertise, least loaded (ties by longest idle); nobody available stays pending', async () => {
    const org = await createOrganisation(pool); // Ana: agent, qualified for the service; Marta: manager (never auto-assigned)
    const pau = await agent(org, 'Pau');
    const eli = await agent(org, 'Eli', { branchId: org.otherBranchId });

    expect(await assignment((await create(org, { assignTo: pau })).id)).toMatchObject({ assigned_to: pau, assignment_reason: 'manual' });
    expect(await assignment((await create(org, { staffId: org.staffId })).id)).toMatchObject({
      assigned_to: org.staffId,
      assignment_reason: 'preferred',
    });
    // A preferred staff member of another branch is not taken: the qualified agent of the branch is.
    expect(await assignment((await create(org, { staffId: eli, serviceId: org.serviceId })).id)).toMatchObject({
      assigned_to: org.staffId,
      assignment_reason: 'expertise',
    });
    // No service: the least loaded. Ana has 2 open, Pau 1: Pau.
    expect(await assignment((await create(org)).id)).toMatchObject({ assigned_to: pau, assignment_reason: 'least_loaded' });
    // Now Ana 2, Pau 2: a tie, broken by the longest idle (Ana was assigned first).
    expect(await assignment((await create(org)).id)).toMatchObject({ assigned_to: org.staffId, assignment_reason: 'least_loaded' });
    // The preferred one unavailable: the rules go on.
    await pool.query(`UPDATE staff SET is_available = false WHERE id = $1`, [org.staffId]);
    expect(await assignment((await create(org, { staffId: org.staffId })).id)).toMatchObject({
      assigned_to: pau,
      assignment_reason: 'least_loaded',
    });
    await pool.query(`UPDATE staff SET is_available = false WHERE id = $1`, [pau]);
    expect(await assignment((await create(org)).id)).toMatchObject({ assigned_to: null, status: 'pending' });
    await cancelAll(org);
  });

  it('the customer’s own preferred staff member is used when the request names nobody: available and qualified (preferred), else the rules', async () => {
    const org = await createOrganisation(pool); // Ana: qualified for the service
    const pau = await agent(org, 'Pau'); // not qualified for the service
    await pool.query(`UPDATE customers SET preferred_staff_id = $2 WHERE id = $1`, [org.customerId, pau]);
    // Ana and Pau have the same load and Ana is older: the least-loaded rule alone would take Ana.
    const plain = await create(org);
    expect(plain.preferredStaffId).toBe(pau);
    expect(await assignment(plain.id)).toMatchObject({ assigned_to: pau, assignment_reason: 'preferred' });
    // About a service Pau is not qualified for: the qualified agent.
    expect(await assignment((await create(org, { serviceId: org.serviceId })).id)).toMatchObject({
      assigned_to: org.staffId,
      assignment_reason: 'expertise',
    });
    // A staff member named in the request wins over the customer's preference.
    expect(await assignment((await create(org, { staffId: org.staffId })).id)).toMatchObject({
      assigned_to: org.staffId,
      assignment_reason: 'preferred',
    });
    await cancelAll(org);
  });

  it('200 callbacks created concurrently: 200 rows, 200 workflows, assignments balanced over the agents', async () => {
    const org = await createOrganisation(pool);
    const agents = [org.staffId, await agent(org, 'Pau'), await agent(org, 'Eli'), await agent(org, 'Joan')];
    const created = await Promise.all(Array.from({ length: 200 }, () => create(org)));
    expect(new Set(created.map((c) => c.id)).size).toBe(200);
    const deadline = Date.now() + 60_000;
    let rows: Array<{ assigned_to: string; n: number }> = [];
    for (;;) {
      rows = (
        await pool.query(
          `SELECT assigned_to, count(*)::int AS n FROM callback_requests WHERE company_id = $1 AND assigned_to IS NOT NULL GROUP BY assigned_to`,
          [org.companyId],
        )
      ).rows;
      if (rows.reduce((a, r) => a + r.n, 0) === 200 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(rows.reduce((a, r) => a + r.n, 0)).toBe(200);
    // Least loaded first, serialised per branch: an even spread (50 each).
    expect(Object.fromEntries(rows.map((r) => [r.assigned_to, r.n]))).toEqual(Object.fromEntries(agents.map((a) => [a, 50])));
    const running = await Promise.all(created.map((c) => client.workflow.getHandle(c.workflowId).describe()));
    expect(running.filter((d) => d.status.name === 'RUNNING')).toHaveLength(200);
    // Left open: their timers are a day away, and the suite's server goes with the run.
  }, 120_000);
});
