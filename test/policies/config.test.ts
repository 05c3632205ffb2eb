import { randomUUID } from 'node:crypto';
import { startTestApi, type TestApi } from '../support/api';
import { fieldsOf, seedTwoCompanies, type Directory, type TestCompany } from '../support/directory';

/** The policy configuration service through the HTTP API, on the suite's PostgreSQL (docs/design.md, Policies and API contract). */
describe('policy configuration (API)', () => {
  let api: TestApi;
  let a: TestCompany;
  let b: TestCompany;
  let dirA: Directory;
  let dirB: Directory;

  beforeAll(async () => {
    api = await startTestApi();
    await api.policyCache.start();
  });
  beforeEach(async () => {
    ({ a, b, dirA, dirB } = await seedTwoCompanies(api));
  });
  afterAll(() => api.close());

  const put = (key: string, body: unknown) => api.request('PUT', '/v1/policies', { key, body });
  const resolve = (key: string, q: Record<string, string>) => api.request('GET', `/v1/policies/resolve?${new URLSearchParams(q)}`, { key });
  const policyCount = async (companyId: string) =>
    (await api.pool.query(`SELECT count(*)::int AS n FROM policy_configurations WHERE company_id = $1`, [companyId])).rows[0].n;

  it('PUT creates (201) then replaces (200, version + 1); GET lists the entity’s own; DELETE soft-deletes', async () => {
    const body = {
      entityType: 'branch',
      entityId: dirA.branch.id,
      policyType: 'cancellation',
      config: { hours_before: 24, fee_cents: 500 },
    };
    const created = await put(a.manager, body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      companyId: a.id,
      entityType: 'branch',
      entityId: dirA.branch.id,
      policyType: 'cancellation',
      config: { hours_before: 24, fee_cents: 500 },
      isOverride: false,
      overridesId: null,
      version: 1,
      deletedAt: null,
    });
    const replaced = await put(a.manager, { ...body, config: { hours_before: 48 } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ id: created.body.id, version: 2, config: { hours_before: 48 } });
    await put(a.manager, { ...body, policyType: 'reschedule', config: { max_reschedules_per_appointment: 1 } });

    const own = await api.request('GET', `/v1/policies?entityType=branch&entityId=${dirA.branch.id}`, { key: a.agent });
    expect(own.status).toBe(200);
    expect(own.body.items.map((p: any) => p.policyType)).toEqual(['cancellation', 'reschedule']);
    // Own policies only: the staff member of that branch has none of its own.
    expect((await api.request('GET', `/v1/policies?entityType=staff&entityId=${dirA.staff.id}`, { key: a.agent })).body.items).toEqual([]);

    const deleted = await api.request('DELETE', `/v1/policies/${created.body.id}`, { key: a.manager });
    expect(deleted.status).toBe(200);
    expect(deleted.body.deletedAt).not.toBeNull();
    expect((await api.request('DELETE', `/v1/policies/${created.body.id}`, { key: a.manager })).status).toBe(404);
    const after = await api.request('GET', `/v1/policies?entityType=branch&entityId=${dirA.branch.id}`, { key: a.agent });
    expect(after.body.items.map((p: any) => p.policyType)).toEqual(['reschedule']);
    // Soft: the row stays. A new one may be created in its place.
    expect(await policyCount(a.id)).toBe(2);
    expect((await put(a.manager, body)).status).toBe(201);
  });

  it('each level inherits from the one above and overrides it: company, branch, service, staff', async () => {
    const at = (entityType: string, entityId: string, extra: Record<string, string> = {}) =>
      resolve(a.agent, { entityType, entityId, policyType: 'cancellation', ...extra }).then((r) => {
        expect(r.status).toBe(200);
        return r.body;
      });
    const set = (entityType: string, entityId: string, hours: number) =>
      put(a.manager, { entityType, entityId, policyType: 'cancellation', config: { hours_before: hours } }).then((r) => r.body.id);
    const staffWithService = { serviceId: dirA.service.id };

    const company = await set('company', a.id, 72);
    for (const [type, id, extra] of [
      ['staff', dirA.staff.id, {}],
      ['staff', dirA.staff.id, staffWithService],
      ['service', dirA.service.id, {}],
      ['branch', dirA.branch.id, {}],
      ['company', a.id, {}],
    ] as const) {
      expect(await at(type, id, extra)).toMatchObject({ level: 'company', policy: { id: company, config: { hours_before: 72 } } });
    }
    const branch = await set('branch', dirA.branch.id, 48);
    expect(await at('staff', dirA.staff.id)).toMatchObject({ level: 'branch', policy: { id: branch } });
    expect(await at('service', dirA.service.id)).toMatchObject({ level: 'branch' });
    expect(await at('company', a.id)).toMatchObject({ level: 'company' });
    // The other branch still inherits from the company.
    expect(await at('staff', dirA.otherStaff.id)).toMatchObject({ level: 'company' });

    const service = await set('service', dirA.service.id, 36);
    // A staff member's parent is their branch, unless the question is about a service.
    expect(await at('staff', dirA.staff.id)).toMatchObject({ level: 'branch' });
    const viaService = await at('staff', dirA.staff.id, staffWithService);
    expect(viaService).toMatchObject({ level: 'service', policy: { id: service }, serviceId: dirA.service.id });
    expect(viaService.chain.map((c: any) => c.level)).toEqual(['staff', 'service', 'branch', 'company']);
    expect(await at('service', dirA.service.id)).toMatchObject({ level: 'service' });

    const staff = await set('staff', dirA.staff.id, 12);
    expect(await at('staff', dirA.staff.id)).toMatchObject({ level: 'staff', policy: { id: staff, config: { hours_before: 12 } } });
    expect(await at('staff', dirA.staff.id, staffWithService)).toMatchObject({ level: 'staff' });
  });

  it('all four levels defined at once: each entity gets its nearest; deleting one falls back to the next', async () => {
    const ids: Record<string, string> = {};
    for (const [type, id] of [
      ['company', a.id],
      ['branch', dirA.branch.id],
      ['service', dirA.service.id],
      ['staff', dirA.staff.id],
    ]) {
      ids[type] = (await put(a.manager, { entityType: type, entityId: id, policyType: 'reschedule', config: { fee_cents: 100 } })).body.id;
    }
    const batch = await api.request('POST', '/v1/policies/resolve', {
      key: a.agent,
      body: {
        policyType: 'reschedule',
        entities: [
          { entityType: 'staff', entityId: dirA.staff.id, serviceId: dirA.service.id },
          { entityType: 'staff', entityId: dirA.staff.id },
          { entityType: 'service', entityId: dirA.service.id },
          { entityType: 'branch', entityId: dirA.branch.id },
          { entityType: 'company', entityId: a.id },
          { entityType: 'staff', entityId: dirA.otherStaff.id },
          { entityType: 'service', entityId: dirA.otherService.id },
        ],
      },
    });
    expect(batch.status).toBe(200);
    expect(batch.body.items.map((r: any) => [r.level, r.policy.id])).toEqual([
      ['staff', ids.staff],
      ['staff', ids.staff],
      ['service', ids.service],
      ['branch', ids.branch],
      ['company', ids.company],
      ['company', ids.company],
      ['company', ids.company],
    ]);
    await api.request('DELETE', `/v1/policies/${ids.staff}`, { key: a.manager });
    expect((await resolve(a.agent, { entityType: 'staff', entityId: dirA.staff.id, policyType: 'reschedule' })).body.level).toBe('branch');
    expect(
      (await resolve(a.agent, { entityType: 'staff', entityId: dirA.staff.id, serviceId: dirA.service.id, policyType: 'reschedule' })).body
        .level,
    ).toBe('service');
  });

  it('resolves to null when no level has a policy; an entity without a parent resolves without error', async () => {
    for (const [entityType, entityId] of [
      ['staff', dirA.staff.id],
      ['company', a.id],
    ]) {
      const r = await resolve(a.agent, { entityType, entityId, policyType: 'recurring' });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ entityType, entityId, policyType: 'recurring', level: null, policy: null });
    }
    expect((await resolve(a.agent, { entityType: 'company', entityId: a.id, policyType: 'recurring' })).body.chain).toEqual([
      { level: 'company', id: a.id },
    ]);
  });

  it('validates every config key: 400 naming each, nothing written', async () => {
    const base = { entityType: 'branch', entityId: dirA.branch.id, policyType: 'cancellation' };
    const cases: Array<[unknown, string[]]> = [
      [{ ...base, config: { hours_befor: 24 } }, ['body.config.hours_befor']],
      [{ ...base, config: { hours_before: -1 } }, ['body.config.hours_before']],
      [{ ...base, config: { hours_before: '24' } }, ['body.config.hours_before']],
      [{ ...base, config: { fee_cents: -100 } }, ['body.config.fee_cents']],
      [{ ...base, config: { fee_cents: 10.5 } }, ['body.config.fee_cents']],
      [{ ...base, config: { max_cancellations_per_month: -2 } }, ['body.config.max_cancellations_per_month']],
      [{ ...base, config: { max_cancellations_per_month: 1e300 } }, ['body.config.max_cancellations_per_month']],
      [{ ...base, config: { max_reschedules_per_appointment: 2 } }, ['body.config.max_reschedules_per_appointment']],
      [{ ...base, config: { currency: 'euro' } }, ['body.config.currency']],
      [
        { ...base, config: { fee_cents: 100, fee_tiers: [{ min_hours_before: 0, max_hours_before: null, fee_cents: 1 }] } },
        ['body.config.fee_tiers'],
      ],
      [
        {
          ...base,
          config: {
            fee_tiers: [
              { min_hours_before: 0, max_hours_before: 30, fee_cents: 1500 },
              { min_hours_before: 24, max_hours_before: null, fee_cents: 0 },
            ],
          },
        },
        ['body.config.fee_tiers.1.min_hours_before'],
      ],
      [
        {
          ...base,
          config: {
            fee_tiers: [
              { min_hours_before: 0, max_hours_before: 12, fee_cents: 1500 },
              { min_hours_before: 24, max_hours_before: null, fee_cents: 0 },
            ],
          },
        },
        ['body.config.fee_tiers.1.min_hours_before'],
      ],
      [
        { ...base, config: { fee_tiers: [{ min_hours_before: 0, max_hours_before: null, fee_cents: -1, extra: 1 }] } },
        ['body.config.fee_tiers.0.fee_cents', 'body.config.fee_tiers.0.extra'],
      ],
      [
        { ...base, policyType: 'recurring', config: { max_occurrences: 0, hours_before: 1 } },
        ['body.config.max_occurrences', 'body.config.hours_before'],
      ],
      [{ ...base, policyType: 'refund', config: {} }, ['body.policyType']],
      [{ ...base, entityType: 'customer', config: {} }, ['body.entityType']],
      [{ ...base, config: [] }, ['body.config']],
      [{ ...base, config: {}, isOverride: false, overridesId: randomUUID() }, ['body.isOverride']],
    ];
    for (const [body, fields] of cases) {
      const res = await put(a.manager, body);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({ body, status: 400, code: 'validation_error' });
      expect({ body, fields: fieldsOf(res).sort() }).toEqual({ body, fields: [...fields].sort() });
    }
    const gap = await put(a.manager, {
      ...base,
      config: {
        fee_tiers: [
          { min_hours_before: 0, max_hours_before: 12, fee_cents: 1500 },
          { min_hours_before: 24, max_hours_before: null, fee_cents: 0 },
        ],
      },
    });
    expect(gap.body.error.details.fields[0].message).toBe('the tiers leave a gap between 12 h and 24 h');
    expect(await policyCount(a.id)).toBe(0);
  });

  it('refuses override cycles through overridesId, naming the cycle', async () => {
    const branch = await put(a.manager, { entityType: 'branch', entityId: dirA.branch.id, policyType: 'cancellation', config: {} });
    const staff = await put(a.manager, {
      entityType: 'staff',
      entityId: dirA.staff.id,
      policyType: 'cancellation',
      config: { hours_before: 2 },
      overridesId: branch.body.id,
    });
    expect(staff.status).toBe(201);
    expect(staff.body).toMatchObject({ isOverride: true, overridesId: branch.body.id });
    const service = await put(a.manager, { entityType: 'service', entityId: dirA.service.id, policyType: 'cancellation', config: {} });
    expect(service.status).toBe(201);
    // An override names a policy its entity inherits from, so the API cannot build a cycle: a
    // service does not inherit from a staff member.
    const downwards = await put(a.manager, {
      entityType: 'service',
      entityId: dirA.service.id,
      policyType: 'cancellation',
      config: {},
      overridesId: staff.body.id,
    });
    expect([downwards.status, fieldsOf(downwards)]).toEqual([400, ['body.overridesId']]);
    // One stored by hand (or before that rule) is still found, and the write that would close it refused.
    await api.pool.query(`UPDATE policy_configurations SET overrides_id = $2, is_override = true WHERE id = $1`, [
      service.body.id,
      staff.body.id,
    ]);

    // branch -> service -> staff -> branch
    const cycle = await put(a.manager, {
      entityType: 'branch',
      entityId: dirA.branch.id,
      policyType: 'cancellation',
      config: {},
      overridesId: service.body.id,
    });
    expect(cycle.status).toBe(400);
    expect(cycle.body.error.details.fields).toEqual([
      {
        field: 'body.overridesId',
        message: `would form an override cycle: ${branch.body.id} -> ${service.body.id} -> ${staff.body.id} -> ${branch.body.id}`,
      },
    ]);
    // Overriding itself is the shortest cycle.
    const self = await put(a.manager, {
      entityType: 'branch',
      entityId: dirA.branch.id,
      policyType: 'cancellation',
      config: {},
      overridesId: branch.body.id,
    });
    expect(self.body.error.details.fields[0].message).toBe(`would form an override cycle: ${branch.body.id} -> ${branch.body.id}`);
    // Only a policy of the same type can be overridden.
    const otherType = await put(a.manager, {
      entityType: 'staff',
      entityId: dirA.staff.id,
      policyType: 'reschedule',
      config: {},
      overridesId: branch.body.id,
    });
    expect(otherType.status).toBe(400);
    expect(fieldsOf(otherType)).toEqual(['body.overridesId']);
    // Nothing changed.
    const { rows } = await api.pool.query(`SELECT id, overrides_id, version FROM policy_configurations WHERE id = $1`, [branch.body.id]);
    expect(rows).toEqual([{ id: branch.body.id, overrides_id: null, version: 1 }]);
  });

  it('expectedVersion refuses a write based on a stale read (409 version_conflict)', async () => {
    const body = { entityType: 'company', entityId: a.id, policyType: 'cancellation', config: { fee_cents: 1 } };
    const v1 = await put(a.manager, body);
    expect((await put(a.manager, { ...body, config: { fee_cents: 2 }, expectedVersion: 1 })).body.version).toBe(2);
    const stale = await put(a.manager, { ...body, config: { fee_cents: 3 }, expectedVersion: 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'version_conflict', details: { currentVersion: 2 } });
    expect((await api.request('GET', `/v1/policies?entityType=company&entityId=${a.id}`, { key: a.agent })).body.items[0]).toMatchObject({
      id: v1.body.id,
      config: { fee_cents: 2 },
    });
  });

  it('another company’s ids are 404 everywhere, and nothing is written', async () => {
    const theirs = await put(b.manager, { entityType: 'branch', entityId: dirB.branch.id, policyType: 'cancellation', config: {} });
    const attempts = [
      put(a.manager, { entityType: 'branch', entityId: dirB.branch.id, policyType: 'cancellation', config: {} }),
      put(a.manager, { entityType: 'company', entityId: b.id, policyType: 'cancellation', config: {} }),
      put(a.manager, {
        entityType: 'branch',
        entityId: dirA.branch.id,
        policyType: 'cancellation',
        config: {},
        overridesId: theirs.body.id,
      }),
      resolve(a.agent, { entityType: 'staff', entityId: dirB.staff.id, policyType: 'cancellation' }),
      resolve(a.agent, { entityType: 'staff', entityId: dirA.staff.id, serviceId: dirB.service.id, policyType: 'cancellation' }),
      resolve(a.agent, { entityType: 'company', entityId: b.id, policyType: 'cancellation' }),
      api.request('GET', `/v1/policies?entityType=branch&entityId=${dirB.branch.id}`, { key: a.agent }),
      api.request('DELETE', `/v1/policies/${theirs.body.id}`, { key: a.manager }),
      api.request('POST', '/v1/policies/resolve', {
        key: a.agent,
        body: {
          policyType: 'cancellation',
          entities: [
            { entityType: 'branch', entityId: dirA.branch.id },
            { entityType: 'branch', entityId: dirB.branch.id },
          ],
        },
      }),
    ];
    for (const res of await Promise.all(attempts)) {
      // The error names only what was asked for: never data of the other company.
      expect(res.status).toBe(404);
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(res.body.error.code).toBe('not_found');
    }
    expect(await policyCount(a.id)).toBe(0);
    expect(
      (await api.request('GET', `/v1/policies?entityType=branch&entityId=${dirB.branch.id}`, { key: b.agent })).body.items,
    ).toHaveLength(1);
  });

  it('agents read and resolve; only managers (and admins) set and delete', async () => {
    const body = { entityType: 'branch', entityId: dirA.branch.id, policyType: 'cancellation', config: {} };
    expect((await put(a.agent, body)).status).toBe(403);
    const created = await put(a.admin, body);
    expect(created.status).toBe(201);
    expect((await api.request('DELETE', `/v1/policies/${created.body.id}`, { key: a.agent })).status).toBe(403);
    expect((await resolve(a.agent, { entityType: 'branch', entityId: dirA.branch.id, policyType: 'cancellation' })).status).toBe(200);
    expect((await api.request('GET', '/v1/policies/resolve?entityType=branch', {})).status).toBe(401);
  });

  it('this process sees its own change at once, and the cache’s statistics are on /metrics', async () => {
    const q = { entityType: 'staff', entityId: dirA.staff.id, policyType: 'cancellation' };
    await put(a.manager, { entityType: 'branch', entityId: dirA.branch.id, policyType: 'cancellation', config: { hours_before: 1 } });
    for (let i = 1; i <= 5; i++) {
      const body = { entityType: 'branch', entityId: dirA.branch.id, policyType: 'cancellation', config: { hours_before: i } };
      expect((await put(a.manager, body)).status).toBe(200);
      // No waiting for the NOTIFY echo: the writing process dropped its entries right after COMMIT.
      expect((await resolve(a.agent, q)).body.policy.config).toEqual({ hours_before: i });
      expect((await resolve(a.agent, q)).body.policy.config).toEqual({ hours_before: i });
    }
    const metrics = await api.request('GET', '/metrics');
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics.body)?.[1]);
    for (const name of [
      'policy_cache_hits_total',
      'policy_cache_misses_total',
      'policy_cache_entries',
      'policy_cache_invalidations_total',
      'policy_cache_loads_total',
      'policy_cache_listening',
    ]) {
      expect({ name, value: Number.isFinite(value(name)) }).toEqual({ name, value: true });
    }
    expect(value('policy_cache_hits_total')).toBeGreaterThan(0);
    expect(value('policy_cache_invalidations_total')).toBeGreaterThan(0);
    expect(value('policy_cache_listening')).toBe(1);
  });
});
