import { z } from '../api/zod';
import { DateTimeWithOffset, text, Uuid } from '../api/fields';
import { Appointment } from '../directory/schemas';
import { DECISION_CODES, MODIFICATION_TYPES, POLICY_LEVELS, POLICY_TYPES } from './definitions';
import { feeTierIssues } from './rules';

/**
 * The policy feature's request and response schemas: validation (400 naming each field, e.g.
 * `body.config.hours_before`) and the OpenAPI document come from these. Every configuration key
 * is validated here, once; the service takes the parsed, typed input.
 */
export const PolicyTypeSchema = z.enum(POLICY_TYPES);
export const PolicyLevelSchema = z.enum(POLICY_LEVELS);

const HOURS_MAX = 8_760;
/** Hours before an appointment's start: a non-negative number up to a year (fractions allowed: 1.5 = 90 minutes). */
const Hours = z
  .number({ error: 'must be a number of hours' })
  .min(0, { message: 'must not be negative' })
  .max(HOURS_MAX, { message: `must be at most ${HOURS_MAX} (a year)` });
/** Money: integer cents (minor units), never a float. */
const Cents = z
  .number({ error: 'must be an integer number of cents' })
  .int({ message: 'must be an integer number of cents' })
  .min(0, { message: 'must not be negative' })
  .max(100_000_000, { message: 'must be at most 100000000 cents' });
/** A quota: a non-negative integer up to 2^53 - 1 (very large quotas work); null or absent: unlimited. */
const Quota = z
  .number({ error: 'must be an integer or null (unlimited)' })
  .int({ message: 'must be an integer' })
  .min(0, { message: 'must not be negative' })
  .max(Number.MAX_SAFE_INTEGER, { message: `must be at most ${Number.MAX_SAFE_INTEGER}` })
  .nullable();
const Currency = z.string().regex(/^[A-Z]{3}$/, { message: 'must be an ISO 4217 currency code such as EUR' });
const Days = (max: number) =>
  z
    .number({ error: 'must be an integer number of days' })
    .int({ message: 'must be an integer number of days' })
    .min(1, { message: 'must be at least 1' })
    .max(max, { message: `must be at most ${max}` });

export const FeeTierSchema = z
  .object({
    min_hours_before: Hours,
    /** null: no upper limit. */
    max_hours_before: Hours.nullable(),
    /** Whether exactly min_hours_before belongs to this tier (default true). */
    min_inclusive: z.boolean().optional(),
    /** Whether exactly max_hours_before belongs to this tier (default false). */
    max_inclusive: z.boolean().optional(),
    fee_cents: Cents,
  })
  .strict();

