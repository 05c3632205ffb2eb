import type { Queryable } from '../db/transaction';
import type {
  AssignmentReason,
  AssignmentResult,
  AttemptOutcome,
  CallbackSnapshot,
  CallbackStatus,
  EscalationReason,
  Priority,
} from './definitions';
import type { BusinessHours } from './business-hours';
import type { CallbackSettingsRow } from './rules';

/**
 * Every SQL statement on the callback tables (callback_settings, callback_requests,
 * callback_attempts, callback_escalations), as named operations. Every query is scoped by
 * company_id. Writes made by the workflow's activities are idempotent: attempts and escalations
 * carry keys the workflow chose, so a retried activity finds its row.
 */

const OPEN = `('pending', 'assigned', 'contacted')`;

// ---- settings ----

const SETTINGS_COLUMNS = `id, sla_urgent_seconds AS "slaUrgentSeconds", sla_high_seconds AS "slaHighSeconds",
  sla_normal_seconds AS "slaNormalSeconds", escalation_cooldown_seconds AS "cooldownSeconds",
  attempts_before_escalation AS "attemptsBeforeEscalation", warning_percent AS "warningPercent",
  max_open_seconds AS "maxOpenSeconds", assignment_retry_seconds AS "assignmentRetrySeconds", updated_at AS "updatedAt"`;

export type SettingsRow = CallbackSettingsRow & { updatedAt: Date };

/**
 * What creating a callback needs, in one statement: the branch (undefined for another company's
 * id), the company's and the branch's settings rows, the customer's name, phone and time zone
 * when one is given (customer undefined: not the company's), and the country phone numbers are read
 * in (the branch's, else the company's; null: none).
 */
export async function intakeFacts(
  db: Queryable,
  companyId: string,
  branchId: string,
  customerId: string | null,
): Promise<
  | {
      branch: BranchFacts;
      settings: { company: CallbackSettingsRow | null; branch: CallbackSettingsRow | null };
      customer: { name: string; phone: string | null; timeZone: string | null; preferredStaffId: string | null } | undefined;
      phoneCountry: string | null;
    }
  | undefined
