/**
 * The policy engine's pure rules (docs/design.md, Policies): may this appointment be cancelled or rescheduled now,
 * at what fee, under which policy, with how many modifications left. No I/O and no clock but the
 * one passed in: the service loads the appointment, its terms and one counter row, this decides.
 * Money is integer cents; time is compared in whole milliseconds.
 */
import { DateTime } from 'luxon';
import type {
  AppointmentFacts,
  DecisionCode,
  FeeRule,
  FeeTier,
  ModificationDecision,
  ModificationStats,
  ModificationType,
  Money,
  TermsPolicy,
} from './definitions';

export const HOUR_MS = 3_600_000;
export const DEFAULT_CURRENCY = 'EUR';

/**
 * The fees when a policy applies but sets neither fee_cents nor fee_tiers: 0 when more than 48 h
 * before the start, 10 EUR from 24 h to 48 h (both included), 15 EUR under 24 h.
 */
export const DEFAULT_FEE_TIERS: readonly FeeTier[] = [
  { min_hours_before: 48, max_hours_before: null, min_inclusive: false, fee_cents: 0 },
  { min_hours_before: 24, max_hours_before: 48, min_inclusive: true, max_inclusive: true, fee_cents: 1000 },
  { min_hours_before: 0, max_hours_before: 24, min_inclusive: true, max_inclusive: false, fee_cents: 1500 },
];

/** Hours (possibly fractional) as whole milliseconds, so every comparison is exact. */
export const hoursToMs = (hours: number) => Math.round(hours * HOUR_MS);

// ---- reading a stored configuration defensively (the API validated it; a row written by hand may not be) ----

const nonNegative = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const cents = (v: unknown): number | undefined => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined);
/** A quota: a non-negative integer; anything else (absent, null) is unlimited. */
const quotaLimit = (v: unknown): number | null => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : null);
const currencyOf = (v: unknown): string | undefined => (typeof v === 'string' && /^[A-Z]{3}$/.test(v) ? v : undefined);

function tiersOf(v: unknown): FeeTier[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const tiers = v as FeeTier[];
  const wellFormed = tiers.every(
    (t) =>
      t &&
      nonNegative(t.min_hours_before) !== undefined &&
      (t.max_hours_before === null || nonNegative(t.max_hours_before) !== undefined) &&
      cents(t.fee_cents) !== undefined,
  );
  return wellFormed && feeTierIssues(tiers).length === 0 ? tiers : undefined;
}

// ---- fee tiers ----

interface Bounds {
  index: number;
  min: number;
  max: number | null;
  minIn: boolean;
  maxIn: boolean;
}

const boundsOf = (t: FeeTier, index: number): Bounds => ({
  index,
  min: hoursToMs(t.min_hours_before),
  max: t.max_hours_before === null ? null : hoursToMs(t.max_hours_before),
  minIn: t.min_inclusive ?? true,
  maxIn: t.max_inclusive ?? false,
});

function covers(b: Bounds, ms: number): boolean {
  const aboveMin = b.minIn ? ms >= b.min : ms > b.min;
  const belowMax = b.max === null || (b.maxIn ? ms <= b.max : ms < b.max);
  return aboveMin && belowMax;
}

export interface TierIssue {
  /** Relative to fee_tiers: [index] or [index, key]. */
  path: Array<string | number>;
  message: string;
}

const h = (ms: number) => `${ms / HOUR_MS} h`;

/**
 * Tiers must cover every time before the start, [0, ∞), exactly once: the lowest starts at 0
 * (inclusive), each next one starts where the previous ends with exactly one of the two owning the
 * shared boundary, and the highest has no upper limit. Returns what is wrong, naming the tier.
 */
