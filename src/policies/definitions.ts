/**
 * The policy feature's contract: policy types and levels, the configuration keys of each policy
 * type, what a resolution and a decision look like, the terms snapshotted on an appointment, and
 * the cache's invalidation message. Definitions only: no I/O (importable by workflows).
 */
import type { ConfigLevel } from '../directory/hierarchy';

export { CONFIG_LEVELS as POLICY_LEVELS, type ConfigLevel as PolicyLevel } from '../directory/hierarchy';

export const POLICY_TYPES = ['cancellation', 'reschedule', 'recurring'] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

/** What the engine decides about (appointment_modifications.modification_type). */
export const MODIFICATION_TYPES = ['cancel', 'reschedule'] as const;
export type ModificationType = (typeof MODIFICATION_TYPES)[number];

/** The policy type that governs each kind of modification. */
export const POLICY_TYPE_OF: Record<ModificationType, PolicyType> = { cancel: 'cancellation', reschedule: 'reschedule' };

/** The PostgreSQL channel on which every policy change is announced at COMMIT (trigger policy_cache_notify, migration 000007). */
export const POLICY_CACHE_CHANNEL = 'policy_cache';

/**
 * One invalidation, as the trigger (or a cache clear) sends it: company, entity type and id, and
 * the policy type (null: every type). It covers the entity and everything that inherits from it.
 */
export interface InvalidationMessage {
  c: string;
  t: ConfigLevel;
  i: string;
  p: PolicyType | null;
}

// ---- configuration keys (validated by schemas.ts; the engine reads them defensively) ----

/**
 * A fee tier: the fee when the time left before the start lies between min and max hours (max
 * null: no upper limit). Each bound says whether it belongs to the tier, so tiers meet exactly:
 * the default tiers are (48 h, ∞) 0, [24 h, 48 h] 10 EUR, [0, 24 h) 15 EUR.
 */
export interface FeeTier {
  min_hours_before: number;
  max_hours_before: number | null;
  /** Default true. */
  min_inclusive?: boolean;
  /** Default false. */
  max_inclusive?: boolean;
  fee_cents: number;
}

/** Keys shared by the cancellation and reschedule policies. */
export interface ModificationPolicyConfig {
  /** Denied when the start is closer than this (hours; at exactly this many hours it is allowed). */
  hours_before?: number;
  /** A fixed fee for every allowed modification (integer cents). Exclusive with fee_tiers. */
  fee_cents?: number;
  /** The policy's own tiers, covering [0, ∞) without gap or overlap. Exclusive with fee_cents. */
  fee_tiers?: FeeTier[];
  /** ISO 4217; default: the company's currency. */
  currency?: string;
}

export interface CancellationConfig extends ModificationPolicyConfig {
  /** Cancellations per customer per calendar month in the company's time zone; absent or null: unlimited. */
  max_cancellations_per_month?: number | null;
}

export interface RescheduleConfig extends ModificationPolicyConfig {
  /** Reschedules of one appointment; absent or null: unlimited. */
  max_reschedules_per_appointment?: number | null;
}

/** Recurring bookings (stored, validated and resolved; no recurring booking flow exists yet to enforce them). */
export interface RecurringConfig {
  max_occurrences?: number;
  min_interval_days?: number;
  max_advance_days?: number;
}

export type PolicyConfig = CancellationConfig | RescheduleConfig | RecurringConfig;

/** The configuration keys each policy type accepts (anything else is refused, naming the key). */
export const CONFIG_KEYS: Record<PolicyType, readonly string[]> = {
  cancellation: ['hours_before', 'max_cancellations_per_month', 'fee_cents', 'fee_tiers', 'currency'],
  reschedule: ['hours_before', 'max_reschedules_per_appointment', 'fee_cents', 'fee_tiers', 'currency'],
  recurring: ['max_occurrences', 'min_interval_days', 'max_advance_days'],
};

// ---- policies and their resolution ----