> {
  const { rows } = await db.query(
    `SELECT b.id, b.time_zone, b.opening_hours,
            coalesce(b.country, (SELECT country FROM companies WHERE id = $1)) AS phone_country,
            (SELECT to_jsonb(s) FROM (SELECT ${SETTINGS_COLUMNS} FROM callback_settings WHERE company_id = $1 AND branch_id IS NULL) s) AS company_settings,
            (SELECT to_jsonb(s) FROM (SELECT ${SETTINGS_COLUMNS} FROM callback_settings WHERE company_id = $1 AND branch_id = $2) s) AS branch_settings,
            (SELECT jsonb_build_object('name', name, 'phone', phone, 'timeZone', time_zone, 'preferredStaffId', preferred_staff_id) FROM customers WHERE company_id = $1 AND id = $3) AS customer
       FROM branches b WHERE b.company_id = $1 AND b.id = $2`,
    [companyId, branchId, customerId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    branch: { id: r.id, timeZone: r.time_zone, openingHours: r.opening_hours },
    settings: { company: r.company_settings, branch: r.branch_settings },
    customer: r.customer ?? undefined,
    phoneCountry: r.phone_country,
  };
}

/** The company's row and, when a branch is given, the branch's (either may be missing). */
export async function loadSettingsRows(
  db: Queryable,
  companyId: string,
  branchId: string | null,
): Promise<{ company: SettingsRow | null; branch: SettingsRow | null }> {
  const { rows } = await db.query(
    `SELECT branch_id, ${SETTINGS_COLUMNS} FROM callback_settings
      WHERE company_id = $1 AND (branch_id IS NULL OR branch_id = $2)`,
    [companyId, branchId],
  );
  const strip = (r: Record<string, unknown> | undefined) =>
    r ? (({ branch_id: _b, ...rest }) => rest as unknown as SettingsRow)(r) : null;
  return { company: strip(rows.find((r) => r.branch_id === null)), branch: strip(rows.find((r) => r.branch_id !== null)) };
}

/** Creates or replaces the settings of the company (branchId null) or of one branch; NULL settings inherit. */
export async function upsertSettings(
  db: Queryable,
  companyId: string,
  branchId: string | null,
  s: CallbackSettingsRow,
): Promise<{ row: SettingsRow; created: boolean }> {
  const { rows } = await db.query(
    `INSERT INTO callback_settings AS cs (company_id, branch_id, sla_urgent_seconds, sla_high_seconds, sla_normal_seconds,
       escalation_cooldown_seconds, attempts_before_escalation, warning_percent, max_open_seconds, assignment_retry_seconds)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (company_id, branch_id) DO UPDATE SET
       sla_urgent_seconds = EXCLUDED.sla_urgent_seconds, sla_high_seconds = EXCLUDED.sla_high_seconds,
       sla_normal_seconds = EXCLUDED.sla_normal_seconds, escalation_cooldown_seconds = EXCLUDED.escalation_cooldown_seconds,
       attempts_before_escalation = EXCLUDED.attempts_before_escalation, warning_percent = EXCLUDED.warning_percent,
       max_open_seconds = EXCLUDED.max_open_seconds, assignment_retry_seconds = EXCLUDED.assignment_retry_seconds,
       updated_at = now()
     RETURNING ${SETTINGS_COLUMNS}, (xmax = 0) AS created`,
    [
      companyId,
      branchId,
      s.slaUrgentSeconds ?? null,
      s.slaHighSeconds ?? null,
      s.slaNormalSeconds ?? null,
      s.cooldownSeconds ?? null,
      s.attemptsBeforeEscalation ?? null,
      s.warningPercent ?? null,
      s.maxOpenSeconds ?? null,
      s.assignmentRetrySeconds ?? null,
    ],
  );
  const { created, ...row } = rows[0];
  return { row, created };
}

// ---- what a new callback refers to ----

export interface BranchFacts {
  id: string;
  timeZone: string;
  openingHours: BusinessHours['weekly'] | null;
}

export async function findBranchFacts(db: Queryable, companyId: string, branchId: string): Promise<BranchFacts | undefined> {
  const { rows } = await db.query(`SELECT id, time_zone, opening_hours FROM branches WHERE company_id = $1 AND id = $2`, [
    companyId,
    branchId,
  ]);
  return rows[0] ? { id: rows[0].id, timeZone: rows[0].time_zone, openingHours: rows[0].opening_hours } : undefined;
}

/** The staff member with their branch and availability, or undefined (also for another company's id). */
export async function findStaffFacts(
  db: Queryable,
  companyId: string,
  staffId: string,
): Promise<{ id: string; branchId: string; available: boolean; role: string; timeZone: string } | undefined> {
  const { rows } = await db.query(`SELECT id, branch_id, is_available, role, time_zone FROM staff WHERE company_id = $1 AND id = $2`, [
    companyId,
    staffId,
  ]);
  const r = rows[0];
  return r ? { id: r.id, branchId: r.branch_id, available: r.is_available, role: r.role, timeZone: r.time_zone } : undefined;
}

export async function exists(db: Queryable, table: 'customers' | 'services', companyId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM ${table} WHERE company_id = $1 AND id = $2`, [companyId, id]);
  return (rowCount ?? 0) > 0;
}

// ---- callback requests ----

export interface CallbackRow {
  id: string;
  company_id: string;
  branch_id: string;
  customer_id: string | null;
  service_id: string | null;
  staff_id: string | null;
  phone_number: string;
  customer_name: string;
  priority: Priority;
  status: CallbackStatus;
  status_reason: string | null;
  assigned_to: string | null;
  assigned_at: Date | null;
  assignment_reason: AssignmentReason | null;
  contacted_at: Date | null;
  completed_at: Date | null;
  cancelled_at: Date | null;
  expired_at: Date | null;
  failed_at: Date | null;
  expires_at: Date;
  warn_at: Date | null;
  open_until: Date | null;
  breached_at: Date | null;
  warned_at: Date | null;
  escalated: boolean;
  escalation_count: number;
  last_escalated_at: Date | null;
  attempt_count: number;
  notes: string | null;
  /** The notes given when it was completed (the request's own notes stay in `notes`). */
  outcome_notes: string | null;
  /** The staff member a manager named at creation: every start of the workflow assigns them. */
  assign_to: string | null;
  metadata: Record<string, unknown>;
  settings: CallbackSnapshot | Record<string, never>;
  workflow_id: string;
  created_at: Date;
  updated_at: Date;
  /** On rows read for the API (SHOWN): the customer's time zone, else the branch's. */
  display_time_zone?: string;
}

export interface NewCallback {
  id: string;
  companyId: string;
  branchId: string;
  customerId: string | null;
  serviceId: string | null;
  staffId: string | null;
  assignTo: string | null;
  phoneNumber: string;
  customerName: string;
  priority: Priority;
  notes: string | null;
  metadata: Record<string, unknown>;
  snapshot: CallbackSnapshot;
  dueAt: Date;
  warnAt: Date;
  openUntil: Date;
  createdAt: Date;
  workflowId: string;
}

export async function insertCallback(db: Queryable, c: NewCallback): Promise<CallbackRow> {
  const { rows } = await db.query<CallbackRow>(
    `INSERT INTO callback_requests
       (id, company_id, branch_id, customer_id, service_id, staff_id, phone_number, customer_name, priority, notes, metadata,
        settings, expires_at, warn_at, open_until, created_at, updated_at, workflow_id, assign_to)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18)
     RETURNING *`,
    [
      c.id,
      c.companyId,
      c.branchId,
      c.customerId,
      c.serviceId,
      c.staffId,
      c.phoneNumber,
      c.customerName,
      c.priority,
      c.notes,
      JSON.stringify(c.metadata),
      JSON.stringify(c.snapshot),
      c.dueAt,
      c.warnAt,
      c.openUntil,
      c.createdAt,
      c.workflowId,
      c.assignTo,
    ],
  );
  return rows[0];
}

/**
 * A callback as the API shows it: the row and the time zone its times are shown in (its
 * customer's, else its branch's), in the same statement.
 */
const SHOWN = `SELECT r.*, coalesce(cu.time_zone, b.time_zone, 'UTC') AS display_time_zone
  FROM callback_requests r
  JOIN branches b ON b.company_id = r.company_id AND b.id = r.branch_id
  LEFT JOIN customers cu ON cu.company_id = r.company_id AND cu.id = r.customer_id`;

export async function findCallback(db: Queryable, companyId: string, id: string): Promise<CallbackRow | undefined> {
  const { rows } = await db.query<CallbackRow>(`${SHOWN} WHERE r.company_id = $1 AND r.id = $2`, [companyId, id]);
  return rows[0];
}

export interface CallbackFilter {
  branchId?: string;
  status?: CallbackStatus;
  priority?: Priority;
  assignedTo?: string;
  /** After this (created_at, id), newest first. */
  after?: { createdAt: Date; id: string };
  limit: number;
}

/** Newest first, paginated by a (created_at, id) cursor: stable under inserts, one index range scan. */
export async function listCallbacks(db: Queryable, companyId: string, f: CallbackFilter): Promise<CallbackRow[]> {
  const { rows } = await db.query<CallbackRow>(
    `${SHOWN}
      WHERE r.company_id = $1
        AND ($2::uuid IS NULL OR r.branch_id = $2)
        AND ($3::text IS NULL OR r.status = $3)
        AND ($4::text IS NULL OR r.priority = $4)
        AND ($5::uuid IS NULL OR r.assigned_to = $5)
        AND ($6::timestamptz IS NULL OR (r.created_at, r.id) < ($6, $7::uuid))
      ORDER BY r.created_at DESC, r.id DESC
      LIMIT $8`,
    [
      companyId,
      f.branchId ?? null,
      f.status ?? null,
      f.priority ?? null,
      f.assignedTo ?? null,
      f.after?.createdAt ?? null,
      f.after?.id ?? null,
      f.limit,
    ],
  );
  return rows;
}

/**
 * A branch's callbacks that need someone: the open ones and those whose run failed (nobody works
 * them any more) while their open life lasts, by priority then age, with how many hours each is
 * past its deadline (0 when not yet).
 */
export async function overdueOfBranch(
  db: Queryable,
  companyId: string,
  branchId: string,
  now: Date,
): Promise<Array<CallbackRow & { overdue_hours: number }>> {
  const { rows } = await db.query(
    `SELECT s.*, round(greatest(0, extract(epoch FROM ($3::timestamptz - s.expires_at)) / 3600)::numeric, 2)::float8 AS overdue_hours
       FROM (${SHOWN} WHERE r.company_id = $1 AND r.branch_id = $2
               AND (r.status IN ${OPEN} OR (r.status = 'failed' AND coalesce(r.open_until, r.expires_at) > $3))) s
      ORDER BY CASE s.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 ELSE 2 END, s.created_at, s.id`,
    [companyId, branchId, now],
  );
  return rows;
}

export interface OpenEscalationRow {
  escalation: {
    id: string;
    reason: EscalationReason;
    escalated_from: string | null;
    escalated_to: string | null;
    escalated_at: Date;
    notes: string | null;
    notification_id: string | null;
  };
  callback: CallbackRow;
}

/**
 * The escalations of a branch still waiting for a manager (not resolved: resolving happens when
 * the callback ends), oldest first, each with its open callback as the API shows it.
 */
export async function openEscalationsOfBranch(db: Queryable, companyId: string, branchId: string): Promise<OpenEscalationRow[]> {
  const { rows } = await db.query(
    `SELECT s.*, e.id AS esc_id, e.reason AS esc_reason, e.escalated_from AS esc_from, e.escalated_to AS esc_to,
            e.escalated_at AS esc_at, e.notes AS esc_notes, e.notification_id AS esc_notification_id
       FROM callback_escalations e
       JOIN (${SHOWN} WHERE r.company_id = $1 AND r.branch_id = $2 AND r.status IN ${OPEN}) s ON s.id = e.callback_id
      WHERE e.company_id = $1 AND e.resolved_at IS NULL
      ORDER BY e.escalated_at, e.id`,
    [companyId, branchId],
  );
  return rows.map(({ esc_id, esc_reason, esc_from, esc_to, esc_at, esc_notes, esc_notification_id, ...callback }) => ({
    escalation: {
      id: esc_id,
      reason: esc_reason,
      escalated_from: esc_from,
      escalated_to: esc_to,
      escalated_at: esc_at,
      notes: esc_notes,
      notification_id: esc_notification_id,
    },
    callback: callback as CallbackRow,
  }));
}

export async function attemptsOf(db: Queryable, companyId: string, callbackId: string) {
  const { rows } = await db.query(
    `SELECT id, staff_id, outcome, notes, attempted_at FROM callback_attempts WHERE company_id = $1 AND callback_id = $2 ORDER BY attempted_at, id`,
    [companyId, callbackId],
  );
  return rows as Array<{ id: string; staff_id: string | null; outcome: AttemptOutcome; notes: string | null; attempted_at: Date }>;
}

export async function escalationsOf(db: Queryable, companyId: string, callbackId: string) {
  const { rows } = await db.query(
    `SELECT id, reason, escalated_from, escalated_to, escalated_at, resolved_at, notes, notification_id
       FROM callback_escalations WHERE company_id = $1 AND callback_id = $2 ORDER BY escalated_at, id`,
    [companyId, callbackId],
  );
  return rows as Array<{
    id: string;
    reason: EscalationReason;
    escalated_from: string | null;
    escalated_to: string | null;
    escalated_at: Date;
    resolved_at: Date | null;
    notes: string | null;
    notification_id: string | null;
  }>;
}

/** Per branch and priority in [from, to): count, breaches, medians to first contact and to completion (seconds), escalations by reason. */
export async function callbackAnalytics(db: Queryable, companyId: string, from: Date, to: Date) {
  const { rows } = await db.query(
    `WITH c AS (
       SELECT * FROM callback_requests WHERE company_id = $1 AND created_at >= $2 AND created_at < $3
     ), e AS (
       SELECT c.branch_id, c.priority, e.reason, count(*)::int AS n
         FROM callback_escalations e JOIN c ON c.company_id = e.company_id AND c.id = e.callback_id
        GROUP BY 1, 2, 3
     )
     SELECT c.branch_id, c.priority, count(*)::int AS count,
            count(*) FILTER (WHERE c.breached_at IS NOT NULL)::int AS breached,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.contacted_at - c.created_at))
              FILTER (WHERE c.contacted_at IS NOT NULL) AS median_contact_s,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.completed_at - c.created_at))
              FILTER (WHERE c.completed_at IS NOT NULL) AS median_completion_s,
            coalesce((SELECT jsonb_object_agg(e.reason, e.n) FROM e WHERE e.branch_id = c.branch_id AND e.priority = c.priority), '{}') AS escalations
       FROM c GROUP BY c.branch_id, c.priority
      ORDER BY c.branch_id, CASE c.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 ELSE 2 END`,
    [companyId, from, to],
  );
  return rows as Array<{
    branch_id: string;
    priority: Priority;
    count: number;
    breached: number;
    median_contact_s: number | null;
    median_completion_s: number | null;
    escalations: Record<string, number>;
  }>;
}

// ---- what the workflow writes ----

/** The workflow's first step: from now on the reconciler leaves this row alone. */
export async function markWorkflowStarted(db: Queryable, callbackId: string): Promise<void> {
  await db.query(`UPDATE callback_requests SET workflow_started_at = coalesce(workflow_started_at, now()) WHERE id = $1`, [callbackId]);
}

/** An assignment step's answer: who (or nobody and why), and whether an earlier try of the same step had already decided it. */
export type AssignmentDecision = AssignmentResult & {
  /** The assignee's `staff_assigned` notification, once attached. */
  notificationId?: string | null;
  /** True when this is the decision an earlier try of the same step committed (nothing was chosen now). */
  committedBefore: boolean;
};

/**
 * Assigns the callback inside the caller's transaction (docs/design.md, Callbacks): the explicit staff member; else
 * the preferred one (named in the request, else the customer's own preferred staff member) if
 * available, of the branch and qualified for the service; else an available agent of the branch
 * qualified for the service; else the least loaded available agent of the branch (fewest open
 * callbacks, ties by longest idle). Assignments of one branch are serialised (advisory lock), so
 * concurrent callbacks see each other's load and spread evenly. Nobody available: the callback
 * stays pending.
 *
 * `key` names the workflow's step (`assignment:<n>`): the first decision committed for it is the
 * answer of every retry of that step. Without that, a retry after a lost completion would choose
 * again, and its own first commit (the callback now counts in its assignee's load) makes it choose
 * someone else.
 */
export async function assignCallback(
  tx: Queryable,
  callbackId: string,
  explicit: string | null,
  exclude: string | null,
  key: string,
): Promise<AssignmentDecision> {
  const { rows: cb } = await tx.query(
    `SELECT company_id, branch_id, staff_id, service_id, status FROM callback_requests WHERE id = $1 FOR UPDATE`,
    [callbackId],
  );
  const c = cb[0];
  if (!c) return { assignedTo: null, reason: 'the callback row does not exist', committedBefore: false };
  const { rows: before } = await tx.query(
    `SELECT staff_id, reason, notification_id FROM callback_assignments WHERE callback_id = $1 AND assignment_key = $2`,
    [callbackId, key],
  );
  if (before[0]?.staff_id) {
    return { assignedTo: before[0].staff_id, reason: before[0].reason, notificationId: before[0].notification_id, committedBefore: true };
  }
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`callback-assign:${c.branch_id}`]);
  let chosen: { id: string; reason: AssignmentReason } | undefined;
  if (explicit) {
    const { rows } = await tx.query(`SELECT id FROM staff WHERE company_id = $1 AND id = $2 AND branch_id = $3 AND is_available`, [
      c.company_id,
      explicit,
      c.branch_id,
    ]);
    if (!rows[0]) {
      return { assignedTo: null, reason: `staff member ${explicit} is not an available member of the branch`, committedBefore: false };
    }
    chosen = { id: explicit, reason: 'manual' };
  }
  if (!chosen && c.staff_id && c.staff_id !== exclude) {
    // The preferred staff member: available, of the branch and, for a callback about a service, qualified for it.
    const { rows } = await tx.query(
      `SELECT s.id FROM staff s
        WHERE s.company_id = $1 AND s.id = $2 AND s.branch_id = $3 AND s.is_available
          AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM staff_services ss WHERE ss.company_id = s.company_id AND ss.staff_id = s.id AND ss.service_id = $4))`,
      [c.company_id, c.staff_id, c.branch_id, c.service_id],
    );
    if (rows[0]) chosen = { id: c.staff_id, reason: 'preferred' };
  }
  if (!chosen) {
    // Least loaded first (open callbacks), then longest idle (oldest last assignment), then a stable order.
    const { rows } = await tx.query(
      `SELECT s.id,
              EXISTS (SELECT 1 FROM staff_services ss WHERE ss.company_id = s.company_id AND ss.staff_id = s.id AND ss.service_id = $3) AS qualified
         FROM staff s
         LEFT JOIN LATERAL (
           SELECT count(*) FILTER (WHERE r.status IN ${OPEN}) AS open, max(r.assigned_at) AS last_assigned
             FROM callback_requests r WHERE r.company_id = s.company_id AND r.assigned_to = s.id
         ) load ON true
        WHERE s.company_id = $1 AND s.branch_id = $2 AND s.is_available AND s.role = 'agent' AND s.id IS DISTINCT FROM $4
        ORDER BY load.open, load.last_assigned NULLS FIRST, s.created_at, s.id`,
      [c.company_id, c.branch_id, c.service_id, exclude],
    );
    const qualified = c.service_id ? rows.find((r) => r.qualified) : undefined;
    if (qualified) chosen = { id: qualified.id, reason: 'expertise' };
    else if (rows[0]) chosen = { id: rows[0].id, reason: 'least_loaded' };
  }
  if (!chosen) {
    await tx.query(
      `UPDATE callback_requests SET assigned_to = NULL, assigned_at = NULL, assignment_reason = NULL,
              status = CASE WHEN status IN ('assigned', 'contacted') THEN 'pending' ELSE status END, updated_at = now()
        WHERE id = $1 AND status IN ${OPEN}`,
      [callbackId],
    );
    return { assignedTo: null, reason: 'no staff member of the branch is available', committedBefore: false };
  }
  await tx.query(
    `UPDATE callback_requests
        SET assigned_to = $2, assigned_at = now(), assignment_reason = $3,
            status = CASE WHEN status = 'pending' THEN 'assigned' ELSE status END, updated_at = now()
      WHERE id = $1 AND status IN ${OPEN}`,
    [callbackId, chosen.id, chosen.reason],
  );
  return { assignedTo: chosen.id, reason: chosen.reason, notificationId: null, committedBefore: false };
}

/** The step's decision (and the notification it queued), in the transaction that made it: what every retry of the step answers with. */
export async function recordAssignment(
  tx: Queryable,
  a: { callbackId: string; key: string; staffId: string; reason: AssignmentReason; notificationId: string },
): Promise<void> {
  await tx.query(
    `INSERT INTO callback_assignments (company_id, callback_id, assignment_key, staff_id, reason, notification_id)
     SELECT company_id, id, $2, $3, $4, $5 FROM callback_requests WHERE id = $1
     ON CONFLICT (callback_id, assignment_key) DO UPDATE
       SET staff_id = EXCLUDED.staff_id, reason = EXCLUDED.reason, notification_id = EXCLUDED.notification_id, decided_at = now()`,
    [a.callbackId, a.key, a.staffId, a.reason, a.notificationId],
  );
}

/** A contact attempt (idempotent by the workflow's key) and its effect on the row. */
export async function insertAttempt(
  tx: Queryable,
  a: {
    callbackId: string;
    key: string;
    staffId: string | null;
    outcome: AttemptOutcome;
    notes: string | null;
    at: Date;
    status: CallbackStatus;
  },
): Promise<void> {
  const { rowCount } = await tx.query(
    `INSERT INTO callback_attempts (company_id, callback_id, staff_id, outcome, notes, attempted_at, attempt_key)
     SELECT company_id, id, $3, $4, $5, $6, $2 FROM callback_requests WHERE id = $1
     ON CONFLICT (callback_id, attempt_key) DO NOTHING`,
    [a.callbackId, a.key, a.staffId, a.outcome, a.notes, a.at],
  );
  if (!rowCount) return; // a retry: already written
  await tx.query(
    `UPDATE callback_requests
        SET attempt_count = attempt_count + 1, status = $2,
            contacted_at = CASE WHEN $3 THEN coalesce(contacted_at, $4) ELSE contacted_at END, updated_at = now()
      WHERE id = $1`,
    [a.callbackId, a.status, a.outcome === 'reached', a.at],
  );
}

export type FinalStatus = 'completed' | 'cancelled' | 'expired' | 'failed';
const FINAL_COLUMN: Record<FinalStatus, string> = {
  completed: 'completed_at',
  cancelled: 'cancelled_at',
  expired: 'expired_at',
  failed: 'failed_at',
};

/**
 * A final status with its reason and the outcome's notes (kept beside the request's own notes);
 * a row already final stays as it is (a completion is never overwritten). Every ending resolves
 * the callback's open escalations: nobody is left holding one.
 */
export async function finishCallback(
  db: Queryable,
  callbackId: string,
  status: FinalStatus,
  reason: string | null,
  outcomeNotes: string | null,
  at: Date,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE callback_requests
        SET status = $2, status_reason = $3, outcome_notes = coalesce($4, outcome_notes), ${FINAL_COLUMN[status]} = $5, updated_at = now()
      WHERE id = $1 AND status IN ${OPEN}`,
    [callbackId, status, reason, outcomeNotes, at],
  );
  await resolveEscalations(db, 'id = $1', callbackId, at);
  return (rowCount ?? 0) > 0;
}