export function feeTierIssues(tiers: readonly FeeTier[]): TierIssue[] {
  const issues: TierIssue[] = [];
  const bounds = tiers.map(boundsOf);
  for (const b of bounds) {
    if (b.max !== null && b.max <= b.min)
      issues.push({ path: [b.index, 'max_hours_before'], message: 'must be greater than min_hours_before' });
  }
  if (issues.length > 0 || bounds.length === 0) return issues;
  const sorted = [...bounds].sort((a, b) => a.min - b.min || Number(b.minIn) - Number(a.minIn));
  const first = sorted[0];
  if (first.min !== 0 || !first.minIn) {
    issues.push({
      path: [first.index, 'min_hours_before'],
      message: 'the tiers leave a gap: the lowest tier must start at 0 hours, inclusive',
    });
  }
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    const at = [cur.index, 'min_hours_before'];
    if (prev.max === null) {
      issues.push({ path: at, message: `overlaps tier ${prev.index}, which has no upper limit` });
    } else if (cur.min < prev.max) {
      issues.push({ path: at, message: `overlaps tier ${prev.index}, which runs to ${h(prev.max)}` });
    } else if (cur.min > prev.max) {
      issues.push({ path: at, message: `the tiers leave a gap between ${h(prev.max)} and ${h(cur.min)}` });
    } else if (prev.maxIn && cur.minIn) {
      issues.push({ path: at, message: `overlaps tier ${prev.index}: both include exactly ${h(cur.min)}` });
    } else if (!prev.maxIn && !cur.minIn) {
      issues.push({ path: at, message: `the tiers leave a gap: neither this tier nor tier ${prev.index} includes exactly ${h(cur.min)}` });
    }
  }
  const last = sorted[sorted.length - 1];
  if (last.max !== null) {
    issues.push({
      path: [last.index, 'max_hours_before'],
      message: `the tiers leave a gap above ${h(last.max)}: the highest tier needs max_hours_before null`,
    });
  }
  return issues;
}

/** The fee of the tier covering `msBeforeStart` (a started appointment counts as 0). */
export function tierFeeCents(tiers: readonly FeeTier[], msBeforeStart: number): number {
  const ms = Math.max(0, msBeforeStart);
  const tier = tiers.map(boundsOf).find((b) => covers(b, ms));
  // Valid tiers cover [0, ∞); the defaults are the answer for anything else.
  return tier ? tiers[tier.index].fee_cents : tierFeeCents(DEFAULT_FEE_TIERS, ms);
}

/** What a modification under `config` costs `msBeforeStart` before the start. */
export function feeFor(config: Record<string, unknown>, msBeforeStart: number, currency: string): Money & { rule: FeeRule } {
  const own = currencyOf(config.currency) ?? currency;
  const fixed = cents(config.fee_cents);
  if (fixed !== undefined) return { cents: fixed, currency: own, rule: 'fixed' };
  const tiers = tiersOf(config.fee_tiers);
  if (tiers) return { cents: tierFeeCents(tiers, msBeforeStart), currency: own, rule: 'policy_tiers' };
  return { cents: tierFeeCents(DEFAULT_FEE_TIERS, msBeforeStart), currency: own, rule: 'default_tiers' };
}

/** Cents as text without floating point: `1500, 'EUR'` -> `15.00 EUR`. */
export function formatMoney({ cents: c, currency }: Money): string {
  return `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')} ${currency}`;
}

// ---- quota months ----

/** The quota month of an instant in the company's time zone: `2026-03` and its first day `2026-03-01` (UTC if the zone is unknown). */
export function quotaMonth(now: Date, timeZone: string): { period: string; firstDay: string } {
  let local = DateTime.fromJSDate(now, { zone: timeZone });
  if (!local.isValid) local = DateTime.fromJSDate(now, { zone: 'utc' });
  return { period: local.toFormat('yyyy-MM'), firstDay: local.toFormat('yyyy-MM-01') };
}

// ---- the decision ----

export interface DecisionOptions {
  /** The currency when the policy names none (the terms', i.e. the company's). Default EUR. */
  currency?: string;
  /** The company's time zone: which calendar month a cancellation counts in. Default UTC. */
  timeZone?: string;
}

const NOUN: Record<ModificationType, { one: string; many: string }> = {
  cancel: { one: 'cancellation', many: 'cancellations' },
  reschedule: { one: 'reschedule', many: 'reschedules' },
};

