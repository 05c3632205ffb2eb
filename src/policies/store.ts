import type { Queryable } from '../db/transaction';
import type { AppointmentRow } from '../directory/store';
import type {
  ModificationDecision,
  ModificationType,
  PolicyLevel,
  PolicyRecord,
  PolicyTarget,
  PolicyTerms,
  PolicyType,
} from './definitions';

/**
 * Every SQL statement of the policy feature: policy_configurations (resolution through the
 * hierarchy, own policies, upsert, soft delete, override chains), the appointment columns the
 * engine owns (terms, reschedule count, cancel, move), appointment_modifications and
 * appointment_modification_stats. Every query is scoped by company_id.
 */

const iso = (v: Date | string | null): string | null => (v === null || v === undefined ? null : new Date(v).toISOString());

export function toPolicyRecord(r: Record<string, any>): PolicyRecord {
  return {
    id: r.id,
    companyId: r.company_id,
    entityType: r.configurable_type,
    entityId: r.configurable_id,
    policyType: r.policy_type,
    config: r.config ?? {},
    isOverride: r.is_override,
    overridesId: r.overrides_id,
    version: r.version,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    deletedAt: iso(r.deleted_at),
  };
}

const POLICY_COLUMNS = `id, company_id, configurable_type, configurable_id, policy_type, config, is_override, overrides_id, version,
  created_at, updated_at, deleted_at`;

/** Whether an entity of the hierarchy exists in the company (a company: only the caller's own). */
export async function entityExists(db: Queryable, companyId: string, type: PolicyLevel, id: string): Promise<boolean> {
  const table = { company: 'companies', branch: 'branches', service: 'services', staff: 'staff' }[type];
  const sql =
    type === 'company' ? `SELECT 1 FROM companies WHERE id = $1 AND id = $2` : `SELECT 1 FROM ${table} WHERE company_id = $1 AND id = $2`;
  const { rowCount } = await db.query(sql, [companyId, id]);
  return (rowCount ?? 0) > 0;
}

// ---- resolution ----

/** One target's resolution: whether it exists, the levels consulted, and every live policy on them of each requested type (most specific first). */
export interface TargetResolution {
  found: boolean;
  chain: Array<{ level: PolicyLevel; id: string }>;
  policies: Partial<Record<PolicyType, PolicyRecord[]>>;
}

/**
 * Reads many targets of one company in ONE statement (one consistent snapshot, a constant
 * number of queries however many targets): each target's chain (staff > service > branch >
 * company; a staff member's branch is the service's when a service is involved, else their own)
 * and, per requested policy type, every live policy on it: a key may come from any of them
 * (src/policies/resolution.ts merges them).
 */
