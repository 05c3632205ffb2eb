import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { DateTime } from 'luxon';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createFeatureSwitches, type FeatureSwitches } from '../companies/features';
import { claimIdempotencyKey, recordIdempotentResponse, requestHash, type IdempotencyScope } from '../db/idempotency';
import type { WorkflowStart } from '../db/outbox';
import { withTransaction, type Queryable } from '../db/transaction';
import { appointmentView, type AfterCommit } from '../directory/service';
import type { AppointmentRow } from '../directory/store';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import { createNotificationService, type NotificationService } from '../notifications/service';
import { notificationWorkflowId, type NotificationEventType } from '../notifications/definitions';
import type { Durability } from '../temporal/durability';
import { createPolicyCache, registerPolicyCacheMetrics, type PolicyCache, type PolicyCacheOptions } from './cache';
import {
  POLICY_CACHE_CHANNEL,
  type ModificationDecision,
  type ModificationType,
  type PolicyLevel,
  type PolicyRecord,
  type PolicyTarget,
  type PolicyTerms,
  type PolicyType,
  type ResolvedPolicy,
  type TermsPolicy,
} from './definitions';
import { canCancel, canReschedule, formatMoney, overrideCycle, quotaMonth } from './rules';
import type {
  CancelInput,
  ModificationResult,
  ModificationView,
  PutPolicyInput,
  QuoteView,
  RescheduleInput,
  ResolveBatchInput,
  ResolvedView,
} from './schemas';
import {
  countModification,
  entityExists,
  entityInheritsFrom,
  findAppointmentForDecision,
  findLivePolicyForUpdate,
  findPolicy,
  insertModification,
  listEntityPolicies,
  lockCompanyPolicies,
  lockMonthlyCount,
  markAppointmentCancelled,
  moveAppointment,
  notifyInvalidation,
  overrideChain,
  readMonthlyCount,
  resolveTargets,
  saveTermsIfMissing,
  softDeletePolicy,
  upsertPolicy,
  type DecisionAppointmentRow,
  type ModificationRow,
} from './store';

/**
 * The policy use cases behind the HTTP routes (docs/design.md, Policies and API contract): the configuration service (set,
 * resolve through the hierarchy with the cache, list an entity's own, delete), and the engine's
 * quote, cancel and reschedule. Inputs are validated by the route schemas; every query is scoped
 * by the caller's company and another company's ids are "not found".
 *
 * A cancellation or reschedule is decided and written in ONE transaction: the appointment row is
 * locked, the terms it was booked under are read from it, the customer's counter row for the month
 * is locked (so two modifications at the edge of a quota decide one after the other), then the
 * appointment, the modification record, the counter and the notification rows are written
 * together. The notification workflows start after COMMIT; if the process dies first, the outbox
 * reconciler starts them.
 */
export interface PolicyServiceDeps {
  pool: Pool;
  /** Temporal client (starts the notification workflows). */
  client: Client;
  taskQueue: string;
  logger?: Logger;
  durability?: Durability;
  /** How long a modification waits for Temporal to start a notification before leaving it to the reconciler (default 5 s). */
  startTimeoutMs?: number;
  /** The process's policy cache; default: one of its own, listening once first used. */
  cache?: PolicyCache;
  /** Where the cache's statistics are published (the API's /metrics registry). */
  registry?: Registry;
  /** The clock (tests pin it to check the exact boundaries through the whole stack). */
  now?: () => Date;
  /**
   * Runs inside a modification's transaction after the appointment is written (the appointment
   * feature: its workflow is told after COMMIT). What it returns runs after COMMIT.
   */
  onAppointmentChanged?: (tx: PoolClient, companyId: string, appointment: AppointmentRow) => Promise<void | AfterCommit>;
  /**
   * The feature switches: with policies off for a company, quotes, cancellations and reschedules
   * through the engine are refused (FeatureDisabledError, 409 `feature_disabled`); configuration
   * stays editable. Default: the company's own settings, every feature on otherwise.
   */
  features?: FeatureSwitches;
}

/**
 * Who makes a modification: an API key (recorded as modified_by `api_key:<id>` with its role), or
 * an integration acting for the customer (`by`, e.g. `calendar:calcom` or `phone_agent:retell:<call>`;
 * no role).
 */
export type Actor = { keyId: string; role: 'agent' | 'manager' | 'admin' } | { by: string; role: null };

const modifiedBy = (actor: Actor) => ('by' in actor ? actor.by : `api_key:${actor.keyId}`);