function decide(
  type: ModificationType,
  appointment: AppointmentFacts,
  policy: TermsPolicy | null,
  stats: ModificationStats,
  now: Date,
  options: DecisionOptions,
): ModificationDecision {
  const currency = options.currency ?? DEFAULT_CURRENCY;
  const msBefore = appointment.startsAt.getTime() - now.getTime();
  const config = policy?.config ?? {};
  const noun = NOUN[type];
  const violations: ModificationDecision['violations'] = [];
  const reasons: string[] = [];

  if (msBefore <= 0) {
    violations.push('already_started');
    reasons.push(`the appointment started at ${appointment.startsAt.toISOString()}`);
  }

  const hoursBefore = policy ? nonNegative(config.hours_before) : undefined;
  let deadline: ModificationDecision['deadline'] = null;
  if (hoursBefore !== undefined) {
    const deadlineMs = hoursToMs(hoursBefore);
    const until = new Date(appointment.startsAt.getTime() - deadlineMs);
    deadline = { hoursBefore, until: until.toISOString() };
    // Closer to the start than the deadline: denied. Exactly at it: allowed.
    if (msBefore > 0 && msBefore < deadlineMs) {
      violations.push('deadline_passed');
      reasons.push(`${noun.many} close ${hoursBefore} h before the start (at ${until.toISOString()})`);
    }
  }

  const { period } = quotaMonth(now, options.timeZone ?? 'UTC');
  const quota: ModificationDecision['quota'] =
    type === 'cancel'
      ? {
          scope: 'customer_month',
          limit: policy ? quotaLimit((config as Record<string, unknown>).max_cancellations_per_month) : null,
          used: stats.cancellationsThisMonth,
          period,
        }
      : {
          scope: 'appointment',
          limit: policy ? quotaLimit((config as Record<string, unknown>).max_reschedules_per_appointment) : null,
          used: stats.reschedulesOfAppointment,
          period: null,
        };
  if (quota.limit !== null && quota.used >= quota.limit) {
    violations.push('quota_exceeded');
    reasons.push(
      type === 'cancel'
        ? `the customer has used ${quota.used} of ${quota.limit} ${noun.many} allowed in ${period}`
        : `the appointment has been rescheduled ${quota.used} of ${quota.limit} times allowed`,
    );
  }

  const allowed = violations.length === 0;
  const code: DecisionCode = violations[0] ?? (policy ? 'within_policy' : 'no_policy');
  const fee = policy ? feeFor(config, msBefore, currency) : { cents: 0, currency, rule: 'none' as const };
  let reason: string;
  if (!allowed) reason = `${noun.one} not allowed: ${reasons.join('; ')}`;
  else if (policy) reason = `within the ${policy.level} ${noun.one} policy`;
  else reason = `no ${noun.one} policy applies: allowed, free`;

  return {
    type,
    allowed,
    code,
    reason,
    violations,
    fee,
    policy,
    minutesBeforeStart: Math.trunc(msBefore / 60_000),
    deadline,
    quota,
    // After this modification, if it is made: a denied one made by a manager's override counts too.
    remainingModifications: quota.limit === null ? null : Math.max(0, quota.limit - quota.used - 1),
  };
}

/** May the appointment be cancelled now? Deadline, the customer's monthly quota, the fee. No policy: allowed, free. */
export function canCancel(
  appointment: AppointmentFacts,
  policy: TermsPolicy | null,
  stats: ModificationStats,
  now: Date,
  options: DecisionOptions = {},
): ModificationDecision {
  return decide('cancel', appointment, policy, stats, now, options);
}

/** May the appointment be rescheduled now? Deadline (from its current start), reschedules per appointment, the fee. */
export function canReschedule(
  appointment: AppointmentFacts,
  policy: TermsPolicy | null,
  stats: ModificationStats,
  now: Date,
  options: DecisionOptions = {},
): ModificationDecision {
  return decide('reschedule', appointment, policy, stats, now, options);
}

// ---- override cycles ----

/**
 * The cycle that making `id` override the head of `chain` would close, or null. `chain` is the
 * override chain starting at the policy to be overridden: [overridesId, what it overrides, ...].
 * E.g. A overriding B where B overrides A: [A, B, A].
 */
export function overrideCycle(id: string | null, chain: readonly string[]): string[] | null {
  if (!id) return null;
  const at = chain.indexOf(id);
  return at < 0 ? null : [id, ...chain.slice(0, at + 1)];
}