/** A policy_configurations row as the feature shows it. */
export interface PolicyRecord {
  id: string;
  companyId: string;
  entityType: ConfigLevel;
  entityId: string;
  policyType: PolicyType;
  config: Record<string, unknown>;
  isOverride: boolean;
  overridesId: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

/** What a resolution is about: an entity, and for a staff member optionally the service involved. */
export interface PolicyTarget {
  entityType: ConfigLevel;
  entityId: string;
  /** Only with entityType staff: resolve staff > service > branch > company. */
  serviceId?: string | null;
}

/**
 * The settings of each policy type, and the configuration keys each reads. Every key is a setting
 * of its own, except `fee_cents` and `fee_tiers`: they are one setting, `fee` (the fee rule: a fixed
 * fee or tiers, whichever the nearest level sets). Settings are what inherit (and what provenance names).
 */
export const POLICY_SETTINGS: Record<PolicyType, Record<string, readonly string[]>> = {
  cancellation: {
    hours_before: ['hours_before'],
    max_cancellations_per_month: ['max_cancellations_per_month'],
    fee: ['fee_cents', 'fee_tiers'],
    currency: ['currency'],
  },
  reschedule: {
    hours_before: ['hours_before'],
    max_reschedules_per_appointment: ['max_reschedules_per_appointment'],
    fee: ['fee_cents', 'fee_tiers'],
    currency: ['currency'],
  },
  recurring: {
    max_occurrences: ['max_occurrences'],
    min_interval_days: ['min_interval_days'],
    max_advance_days: ['max_advance_days'],
  },
};

/** Where one setting of a resolved policy came from (the shared rule's provenance, in the policy feature's words). */
export interface PolicyKeyProvenance {
  /** The level that set (or cleared) it; `default`: no level does, the engine's default applies. */
  level: ConfigLevel | 'default';
  /** The policy that set it, its entity and version (null for the default). */
  policyId: string | null;
  entityId: string | null;
  version: number | null;
  /** The level set it to null: nothing here (e.g. no monthly limit), whatever a less specific level sets. */
  cleared: boolean;
}

/** An override on the chain that does not apply to this resolution, and why. */
export interface InactiveOverride {
  policy: PolicyRecord;
  reason: string;
}

/**
 * A resolution through the hierarchy: each setting from the nearest level that sets it (docs/policies.md,
 * Resolution). `policy` and `level` are the nearest policy that applies (null when none does).
 */
export interface ResolvedPolicy {
  policyType: PolicyType;
  policy: PolicyRecord | null;
  level: ConfigLevel | null;
  /** The effective configuration: the keys some level sets (null where the nearest one clears it); the engine's defaults for the rest. */
  config: Record<string, unknown>;
  /** Per setting (POLICY_SETTINGS), the level and policy it came from. */
  provenance: Record<string, PolicyKeyProvenance>;
  /** Every policy that applies, most specific first. */
  policies: PolicyRecord[];
  /** Overrides on the chain whose named policy is not in force here (their keys do not count). */
  inactive: InactiveOverride[];
  /** The levels consulted, most specific first (what the cache entry depends on). */
  chain: Array<{ level: ConfigLevel; id: string }>;
}

// ---- terms at booking and the engine's decision ----

/**
 * The part of a resolution an appointment keeps: enough to decide later exactly as at booking.
 * `id`, `level`, `entityId` and `version` are the nearest policy that applied; `config` the merged
 * terms (each key from the nearest level that set it), with their provenance and every policy
 * that contributed (both absent in terms kept before policies inherited key by key: then `config`
 * is that one policy's).
 */
export interface TermsPolicy {
  id: string;
  level: ConfigLevel;
  entityId: string;
  version: number;
  config: Record<string, unknown>;
  provenance?: Record<string, PolicyKeyProvenance>;
  sources?: Array<{ id: string; level: ConfigLevel; entityId: string; version: number }>;
}

/** appointments.policy_terms: the policies that applied when the appointment was booked (or first quoted). */
export interface PolicyTerms {
  snapshotAt: string;
  /** booking: written with the appointment; first_use: the appointment predates the snapshot and got it at its first quote or modification. */
  source: 'booking' | 'first_use';
  /** The company's currency at that time (a policy may name its own). */
  currency: string;
  cancellation: TermsPolicy | null;
  reschedule: TermsPolicy | null;
}

export const DECISION_CODES = ['no_policy', 'within_policy', 'already_started', 'deadline_passed', 'quota_exceeded'] as const;
export type DecisionCode = (typeof DECISION_CODES)[number];

export type FeeRule = 'none' | 'fixed' | 'policy_tiers' | 'default_tiers';

export interface Money {
  /** Integer cents (minor units); never a float. */
  cents: number;
  currency: string;
}

/** The engine's answer for one modification. */
export interface ModificationDecision {
  type: ModificationType;
  allowed: boolean;
  /** The first rule that denies (or within_policy / no_policy). */
  code: DecisionCode;
  reason: string;
  /** Every rule this modification breaks (empty when allowed). */
  violations: Array<Exclude<DecisionCode, 'no_policy' | 'within_policy'>>;
  /** What the modification costs if it is made (also when a manager overrides a denial). */
  fee: Money & { rule: FeeRule };
  /** The policy used; null when none applies (allowed, free). */
  policy: TermsPolicy | null;
  /** Whole minutes from now to the appointment's start (negative once it has started). */
  minutesBeforeStart: number;
  /** The deadline: modifications are allowed until this instant (null: no deadline). */
  deadline: { hoursBefore: number; until: string } | null;
  /** The quota that applies: per customer per month (cancellations) or per appointment (reschedules). */
  quota: { scope: 'customer_month' | 'appointment'; limit: number | null; used: number; period: string | null };
  /** How many more modifications of this kind the quota allows after this one; null: unlimited. */
  remainingModifications: number | null;
}

/** What the engine needs to know about the appointment. */
export interface AppointmentFacts {
  startsAt: Date;
}

/** The counters the quotas read (one indexed row each). */
export interface ModificationStats {
  /** The customer's cancellations in the current month (company time zone). */
  cancellationsThisMonth: number;
  /** This appointment's reschedules so far. */
  reschedulesOfAppointment: number;
}

/** Options of a decision that are not the policy's: the currency when the policy names none, the quota month's label. */
export interface DecisionContext {
  currency: string;
  /** e.g. `2026-03` (the quota month in the company's time zone). */
  period: string;
}