/** Extra writes of a caller inside a modification's transaction (a webhook records its delivery with the change). */
export interface ModificationOptions {
  within?: (tx: PoolClient, appointment: AppointmentRow) => Promise<void>;
}

const invalid = (field: string, message: string) => new ValidationError(`invalid request: ${field}`, [{ field, message }]);

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

const NOUN: Record<ModificationType, string> = { cancel: 'cancellation', reschedule: 'reschedule' };

/** The API's last instant (timestamps stay within year 9999). */
const LAST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Appointments in these states can no longer be cancelled or rescheduled. */
const FINAL_APPOINTMENT = new Set(['cancelled', 'completed', 'no_show']);

/** Why a modification broke the policy, in words for the customer (no timestamps, no codes). */
function customerReasons(d: ModificationDecision): string[] {
  return d.violations.map((v) => {
    switch (v) {
      case 'already_started':
        return 'the appointment had already started';
      case 'deadline_passed':
        return `${NOUN[d.type]}s close ${d.deadline?.hoursBefore} h before the start`;
      case 'quota_exceeded':
        return d.type === 'cancel'
          ? `the limit of ${d.quota.limit} cancellations a month was reached`
          : `the limit of ${d.quota.limit} reschedules for this appointment was reached`;
    }
  });
}

/** What the appointment's policy resolution is about: its staff member and service, else its service. */
export function appointmentTarget(a: Pick<AppointmentRow, 'staff_id' | 'service_id'>): PolicyTarget {
  return a.staff_id
    ? { entityType: 'staff', entityId: a.staff_id, serviceId: a.service_id }
    : { entityType: 'service', entityId: a.service_id };
}

/** The merged terms of a resolution, with their provenance and every policy they came from. */
const termsPolicyOf = (r: ResolvedPolicy | null): TermsPolicy | null =>
  r?.policy && r.level
    ? {
        id: r.policy.id,
        level: r.level,
        entityId: r.policy.entityId,
        version: r.policy.version,
        config: r.config,
        provenance: r.provenance,
        sources: r.policies.map((p) => ({ id: p.id, level: p.entityType, entityId: p.entityId, version: p.version })),
      }
    : null;

function toModificationView(r: ModificationRow): ModificationView {
  return {
    id: r.id,
    appointmentId: r.appointment_id,
    type: r.modification_type,
    withinPolicy: r.within_policy,
    feeCharged: { cents: r.fee_charged_cents, currency: r.currency.trim() },
    reason: r.reason,
    policyId: r.policy_id,
    policyLevel: r.policy_level,
    modifiedBy: r.modified_by,
    actorRole: r.actor_role,
    overridden: r.overridden,
    overrideReason: r.override_reason,
    previousStartsAt: iso(r.previous_starts_at),
    newStartsAt: iso(r.new_starts_at),
    notificationIds: r.notification_ids,
    createdAt: iso(r.created_at)!,
  };
}

function resolvedView(target: PolicyTarget, r: ResolvedPolicy): ResolvedView {
  return {
    entityType: target.entityType,
    entityId: target.entityId,
    serviceId: target.entityType === 'staff' ? (target.serviceId ?? null) : null,
    policyType: r.policyType,
    level: r.level,
    policy: r.policy,
    config: r.config,
    provenance: r.provenance,
    policies: r.policies,
    inactive: r.inactive,
    chain: r.chain,
  };
}

/**
 * A process's policy cache over a pool: loads with the pool, listens on a connection of its own
 * with the pool's settings. One per process (the API's, a worker's); the caller starts and closes it.
 */
export function policyCacheFor(pool: Pool, options: Omit<PolicyCacheOptions, 'load' | 'listen'> = {}): PolicyCache {
  return createPolicyCache({
    load: (companyId, targets, types, db) => resolveTargets(db ?? pool, companyId, targets, types),
    listen: { ...pool.options },
    ...options,
  });
}