const FeeTiers = z
  .array(FeeTierSchema)
  .min(1, { message: 'must have at least one tier' })
  .max(20, { message: 'must have at most 20 tiers' })
  .superRefine((tiers, ctx) => {
    for (const issue of feeTierIssues(tiers)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

/**
 * Every key is optional and nullable: absent inherits from the next level, null clears it at this
 * level (no deadline, no limit, the default fee tiers, the company's currency), whatever a less
 * specific level sets (docs/policies.md, Resolution).
 */
const modificationKeys = {
  hours_before: Hours.nullable().optional(),
  fee_cents: Cents.nullable().optional(),
  fee_tiers: FeeTiers.nullable().optional(),
  currency: Currency.nullable().optional(),
};

/** fee_cents and fee_tiers are one setting (the fee rule): a level sets (or clears) one of them. */
const oneFeeRule = (c: { fee_cents?: number | null; fee_tiers?: unknown }, ctx: z.RefinementCtx) => {
  if (c.fee_cents !== undefined && c.fee_tiers !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['fee_tiers'],
      message: 'set fee_cents (a fixed fee) or fee_tiers, not both: they are one setting (null in either clears it)',
    });
};

export const CancellationConfigSchema = z
  .object({ ...modificationKeys, max_cancellations_per_month: Quota.optional() })
  .strict()
  .superRefine(oneFeeRule);
export const RescheduleConfigSchema = z
  .object({ ...modificationKeys, max_reschedules_per_appointment: Quota.optional() })
  .strict()
  .superRefine(oneFeeRule);
export const RecurringConfigSchema = z
  .object({
    max_occurrences: z.number().int({ message: 'must be an integer' }).min(1).max(1_000).nullable().optional(),
    min_interval_days: Days(365).nullable().optional(),
    max_advance_days: Days(3_650).nullable().optional(),
  })
  .strict();

const policyFields = {
  entityType: PolicyLevelSchema,
  entityId: Uuid,
  /** True exactly for an override: default true when overridesId is set; true without overridesId is refused. */
  isOverride: z.boolean().optional(),
  /**
   * Makes this policy an override of that one: it holds only the keys it changes and applies over
   * the named policy, only where that policy is in force (docs/policies.md, Overrides). It must be a
   * live policy of the same type on an entity this one inherits from; a cycle is refused.
   */
  overridesId: Uuid.nullable().optional(),
  /** Optimistic concurrency: replace only if the live policy is at this version (else 409 version_conflict). */
  expectedVersion: z.number().int().min(1).max(2_147_483_647).optional(),
};

/** PUT /v1/policies: create or replace the policy of one type on one entity. */
export const PutPolicyInput = z
  .discriminatedUnion('policyType', [
    z.object({ ...policyFields, policyType: z.literal('cancellation'), config: CancellationConfigSchema }).strict(),
    z.object({ ...policyFields, policyType: z.literal('reschedule'), config: RescheduleConfigSchema }).strict(),
    z.object({ ...policyFields, policyType: z.literal('recurring'), config: RecurringConfigSchema }).strict(),
  ])
  .superRefine((p, ctx) => {
    if (p.isOverride === false && p.overridesId)
      ctx.addIssue({ code: 'custom', path: ['isOverride'], message: 'must be true (or left out) when overridesId is set' });
    if (p.isOverride === true && !p.overridesId)
      ctx.addIssue({
        code: 'custom',
        path: ['isOverride'],
        message: 'an override names the policy it applies over: set overridesId (every policy already inherits key by key)',
      });
  });
export type PutPolicyInput = z.output<typeof PutPolicyInput>;

export const PolicyView = z.object({
  id: Uuid,
  companyId: Uuid,
  entityType: PolicyLevelSchema,
  entityId: Uuid,
  policyType: PolicyTypeSchema,
  config: z.record(z.string(), z.unknown()),
  isOverride: z.boolean(),
  overridesId: Uuid.nullable(),
  version: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  deletedAt: z.string().nullable(),
});
export type PolicyView = z.infer<typeof PolicyView>;

const TargetFields = {
  entityType: PolicyLevelSchema,
  entityId: Uuid,
  /** With entityType staff: the service involved (staff > service > branch > company). */
  serviceId: Uuid.optional(),
};
const serviceOnlyForStaff = (t: { entityType: string; serviceId?: string }, ctx: z.RefinementCtx) => {
  if (t.serviceId && t.entityType !== 'staff') ctx.addIssue({ code: 'custom', path: ['serviceId'], message: 'only with entityType staff' });
};

export const ResolveQuery = z
  .object({ ...TargetFields, policyType: PolicyTypeSchema })
  .strict()
  .superRefine(serviceOnlyForStaff);
export type ResolveQuery = z.output<typeof ResolveQuery>;

export const ResolveBatchInput = z
  .object({
    policyType: PolicyTypeSchema,
    entities: z.array(z.object(TargetFields).strict().superRefine(serviceOnlyForStaff)).min(1).max(1_000),
  })
  .strict();
export type ResolveBatchInput = z.output<typeof ResolveBatchInput>;

export const EntityQuery = z.object({ entityType: PolicyLevelSchema, entityId: Uuid }).strict();

/** Where one setting came from: the level, policy, entity and version; `cleared`: that level set it to null. */
export const KeyProvenanceView = z.object({
  level: z.enum([...POLICY_LEVELS, 'default']),
  policyId: Uuid.nullable(),
  entityId: Uuid.nullable(),
  version: z.number().int().nullable(),
  cleared: z.boolean(),
});

export const ResolvedView = z.object({
  entityType: PolicyLevelSchema,
  entityId: Uuid,
  serviceId: Uuid.nullable(),
  policyType: PolicyTypeSchema,
  /** The level of the nearest policy that applies; null when none does. */
  level: PolicyLevelSchema.nullable(),
  /** The nearest policy that applies, as stored (its own keys); null when none does. */
  policy: PolicyView.nullable(),
  /** The effective configuration: each key from the nearest level that sets it (null: cleared there). */
  config: z.record(z.string(), z.unknown()),
  /** Per setting (each key; fee_cents and fee_tiers together as `fee`), where it came from. */
  provenance: z.record(z.string(), KeyProvenanceView),
  /** Every policy that applies, most specific first. */
  policies: z.array(PolicyView),
  /** Overrides on the chain that do not apply here (the policy they name is not in force), with the reason. */
  inactive: z.array(z.object({ policy: PolicyView, reason: z.string() })),
  /** The levels consulted, most specific first. */
  chain: z.array(z.object({ level: PolicyLevelSchema, id: Uuid })),
});
export type ResolvedView = z.infer<typeof ResolvedView>;

// ---- the engine ----

const TermsPolicyView = z.object({
  /** The nearest policy that applied. */
  id: Uuid,
  level: PolicyLevelSchema,
  entityId: Uuid,
  version: z.number().int(),
  /** The merged terms (each key from the nearest level that set it). */
  config: z.record(z.string(), z.unknown()),
  /** Per setting, where it came from (absent in terms kept before policies inherited key by key). */
  provenance: z.record(z.string(), KeyProvenanceView).optional(),
  /** Every policy the terms came from, most specific first (absent in older terms). */
  sources: z.array(z.object({ id: Uuid, level: PolicyLevelSchema, entityId: Uuid, version: z.number().int() })).optional(),
});

export const TermsView = z.object({
  snapshotAt: z.string(),
  source: z.enum(['booking', 'first_use']),
  currency: z.string(),
  cancellation: TermsPolicyView.nullable(),
  reschedule: TermsPolicyView.nullable(),
});

export const MoneyView = z.object({ cents: z.number().int(), currency: z.string() });

export const DecisionView = z.object({
  type: z.enum(MODIFICATION_TYPES),
  allowed: z.boolean(),
  code: z.enum(DECISION_CODES),
  reason: z.string(),
  violations: z.array(z.enum(DECISION_CODES)),
  fee: MoneyView.extend({ rule: z.enum(['none', 'fixed', 'policy_tiers', 'default_tiers']) }),
  policy: TermsPolicyView.nullable(),
  minutesBeforeStart: z.number().int(),
  deadline: z.object({ hoursBefore: z.number(), until: z.string() }).nullable(),
  quota: z.object({
    scope: z.enum(['customer_month', 'appointment']),
    limit: z.number().int().nullable(),
    used: z.number().int(),
    period: z.string().nullable(),
  }),
  remainingModifications: z.number().int().nullable(),
});

export const QuoteView = z.object({
  appointmentId: Uuid,
  /** What cancelling now would mean; nothing was changed. */
  decision: DecisionView,
  /** The terms the appointment was booked under. */
  terms: TermsView,
});
export type QuoteView = z.infer<typeof QuoteView>;

const Override = z
  .object({
    /** Why the manager lets this modification through despite the policy (recorded, and the customer is told). */
    reason: text(1, 500),
  })
  .strict()
  .openapi({ description: 'A manager overriding a denial (manager role or above)' });

export const CancelInput = z
  .object({
    /** Why the appointment is cancelled (recorded on the modification). */
    reason: text(1, 500).optional(),
    override: Override.optional(),
  })
  .strict();
export type CancelInput = z.output<typeof CancelInput>;

export const RescheduleInput = z
  .object({
    startsAt: DateTimeWithOffset.openapi({ description: 'The new start: in the future, different from the current one' }),
    /** Default: the new start plus the appointment's current duration. */
    endsAt: DateTimeWithOffset.optional(),
    reason: text(1, 500).optional(),
    override: Override.optional(),
  })
  .strict()
  .refine((r) => !r.endsAt || Date.parse(r.endsAt) > Date.parse(r.startsAt), { path: ['endsAt'], message: 'must be after startsAt' });
export type RescheduleInput = z.output<typeof RescheduleInput>;

export const ModificationView = z.object({
  id: Uuid,
  appointmentId: Uuid,
  type: z.enum(MODIFICATION_TYPES),
  withinPolicy: z.boolean(),
  feeCharged: MoneyView,
  reason: z.string().nullable(),
  policyId: Uuid.nullable(),
  policyLevel: PolicyLevelSchema.nullable(),
  modifiedBy: z.string(),
  actorRole: z.string().nullable(),
  overridden: z.boolean(),
  overrideReason: z.string().nullable(),
  previousStartsAt: z.string().nullable(),
  newStartsAt: z.string().nullable(),
  notificationIds: z.array(Uuid),
  createdAt: z.string(),
});
export type ModificationView = z.infer<typeof ModificationView>;

export const ModificationResult = z.object({
  appointment: Appointment,
  decision: DecisionView,
  modification: ModificationView,
  /** The notifications sent about it (each its own workflow, started after the commit). */
  notifications: z.array(z.object({ id: Uuid, eventType: z.string(), workflowId: z.string() })),
});
export type ModificationResult = z.infer<typeof ModificationResult>;
