import type { Queryable } from '../db/transaction';
import type { AppointmentFacts, AppointmentSource, AppointmentStatus, MessageKind } from './definitions';
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
}

const WORKFLOW_COLUMNS = `id, company_id, branch_id, staff_id, status, starts_at, ends_at, source, workflow_id,
  workflow_started_at, workflow_finished_at, workflow_outcome, revision, workflow_revision`;

/** Inside the booking's transaction: the row is owned by `appointment-<id>` from now on. */
export async function claimForWorkflow(
  tx: Queryable,
  companyId: string,
  appointmentId: string,
  workflowId: string,
  source?: AppointmentSource,
): Promise<WorkflowRow> {
  const { rows } = await tx.query<WorkflowRow>(
    `UPDATE appointments SET workflow_id = $3, source = coalesce($4, source)
      WHERE company_id = $1 AND id = $2 RETURNING ${WORKFLOW_COLUMNS}`,
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
 * that its workflow runs and has read this revision. Undefined when the row is gone.
 */
export async function readForWorkflow(db: Queryable, appointmentId: string): Promise<AppointmentFacts | undefined> {
  const { rows } = await db.query(
    `UPDATE appointments a
        SET workflow_started_at = coalesce(a.workflow_started_at, now()),
            workflow_finished_at = NULL, workflow_outcome = NULL,
            workflow_revision = GREATEST(coalesce(a.workflow_revision, 0), a.revision)
      WHERE a.id = $1
      RETURNING a.id, a.company_id, a.branch_id, a.staff_id, a.status, a.starts_at, a.ends_at, a.revision, a.source,
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

/** The reconciler: booked rows whose workflow has not run its first step after the grace period. */
export async function unstartedRows(
  db: Queryable,
  options: { graceSeconds: number; limit: number; companyIds?: string[] },
): Promise<WorkflowRow[]> {
  const { rows } = await db.query<WorkflowRow>(
    `SELECT ${WORKFLOW_COLUMNS} FROM appointments
      WHERE workflow_id IS NOT NULL AND workflow_started_at IS NULL AND workflow_finished_at IS NULL
        AND created_at < now() - make_interval(secs => $1)
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
  status: 'sent' | 'skipped';
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
 * What a message step needs, with the appointment row locked (FOR SHARE: a cancellation or a move
 * committing at the same moment is either seen or waits for this step): its company, status,
 * start and the company's settings. Undefined when the row is gone.
 */
export async function lockForMessage(
  db: Queryable,
  appointmentId: string,
): Promise<{ companyId: string; status: AppointmentStatus; startsAt: Date; settings: AppointmentSettings } | undefined> {
  const { rows } = await db.query(
    `SELECT a.company_id, a.status, a.starts_at, to_jsonb(s) AS settings
       FROM appointments a LEFT JOIN appointment_settings s ON s.company_id = a.company_id
      WHERE a.id = $1 FOR SHARE OF a`,
    [appointmentId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return { companyId: r.company_id, status: r.status, startsAt: r.starts_at, settings: settingsOf(r.settings ?? undefined) };
}

export async function insertMessage(
  db: Queryable,
  m: {
    companyId: string;
    appointmentId: string;
    kind: MessageKind;
    key: string;
    status: 'sent' | 'skipped';
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

export async function messagesOf(db: Queryable, companyId: string, appointmentId: string): Promise<MessageRow[]> {
  const { rows } = await db.query<MessageRow>(
    `SELECT * FROM appointment_messages WHERE company_id = $1 AND appointment_id = $2 ORDER BY decided_at, message_key`,
    [companyId, appointmentId],
  );
  return rows;
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