export async function resolveTargets(
  db: Queryable,
  companyId: string,
  targets: readonly PolicyTarget[],
  policyTypes: readonly PolicyType[],
): Promise<TargetResolution[]> {
  if (targets.length === 0) return [];
  // A named statement: planned once per connection (planning cost more than running it).
  const { rows } = await db.query({
    name: 'policies.resolve_targets_by_key',
    text: `WITH t AS (
       SELECT * FROM unnest($2::text[], $3::uuid[], $4::uuid[]) WITH ORDINALITY AS t(type, id, service_id, ord)
     ), ctx AS (
       SELECT t.ord,
              CASE t.type
                WHEN 'company' THEN t.id = $1
                WHEN 'branch' THEN b.id IS NOT NULL
                WHEN 'service' THEN sv.id IS NOT NULL
                ELSE st.id IS NOT NULL AND (t.service_id IS NULL OR sv.id IS NOT NULL)
              END AS found,
              st.id AS staff_id, sv.id AS service_id, b.id AS branch_id
         FROM t
         LEFT JOIN staff st ON t.type = 'staff' AND st.company_id = $1 AND st.id = t.id
         LEFT JOIN services sv ON sv.company_id = $1
               AND sv.id = CASE t.type WHEN 'service' THEN t.id WHEN 'staff' THEN t.service_id END
         LEFT JOIN branches b ON b.company_id = $1
               AND b.id = CASE t.type WHEN 'branch' THEN t.id WHEN 'service' THEN sv.branch_id
                                      WHEN 'staff' THEN COALESCE(sv.branch_id, st.branch_id) END
     ), nodes AS (
       SELECT ctx.ord, n.level, n.id, n.rank
         FROM ctx
        CROSS JOIN LATERAL (VALUES ('staff'::text, ctx.staff_id, 1), ('service', ctx.service_id, 2),
                                   ('branch', ctx.branch_id, 3), ('company', $1::uuid, 4)) AS n(level, id, rank)
        WHERE ctx.found AND n.id IS NOT NULL
     ), on_chain AS (
       SELECT nodes.ord, nodes.rank, p.*
         FROM nodes
         JOIN policy_configurations p
           ON p.company_id = $1 AND p.configurable_type = nodes.level AND p.configurable_id = nodes.id
          AND p.policy_type = ANY($5::text[]) AND p.deleted_at IS NULL
     )
     SELECT ctx.ord, ctx.found, COALESCE(c.chain, '[]'::json) AS chain, COALESCE(pp.policies, '[]'::json) AS policies
       FROM ctx
       LEFT JOIN (SELECT ord, json_agg(json_build_object('level', level, 'id', id) ORDER BY rank) AS chain FROM nodes GROUP BY ord) c
              ON c.ord = ctx.ord
       LEFT JOIN (SELECT ord, json_agg(row_to_json(x) ORDER BY x.rank) AS policies FROM on_chain x GROUP BY ord) pp ON pp.ord = ctx.ord
      ORDER BY ctx.ord`,
    values: [
      companyId,
      targets.map((t) => t.entityType),
      targets.map((t) => t.entityId),
      targets.map((t) => (t.entityType === 'staff' ? (t.serviceId ?? null) : null)),
      policyTypes,
    ],
  });
  return rows.map((r) => {
    const policies: TargetResolution['policies'] = {};
    for (const p of r.policies as Array<Record<string, any>>) (policies[p.policy_type as PolicyType] ??= []).push(toPolicyRecord(p));
    return { found: r.found, chain: r.chain, policies };
  });
}

// ---- policies ----

/** The entity's own live policies, every type, no hierarchy. */
export async function listEntityPolicies(db: Queryable, companyId: string, type: PolicyLevel, id: string): Promise<PolicyRecord[]> {
  const { rows } = await db.query(
    `SELECT ${POLICY_COLUMNS} FROM policy_configurations
      WHERE company_id = $1 AND configurable_type = $2 AND configurable_id = $3 AND deleted_at IS NULL
      ORDER BY policy_type`,
    [companyId, type, id],
  );
  return rows.map(toPolicyRecord);
}

export async function findPolicy(db: Queryable, companyId: string, id: string): Promise<PolicyRecord | undefined> {
  const { rows } = await db.query(`SELECT ${POLICY_COLUMNS} FROM policy_configurations WHERE company_id = $1 AND id = $2`, [companyId, id]);
  return rows[0] ? toPolicyRecord(rows[0]) : undefined;
}

/** The live policy of one type on one entity, locked for the rest of the transaction. */
export async function findLivePolicyForUpdate(
  db: Queryable,
  companyId: string,
  type: PolicyLevel,
  id: string,
  policyType: PolicyType,
): Promise<PolicyRecord | undefined> {
  const { rows } = await db.query(
    `SELECT ${POLICY_COLUMNS} FROM policy_configurations
      WHERE company_id = $1 AND configurable_type = $2 AND configurable_id = $3 AND policy_type = $4 AND deleted_at IS NULL
      FOR UPDATE`,
    [companyId, type, id, policyType],
  );
  return rows[0] ? toPolicyRecord(rows[0]) : undefined;
}

/**
 * Serialises the company's policy writes until the transaction ends: an override-cycle check and
 * a version check then still hold at COMMIT (policy writes are rare; reads never wait on this).
 */
