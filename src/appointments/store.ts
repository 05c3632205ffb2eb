import type { Queryable } from '../db/transaction';
import {
  CUSTOMER_ERASED as CUSTOMER_ERASED_REASON,
  type AppointmentFacts,
  type AppointmentSource,
  type AppointmentStatus,
  type MessageKind,
} from './definitions';
import { DEFAULT_APPOINTMENT_SETTINGS, type AppointmentSettings } from './rules';

/**
 * Every SQL statement of the appointment workflows: the workflow columns of `appointments`,
 * `appointment_settings` and `appointment_messages`. Every query of a request is scoped by
 * company_id; the workflow's activities address rows by the appointment id they were started for.
 */

/** The workflow bookkeeping of an appointment row. */
export interface WorkflowRow {
  id: string;
  company_id: string;
  branch_id: string;
  staff_id: string | null;
  status: AppointmentStatus;
  starts_at: Date;
  ends_at: Date;
  source: AppointmentSource;
  workflow_id: string | null;
  workflow_started_at: Date | null;
  workflow_finished_at: Date | null;
  workflow_outcome: string | null;
  revision: number;
  workflow_revision: number | null;
  /** The customer's personal data was erased: the row never gets a workflow run again. */
  customer_erased: boolean;
}

/** Whether the appointment's customer was erased (in the scope of a statement on `appointments`). */
const ERASED_SQL = `EXISTS (SELECT 1 FROM customers c WHERE c.id = appointments.customer_id AND c.erased_at IS NOT NULL)`;

const WORKFLOW_COLUMNS = `id, company_id, branch_id, staff_id, status, starts_at, ends_at, source, workflow_id,
  workflow_started_at, workflow_finished_at, workflow_outcome, revision, workflow_revision, ${ERASED_SQL} AS customer_erased`;

/**
 * Inside the booking's transaction: the row is owned by `appointment-<id>` from now on. Undefined
 * for an erased customer's appointment: it gets no workflow (and sends nothing).
 */
export async function claimForWorkflow(
  tx: Queryable,
  companyId: string,
  appointmentId: string,
  workflowId: string,
  source?: AppointmentSource,
): Promise<WorkflowRow | undefined> {
  const { rows } = await tx.query<WorkflowRow>(
    `UPDATE appointments SET workflow_id = $3, source = coalesce($4, source)
      WHERE company_id = $1 AND id = $2 AND NOT ${ERASED_SQL} RETURNING ${WORKFLOW_COLUMNS}`,
    [companyId, appointmentId, workflowId, source ?? null],
  );
  return rows[0];
}

export async function findWorkflowRow(db: Queryable, companyId: string, appointmentId: string): Promise<WorkflowRow | undefined> {
  const { rows } = await db.query<WorkflowRow>(`SELECT ${WORKFLOW_COLUMNS} FROM appointments WHERE company_id = $1 AND id = $2`, [
    companyId,
    appointmentId,
  ]);
  return rows[0];
}

/** Temporal accepted a start or a signal carrying (at least) this revision: the row's workflow knows of it. */
export async function acknowledge(db: Queryable, appointmentId: string, revision: number): Promise<void> {
  await db.query(
    `UPDATE appointments SET workflow_revision = GREATEST(coalesce(workflow_revision, 0), $2) WHERE id = $1 AND workflow_id IS NOT NULL`,
    [appointmentId, revision],
  );
}

/**
 * The workflow reads its row: the facts it lives by, and in the same statement the row records
 * that its workflow runs and has read this revision. Undefined when the row is gone. The row of an
 * erased customer keeps its finished mark (a run started for it anyway, by hand or in a race with
 * the erasure, learns `customerErased` and ends without sending anything).
 */