export function createPolicyService(deps: PolicyServiceDeps) {
  const { pool, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const ownCache = !deps.cache;
  // Nobody closes a cache made here: it must not keep the process alive.
  const cache = deps.cache ?? policyCacheFor(pool, { logger, unref: true });
  if (deps.registry) registerPolicyCacheMetrics(deps.registry, cache);
  const features = deps.features ?? createFeatureSwitches({ db: pool });
  const notifications: NotificationService = createNotificationService({
    pool,
    client: deps.client,
    taskQueue: deps.taskQueue,
    logger,
    durability: deps.durability,
    startTimeoutMs: deps.startTimeoutMs,
    features,
  });

  // ---- configuration ----

  /**
   * Creates or replaces the policy of one type on one entity (version + 1 on replace). Company
   * policy writes are serialised (an advisory lock), so an override-cycle check and an
   * expectedVersion check still hold at COMMIT, and two managers writing at once produce one
   * clean last write. Every process's cache drops what depended on the entity (the trigger's
   * NOTIFY at COMMIT; this process at once).
   */
  async function putPolicy(companyId: string, input: PutPolicyInput): Promise<{ created: boolean; policy: PolicyRecord }> {
    const overridesId = input.overridesId ?? null;
    const result = await withTransaction(pool, async (tx) => {
      if (!(await entityExists(tx, companyId, input.entityType, input.entityId))) throw new NotFoundError(input.entityType, input.entityId);
      await lockCompanyPolicies(tx, companyId);
      const current = await findLivePolicyForUpdate(tx, companyId, input.entityType, input.entityId, input.policyType);
      if (input.expectedVersion !== undefined && current?.version !== input.expectedVersion) {
        throw new ConflictError(
          `the ${input.policyType} policy of ${input.entityType} ${input.entityId} is at version ${current?.version ?? '(none)'}, not ${input.expectedVersion}`,
          'version_conflict',
          { currentVersion: current?.version ?? null },
        );
      }
      if (overridesId) {
        const overridden = await findPolicy(tx, companyId, overridesId);
        if (!overridden || overridden.deletedAt) throw new NotFoundError('policy', overridesId);
        if (overridden.policyType !== input.policyType)
          throw invalid('body.overridesId', `policy ${overridesId} is a ${overridden.policyType} policy, not ${input.policyType}`);
        const cycle = overrideCycle(current?.id ?? null, await overrideChain(tx, companyId, overridesId));
        if (cycle) throw invalid('body.overridesId', `would form an override cycle: ${cycle.join(' -> ')}`);
        const entity = { type: input.entityType, id: input.entityId };
        if (!(await entityInheritsFrom(tx, companyId, entity, { type: overridden.entityType, id: overridden.entityId })))
          throw invalid(
            'body.overridesId',
            `policy ${overridesId} is set on ${overridden.entityType} ${overridden.entityId}, which ${input.entityType} ${input.entityId} does not inherit from: an override applies over a policy its entity inherits`,
          );
      }
      const written = await upsertPolicy(tx, companyId, {
        entityType: input.entityType,
        entityId: input.entityId,
        policyType: input.policyType,
        config: input.config as Record<string, unknown>,
        isOverride: input.isOverride ?? overridesId !== null,
        overridesId,
      });
      return { created: written.inserted, policy: written.policy };
    });
    cache.invalidate({ c: companyId, t: input.entityType, i: input.entityId, p: input.policyType });
    return result;
  }

  /** Soft delete; the row stays for the modifications and terms that refer to it. */
  async function deletePolicy(companyId: string, id: string): Promise<PolicyRecord> {
    const deleted = await withTransaction(pool, async (tx) => {
      await lockCompanyPolicies(tx, companyId);
      return softDeletePolicy(tx, companyId, id);
    });
    if (!deleted) throw new NotFoundError('policy', id);
    cache.invalidate({ c: companyId, t: deleted.entityType, i: deleted.entityId, p: deleted.policyType });
    return deleted;
  }

  /** The entity's own live policies (every type), without the hierarchy. */
  async function entityPolicies(companyId: string, entity: { entityType: PolicyLevel; entityId: string }): Promise<PolicyRecord[]> {
    if (!(await entityExists(pool, companyId, entity.entityType, entity.entityId)))
      throw new NotFoundError(entity.entityType, entity.entityId);
    return listEntityPolicies(pool, companyId, entity.entityType, entity.entityId);
  }

  const notFound = (t: PolicyTarget, label = '') =>
    new NotFoundError(`${label}${t.entityType}${t.serviceId ? ` (with service ${t.serviceId})` : ''}`, t.entityId);

  /** The nearest live policy through staff > service > branch > company (from the cache when it can). */
  async function resolvePolicy(companyId: string, target: PolicyTarget, policyType: PolicyType): Promise<ResolvedView> {
    const resolved = await cache.resolve(companyId, target, policyType);
    if (!resolved) throw notFound(target);
    return resolvedView(target, resolved);
  }

  /** Many entities at once: hits from the cache, every miss in one query. */
  async function resolvePolicies(companyId: string, input: ResolveBatchInput): Promise<ResolvedView[]> {
    const resolved = await cache.resolveMany(
      companyId,
      input.entities.map((target) => ({ target, policyType: input.policyType })),
    );
    const missing = resolved.findIndex((r) => r === null);
    if (missing >= 0) throw notFound(input.entities[missing], `entities.${missing}: `);
    return resolved.map((r, i) => resolvedView(input.entities[i], r!));
  }

  /** Loads every policy type of an entity into this process's cache (one query). */
  async function warmCache(companyId: string, target: PolicyTarget): Promise<void> {
    const resolved = await cache.warm(companyId, target);
    if (resolved.some((r) => r === null)) throw notFound(target);
  }

  /**
   * Drops one policy type (or all, policyType omitted) of an entity, and of everything inheriting
   * from it, from every process's cache (NOTIFY) and from this one's at once.
   */
  async function clearCache(companyId: string, target: { entityType: PolicyLevel; entityId: string }, policyType?: PolicyType) {
    if (!(await entityExists(pool, companyId, target.entityType, target.entityId)))
      throw new NotFoundError(target.entityType, target.entityId);
    const message = { c: companyId, t: target.entityType, i: target.entityId, p: policyType ?? null };
    await notifyInvalidation(pool, POLICY_CACHE_CHANNEL, message);
    return cache.invalidate(message);
  }

  // ---- terms at booking ----

  /** The policies that apply to an appointment now (through the cache; a miss read on `db`), as terms to keep. */
  async function currentTerms(
    db: Queryable,
    companyId: string,
    a: AppointmentRow,
    source: PolicyTerms['source'],
  ): Promise<Omit<PolicyTerms, 'currency'>> {
    const both = (target: PolicyTarget) =>
      cache.resolveMany(
        companyId,
        [
          { target, policyType: 'cancellation' },
          { target, policyType: 'reschedule' },
        ],
        { db },
      );
    let [cancellation, reschedule] = await both(appointmentTarget(a));
    // Cannot happen while the foreign keys hold; the branch is the next level that always exists.
    if (!cancellation || !reschedule) [cancellation, reschedule] = await both({ entityType: 'branch', entityId: a.branch_id });
    return { snapshotAt: now().toISOString(), source, cancellation: termsPolicyOf(cancellation), reschedule: termsPolicyOf(reschedule) };
  }

  /**
   * Inside the booking's transaction (the directory calls it after inserting the appointment):
   * the policies that apply now become the appointment's terms.
   */
  async function termsAtBooking(tx: PoolClient, companyId: string, appointment: AppointmentRow): Promise<void> {
    await saveTermsIfMissing(tx, companyId, appointment.id, await currentTerms(tx, companyId, appointment, 'booking'));
  }

  /** The appointment's terms; one booked before terms were kept gets them now, once (its first quote or modification). */
  async function termsOf(db: Queryable, a: DecisionAppointmentRow): Promise<PolicyTerms> {
    if (a.policy_terms) return a.policy_terms;
    return saveTermsIfMissing(db, a.company_id, a.id, await currentTerms(db, a.company_id, a, 'first_use'));
  }

  function assertModifiable(a: DecisionAppointmentRow, type: ModificationType): void {
    if (FINAL_APPOINTMENT.has(a.status))
      throw new ConflictError(
        `appointment ${a.id} is ${a.status}: it can no longer be ${type === 'cancel' ? 'cancelled' : 'rescheduled'}`,
        'invalid_state',
      );
  }

  // ---- the engine ----

  /** What cancelling the appointment now would mean: allowed, fee, policy, quota. Changes nothing (but fixes the terms of an appointment that had none). */
  async function quoteCancellation(companyId: string, appointmentId: string): Promise<QuoteView> {
    await features.require(companyId, 'policies');
    const a = await findAppointmentForDecision(pool, companyId, appointmentId);
    if (!a) throw new NotFoundError('appointment', appointmentId);
    assertModifiable(a, 'cancel');
    const terms = await termsOf(pool, a);
    const at = now();
    const { firstDay } = quotaMonth(at, a.company_time_zone);
    const used = await readMonthlyCount(pool, companyId, a.customer_id, 'cancel', firstDay);
    const decision = canCancel(
      { startsAt: a.starts_at },
      terms.cancellation,
      { cancellationsThisMonth: used, reschedulesOfAppointment: a.reschedule_count },
      at,
      { currency: terms.currency, timeZone: a.company_time_zone },
    );
    return { appointmentId, decision, terms };
  }

  interface ModificationRequest {
    reason?: string;
    override?: { reason: string };
  }

  /** The notifications a modification sends: its event to the customer, and policy_violation when a manager overrode a denial. */
  async function enqueueNotifications(
    tx: Queryable,
    a: DecisionAppointmentRow,
    type: ModificationType,
    decision: ModificationDecision,
    modificationId: string,
  ): Promise<Array<{ id: string; eventType: NotificationEventType; start: WorkflowStart | null }>> {
    const fee = decision.fee.cents > 0 ? formatMoney(decision.fee) : undefined;
    const money = { feeCents: decision.fee.cents, currency: decision.fee.currency, ...(fee ? { fee } : {}) };
    const events: Array<{ eventType: NotificationEventType; data: Record<string, unknown> }> = [];
    if (type === 'cancel') events.push({ eventType: 'appointment_cancelled', data: { modificationId, ...money } });
    else {
      const was = DateTime.fromJSDate(a.starts_at, { zone: a.customer_time_zone });
      const previous = (was.isValid ? was : DateTime.fromJSDate(a.starts_at, { zone: 'utc' }))
        .setLocale('en-GB')
        .toFormat('cccc d LLLL yyyy HH:mm');
      events.push({ eventType: 'appointment_rescheduled', data: { modificationId, previousStartsAt: previous, ...money } });
    }
    if (!decision.allowed) {
      const description = `Your ${NOUN[type]} was accepted as an exception to our policy: ${customerReasons(decision).join('; ')}.`;
      events.push({ eventType: 'policy_violation', data: { modificationId, description, ...money } });
    }
    const out = [];
    for (const e of events) {
      const { notificationId, start } = await notifications.enqueueNotification(tx, a.company_id, {
        eventType: e.eventType,
        notifiable: { type: 'appointment', id: a.id },
        data: e.data,
      });
      out.push({ id: notificationId, eventType: e.eventType, start });
    }
    return out;
  }

  /**
   * The shared shape of cancel and reschedule: one transaction (lock the appointment, its terms,
   * decide, write everything), then the notification workflows. A denial without a manager's
   * override writes nothing and is a 409 carrying the decision.
   */
  async function modify(
    companyId: string,
    appointmentId: string,
    type: ModificationType,
    request: ModificationRequest,
    actor: Actor,
    idempotencyKey: string | undefined,
    apply: (
      tx: PoolClient,
      a: DecisionAppointmentRow,
      at: Date,
    ) => Promise<{ decide: (used: number) => ModificationDecision; write: () => Promise<AppointmentRow>; newStartsAt: Date | null }>,
    hashOf: unknown,
    options: ModificationOptions = {},
  ): Promise<ModificationResult> {
    const scope: IdempotencyScope | undefined =
      idempotencyKey === undefined ? undefined : { companyId, scope: `appointments.${type}`, key: idempotencyKey };
    await features.require(companyId, 'policies');
    const outcome = await withTransaction(pool, async (tx) => {
      if (scope) {
        const claim = await claimIdempotencyKey<ModificationResult>(tx, scope, requestHash({ appointmentId, ...(hashOf as object) }));
        if (claim.kind === 'replay') return { response: claim.response, starts: null, after: undefined };
      }
      const a = await findAppointmentForDecision(tx, companyId, appointmentId, { forUpdate: true });
      if (!a) throw new NotFoundError('appointment', appointmentId);
      assertModifiable(a, type);
      // The clock is read once the appointment is ours: the decision is about the moment it is made.
      const at = now();
      const plan = await apply(tx, a, at);
      const { firstDay } = quotaMonth(at, a.company_time_zone);
      // Cancellations: the customer's counter row of the month, locked (two cancellations at the
      // edge of the quota decide one after the other). Reschedules count per appointment (the row is locked).
      const used = type === 'cancel' ? await lockMonthlyCount(tx, companyId, a.customer_id, 'cancel', firstDay) : a.reschedule_count;
      const decision = plan.decide(used);
      if (!decision.allowed && !request.override) {
        throw new ConflictError(`${decision.reason}; a manager may override it with a reason`, 'policy_denied', { decision });
      }
      const modificationId = randomUUID();
      const queued = await enqueueNotifications(tx, a, type, decision, modificationId);
      const appointment = await plan.write();
      await options.within?.(tx, appointment);
      const after = await deps.onAppointmentChanged?.(tx, companyId, appointment);
      const modification = await insertModification(tx, {
        id: modificationId,
        companyId,
        appointmentId,
        customerId: a.customer_id,
        type,
        decision,
        reason: request.reason ?? null,
        modifiedBy: modifiedBy(actor),
        actorRole: actor.role,
        previousStartsAt: a.starts_at,
        newStartsAt: plan.newStartsAt,
        overrideReason: request.override?.reason ?? null,
        notificationIds: queued.map((q) => q.id),
      });
      await countModification(tx, companyId, a.customer_id, type, firstDay, decision.fee.cents);
      const response: ModificationResult = {
        appointment: appointmentView(appointment),
        decision,
        modification: toModificationView(modification),
        notifications: queued.map((q) => ({ id: q.id, eventType: q.eventType, workflowId: notificationWorkflowId(q.id) })),
      };
      if (scope) await recordIdempotentResponse(tx, scope, 200, response);
      return { response, starts: queued.map((q) => q.start), after };
    });
    // After COMMIT: start the notifications (a replay makes sure they started). Temporal down or
    // slow does not fail the request: the rows are committed and the reconciler starts them.
    // The appointment's workflow is told of the change alongside.
    if (outcome.starts) await Promise.all([...outcome.starts.map((s) => notifications.startQueued(s)), outcome.after?.()]);
    else
      await notifications.startPending(
        companyId,
        outcome.response.notifications.map((n) => n.id),
      );
    return outcome.response;
  }

  /** Cancels through the policy engine (agent within policy; a manager may override a denial with a reason). */
  function cancelAppointment(
    companyId: string,
    appointmentId: string,
    input: CancelInput,
    actor: Actor,
    idempotencyKey?: string,
    options: ModificationOptions = {},
  ): Promise<ModificationResult> {
    return modify(
      companyId,
      appointmentId,
      'cancel',
      input,
      actor,
      idempotencyKey,
      async (tx, a, at) => {
        const terms = await termsOf(tx, a);
        return {
          decide: (used) =>
            canCancel(
              { startsAt: a.starts_at },
              terms.cancellation,
              { cancellationsThisMonth: used, reschedulesOfAppointment: a.reschedule_count },
              at,
              { currency: terms.currency, timeZone: a.company_time_zone },
            ),
          write: () => markAppointmentCancelled(tx, companyId, appointmentId),
          newStartsAt: null,
        };
      },
      input,
      options,
    );
  }

  /** Moves the appointment through the policy engine: the new start must lie in the future and differ from the current one. */
  function rescheduleAppointment(
    companyId: string,
    appointmentId: string,
    input: RescheduleInput,
    actor: Actor,
    idempotencyKey?: string,
    options: ModificationOptions = {},
  ): Promise<ModificationResult> {
    return modify(
      companyId,
      appointmentId,
      'reschedule',
      input,
      actor,
      idempotencyKey,
      async (tx, a, at) => {
        const startsAt = new Date(input.startsAt);
        if (startsAt.getTime() <= at.getTime()) throw invalid('body.startsAt', `must be in the future (now ${at.toISOString()})`);
        if (startsAt.getTime() === a.starts_at.getTime()) throw invalid('body.startsAt', 'must differ from the current start');
        const endsAt = input.endsAt ? new Date(input.endsAt) : new Date(startsAt.getTime() + (a.ends_at.getTime() - a.starts_at.getTime()));
        if (endsAt.getTime() > LAST_INSTANT) throw invalid('body.startsAt', 'the appointment would end after the year 9999');
        const terms = await termsOf(tx, a);
        return {
          decide: (used) =>
            canReschedule({ startsAt: a.starts_at }, terms.reschedule, { cancellationsThisMonth: 0, reschedulesOfAppointment: used }, at, {
              currency: terms.currency,
              timeZone: a.company_time_zone,
            }),
          write: () => moveAppointment(tx, companyId, appointmentId, startsAt, endsAt),
          newStartsAt: startsAt,
        };
      },
      input,
      options,
    );
  }

  return {
    putPolicy,
    deletePolicy,
    entityPolicies,
    resolvePolicy,
    resolvePolicies,
    warmCache,
    clearCache,
    termsAtBooking,
    quoteCancellation,
    cancelAppointment,
    rescheduleAppointment,
    cache,
    /** Closes the cache if this service made it. */
    close: async () => {
      if (ownCache) await cache.close();
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