export async function lockCompanyPolicies(tx: Queryable, companyId: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('policies:' || $1::text, 0))`, [companyId]);
}

/** Creates or replaces the live policy of one type on one entity (version + 1 on replace); `inserted` tells which. */
export async function upsertPolicy(
  db: Queryable,
  companyId: string,
  p: {
    entityType: PolicyLevel;
    entityId: string;
    policyType: PolicyType;
    config: Record<string, unknown>;
    isOverride: boolean;
    overridesId: string | null;
  },
): Promise<{ policy: PolicyRecord; inserted: boolean }> {
  const { rows } = await db.query(
    `INSERT INTO policy_configurations AS pc (company_id, configurable_type, configurable_id, policy_type, config, is_override, overrides_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (company_id, configurable_type, configurable_id, policy_type) WHERE deleted_at IS NULL DO UPDATE SET
       config = EXCLUDED.config, is_override = EXCLUDED.is_override, overrides_id = EXCLUDED.overrides_id,
       version = pc.version + 1, updated_at = now()
     RETURNING ${POLICY_COLUMNS}, (xmax = 0) AS inserted`,
    [companyId, p.entityType, p.entityId, p.policyType, JSON.stringify(p.config), p.isOverride, p.overridesId],
  );
  return { policy: toPolicyRecord(rows[0]), inserted: rows[0].inserted };
}

/** Soft delete (the row stays for the modifications that used it); undefined when there is no live policy with this id. */
export async function softDeletePolicy(db: Queryable, companyId: string, id: string): Promise<PolicyRecord | undefined> {
  const { rows } = await db.query(
    `UPDATE policy_configurations SET deleted_at = now(), updated_at = now(), version = version + 1
      WHERE company_id = $1 AND id = $2 AND deleted_at IS NULL
      RETURNING ${POLICY_COLUMNS}`,
    [companyId, id],
  );
  return rows[0] ? toPolicyRecord(rows[0]) : undefined;
}

/**
 * Whether an entity inherits from another (an override may only name a policy its entity inherits):
 * a branch, service or staff member from the company; a service from its branch; a staff member
 * from their branch and from any service (their appointments' services).
 */
export async function entityInheritsFrom(
  db: Queryable,
  companyId: string,
  entity: { type: PolicyLevel; id: string },
  ancestor: { type: PolicyLevel; id: string },
): Promise<boolean> {
  const { rows } = await db.query<{ inherits: boolean }>(
    `SELECT CASE
       WHEN $4 = 'company' THEN $2 <> 'company' AND $5::uuid = $1
       WHEN $4 = 'branch' AND $2 = 'service' THEN EXISTS (SELECT 1 FROM services WHERE company_id = $1 AND id = $3 AND branch_id = $5)
       WHEN $4 = 'branch' AND $2 = 'staff' THEN EXISTS (SELECT 1 FROM staff WHERE company_id = $1 AND id = $3 AND branch_id = $5)
       WHEN $4 = 'service' AND $2 = 'staff' THEN EXISTS (SELECT 1 FROM services WHERE company_id = $1 AND id = $5)
       ELSE false END AS inherits`,
    [companyId, entity.type, entity.id, ancestor.type, ancestor.id],
  );
  return rows[0].inherits;
}

/** The override chain from `startId`: [startId, what it overrides, ...], stopping at a repeat (a cycle already stored) or after 1,000 links. */
export async function overrideChain(db: Queryable, companyId: string, startId: string): Promise<string[]> {
  const { rows } = await db.query<{ path: string[] }>(
    `WITH RECURSIVE chain(id, overrides_id, depth, path) AS (
       SELECT id, overrides_id, 1, ARRAY[id] FROM policy_configurations WHERE company_id = $1 AND id = $2
       UNION ALL
       SELECT p.id, p.overrides_id, c.depth + 1, c.path || p.id
         FROM chain c JOIN policy_configurations p ON p.company_id = $1 AND p.id = c.overrides_id
        WHERE NOT p.id = ANY(c.path) AND c.depth < 1000
     )
     SELECT path FROM chain ORDER BY depth DESC LIMIT 1`,
    [companyId, startId],
  );
  return rows[0]?.path ?? [];
}

/** Announces a cache clear to every process (the same channel and message the trigger uses). */
export async function notifyInvalidation(db: Queryable, channel: string, message: object): Promise<void> {
  await db.query(`SELECT pg_notify($1, $2)`, [channel, JSON.stringify(message)]);
}

// ---- appointments, as the engine sees them ----

export interface DecisionAppointmentRow extends AppointmentRow {
  policy_terms: PolicyTerms | null;
  reschedule_count: number;
  company_time_zone: string;
  company_currency: string;
  customer_time_zone: string;
}

/** The appointment with what a decision needs (company time zone and currency, the customer's time zone); `forUpdate` locks the row. */
export async function findAppointmentForDecision(
  db: Queryable,
  companyId: string,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<DecisionAppointmentRow | undefined> {
  const { rows } = await db.query<DecisionAppointmentRow>(
    `SELECT a.*, co.time_zone AS company_time_zone, co.currency AS company_currency, cu.time_zone AS customer_time_zone
       FROM appointments a
       JOIN companies co ON co.id = a.company_id
       JOIN customers cu ON cu.company_id = a.company_id AND cu.id = a.customer_id
      WHERE a.company_id = $1 AND a.id = $2${options.forUpdate ? ' FOR UPDATE OF a' : ''}`,
    [companyId, id],
  );
  return rows[0];
}

/**
 * Writes the appointment's terms unless it already has some, and returns the terms it has (its
 * own if another request wrote them first). The terms' currency is the company's at this moment.
 */
export async function saveTermsIfMissing(
  db: Queryable,
  companyId: string,
  appointmentId: string,
  terms: Omit<PolicyTerms, 'currency'>,
): Promise<PolicyTerms> {
  const { rows } = await db.query<{ policy_terms: PolicyTerms }>(
    `WITH saved AS (
       UPDATE appointments a SET policy_terms = $3::jsonb || jsonb_build_object('currency', co.currency)
         FROM companies co
        WHERE co.id = a.company_id AND a.company_id = $1 AND a.id = $2 AND a.policy_terms IS NULL
        RETURNING a.policy_terms)
     SELECT policy_terms FROM saved
     UNION ALL
     SELECT policy_terms FROM appointments WHERE company_id = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM saved)`,
    [companyId, appointmentId, JSON.stringify(terms)],
  );
  return rows[0].policy_terms;
}

export async function markAppointmentCancelled(db: Queryable, companyId: string, id: string): Promise<AppointmentRow> {
  const { rows } = await db.query<AppointmentRow>(
    `UPDATE appointments SET status = 'cancelled', updated_at = now() WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id],
  );
  return rows[0];
}