export async function readForWorkflow(db: Queryable, appointmentId: string): Promise<AppointmentFacts | undefined> {
  const { rows } = await db.query(
    `WITH e AS (SELECT a.id, ${ERASED_SQL.replace(/appointments\./g, 'a.')} AS erased FROM appointments a WHERE a.id = $1)
     UPDATE appointments a
        SET workflow_started_at = coalesce(a.workflow_started_at, now()),
            workflow_finished_at = CASE WHEN e.erased THEN a.workflow_finished_at END,
            workflow_outcome = CASE WHEN e.erased THEN a.workflow_outcome END,
            workflow_revision = GREATEST(coalesce(a.workflow_revision, 0), a.revision)
       FROM e
      WHERE a.id = e.id
      RETURNING a.id, a.company_id, a.branch_id, a.staff_id, a.status, a.starts_at, a.ends_at, a.revision, a.source, e.erased,
                (SELECT feedback_delay_minutes FROM appointment_settings s WHERE s.company_id = a.company_id) AS feedback_delay_minutes`,
    [appointmentId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    appointmentId: r.id,
    companyId: r.company_id,
    branchId: r.branch_id,
    staffId: r.staff_id,
    status: r.status,
    startsAt: r.starts_at.toISOString(),
    endsAt: r.ends_at.toISOString(),
    revision: r.revision,
    source: r.source,
    feedbackDelayMinutes: r.feedback_delay_minutes ?? DEFAULT_APPOINTMENT_SETTINGS.feedbackDelayMinutes,
    ...(r.erased ? { customerErased: true } : {}),
  };
}

/**
 * The workflow ends: recorded only if the row has not changed since the workflow last read it
 * (else the workflow reads it again and carries on). True when recorded.
 */
export async function finishWorkflow(db: Queryable, appointmentId: string, revision: number, outcome: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE appointments SET workflow_finished_at = now(), workflow_outcome = $3 WHERE id = $1 AND revision <= $2`,
    [appointmentId, revision, outcome],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * The workflow failed (a bug in its code): the row says so, `failed: <reason>`, and is finished, so
 * neither the reconciler nor a reader takes the run for a live one. Listed by `failedWorkflows`.
 */
export async function recordWorkflowFailure(db: Queryable, appointmentId: string, reason: string): Promise<void> {
  await db.query(`UPDATE appointments SET workflow_finished_at = now(), workflow_outcome = $2 WHERE id = $1`, [
    appointmentId,
    `failed: ${reason}`,
  ]);
}

/** The reconciler: booked rows whose workflow has not run its first step after the grace period. */
export async function unstartedRows(
  db: Queryable,
  options: { graceSeconds: number; limit: number; companyIds?: string[] },
): Promise<WorkflowRow[]> {
  const { rows } = await db.query<WorkflowRow>(
    `SELECT ${WORKFLOW_COLUMNS} FROM appointments
      WHERE workflow_id IS NOT NULL AND workflow_started_at IS NULL AND workflow_finished_at IS NULL
        AND created_at < now() - make_interval(secs => $1) AND NOT ${ERASED_SQL}
        AND ($3::uuid[] IS NULL OR company_id = ANY($3::uuid[]))
      ORDER BY created_at LIMIT $2`,
    [options.graceSeconds, options.limit, options.companyIds ?? null],
  );
  return rows;
}

/** The reconciler: rows changed after their workflow was last told (the signal after COMMIT was lost). */
export async function rowsBehind(
  db: Queryable,
  options: { graceSeconds: number; limit: number; companyIds?: string[] },
): Promise<WorkflowRow[]> {
  const { rows } = await db.query<WorkflowRow>(
    `SELECT ${WORKFLOW_COLUMNS} FROM appointments
      WHERE workflow_id IS NOT NULL AND workflow_revision < revision AND updated_at < now() - make_interval(secs => $1)
        AND ($3::uuid[] IS NULL OR company_id = ANY($3::uuid[]))
      ORDER BY updated_at LIMIT $2`,
    [options.graceSeconds, options.limit, options.companyIds ?? null],
  );
  return rows;
}

/** A workflow that ended without recording its end (terminated, timed out): say so on the row. */
export async function finishOrphan(db: Queryable, workflowId: string, outcome: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE appointments SET workflow_finished_at = now(), workflow_outcome = $2
      WHERE workflow_id = $1 AND workflow_started_at IS NOT NULL AND workflow_finished_at IS NULL`,
    [workflowId, outcome],
  );
  return (rowCount ?? 0) > 0;
}

// ---- settings ----

interface SettingsRow {
  send_created: boolean;
  send_confirmed: boolean;
  reminder_24h: boolean;
  reminder_2h: boolean;
  feedback_request: boolean;
  feedback_delay_minutes: number;
  updated_at: Date;
}

const settingsOf = (r: SettingsRow | undefined): AppointmentSettings =>
  r
    ? {
        sendCreated: r.send_created,
        sendConfirmed: r.send_confirmed,
        reminder24h: r.reminder_24h,
        reminder2h: r.reminder_2h,
        feedbackRequest: r.feedback_request,
        feedbackDelayMinutes: r.feedback_delay_minutes,
      }
    : { ...DEFAULT_APPOINTMENT_SETTINGS };

