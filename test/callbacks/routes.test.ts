import type { TestApi } from '../support/api';
import { fieldsOf, seedDirectory } from '../support/directory';
import type { ChannelServers } from '../support/workers';
import { until } from '../support/until';
import { startApiStack, type ApiStack } from '../support/stack';

/**
 * The callback routes' HTTP contract on the real API, the shared dev server and a worker:
 * validation naming each field, roles and the assignee rule, Idempotency-Key, 404 for another
 * company's ids on every route, lists by cursor, the overdue list, settings, analytics.
 */
describe('callback routes', () => {
  let stack: ApiStack;
  let api: TestApi;
  let servers: ChannelServers;

  beforeAll(async () => {
    stack = await startApiStack();
    ({ api, servers } = stack);
  });
  afterAll(() => stack?.close());

  async function setUp() {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    // An agent key that belongs to the seeded staff member, and one of nobody.
    const ownKey = (
      await api.request('POST', '/v1/api-keys', { key: company.admin, body: { name: 'ana', role: 'agent', staffId: dir.staff.id } })
    ).body.key as string;
    return { company, dir, ownKey };
  }
  const create = (key: string, body: unknown, headers: Record<string, string> = {}) =>
    api.request('POST', '/v1/callbacks', { key, body, headers });

  it('creates a callback (201) and names each invalid field (400), writing nothing', async () => {
    const { company, dir } = await setUp();
    const bad = await create(company.agent, { branchId: 'nope', priority: 'asap', phoneNumber: 'call me', extra: true });
    expect(bad.status).toBe(400);
    expect(fieldsOf(bad).sort()).toEqual(['body.branchId', 'body.extra', 'body.phoneNumber', 'body.priority'].sort());
    const anonymous = await create(company.agent, { branchId: dir.branch.id });
    expect(fieldsOf(anonymous).sort()).toEqual(['body.customerName', 'body.phoneNumber']);
    const created = await create(company.agent, {
      branchId: dir.branch.id,
      customerName: 'Lucía',
      phoneNumber: '+34 600 111 222',
      priority: 'urgent',
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/v1/callbacks/${created.body.callback.id}`);
    expect(created.body.callback).toMatchObject({
      status: 'pending',
      priority: 'urgent',
      workflowId: `callback-${created.body.callback.id}`,
    });
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM callback_requests WHERE company_id = $1`, [company.id]);
    expect(rows[0].n).toBe(1);
  });

  it('takes name and phone from the customer, and refuses assignTo for an agent (403) or an unavailable staff member (409)', async () => {
    const { company, dir } = await setUp();
    const fromCustomer = await create(company.agent, { branchId: dir.branch.id, customerId: dir.customer.id });
    expect(fromCustomer.status).toBe(201);
    expect(fromCustomer.body.callback).toMatchObject({
      customerName: 'Carla',
      phoneNumber: '+34600000001',
      customerId: dir.customer.id,
    });
    expect((await create(company.agent, { branchId: dir.branch.id, customerId: dir.customer.id, assignTo: dir.staff.id })).status).toBe(
      403,
    );
    await api.request('PATCH', `/v1/staff/${dir.staff.id}`, { key: company.admin, body: { available: false } });
    const unavailable = await create(company.manager, { branchId: dir.branch.id, customerId: dir.customer.id, assignTo: dir.staff.id });
    expect([unavailable.status, unavailable.body.error.code]).toEqual([409, 'staff_unavailable']);
    const otherBranch = await create(company.manager, {
      branchId: dir.branch.id,
      customerId: dir.customer.id,
      assignTo: dir.otherStaff.id,
    });
    expect([otherBranch.status, fieldsOf(otherBranch)]).toEqual([400, ['body.assignTo']]);
  });

  it('honours an Idempotency-Key: the same key and body give the same callback (200), another body 409', async () => {
    const { company, dir } = await setUp();
    const body = { branchId: dir.branch.id, customerId: dir.customer.id, priority: 'high' };
    const first = await create(company.agent, body, { 'idempotency-key': 'cb-1' });
    const again = await create(company.agent, body, { 'idempotency-key': 'cb-1' });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body.callback.id).toBe(first.body.callback.id);
    const other = await create(company.agent, { ...body, priority: 'urgent' }, { 'idempotency-key': 'cb-1' });
    expect([other.status, other.body.error.code]).toEqual([409, 'idempotency_key_reused']);
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM callback_requests WHERE company_id = $1`, [company.id]);
    expect(rows[0].n).toBe(1);
  });

  it('works a callback through the API: the assignee records attempts and completes; another agent gets 403; a second completion 409', async () => {
    const { company, dir, ownKey } = await setUp();
    const c = (await create(company.manager, { branchId: dir.branch.id, customerId: dir.customer.id, assignTo: dir.staff.id })).body
      .callback;
    await until(
      'the assignment',
      async () => (await api.request('GET', `/v1/callbacks/${c.id}`, { key: company.agent })).body.live?.assignedTo,
    );
    // A key of nobody in particular is not the assignee.
    const notMine = await api.request('POST', `/v1/callbacks/${c.id}/complete`, { key: company.agent, body: {} });
    expect([notMine.status, notMine.body.error.code]).toEqual([403, 'forbidden']);
    const attempt = await api.request('POST', `/v1/callbacks/${c.id}/attempts`, { key: ownKey, body: { outcome: 'reached', notes: 'ok' } });
    expect(attempt.status).toBe(200);
    expect(attempt.body.callback).toMatchObject({ status: 'contacted', attemptCount: 1, assignmentReason: 'manual' });
    const done = await api.request('POST', `/v1/callbacks/${c.id}/complete`, { key: ownKey, body: { notes: 'booked' } });
    expect([done.status, done.body.callback.status]).toEqual([200, 'completed']);
    const twice = await api.request('POST', `/v1/callbacks/${c.id}/complete`, { key: company.manager, body: {} });
    expect([twice.status, twice.body.error.code]).toEqual([409, 'invalid_transition']);
    expect((await api.request('POST', `/v1/callbacks/${c.id}/cancel`, { key: ownKey, body: {} })).status).toBe(403); // agents cannot cancel
    const read = await api.request('GET', `/v1/callbacks/${c.id}`, { key: company.agent });
    expect(read.body).toMatchObject({
      status: 'completed',
      outcomeNotes: 'booked',
      attempts: [{ outcome: 'reached', staffId: dir.staff.id }],
      live: null,
    });
  });

  it("answers another company's ids with 404 on every route, and lists only the caller's", async () => {
    const a = await setUp();
    const b = await setUp();
    const mine = (await create(a.company.agent, { branchId: a.dir.branch.id, customerId: a.dir.customer.id })).body.callback;
    const theirs = b.company.manager;
    for (const path of [`/v1/callbacks/${mine.id}`, `/v1/branches/${a.dir.branch.id}/callbacks/overdue`]) {
      expect([path, (await api.request('GET', path, { key: theirs })).status]).toEqual([path, 404]);
    }
    for (const [action, body] of [
      ['attempts', { outcome: 'busy' }],
      ['complete', {}],
      ['reassign', {}],
      ['cancel', {}],
      ['escalate', {}],
    ] as const) {
      expect([action, (await api.request('POST', `/v1/callbacks/${mine.id}/${action}`, { key: theirs, body })).status]).toEqual([
        action,
        404,
      ]);
    }
    expect((await create(theirs, { branchId: a.dir.branch.id, customerName: 'X', phoneNumber: '+34 600 000 000' })).status).toBe(404);
    expect((await create(theirs, { branchId: b.dir.branch.id, customerId: a.dir.customer.id })).status).toBe(404);
    expect((await api.request('GET', `/v1/callbacks?branchId=${a.dir.branch.id}`, { key: theirs })).status).toBe(404);
    expect(
      (await api.request('PUT', '/v1/callback-settings', { key: theirs, body: { branchId: a.dir.branch.id, cooldownSeconds: 60 } })).status,
    ).toBe(404);
    expect((await api.request('GET', '/v1/callbacks', { key: theirs })).body.items).toEqual([]);
    expect((await api.request('GET', `/v1/callbacks/${mine.id}`, { key: a.company.agent })).status).toBe(200);
  });

  it('lists by cursor, newest first, filtered; the overdue list orders by priority then age with overdue hours', async () => {
    const { company, dir } = await setUp();
    await api.request('PUT', '/v1/callback-settings', { key: company.manager, body: { slaSeconds: { normal: 1, high: 1, urgent: 3600 } } });
    const ids: string[] = [];
    for (const priority of ['normal', 'high', 'urgent', 'normal', 'high']) {
      ids.push((await create(company.agent, { branchId: dir.branch.id, customerId: dir.customer.id, priority })).body.callback.id);
    }
    const page1 = await api.request('GET', `/v1/callbacks?limit=2&branchId=${dir.branch.id}`, { key: company.agent });
    const page2 = await api.request('GET', `/v1/callbacks?limit=2&cursor=${page1.body.nextCursor}&branchId=${dir.branch.id}`, {
      key: company.agent,
    });
    const page3 = await api.request('GET', `/v1/callbacks?limit=2&cursor=${page2.body.nextCursor}&branchId=${dir.branch.id}`, {
      key: company.agent,
    });
    expect([...page1.body.items, ...page2.body.items, ...page3.body.items].map((c: { id: string }) => c.id)).toEqual([...ids].reverse());
    expect(page3.body.nextCursor).toBeNull();
    expect((await api.request('GET', `/v1/callbacks?priority=high`, { key: company.agent })).body.items).toHaveLength(2);
    expect(fieldsOf(await api.request('GET', `/v1/callbacks?cursor=garbage`, { key: company.agent }))).toEqual(['query.cursor']);

    await new Promise((r) => setTimeout(r, 1_100)); // past the 1-second SLAs
    const overdue = await api.request('GET', `/v1/branches/${dir.branch.id}/callbacks/overdue`, { key: company.agent });
    expect(overdue.body.items.map((c: { priority: string }) => c.priority)).toEqual(['urgent', 'high', 'high', 'normal', 'normal']);
    expect(overdue.body.items.map((c: { id: string }) => c.id)).toEqual([ids[2], ids[1], ids[4], ids[0], ids[3]]);
    expect(overdue.body.items[0].overdueHours).toBe(0);
    expect(overdue.body.items[1].overdueHours).toBeGreaterThanOrEqual(0);
    for (const id of ids) await api.request('POST', `/v1/callbacks/${id}/cancel`, { key: company.manager, body: {} });
  });

  it('settings: the company and a branch (branch wins), each setting with its source; invalid values named', async () => {
    const { company, dir } = await setUp();
    expect((await api.request('PUT', '/v1/callback-settings', { key: company.agent, body: { cooldownSeconds: 60 } })).status).toBe(403);
    const bad = await api.request('PUT', '/v1/callback-settings', {
      key: company.manager,
      body: { slaSeconds: { urgent: -5 }, warningPercent: 120 },
    });
    expect(fieldsOf(bad).sort()).toEqual(['body.slaSeconds.urgent', 'body.warningPercent']);
    expect(
      (
        await api.request('PUT', '/v1/callback-settings', {
          key: company.manager,
          body: { slaSeconds: { urgent: 600 }, cooldownSeconds: 60 },
        })
      ).status,
    ).toBe(201);
    const branch = await api.request('PUT', '/v1/callback-settings', {
      key: company.manager,
      body: { branchId: dir.branch.id, slaSeconds: { urgent: 300 } },
    });
    expect(branch.body).toMatchObject({
      effective: {
        sla: { urgent: 300, high: 14_400, normal: 86_400 },
        cooldownSeconds: 60,
        attemptsBeforeEscalation: 3,
        warningPercent: 75,
      },
      provenance: { 'sla.urgent': 'branch', cooldownSeconds: 'company', 'sla.high': 'default' },
    });
    // Each setting also names the row it came from (the one inheritance rule: docs/design.md, Organisation hierarchy).
    const rows = await api.pool.query(`SELECT id, branch_id FROM callback_settings WHERE company_id = $1`, [company.id]);
    const rowOf = (branchId: string | null) => rows.rows.find((r) => r.branch_id === branchId)!.id;
    expect(branch.body.sources).toMatchObject({
      'sla.urgent': { level: 'branch', settingsId: rowOf(dir.branch.id) },
      cooldownSeconds: { level: 'company', settingsId: rowOf(null) },
      'sla.high': { level: 'default', settingsId: null },
    });
    const c = (await create(company.agent, { branchId: dir.branch.id, customerId: dir.customer.id, priority: 'urgent' })).body.callback;
    expect(Date.parse(c.dueAt) - Date.parse(c.createdAt)).toBe(300_000);
    expect(c.settings.sla.urgent).toBe(300);
    await api.request('POST', `/v1/callbacks/${c.id}/cancel`, { key: company.manager, body: {} });
  });

  it('opening hours on a branch: validated and named; the SLA then counts only open time', async () => {
    const { company, dir } = await setUp();
    const patch = (openingHours: unknown) =>
      api.request('PATCH', `/v1/branches/${dir.branch.id}`, { key: company.admin, body: { openingHours } });
    expect(fieldsOf(await patch({ '8': [] }))).toEqual(['body.openingHours.8']);
    expect(fieldsOf(await patch({ '1': [{ start: '19:00', end: '09:00' }] }))).toEqual(['body.openingHours.1.0.end']);
    expect(fieldsOf(await patch({ '2': [{ start: '9:00', end: '13:00' }] }))).toEqual(['body.openingHours.2.0.start']);
    const overlap = await patch({
      '3': [
        { start: '09:00', end: '13:00' },
        { start: '12:00', end: '18:00' },
      ],
    });
    expect(fieldsOf(overlap)).toEqual(['body.openingHours.3.1']);
    // Open one minute, every day, starting two minutes from now (UTC): a 30-second SLA is due then.
    const at = new Date(Date.now() + 120_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    // 23:59 ends at 24:00 (the end of the day), not at 00:00.
    const end = hhmm(at) === '23:59' ? '24:00' : hhmm(new Date(at.getTime() + 60_000));
    const days = Object.fromEntries(['1', '2', '3', '4', '5', '6', '7'].map((d) => [d, [{ start: hhmm(at), end }]]));
    const ok = await api.request('PATCH', `/v1/branches/${dir.branch.id}`, {
      key: company.admin,
      body: { timeZone: 'UTC', openingHours: days },
    });
    expect(ok.status).toBe(200);
    await api.request('PUT', '/v1/callback-settings', { key: company.manager, body: { slaSeconds: { urgent: 30 } } });
    const c = (await create(company.agent, { branchId: dir.branch.id, customerId: dir.customer.id, priority: 'urgent' })).body.callback;
    const opening = Date.parse(`${at.toISOString().slice(0, 16)}:00.000Z`);
    expect(Date.parse(c.dueAt)).toBe(opening + 30_000);
    await api.request('POST', `/v1/callbacks/${c.id}/cancel`, { key: company.manager, body: {} });
  });

  it('opening hours that cannot hold an SLA: a week with no opening is a 400; too little open time a 409 writing nothing', async () => {
    const { company, dir } = await setUp();
    const patch = (openingHours: unknown) =>
      api.request('PATCH', `/v1/branches/${dir.branch.id}`, { key: company.admin, body: { openingHours } });
    const closed = await patch({});
    expect(closed.status).toBe(400);
    expect(fieldsOf(closed)).toEqual(['body.openingHours']);
    expect(fieldsOf(await patch({ '1': [], '2': [] }))).toEqual(['body.openingHours']);
    // One minute a week cannot hold a 30-day SLA within the 10 years the rules look ahead.
    expect((await patch({ '1': [{ start: '09:00', end: '09:01' }] })).status).toBe(200);
    await api.request('PUT', '/v1/callback-settings', {
      key: company.manager,
      body: { branchId: dir.branch.id, slaSeconds: { normal: 30 * 86_400 } },
    });
    const refused = await create(company.agent, { branchId: dir.branch.id, customerName: 'Lía', phoneNumber: '+34 600 000 999' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'sla_unreachable', message: expect.stringContaining('opening hours') });
    const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM callback_requests WHERE company_id = $1`, [company.id]);
    expect(rows[0].n).toBe(0);
    // null: no opening hours, the SLA counts every hour again.
    expect((await patch(null)).status).toBe(200);
    const accepted = await create(company.agent, { branchId: dir.branch.id, customerName: 'Lía', phoneNumber: '+34 600 000 999' });
    expect(accepted.status).toBe(201);
    await api.request('POST', `/v1/callbacks/${accepted.body.callback.id}/cancel`, { key: company.manager, body: {} });
  });

  it('analytics per branch and priority: count, breach rate, medians, escalations by reason', async () => {
    const { company, dir, ownKey } = await setUp();
    const c = (await create(company.manager, { branchId: dir.branch.id, customerId: dir.customer.id, assignTo: dir.staff.id })).body
      .callback;
    await until(
      'the assignment',
      async () => (await api.request('GET', `/v1/callbacks/${c.id}`, { key: company.agent })).body.live?.assignedTo,
    );
    await api.request('POST', `/v1/callbacks/${c.id}/attempts`, { key: ownKey, body: { outcome: 'reached' } });
    await api.request('POST', `/v1/callbacks/${c.id}/escalate`, { key: company.manager, body: { notes: 'VIP' } });
    await api.request('POST', `/v1/callbacks/${c.id}/complete`, { key: ownKey, body: {} });
    expect((await api.request('GET', '/v1/analytics/callbacks', { key: company.agent })).status).toBe(403);
    const res = await api.request('GET', '/v1/analytics/callbacks', { key: company.manager });
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([
      expect.objectContaining({
        branchId: dir.branch.id,
        priority: 'normal',
        count: 1,
        breached: 0,
        breachRate: 0,
        escalationsByReason: { manual: 1 },
      }),
    ]);
    expect(res.body.rows[0].medianSecondsToFirstContact).toBeGreaterThanOrEqual(0);
    expect(res.body.rows[0].medianSecondsToCompletion).toBeGreaterThanOrEqual(res.body.rows[0].medianSecondsToFirstContact);
  });
});