async function resolveEscalations(db: Queryable, where: string, value: string, at: Date | null): Promise<void> {
  await db.query(
    `UPDATE callback_escalations e SET resolved_at = coalesce($2, now())
       FROM callback_requests r
      WHERE r.${where} AND e.company_id = r.company_id AND e.callback_id = r.id AND e.resolved_at IS NULL`,
    [value, at],
  );
}

export async function markBreached(db: Queryable, callbackId: string, at: Date): Promise<void> {
  await db.query(`UPDATE callback_requests SET breached_at = coalesce(breached_at, $2), updated_at = now() WHERE id = $1`, [
    callbackId,
    at,
  ]);
}

export async function markWarned(db: Queryable, callbackId: string, at: Date): Promise<void> {
  await db.query(`UPDATE callback_requests SET warned_at = coalesce(warned_at, $2), updated_at = now() WHERE id = $1`, [callbackId, at]);
}

/** The manager a callback of this branch escalates to: an available manager of the branch, else of the company. */
export async function managerFor(db: Queryable, companyId: string, branchId: string): Promise<string | null> {
  const { rows } = await db.query(
    `SELECT id FROM staff WHERE company_id = $1 AND role = 'manager'
      ORDER BY (branch_id = $2) DESC, is_available DESC, created_at, id LIMIT 1`,
    [companyId, branchId],
  );
  return rows[0]?.id ?? null;
}