export async function loadSettings(db: Queryable, companyId: string): Promise<{ settings: AppointmentSettings; updatedAt: Date | null }> {
  const { rows } = await db.query<SettingsRow>(`SELECT * FROM appointment_settings WHERE company_id = $1`, [companyId]);
  return { settings: settingsOf(rows[0]), updatedAt: rows[0]?.updated_at ?? null };
}

export async function upsertSettings(
  db: Queryable,
  companyId: string,
  s: AppointmentSettings,
): Promise<{ created: boolean; settings: AppointmentSettings; updatedAt: Date }> {
  const { rows } = await db.query(
    `INSERT INTO appointment_settings AS a
       (company_id, send_created, send_confirmed, reminder_24h, reminder_2h, feedback_request, feedback_delay_minutes)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (company_id) DO UPDATE SET send_created = EXCLUDED.send_created, send_confirmed = EXCLUDED.send_confirmed,
       reminder_24h = EXCLUDED.reminder_24h, reminder_2h = EXCLUDED.reminder_2h, feedback_request = EXCLUDED.feedback_request,
       feedback_delay_minutes = EXCLUDED.feedback_delay_minutes, updated_at = now()
     RETURNING *, (xmax = 0) AS inserted`,
    [companyId, s.sendCreated, s.sendConfirmed, s.reminder24h, s.reminder2h, s.feedbackRequest, s.feedbackDelayMinutes],
  );
  return { created: rows[0].inserted, settings: settingsOf(rows[0]), updatedAt: rows[0].updated_at };
}

// ---- messages ----

export interface MessageRow {
  id: string;
  company_id: string;
  appointment_id: string;
  kind: MessageKind;
  message_key: string;
  status: 'sent' | 'skipped' | 'failed';
  reason: string | null;
  for_starts_at: Date;
  due_at: Date;
  decided_at: Date;
  notification_id: string | null;
  created_at: Date;
}

export async function findMessage(db: Queryable, appointmentId: string, key: string): Promise<MessageRow | undefined> {
  const { rows } = await db.query<MessageRow>(`SELECT * FROM appointment_messages WHERE appointment_id = $1 AND message_key = $2`, [
    appointmentId,
    key,
  ]);
  return rows[0];
}

/**
 * What a message step needs, with its rows locked FOR SHARE: first the customer's (an erasure locks
 * it FOR UPDATE before it touches the appointments, so the two wait for each other in one order and
 * the step sees the erasure either not begun or committed), then the appointment's (a cancellation
 * or a move committing at the same moment is either seen or waits for this step): its company,
 * status, times, whether the customer was erased, and the company's settings. Undefined when the
 * row is gone.
 */
export async function lockForMessage(
  db: Queryable,
  appointmentId: string,
): Promise<
  | { companyId: string; status: AppointmentStatus; startsAt: Date; endsAt: Date; customerErased: boolean; settings: AppointmentSettings }
  | undefined
