import type { FeeTier, ModificationStats, TermsPolicy } from '../../src/policies/definitions';
import {
  canCancel,
  canReschedule,
  DEFAULT_FEE_TIERS,
  feeFor,
  feeTierIssues,
  formatMoney,
  HOUR_MS,
  overrideCycle,
  quotaMonth,
  tierFeeCents,
} from '../../src/policies/rules';

/** The engine's pure rules: every case of docs/design.md, Policies, at and around its boundaries, no servers. */
const NOW = new Date('2026-03-10T12:00:00Z');
const startIn = (ms: number) => ({ startsAt: new Date(NOW.getTime() + ms) });
const policy = (config: Record<string, unknown>, level: TermsPolicy['level'] = 'branch'): TermsPolicy => ({
  id: '00000000-0000-4000-8000-000000000001',
  level,
  entityId: '00000000-0000-4000-8000-000000000002',
  version: 1,
  config,
});
const none: ModificationStats = { cancellationsThisMonth: 0, reschedulesOfAppointment: 0 };
const H = HOUR_MS;

describe('policy engine rules', () => {
  describe('no policy anywhere', () => {
    it('allows and charges nothing, with unlimited modifications left', () => {
      const d = canCancel(startIn(2 * H), null, { cancellationsThisMonth: 1_000, reschedulesOfAppointment: 0 }, NOW);
      expect(d).toMatchObject({
        allowed: true,
        code: 'no_policy',
        fee: { cents: 0, currency: 'EUR', rule: 'none' },
        policy: null,
        remainingModifications: null,
        deadline: null,
        violations: [],
      });
      expect(canReschedule(startIn(1), null, { cancellationsThisMonth: 0, reschedulesOfAppointment: 99 }, NOW)).toMatchObject({
        allowed: true,
        code: 'no_policy',
        fee: { cents: 0 },
      });
    });

    it('never lets an appointment that has started be modified within policy', () => {
      expect(canCancel(startIn(0), null, none, NOW)).toMatchObject({ allowed: false, code: 'already_started' });
      expect(canReschedule(startIn(-H), policy({}), none, NOW)).toMatchObject({ allowed: false, code: 'already_started' });
    });
  });

  describe('deadlines (hours_before)', () => {
    it.each([24, 48])('%i h: allowed at exactly the deadline, denied 1 ms closer, allowed 1 ms further', (hours) => {
      const p = policy({ hours_before: hours });
      expect(canCancel(startIn(hours * H), p, none, NOW)).toMatchObject({ allowed: true, code: 'within_policy' });
      expect(canCancel(startIn(hours * H + 1), p, none, NOW)).toMatchObject({ allowed: true });
      const denied = canCancel(startIn(hours * H - 1), p, none, NOW);
      expect(denied).toMatchObject({ allowed: false, code: 'deadline_passed', violations: ['deadline_passed'] });
      expect(denied.deadline).toEqual({ hoursBefore: hours, until: new Date(NOW.getTime() - 1).toISOString() });
      expect(denied.reason).toContain(`close ${hours} h before the start`);
      expect(canReschedule(startIn(hours * H - 1), p, none, NOW)).toMatchObject({ allowed: false, code: 'deadline_passed' });
    });

    it('takes fractional hours to the millisecond (1.5 h = 90 minutes)', () => {
      const p = policy({ hours_before: 1.5 });
      expect(canCancel(startIn(90 * 60_000), p, none, NOW).allowed).toBe(true);
      expect(canCancel(startIn(90 * 60_000 - 1), p, none, NOW).allowed).toBe(false);
    });
  });

  describe('quotas', () => {
    const p = policy({ max_cancellations_per_month: 3 });
    it('counts the customer’s cancellations this month: the third is the last allowed', () => {
      expect(canCancel(startIn(72 * H), p, { ...none, cancellationsThisMonth: 2 }, NOW)).toMatchObject({
        allowed: true,
        remainingModifications: 0,
        quota: { scope: 'customer_month', limit: 3, used: 2, period: '2026-03' },
      });
      const exceeded = canCancel(startIn(72 * H), p, { ...none, cancellationsThisMonth: 3 }, NOW);
      expect(exceeded).toMatchObject({ allowed: false, code: 'quota_exceeded', remainingModifications: 0 });
      expect(exceeded.reason).toContain('used 3 of 3 cancellations allowed in 2026-03');
    });

    it('reports the modifications left after this one', () => {
      expect(canCancel(startIn(72 * H), p, none, NOW).remainingModifications).toBe(2);
      const r = policy({ max_reschedules_per_appointment: 2 });
      expect(canReschedule(startIn(72 * H), r, { ...none, reschedulesOfAppointment: 0 }, NOW)).toMatchObject({
        allowed: true,
        remainingModifications: 1,
        quota: { scope: 'appointment', limit: 2, used: 0, period: null },
      });
      expect(canReschedule(startIn(72 * H), r, { ...none, reschedulesOfAppointment: 2 }, NOW)).toMatchObject({
        allowed: false,
        code: 'quota_exceeded',
      });
    });

    it('a quota of 0 allows none; no quota (absent or null) is unlimited', () => {
      expect(canCancel(startIn(72 * H), policy({ max_cancellations_per_month: 0 }), none, NOW).allowed).toBe(false);
      for (const config of [{}, { max_cancellations_per_month: null }]) {
        const d = canCancel(startIn(72 * H), policy(config), { ...none, cancellationsThisMonth: 1_000_000 }, NOW);
        expect(d).toMatchObject({ allowed: true, remainingModifications: null, quota: { limit: null, used: 1_000_000 } });
      }
    });

    it('very large quotas stay exact (up to 2^53 - 1)', () => {
      const max = Number.MAX_SAFE_INTEGER;
      const big = policy({ max_cancellations_per_month: max });
      expect(canCancel(startIn(72 * H), big, { ...none, cancellationsThisMonth: 2_000_000_000 }, NOW)).toMatchObject({
        allowed: true,
        remainingModifications: max - 2_000_000_001,
      });
      expect(canCancel(startIn(72 * H), big, { ...none, cancellationsThisMonth: max - 1 }, NOW)).toMatchObject({
        allowed: true,
        remainingModifications: 0,
      });
      expect(canCancel(startIn(72 * H), big, { ...none, cancellationsThisMonth: max }, NOW).allowed).toBe(false);
      expect(canReschedule(startIn(72 * H), policy({ max_reschedules_per_appointment: 1e15 }), none, NOW).remainingModifications).toBe(
        1e15 - 1,
      );
    });

    it('lists every rule broken, the first one as the code', () => {
      const d = canCancel(
        startIn(H),
        policy({ hours_before: 24, max_cancellations_per_month: 1 }),
        { ...none, cancellationsThisMonth: 1 },
        NOW,
      );
      expect(d).toMatchObject({ allowed: false, code: 'deadline_passed', violations: ['deadline_passed', 'quota_exceeded'] });
    });

    it('counts months in the company’s time zone', () => {
      // 23:30 UTC on 31 March is already 1 April in Madrid (UTC+2), still March in New York.
      const at = new Date('2026-03-31T23:30:00Z');
      expect(quotaMonth(at, 'Europe/Madrid')).toEqual({ period: '2026-04', firstDay: '2026-04-01' });
      expect(quotaMonth(at, 'America/New_York')).toEqual({ period: '2026-03', firstDay: '2026-03-01' });
      expect(quotaMonth(at, 'Not/AZone')).toEqual({ period: '2026-03', firstDay: '2026-03-01' });
      const d = canCancel({ startsAt: new Date('2026-04-10T10:00:00Z') }, policy({ max_cancellations_per_month: 5 }), none, at, {
        timeZone: 'Europe/Madrid',
      });
      expect(d.quota.period).toBe('2026-04');
    });
  });

  describe('fees', () => {
    it.each([
      // [ms before the start, cents]
      [0, 1500],
      [24 * H - 1, 1500],
      [24 * H, 1000],
      [24 * H + 1, 1000],
      [36 * H, 1000],
      [48 * H - 1, 1000],
      [48 * H, 1000],
      [48 * H + 1, 0],
      [1_000 * H, 0],
    ])('default tiers: %i ms before the start costs %i cents', (ms, cents) => {
      const d = canCancel(startIn(ms === 0 ? 1 : ms), policy({}), none, NOW);
      expect(d.fee).toEqual({ cents, currency: 'EUR', rule: 'default_tiers' });
    });

    it('the default tiers are 0 / 10 / 15 EUR with exact boundaries', () => {
      expect(feeTierIssues(DEFAULT_FEE_TIERS)).toEqual([]);
      expect(tierFeeCents(DEFAULT_FEE_TIERS, 48 * H + 1)).toBe(0);
      expect(tierFeeCents(DEFAULT_FEE_TIERS, 48 * H)).toBe(1000);
      expect(tierFeeCents(DEFAULT_FEE_TIERS, 24 * H)).toBe(1000);
      expect(tierFeeCents(DEFAULT_FEE_TIERS, 24 * H - 1)).toBe(1500);
      expect(tierFeeCents(DEFAULT_FEE_TIERS, -5 * H)).toBe(1500);
    });

    it('a policy’s fixed fee, in its own currency or the company’s', () => {
      expect(canCancel(startIn(100 * H), policy({ fee_cents: 2500 }), none, NOW, { currency: 'GBP' }).fee).toEqual({
        cents: 2500,
        currency: 'GBP',
        rule: 'fixed',
      });
      expect(feeFor({ fee_cents: 0, currency: 'CHF' }, H, 'EUR')).toEqual({ cents: 0, currency: 'CHF', rule: 'fixed' });
    });

    it('a policy’s own tiers, at and around each boundary', () => {
      const tiers: FeeTier[] = [
        { min_hours_before: 0, max_hours_before: 12, fee_cents: 3000 },
        { min_hours_before: 12, max_hours_before: 72, fee_cents: 500 },
        { min_hours_before: 72, max_hours_before: null, fee_cents: 0 },
      ];
      const fee = (ms: number) => canCancel(startIn(ms), policy({ fee_tiers: tiers }), none, NOW).fee;
      expect(fee(12 * H - 1)).toEqual({ cents: 3000, currency: 'EUR', rule: 'policy_tiers' });
      expect(fee(12 * H).cents).toBe(500);
      expect(fee(72 * H - 1).cents).toBe(500);
      expect(fee(72 * H).cents).toBe(0);
    });

    it('charges the fee a denied modification would cost, for a manager’s override', () => {
      const d = canCancel(startIn(2 * H), policy({ hours_before: 24 }), none, NOW);
      expect(d).toMatchObject({ allowed: false, fee: { cents: 1500, rule: 'default_tiers' } });
    });

    it('falls back to the default tiers for tiers written around the API that do not cover the time', () => {
      const broken = [{ min_hours_before: 10, max_hours_before: null, fee_cents: 1 }];
      expect(feeFor({ fee_tiers: broken }, H, 'EUR')).toEqual({ cents: 1500, currency: 'EUR', rule: 'default_tiers' });
      expect(feeFor({ fee_cents: -5 }, 100 * H, 'EUR')).toEqual({ cents: 0, currency: 'EUR', rule: 'default_tiers' });
      expect(feeFor({ fee_cents: 1.5 }, 100 * H, 'EUR').rule).toBe('default_tiers');
    });

    it('formats money from integer cents without floating point', () => {
      expect(formatMoney({ cents: 1500, currency: 'EUR' })).toBe('15.00 EUR');
      expect(formatMoney({ cents: 7, currency: 'EUR' })).toBe('0.07 EUR');
      expect(formatMoney({ cents: 100_000_001, currency: 'GBP' })).toBe('1000000.01 GBP');
    });
  });

  describe('fee tier validation', () => {
    const t = (min: number, max: number | null, extra: Partial<FeeTier> = {}): FeeTier => ({
      min_hours_before: min,
      max_hours_before: max,
      fee_cents: 100,
      ...extra,
    });
    it('accepts tiers that cover [0, ∞) exactly once, in any order', () => {
      expect(feeTierIssues([t(24, null), t(0, 24)])).toEqual([]);
      expect(feeTierIssues([t(0, null)])).toEqual([]);
    });
    it('names overlaps, gaps and empty tiers', () => {
      expect(feeTierIssues([t(0, 30), t(24, null)])).toEqual([
        { path: [1, 'min_hours_before'], message: 'overlaps tier 0, which runs to 30 h' },
      ]);
      expect(feeTierIssues([t(0, 12), t(24, null)])).toEqual([
        { path: [1, 'min_hours_before'], message: 'the tiers leave a gap between 12 h and 24 h' },
      ]);
      expect(feeTierIssues([t(1, null)])[0]).toMatchObject({ path: [0, 'min_hours_before'], message: expect.stringContaining('gap') });
      expect(feeTierIssues([t(0, 24)])[0]).toMatchObject({
        path: [0, 'max_hours_before'],
        message: expect.stringContaining('gap above 24 h'),
      });
      expect(feeTierIssues([t(0, null), t(10, null)])[0].message).toContain('no upper limit');
      expect(feeTierIssues([t(5, 5), t(0, null)])).toEqual([
        { path: [0, 'max_hours_before'], message: 'must be greater than min_hours_before' },
      ]);
    });
    it('a shared boundary belongs to exactly one tier', () => {
      expect(feeTierIssues([t(0, 24, { max_inclusive: true }), t(24, null)])[0].message).toContain('both include exactly 24 h');
      expect(feeTierIssues([t(0, 24), t(24, null, { min_inclusive: false })])[0].message).toContain('neither');
      expect(feeTierIssues([t(0, 24, { max_inclusive: true }), t(24, null, { min_inclusive: false })])).toEqual([]);
    });
  });

  describe('override cycles', () => {
    it('names the cycle that an override would close', () => {
      expect(overrideCycle('A', ['B', 'A'])).toEqual(['A', 'B', 'A']);
      expect(overrideCycle('A', ['A'])).toEqual(['A', 'A']);
      expect(overrideCycle('A', ['B', 'C', 'A', 'D'])).toEqual(['A', 'B', 'C', 'A']);
      expect(overrideCycle('A', ['B', 'C'])).toBeNull();
      expect(overrideCycle(null, ['B'])).toBeNull();
    });
  });
});
