import type { PolicyLevel, PolicyRecord } from '../../src/policies/definitions';
import { resolvePolicyOnChain } from '../../src/policies/resolution';

/** Policy resolution, pure (src/policies/resolution.ts): key by key, clears, the fee rule as one setting, overrides. */
describe('policy resolution (pure)', () => {
  const chain: Array<{ level: PolicyLevel; id: string }> = [
    { level: 'staff', id: 'st' },
    { level: 'service', id: 'sv' },
    { level: 'branch', id: 'br' },
    { level: 'company', id: 'co' },
  ];
  const policy = (level: PolicyLevel, config: Record<string, unknown>, extra: Partial<PolicyRecord> = {}): PolicyRecord => ({
    id: `${level}-policy`,
    companyId: 'co',
    entityType: level,
    entityId: chain.find((c) => c.level === level)!.id,
    policyType: 'cancellation',
    config,
    isOverride: false,
    overridesId: null,
    version: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    deletedAt: null,
    ...extra,
  });

  it('a fixed fee nearer hides tiers further up, and tiers nearer hide a fixed fee: the fee rule is one setting', () => {
    const tiers = [{ min_hours_before: 0, max_hours_before: null, fee_cents: 100 }];
    const staffFixed = resolvePolicyOnChain('cancellation', chain, [
      policy('company', { fee_tiers: tiers }),
      policy('staff', { fee_cents: 5 }),
    ]);
    expect(staffFixed.config).toEqual({ fee_cents: 5 });
    const staffTiers = resolvePolicyOnChain('cancellation', chain, [
      policy('company', { fee_cents: 5 }),
      policy('staff', { fee_tiers: tiers }),
    ]);
    expect(staffTiers.config).toEqual({ fee_tiers: tiers });
    expect(staffTiers.provenance.fee).toMatchObject({ level: 'staff', policyId: 'staff-policy' });
  });

  it('ignores other types, deleted policies and entities off the chain; in any order of input', () => {
    const r = resolvePolicyOnChain('cancellation', chain, [
      policy('company', { hours_before: 1 }),
      policy('branch', { hours_before: 2 }, { deletedAt: '2026-01-02T00:00:00.000Z' }),
      policy('service', { hours_before: 3 }, { policyType: 'reschedule' }),
      policy('staff', { hours_before: 4 }, { entityId: 'someone-else' }),
    ]);
    expect(r).toMatchObject({ level: 'company', config: { hours_before: 1 } });
    expect(r.policies.map((p) => p.id)).toEqual(['company-policy']);
  });

  it('an override applies only over a policy in force less specific than itself; a cycle stored by hand resolves without looping', () => {
    const company = policy('company', { hours_before: 24 });
    // branch overrides company (applies); service overrides staff and staff overrides service (a cycle: neither applies).
    const branch = policy('branch', { hours_before: 12 }, { overridesId: 'company-policy', isOverride: true });
    const service = policy('service', { hours_before: 6 }, { overridesId: 'staff-policy', isOverride: true });
    const staff = policy('staff', { hours_before: 1 }, { overridesId: 'service-policy', isOverride: true });
    const r = resolvePolicyOnChain('cancellation', chain, [staff, service, branch, company]);
    expect(r.config).toEqual({ hours_before: 12 });
    expect(r.policies.map((p) => p.id)).toEqual(['branch-policy', 'company-policy']);
    expect(r.inactive.map((i) => [i.policy.id, i.reason])).toEqual([
      ['staff-policy', 'overrides policy service-policy, which does not apply here'],
      ['service-policy', 'overrides policy staff-policy, which does not apply here'],
    ]);
    // Without the company's policy, the branch's override no longer applies either.
    expect(resolvePolicyOnChain('cancellation', chain, [branch]).policy).toBeNull();
  });
});
