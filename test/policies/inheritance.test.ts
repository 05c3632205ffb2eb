import { randomUUID } from 'node:crypto';
import { startTestApi, type TestApi } from '../support/api';
import { fieldsOf, seedDirectory, type Directory, type TestCompany } from '../support/directory';

const H = 3_600_000;

/** Tiers of the company's own (they cover [0, ∞) once): 30 EUR under 12 h, 7 EUR from 12 h. */
const TIERS = [
  { min_hours_before: 0, max_hours_before: 12, fee_cents: 3000 },
  { min_hours_before: 12, max_hours_before: null, fee_cents: 700 },
];

/**
 * Policies inherit key by key (docs/policies.md, Resolution; the one rule of docs/design.md,
 * Organisation hierarchy): each configuration key comes from the nearest level that sets it, null
 * clears it there, and the answer names per key the level and the policy it came from. Through the
 * HTTP API on the suite's PostgreSQL; the engine's quote shows the merged terms at work.
 */
describe('policies inherit key by key (API)', () => {
  let api: TestApi;
  let co: TestCompany;
  let dir: Directory;
  let customerId: string;

  beforeAll(async () => {
    api = await startTestApi();
    await api.policyCache.start();
  });
  beforeEach(async () => {
    co = await api.company();
    dir = await seedDirectory(api, co);
    const customer = await api.request('POST', '/v1/customers', {
      key: co.admin,
      body: { name: 'Lucía', email: `lucia.${randomUUID().slice(0, 8)}@example.test`, homeBranchId: dir.branch.id },
    });
    customerId = customer.body.id;
  });
  afterAll(() => api.close());

  const put = (entityType: string, entityId: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    api.request('PUT', '/v1/policies', { key: co.manager, body: { entityType, entityId, policyType: 'cancellation', config, ...extra } });
  const set = async (entityType: string, entityId: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const r = await put(entityType, entityId, config, extra);
    if (r.status >= 300) throw new Error(`PUT /v1/policies: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as { id: string; version: number };
  };
  const resolve = async (entityType: string, entityId: string, extra: Record<string, string> = {}) => {
    const r = await api.request(
      'GET',
      `/v1/policies/resolve?${new URLSearchParams({ entityType, entityId, policyType: 'cancellation', ...extra })}`,
      {
        key: co.agent,
      },
    );
    expect(r.status).toBe(200);
    return r.body;
  };
  /** The appointment's own target: its staff member with its service. */
  const forAppointment = () => resolve('staff', dir.staff.id, { serviceId: dir.service.id });
  const from = (level: string, policy: { id: string; version?: number }, entityId: string, cleared = false) => ({
    level,
    policyId: policy.id,
    entityId,
    cleared,
  });
  const byDefault = { level: 'default', policyId: null, entityId: null, version: null, cleared: false };

  async function book(inMs: number) {
    const startsAt = new Date(Date.now() + inMs);
    const res = await api.request('POST', '/v1/appointments', {
      key: co.manager,
      body: {
        customerId,
        branchId: dir.branch.id,
        serviceId: dir.service.id,
        staffId: dir.staff.id,
        startsAt: startsAt.toISOString(),
        endsAt: new Date(startsAt.getTime() + 45 * 60_000).toISOString(),
      },
    });
    if (res.status !== 201) throw new Error(`booking failed: ${JSON.stringify(res.body)}`);
    return res.body as { id: string };
  }
  const quote = async (id: string) => {
    const r = await api.request('GET', `/v1/appointments/${id}/cancellation-quote`, { key: co.agent });
    expect(r.status).toBe(200);
    return r.body;
  };

  it('a staff policy that sets only hours_before keeps the company’s monthly limit and fee tiers, and the engine decides with all three', async () => {
    const company = await set('company', co.id, { max_cancellations_per_month: 1, fee_tiers: TIERS });
    const staff = await set('staff', dir.staff.id, { hours_before: 2 });
    const r = await forAppointment();
    expect(r.config).toEqual({ hours_before: 2, max_cancellations_per_month: 1, fee_tiers: TIERS });
    expect(r.provenance).toMatchObject({
      hours_before: from('staff', staff, dir.staff.id),
      max_cancellations_per_month: from('company', company, co.id),
      fee: from('company', company, co.id),
      currency: byDefault,
    });
    // The nearest policy that applies, as before (clients reading `level` and `policy` keep working).
    expect(r).toMatchObject({ level: 'staff', policy: { id: staff.id, config: { hours_before: 2 } } });

    const appt = await book(30 * H);
    const { decision, terms } = await quote(appt.id);
    expect(decision).toMatchObject({
      allowed: true,
      code: 'within_policy',
      deadline: { hoursBefore: 2 },
      fee: { cents: 700, currency: 'EUR', rule: 'policy_tiers' },
      quota: { scope: 'customer_month', limit: 1, used: 0 },
      remainingModifications: 0,
      policy: { id: staff.id, level: 'staff', config: { hours_before: 2, max_cancellations_per_month: 1, fee_tiers: TIERS } },
    });
    expect(terms.cancellation.provenance.max_cancellations_per_month).toMatchObject({ level: 'company', policyId: company.id });
  });

  it.each(['company', 'branch', 'service', 'staff'] as const)(
    'a key set on the %s reaches the appointment, beside a key set on another level',
    async (level) => {
      const entity = { company: co.id, branch: dir.branch.id, service: dir.service.id, staff: dir.staff.id };
      const other = level === 'company' ? 'staff' : 'company';
      const here = await set(level, entity[level], { hours_before: 6 });
      const there = await set(other, entity[other], { max_cancellations_per_month: 2 });
      const r = await forAppointment();
      expect(r.config).toEqual({ hours_before: 6, max_cancellations_per_month: 2 });
      expect(r.provenance.hours_before).toMatchObject(from(level, here, entity[level]));
      expect(r.provenance.max_cancellations_per_month).toMatchObject(from(other, there, entity[other]));
    },
  );

  it('all four levels at once, each setting a different key: each key from its level, each level’s own view still right', async () => {
    const company = await set('company', co.id, { fee_tiers: TIERS, hours_before: 48 });
    const branch = await set('branch', dir.branch.id, { max_cancellations_per_month: 4, hours_before: 24 });
    const service = await set('service', dir.service.id, { currency: 'USD', hours_before: 12 });
    const staff = await set('staff', dir.staff.id, { hours_before: 3 });
    const r = await forAppointment();
    expect(r.config).toEqual({ hours_before: 3, max_cancellations_per_month: 4, fee_tiers: TIERS, currency: 'USD' });
    expect(r.provenance).toMatchObject({
      hours_before: { ...from('staff', staff, dir.staff.id), version: 1 },
      max_cancellations_per_month: from('branch', branch, dir.branch.id),
      currency: from('service', service, dir.service.id),
      fee: from('company', company, co.id),
    });
    expect(r.policies.map((p: any) => p.id)).toEqual([staff.id, service.id, branch.id, company.id]);
    // Without the service the staff member's chain is staff > branch > company: no currency of the service's.
    expect((await resolve('staff', dir.staff.id)).config).toEqual({ hours_before: 3, max_cancellations_per_month: 4, fee_tiers: TIERS });
    expect((await resolve('service', dir.service.id)).config).toEqual({
      hours_before: 12,
      max_cancellations_per_month: 4,
      fee_tiers: TIERS,
      currency: 'USD',
    });
    expect((await resolve('branch', dir.branch.id)).config).toEqual({ hours_before: 24, max_cancellations_per_month: 4, fee_tiers: TIERS });
    // The other branch's staff member inherits the company's keys only.
    expect((await resolve('staff', dir.otherStaff.id)).config).toEqual({ hours_before: 48, fee_tiers: TIERS });
    // The batch resolve answers the same, per entity.
    const batch = await api.request('POST', '/v1/policies/resolve', {
      key: co.agent,
      body: {
        policyType: 'cancellation',
        entities: [
          { entityType: 'staff', entityId: dir.staff.id, serviceId: dir.service.id },
          { entityType: 'staff', entityId: dir.otherStaff.id },
        ],
      },
    });
    expect(batch.status).toBe(200);
    expect(batch.body.items.map((i: any) => [i.level, i.config, i.provenance.hours_before.level])).toEqual([
      ['staff', r.config, 'staff'],
      ['company', { hours_before: 48, fee_tiers: TIERS }, 'company'],
    ]);
  });

  it('null clears an inherited key at its level (no monthly limit here), visibly; the engine then has no limit', async () => {
    const company = await set('company', co.id, { max_cancellations_per_month: 3, hours_before: 24, fee_tiers: TIERS });
    const branch = await set('branch', dir.branch.id, { max_cancellations_per_month: null });
    const staff = await set('staff', dir.staff.id, { fee_cents: null });
    const r = await forAppointment();
    expect(r.config).toEqual({ max_cancellations_per_month: null, hours_before: 24, fee_cents: null });
    expect(r.provenance).toMatchObject({
      max_cancellations_per_month: from('branch', branch, dir.branch.id, true),
      hours_before: from('company', company, co.id),
      fee: from('staff', staff, dir.staff.id, true),
    });
    // The other branch still has the company's limit and tiers.
    expect((await resolve('staff', dir.otherStaff.id)).config).toEqual({
      max_cancellations_per_month: 3,
      hours_before: 24,
      fee_tiers: TIERS,
    });
    const appt = await book(30 * H);
    const { decision } = await quote(appt.id);
    // No limit, and the fee rule cleared back to the default tiers (10 EUR from 24 h to 48 h).
    expect(decision).toMatchObject({
      allowed: true,
      quota: { limit: null },
      remainingModifications: null,
      fee: { cents: 1000, rule: 'default_tiers' },
      deadline: { hoursBefore: 24 },
    });
    // A clear is a value: fee_cents and fee_tiers are still one setting, so both in one write is refused.
    const both = await put('staff', dir.staff.id, { fee_cents: null, fee_tiers: null });
    expect(both.status).toBe(400);
    expect(fieldsOf(both)).toEqual(['body.config.fee_tiers']);
  });

  it('terms kept at booking are the merged terms with their provenance: no later edit at any level changes them', async () => {
    const company = await set('company', co.id, { max_cancellations_per_month: 2, fee_tiers: TIERS });
    await set('branch', dir.branch.id, { hours_before: 24 });
    await set('service', dir.service.id, { currency: 'GBP' });
    const staff = await set('staff', dir.staff.id, { max_cancellations_per_month: 5 });
    const appt = await book(30 * H);
    const first = await quote(appt.id);
    expect(first.terms).toMatchObject({
      source: 'booking',
      cancellation: {
        id: staff.id,
        level: 'staff',
        config: { max_cancellations_per_month: 5, fee_tiers: TIERS, hours_before: 24, currency: 'GBP' },
        provenance: {
          max_cancellations_per_month: { level: 'staff', policyId: staff.id },
          fee: { level: 'company', policyId: company.id },
          hours_before: { level: 'branch' },
          currency: { level: 'service' },
        },
      },
    });
    const decisionOf = (q: any) => {
      const { minutesBeforeStart: _m, ...rest } = q.decision;
      return rest;
    };
    // Every level changes, one is cleared, one deleted.
    await set('company', co.id, { max_cancellations_per_month: 0, fee_cents: 9900 });
    await set('branch', dir.branch.id, { hours_before: 40 });
    await set('service', dir.service.id, { currency: null });
    const deleted = await api.request('DELETE', `/v1/policies/${staff.id}`, { key: co.manager });
    expect(deleted.status).toBe(200);
    const later = await quote(appt.id);
    expect(later.terms).toEqual(first.terms);
    expect(decisionOf(later)).toEqual(decisionOf(first));
    // A booking made now gets the new terms.
    const now = await quote((await book(30 * H)).id);
    expect(now.terms.cancellation.config).toEqual({ max_cancellations_per_month: 0, fee_cents: 9900, hours_before: 40, currency: null });
    expect(now.decision).toMatchObject({ allowed: false, code: 'deadline_passed' });
  });

  it('GET /v1/policies/resolve: level and policy (the nearest that applies), the effective config, provenance per key, every policy that applies', async () => {
    const company = await set('company', co.id, { hours_before: 24 });
    const r = await resolve('branch', dir.branch.id);
    expect(r).toEqual({
      entityType: 'branch',
      entityId: dir.branch.id,
      serviceId: null,
      policyType: 'cancellation',
      level: 'company',
      policy: expect.objectContaining({ id: company.id, entityType: 'company', config: { hours_before: 24 } }),
      config: { hours_before: 24 },
      provenance: {
        hours_before: { level: 'company', policyId: company.id, entityId: co.id, version: 1, cleared: false },
        fee: byDefault,
        currency: byDefault,
        max_cancellations_per_month: byDefault,
      },
      policies: [expect.objectContaining({ id: company.id })],
      inactive: [],
      chain: [
        { level: 'branch', id: dir.branch.id },
        { level: 'company', id: co.id },
      ],
    });
    // Nothing anywhere: no policy, an empty config, every key from the defaults.
    const none = await resolve('staff', dir.staff.id, { policyType: 'reschedule' });
    expect(none).toMatchObject({ level: null, policy: null, config: {}, policies: [], inactive: [] });
    expect(Object.values(none.provenance).every((p: any) => p.level === 'default')).toBe(true);
  });

  it('an override holds the keys it changes and applies over the policy it names, only where that policy is in force', async () => {
    await set('company', co.id, { hours_before: 24, max_cancellations_per_month: 3 });
    const service = await set('service', dir.service.id, { hours_before: 12 });
    // Ana's exception to the Haircut service's policy: 2 h, for that service's appointments only.
    const override = await set('staff', dir.staff.id, { hours_before: 2 }, { overridesId: service.id });
    const withService = await forAppointment();
    expect(withService.config).toEqual({ hours_before: 2, max_cancellations_per_month: 3 });
    expect(withService.provenance.hours_before).toMatchObject({ level: 'staff', policyId: override.id });
    expect(withService.inactive).toEqual([]);
    // Without the service the policy it names is not in force: the override does not apply, and says why.
    const alone = await resolve('staff', dir.staff.id);
    expect(alone.config).toEqual({ hours_before: 24, max_cancellations_per_month: 3 });
    expect(alone.level).toBe('company');
    expect(alone.inactive).toEqual([
      {
        policy: expect.objectContaining({ id: override.id, isOverride: true, overridesId: service.id }),
        reason: `overrides policy ${service.id}, which does not apply here`,
      },
    ]);
    // The policy it names is deleted: the exception goes with it.
    await api.request('DELETE', `/v1/policies/${service.id}`, { key: co.manager });
    const after = await forAppointment();
    expect(after.config).toEqual({ hours_before: 24, max_cancellations_per_month: 3 });
    expect(after.inactive.map((i: any) => i.policy.id)).toEqual([override.id]);
  });

  it('an override must name a live policy its entity inherits from; isOverride alone is refused', async () => {
    const company = await set('company', co.id, { hours_before: 24 });
    const otherBranch = await set('branch', dir.otherBranch.id, { hours_before: 6 });
    const refusals: Array<[Record<string, unknown>, string, string]> = [
      [{ entityType: 'staff', entityId: dir.staff.id, overridesId: otherBranch.id }, 'body.overridesId', 'does not inherit from'],
      [{ entityType: 'company', entityId: co.id, overridesId: otherBranch.id }, 'body.overridesId', 'does not inherit from'],
      [{ entityType: 'branch', entityId: dir.branch.id, isOverride: true }, 'body.isOverride', 'overridesId'],
    ];
    for (const [target, field, words] of refusals) {
      const r = await api.request('PUT', '/v1/policies', {
        key: co.manager,
        body: { policyType: 'cancellation', config: { hours_before: 1 }, ...target },
      });
      expect([r.status, fieldsOf(r)]).toEqual([400, [field]]);
      expect(r.body.error.details.fields[0].message).toContain(words);
    }
    // The branch may override the company's policy.
    expect((await put('branch', dir.branch.id, { hours_before: 1 }, { overridesId: company.id })).status).toBe(201);
  });
});