/** Locks the callback row for the rest of the transaction: two tries of one step never decide side by side. */
export async function lockCallback(tx: Queryable, callbackId: string): Promise<{ status: CallbackStatus; companyId: string } | undefined> {
  const { rows } = await tx.query(`SELECT status, company_id FROM callback_requests WHERE id = $1 FOR UPDATE`, [callbackId]);
  return rows[0] ? { status: rows[0].status, companyId: rows[0].company_id } : undefined;
}

/** The escalation an earlier try of this step committed (its manager, time and notification), if any. */
export async function findEscalation(
  db: Queryable,
  callbackId: string,
  key: string,
): Promise<{ id: string; to: string | null; at: Date; notificationId: string | null } | undefined> {
  const { rows } = await db.query(
    `SELECT id, escalated_to, escalated_at, notification_id FROM callback_escalations WHERE callback_id = $1 AND escalation_key = $2`,
    [callbackId, key],
  );
  const r = rows[0];
  return r ? { id: r.id, to: r.escalated_to, at: r.escalated_at, notificationId: r.notification_id } : undefined;
}

/**
 * An escalation row (keyed by the workflow's step) and its effect on the request. The caller has
 * looked for the step's committed row first (findEscalation) under the row lock; returns the new row's id.
 */
export async function insertEscalation(
  tx: Queryable,
  e: { callbackId: string; key: string; reason: EscalationReason; from: string | null; to: string | null; notes: string | null; at: Date },
): Promise<{ id: string }> {
  const inserted = await tx.query(
    `INSERT INTO callback_escalations (company_id, callback_id, reason, escalated_from, escalated_to, escalated_at, notes, escalation_key)
     SELECT company_id, id, $3, $4, $5, $6, $7, $2 FROM callback_requests WHERE id = $1
     RETURNING id`,
    [e.callbackId, e.key, e.reason, e.from, e.to, e.at, e.notes],
  );
  await tx.query(
    `UPDATE callback_requests
        SET escalated = true, escalation_count = escalation_count + 1, last_escalated_at = $2, updated_at = now()
      WHERE id = $1`,
    [e.callbackId, e.at],
  );
  return { id: inserted.rows[0].id };
}