> {
  const customer = await db.query(
    `SELECT c.erased_at IS NOT NULL AS erased FROM customers c
      WHERE c.id = (SELECT a.customer_id FROM appointments a WHERE a.id = $1) FOR SHARE`,
    [appointmentId],
  );
  const { rows } = await db.query(
    `SELECT a.company_id, a.status, a.starts_at, a.ends_at, to_jsonb(s) AS settings
       FROM appointments a LEFT JOIN appointment_settings s ON s.company_id = a.company_id
      WHERE a.id = $1 FOR SHARE OF a`,
    [appointmentId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    companyId: r.company_id,
    status: r.status,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
    customerErased: customer.rows[0]?.erased === true,
    settings: settingsOf(r.settings ?? undefined),
  };
}

export async function insertMessage(
  db: Queryable,
  m: {
    companyId: string;
    appointmentId: string;
    kind: MessageKind;
    key: string;
    status: 'sent' | 'skipped' | 'failed';
    reason: string | null;
    forStartsAt: Date;
    dueAt: Date;
    decidedAt: Date;
    notificationId: string | null;
  },
): Promise<MessageRow> {
  const { rows } = await db.query<MessageRow>(
    `INSERT INTO appointment_messages
       (company_id, appointment_id, kind, message_key, status, reason, for_starts_at, due_at, decided_at, notification_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
    [m.companyId, m.appointmentId, m.kind, m.key, m.status, m.reason, m.forStartsAt, m.dueAt, m.decidedAt, m.notificationId],
  );
  return rows[0];
}

/**
 * A message step that gave up (its retry budget spent): recorded `failed` with the reason, unless
 * the step had committed its decision after all (its answer was lost), which then stands. Returns
 * the row as it is.
 */
export async function recordMessageFailure(
  db: Queryable,
  m: {
    companyId: string;
    appointmentId: string;
    kind: MessageKind;
    key: string;
    reason: string;
    forStartsAt: Date;
    dueAt: Date;
    decidedAt: Date;
  },
): Promise<MessageRow | undefined> {
  const { rows } = await db.query<MessageRow>(
    `WITH ins AS (
       INSERT INTO appointment_messages (company_id, appointment_id, kind, message_key, status, reason, for_starts_at, due_at, decided_at)
       SELECT $1, $2, $3, $4, 'failed', $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM appointments WHERE id = $2)
       ON CONFLICT (appointment_id, message_key) DO NOTHING
       RETURNING *)
     SELECT * FROM ins UNION ALL SELECT * FROM appointment_messages WHERE appointment_id = $2 AND message_key = $4`,
    [m.companyId, m.appointmentId, m.kind, m.key, m.reason, m.forStartsAt, m.dueAt, m.decidedAt],
  );
  return rows[0];
}

/** The appointment's messages, each with what became of its notification (a late one is suppressed there, saying why). */
export async function messagesOf(
  db: Queryable,
  companyId: string,
  appointmentId: string,
): Promise<Array<MessageRow & { notification_status: string | null; notification_reason: string | null }>> {
  const { rows } = await db.query(
    `SELECT m.*, n.status AS notification_status, n.status_reason AS notification_reason
       FROM appointment_messages m LEFT JOIN notifications n ON n.company_id = m.company_id AND n.id = m.notification_id
      WHERE m.company_id = $1 AND m.appointment_id = $2 ORDER BY m.decided_at, m.message_key`,
    [companyId, appointmentId],
  );
  return rows;
}

// ---- metrics (read at every scrape of the API's /metrics) ----

/** How the appointment workflows that ended in the last 24 hours ended: `failed` (a bug), the erasure, the reconciler, or their outcome. */
export async function recentEndings(db: Queryable): Promise<Array<{ ending: string; n: number }>> {
  const { rows } = await db.query(
    `SELECT CASE WHEN workflow_outcome LIKE 'failed:%' THEN 'failed'
                 WHEN workflow_outcome LIKE '%(reconciled)' THEN 'reconciled'
                 WHEN workflow_outcome = $1 THEN 'erased'
                 WHEN workflow_outcome IN ('ended', 'cancelled', 'no_show') THEN workflow_outcome
                 ELSE 'other' END AS ending,
            count(*)::int AS n
       FROM appointments WHERE workflow_finished_at > now() - interval '24 hours'
      GROUP BY 1`,
    [CUSTOMER_ERASED_REASON],
  );
  return rows;
}

/** Messages decided in the last 24 hours, by status (sent, skipped, failed). */
export async function recentMessageDecisions(db: Queryable): Promise<Array<{ status: string; n: number }>> {
  const { rows } = await db.query(
    `SELECT status, count(*)::int AS n FROM appointment_messages WHERE decided_at > now() - interval '24 hours' GROUP BY 1`,
  );
  return rows;
}

/** Appointments whose workflow failed (a bug) and has not run again since: what an operator has to look at. */
export async function failedWorkflowCount(db: Queryable): Promise<number> {
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM appointments WHERE workflow_outcome LIKE 'failed:%'`);
  return rows[0].n;
}

// ---- personal data (erasure, src/privacy/) ----

/** The customer's appointment workflows that have not ended (started or still to start). */
export async function openWorkflowsOfCustomer(
  db: Queryable,
  companyId: string,
  customerId: string,
): Promise<Array<{ id: string; workflowId: string; started: boolean }>> {
  const { rows } = await db.query(
    `SELECT id, workflow_id, workflow_started_at IS NOT NULL AS started FROM appointments
      WHERE company_id = $1 AND customer_id = $2 AND workflow_id IS NOT NULL AND workflow_finished_at IS NULL`,
    [companyId, customerId],
  );
  return rows.map((r) => ({ id: r.id, workflowId: r.workflow_id, started: r.started }));
}

/** Records that the customer's appointment workflows were stopped (the reconciler starts none of them again). */
export async function stopCustomerWorkflows(tx: Queryable, companyId: string, customerId: string, outcome: string): Promise<number> {
  const { rowCount } = await tx.query(
    `UPDATE appointments SET workflow_finished_at = now(), workflow_outcome = $3
      WHERE company_id = $1 AND customer_id = $2 AND workflow_id IS NOT NULL AND workflow_finished_at IS NULL`,
    [companyId, customerId, outcome],
  );
  return rowCount ?? 0;
}