export async function moveAppointment(db: Queryable, companyId: string, id: string, startsAt: Date, endsAt: Date): Promise<AppointmentRow> {
  const { rows } = await db.query<AppointmentRow>(
    `UPDATE appointments SET starts_at = $3, ends_at = $4, reschedule_count = reschedule_count + 1, updated_at = now()
      WHERE company_id = $1 AND id = $2 RETURNING *`,
    [companyId, id, startsAt, endsAt],
  );
  return rows[0];
}

// ---- the counters (appointment_modification_stats) ----

/** The customer's count of one modification type in one month: one primary-key read. */
export async function readMonthlyCount(
  db: Queryable,
  companyId: string,
  customerId: string,
  type: ModificationType,
  firstDay: string,
): Promise<number> {
  const { rows } = await db.query<{ count: number }>(
    `SELECT count FROM appointment_modification_stats
      WHERE company_id = $1 AND customer_id = $2 AND modification_type = $3 AND period_month = $4`,
    [companyId, customerId, type, firstDay],
  );
  return rows[0]?.count ?? 0;
}

/**
 * The same count, with its row locked until the transaction ends (created at 0 if missing): two
 * modifications of one customer in one month decide one after the other, each seeing the other's.
 */
export async function lockMonthlyCount(
  tx: Queryable,
  companyId: string,
  customerId: string,
  type: ModificationType,
  firstDay: string,
): Promise<number> {
  await tx.query(
    `INSERT INTO appointment_modification_stats (company_id, customer_id, modification_type, period_month)
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [companyId, customerId, type, firstDay],
  );
  const { rows } = await tx.query<{ count: number }>(
    `SELECT count FROM appointment_modification_stats
      WHERE company_id = $1 AND customer_id = $2 AND modification_type = $3 AND period_month = $4
      FOR UPDATE`,
    [companyId, customerId, type, firstDay],
  );
  return rows[0].count;
}

/** Counts one modification and its fee in the month's row. */
export async function countModification(
  tx: Queryable,
  companyId: string,
  customerId: string,
  type: ModificationType,
  firstDay: string,
  feeCents: number,
): Promise<void> {
  await tx.query(
    `INSERT INTO appointment_modification_stats AS s (company_id, customer_id, modification_type, period_month, count, fees_cents)
     VALUES ($1, $2, $3, $4, 1, $5)
     ON CONFLICT (company_id, customer_id, modification_type, period_month) DO UPDATE
       SET count = s.count + 1, fees_cents = s.fees_cents + EXCLUDED.fees_cents, updated_at = now()`,
    [companyId, customerId, type, firstDay, feeCents],
  );
}

// ---- appointment_modifications ----

export interface ModificationRow {
  id: string;
  company_id: string;
  appointment_id: string;
  customer_id: string;
  modification_type: ModificationType;
  within_policy: boolean;
  fee_charged_cents: number;
  currency: string;
  reason: string | null;
  policy_id: string | null;
  policy_level: PolicyLevel | null;
  modified_by: string;
  actor_role: string | null;
  previous_starts_at: Date | null;
  new_starts_at: Date | null;
  decision_code: string | null;
  decision: ModificationDecision;
  overridden: boolean;
  override_reason: string | null;
  notification_ids: string[];
  created_at: Date;
}

export async function insertModification(
  tx: Queryable,
  m: {
    id: string;
    companyId: string;
    appointmentId: string;
    customerId: string;
    type: ModificationType;
    decision: ModificationDecision;
    reason: string | null;
    modifiedBy: string;
    /** The API key's role; null for an integration acting for the customer (the calendar, the phone agent). */
    actorRole: string | null;
    previousStartsAt: Date;
    newStartsAt: Date | null;
    overrideReason: string | null;
    notificationIds: string[];
  },
): Promise<ModificationRow> {
  const { decision } = m;
  const { rows } = await tx.query<ModificationRow>(
    `INSERT INTO appointment_modifications
       (id, company_id, appointment_id, customer_id, modification_type, within_policy, fee_charged_cents, currency, reason,
        policy_id, policy_level, modified_by, actor_role, previous_starts_at, new_starts_at, decision_code, decision,
        overridden, override_reason, notification_ids)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
     RETURNING *`,
    [
      m.id,
      m.companyId,
      m.appointmentId,
      m.customerId,
      m.type,
      decision.allowed,
      decision.fee.cents,
      decision.fee.currency,
      m.reason,
      decision.policy?.id ?? null,
      decision.policy?.level ?? null,
      m.modifiedBy,
      m.actorRole,
      m.previousStartsAt,
      m.newStartsAt,
      decision.code,
      JSON.stringify(decision),
      !decision.allowed,
      decision.allowed ? null : m.overrideReason,
      m.notificationIds,
    ],
  );
  return rows[0];
}

// ---- personal data (export and erasure, src/privacy/) ----

/** The customer's modifications and monthly counters, as stored. */
export async function customerModificationsExport(
  db: Queryable,
  companyId: string,
  customerId: string,
): Promise<{ modifications: Record<string, unknown>[]; modificationStats: Record<string, unknown>[] }> {
  const { rows } = await db.query(
    `SELECT (SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.created_at, m.id), '[]')
               FROM appointment_modifications m WHERE m.company_id = $1 AND m.customer_id = $2) AS modifications,
            (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.period_month, s.modification_type), '[]')
               FROM appointment_modification_stats s WHERE s.company_id = $1 AND s.customer_id = $2) AS "modificationStats"`,
    [companyId, customerId],
  );
  return rows[0];
}

/**
 * Modifications keep what quotas, fees and analytics need (type, within policy, fee, policy, times,
 * decision); the free text people typed (the reason given, a manager's override reason) goes.
 * The monthly counters hold no personal data and stay as they are.
 */
export async function eraseCustomerModifications(tx: Queryable, companyId: string, customerId: string): Promise<Record<string, number>> {
  const r = await tx.query(
    `UPDATE appointment_modifications
        SET reason = CASE WHEN reason IS NULL THEN NULL ELSE '[erased]' END,
            override_reason = CASE WHEN override_reason IS NULL THEN NULL ELSE '[erased]' END
      WHERE company_id = $1 AND customer_id = $2
        AND (reason <> '[erased]' OR override_reason <> '[erased]')`,
    [companyId, customerId],
  );
  return { appointment_modifications: r.rowCount ?? 0 };
}