/**
 * The notification a finished step queued about this callback (e.g. `callback_expired`): a retry of
 * the step restarts that one instead of choosing its recipient again.
 */
export async function queuedNoticeOf(db: Queryable, companyId: string, callbackId: string, eventType: string): Promise<string | undefined> {
  const { rows } = await db.query(
    `SELECT id FROM notifications
      WHERE company_id = $1 AND data ? 'callbackId' AND data ->> 'callbackId' = $2 AND event_type = $3
      ORDER BY created_at LIMIT 1`,
    [companyId, callbackId, eventType],
  );
  return rows[0]?.id;
}

export async function attachNotification(tx: Queryable, escalationId: string, notificationId: string): Promise<void> {
  await tx.query(`UPDATE callback_escalations SET notification_id = $2 WHERE id = $1`, [escalationId, notificationId]);
}

/** Open callbacks of a branch nobody could take (pending, unassigned): they try again when someone becomes available. */
export async function waitingCallbacks(db: Queryable, companyId: string, branchId: string): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT workflow_id FROM callback_requests WHERE company_id = $1 AND branch_id = $2 AND status = 'pending' AND assigned_to IS NULL`,
    [companyId, branchId],
  );
  return rows.map((r) => r.workflow_id);
}

// ---- the reconciler's view ----

export async function unstartedCallbacks(db: Queryable, options: { graceSeconds: number; limit: number; companyIds?: string[] }) {
  const { rows } = await db.query(
    `SELECT * FROM callback_requests
      WHERE workflow_started_at IS NULL AND status IN ${OPEN} AND created_at < now() - make_interval(secs => $1)
        AND ($3::uuid[] IS NULL OR company_id = ANY($3::uuid[]))
      ORDER BY created_at LIMIT $2`,
    [options.graceSeconds, options.limit, options.companyIds ?? null],
  );
  return rows as CallbackRow[];
}

/**
 * A workflow that ended without closing its callback (failed, terminated, timed out, cancelled from
 * outside): close it as what happened, with the reason (`failed`, or `completed` when the run had
 * accepted a completion it could not write), resolving its escalations. A row already final is
 * left as it is.
 */
export async function finishOrphanCallback(
  db: Queryable,
  workflowId: string,
  ending: { status: 'failed' | 'cancelled' | 'completed'; reason: string; outcomeNotes?: string | null; at?: Date },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE callback_requests
        SET status = $2, status_reason = $3, outcome_notes = coalesce($4, outcome_notes),
            ${FINAL_COLUMN[ending.status]} = coalesce($5, now()), updated_at = now()
      WHERE workflow_id = $1 AND status IN ${OPEN}`,
    [workflowId, ending.status, ending.reason, ending.outcomeNotes ?? null, ending.at ?? null],
  );
  await resolveEscalations(db, 'workflow_id = $1', workflowId, null);
  return (rowCount ?? 0) > 0;
}

/** Whether the row a workflow owns is still open (the reconciler asks before reading how the run ended). */
export async function isOpenWorkflowRow(db: Queryable, workflowId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM callback_requests WHERE workflow_id = $1 AND status IN ${OPEN}`, [workflowId]);
  return (rowCount ?? 0) > 0;
}

/** The reconciler's look-back reaches the oldest open callback whose workflow started: an orphan older than its window is still found. */
export async function oldestOpenStartedCallback(db: Queryable, companyIds?: string[]): Promise<Date | null> {
  const { rows } = await db.query(
    `SELECT min(workflow_started_at) AS oldest FROM callback_requests
      WHERE status IN ${OPEN} AND workflow_started_at IS NOT NULL AND ($1::uuid[] IS NULL OR company_id = ANY($1::uuid[]))`,
    [companyIds ?? null],
  );
  return rows[0]?.oldest ?? null;
}

/** How many callbacks ended `failed` (the API's metrics; a partial index keeps it cheap). */
export async function failedCallbackCount(db: Queryable): Promise<number> {
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM callback_requests WHERE status = 'failed'`);
  return rows[0].n;
}

// ---- personal data (export and erasure, src/privacy/) ----

/** The customer's callback requests, each with its attempts and escalations, as stored. */
export async function customerCallbacksExport(db: Queryable, companyId: string, customerId: string): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query(
    `SELECT to_jsonb(c)
            || jsonb_build_object(
                 'attempts', (SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.attempted_at, a.id), '[]')
                                FROM callback_attempts a WHERE a.company_id = c.company_id AND a.callback_id = c.id),
                 'escalations', (SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.escalated_at, e.id), '[]')
                                   FROM callback_escalations e WHERE e.company_id = c.company_id AND e.callback_id = c.id)) AS callback
       FROM callback_requests c
      WHERE c.company_id = $1 AND c.customer_id = $2
      ORDER BY c.created_at, c.id`,
    [companyId, customerId],
  );
  return rows.map((r) => r.callback);
}

/** The customer's callbacks: every id, and the workflows of those still open. */
export async function callbacksOfCustomer(
  db: Queryable,
  companyId: string,
  customerId: string,
): Promise<{ ids: string[]; open: Array<{ id: string; workflowId: string }> }> {
  const { rows } = await db.query(
    `SELECT id, workflow_id, status IN ('pending', 'assigned', 'contacted') AS open
       FROM callback_requests WHERE company_id = $1 AND customer_id = $2`,
    [companyId, customerId],
  );
  return { ids: rows.map((r) => r.id), open: rows.filter((r) => r.open).map((r) => ({ id: r.id, workflowId: r.workflow_id })) };
}

/**
 * Callbacks keep their status, priority, times, assignee and escalation history (SLA analytics);
 * the caller's name, number, the notes people wrote and the free-form metadata go.
 */
export async function eraseCustomerCallbacks(tx: Queryable, companyId: string, customerId: string): Promise<Record<string, number>> {
  const requests = await tx.query(
    `UPDATE callback_requests
        SET customer_name = '[erased]', phone_number = '[erased]', notes = NULL, outcome_notes = NULL, metadata = '{}', updated_at = now()
      WHERE company_id = $1 AND customer_id = $2
        AND (customer_name <> '[erased]' OR phone_number <> '[erased]' OR notes IS NOT NULL OR outcome_notes IS NOT NULL OR metadata <> '{}')`,
    [companyId, customerId],
  );
  const attempts = await tx.query(
    `UPDATE callback_attempts a SET notes = NULL
       FROM callback_requests c
      WHERE c.company_id = $1 AND c.customer_id = $2 AND a.company_id = c.company_id AND a.callback_id = c.id AND a.notes IS NOT NULL`,
    [companyId, customerId],
  );
  const escalations = await tx.query(
    `UPDATE callback_escalations e SET notes = NULL
       FROM callback_requests c
      WHERE c.company_id = $1 AND c.customer_id = $2 AND e.company_id = c.company_id AND e.callback_id = c.id AND e.notes IS NOT NULL`,
    [companyId, customerId],
  );
  return {
    callback_requests: requests.rowCount ?? 0,
    callback_attempts: attempts.rowCount ?? 0,
    callback_escalations: escalations.rowCount ?? 0,
  };
}
