import type { Client } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { startCommitted, type OutboxSource, type WorkflowStart } from '../db/outbox';
import type { Queryable } from '../db/transaction';
import { NotFoundError } from '../errors';
import { DEFAULT_DURABILITY, type Durability } from '../temporal/durability';
import {
  APPOINTMENT_WORKFLOW_TYPE,
  appointmentChangedSignal,
  appointmentStateQuery,
  appointmentWorkflowId,
  AppointmentStartsAt,
  AppointmentStatusKey,
  BranchId,
  CompanyId,
  StaffId,
  type AppointmentSource,
  type AppointmentState,
  type AppointmentWorkflowInput,
} from './definitions';
import { isClosed, type AppointmentSettings } from './rules';
import type { AppointmentScheduleView, AppointmentSettingsView } from './schemas';
import * as store from './store';

/**
 * Appointments as durable workflows (`appointment-<id>`): the row and its workflow never disagree.
 *
 * - Booking (the directory's POST, a Cal.com booking) claims the row for its workflow inside the
 *   booking's transaction and starts the workflow after COMMIT (the shared row-then-start outbox);
 *   the reconciler starts rows whose start was lost.
 * - Every change of times, status or staff bumps the row's `revision` (a trigger, whoever makes
 *   the change). After COMMIT the workflow is told with signal-with-start (a closed run of a row
 *   that is live again starts anew); once Temporal has accepted it, the row's `workflow_revision`
 *   catches up. A row whose workflow was not told (Temporal down, the process died after COMMIT)
 *   lags behind, and the reconciler tells it (`outbox.resync`).
 * - The workflow never trusts a message's payload: told of a change, it reads the row.
 */
export interface AppointmentServiceDeps {
  pool: Pool;
  client: Client;
  taskQueue: string;
  logger?: Logger;
  durability?: Durability;
  /** How long a start or a signal waits for Temporal before leaving it to the reconciler (default 5 s). */
  startTimeoutMs?: number;
  /** How long a read waits for the workflow's live state (default 1.5 s). */
  liveStateTimeoutMs?: number;
  /** Continue-as-new threshold passed to new workflows (tests; default: the SDK's suggestion). */
  historyLimit?: number;
}

/** Work to do once the caller's transaction has committed (start or tell the workflow). Never throws for Temporal. */
export type AfterCommit = () => Promise<unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function createAppointmentService(deps: AppointmentServiceDeps) {
  const { pool, client, taskQueue } = deps;
  const durability = deps.durability ?? DEFAULT_DURABILITY;
  const startTimeoutMs = deps.startTimeoutMs ?? 5_000;
  const liveTimeout = deps.liveStateTimeoutMs ?? 1_500;
  const log = deps.logger?.child({ component: 'appointments' });

  /** The workflow of a row, with the search attributes it starts with (ids and states only). */
  function workflowOf(r: store.WorkflowRow): WorkflowStart {
    const args: AppointmentWorkflowInput = {
      appointmentId: r.id,
      companyId: r.company_id,
      durability,
      ...(deps.historyLimit ? { historyLimit: deps.historyLimit } : {}),
    };
    const searchAttributes: SearchAttributePair[] = [
      { key: CompanyId, value: r.company_id },
      { key: BranchId, value: r.branch_id },
      { key: AppointmentStartsAt, value: r.starts_at },
      { key: AppointmentStatusKey, value: r.status },
      ...(r.staff_id ? [{ key: StaffId, value: r.staff_id }] : []),
    ];
    return { workflowType: APPOINTMENT_WORKFLOW_TYPE, workflowId: r.workflow_id!, args: [args], searchAttributes };
  }

  /** Starts a booked row's workflow (after COMMIT); the reconciler retries a start that did not happen. */
  async function start(r: store.WorkflowRow): Promise<void> {
    const outcome = await startCommitted(workflowOf(r), { client, taskQueue, deadlineMs: startTimeoutMs, logger: deps.logger });
    if (outcome === 'started') await store.acknowledge(pool, r.id, r.revision).catch(() => undefined);
  }

  /**
   * Tells the row's workflow that the row changed (after COMMIT). A run that has finished is
   * started anew only if the appointment is live again; otherwise the change is simply noted.
   * Never throws for Temporal or the database: the reconciler catches up.
   */
  async function tell(r: store.WorkflowRow): Promise<'told' | 'noted' | 'deferred' | 'current'> {
    if (!r.workflow_id) return 'current';
    if (r.workflow_revision !== null && r.workflow_revision >= r.revision) return 'current';
    // An erased customer's appointment never gets a run again, whoever changes it (a PATCH, the
    // policy engine, a calendar webhook, the reconciler): the change is noted, nothing is started.
    if (r.customer_erased) {
      await store.acknowledge(pool, r.id, r.revision).catch(() => undefined);
      return 'noted';
    }
    try {
      const over = isClosed(r.status) || r.ends_at.getTime() < Date.now();
      if (r.workflow_finished_at && over) {
        await store.acknowledge(pool, r.id, r.revision);
        return 'noted';
      }
      const w = workflowOf(r);
      await client.withDeadline(Date.now() + startTimeoutMs, () =>
        client.workflow.signalWithStart(APPOINTMENT_WORKFLOW_TYPE, {
          workflowId: w.workflowId,
          taskQueue,
          args: w.args,
          signal: appointmentChangedSignal,
          signalArgs: [{ revision: r.revision }],
          // A finished run of an appointment that is live again (moved into the future) starts anew.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          typedSearchAttributes: w.searchAttributes,
        }),
      );
      await store.acknowledge(pool, r.id, r.revision);
      return 'told';
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return 'current';
      log?.warn({ err: error, appointmentId: r.id }, 'the appointment workflow was not told of a change; the reconciler will tell it');
      return 'deferred';
    }
  }

  /**
   * Inside a booking's transaction (the directory's onAppointmentBooked): the row becomes its
   * workflow's. Returns the start to run after COMMIT.
   */
  async function booked(
    tx: Queryable,
    companyId: string,
    appointment: { id: string },
    options: { source?: AppointmentSource } = {},
  ): Promise<AfterCommit> {
    const row = await store.claimForWorkflow(tx, companyId, appointment.id, appointmentWorkflowId(appointment.id), options.source);
    // An erased customer's appointment gets no workflow: nothing is sent to them.
    if (!row) return async () => undefined;
    return () => start(row).catch((error) => log?.warn({ err: error, appointmentId: row.id }, 'appointment workflow start deferred'));
  }

  /**
   * Inside a transaction that changed the row (the directory's PATCH, the policy engine's cancel and
   * reschedule, a calendar webhook): returns the message to send after COMMIT. The revision itself
   * was bumped by the trigger.
   */
  async function changed(tx: Queryable, companyId: string, appointment: { id: string }): Promise<AfterCommit> {
    const row = await store.findWorkflowRow(tx, companyId, appointment.id);
    return async () => {
      if (row) await tell(row);
    };
  }

  /** The reconciler's view of appointments (src/db/outbox.ts). */
  const outbox: OutboxSource = {
    workflowType: APPOINTMENT_WORKFLOW_TYPE,
    unstarted: async (db, options) => (await store.unstartedRows(db, options)).map(workflowOf),
    closeOrphan: (db, workflowId, closeStatus) =>
      store.finishOrphan(db, workflowId, `the workflow ended ${closeStatus.toLowerCase().replace(/_/g, ' ')} (reconciled)`),
    resync: async (db, options) => {
      const told: string[] = [];
      for (const row of await store.rowsBehind(db, options)) {
        const outcome = await tell(row);
        if (outcome === 'deferred') throw new Error('Temporal did not take the message; the reconciler will try again');
        if (outcome === 'told' || outcome === 'noted') told.push(row.workflow_id!);
      }
      return told;
    },
  };

  // ---- the API's views ----

  function settingsView(s: AppointmentSettings, updatedAt: Date | null): AppointmentSettingsView {
    return { ...s, updatedAt: iso(updatedAt) };
  }

  async function getSettings(companyId: string): Promise<AppointmentSettingsView> {
    const { settings, updatedAt } = await store.loadSettings(pool, companyId);
    return settingsView(settings, updatedAt);
  }

  /** Replaces the company's settings; a running workflow applies the switches at each message's instant. */
  async function putSettings(
    companyId: string,
    input: AppointmentSettings,
  ): Promise<{ created: boolean; settings: AppointmentSettingsView }> {
    const { created, settings, updatedAt } = await store.upsertSettings(pool, companyId, input);
    return { created, settings: settingsView(settings, updatedAt) };
  }

  async function liveState(workflowId: string): Promise<AppointmentState | null> {
    return client
      .withDeadline(Date.now() + liveTimeout, () => client.workflow.getHandle(workflowId).query(appointmentStateQuery))
      .catch(() => null);
  }

  /** The appointment's messages (sent and skipped, with why) and, while its workflow runs, what it plans next. */
  async function getSchedule(companyId: string, appointmentId: string): Promise<AppointmentScheduleView> {
    const row = UUID.test(appointmentId) ? await store.findWorkflowRow(pool, companyId, appointmentId) : undefined;
    if (!row) throw new NotFoundError('appointment', appointmentId);
    const [messages, live] = await Promise.all([
      store.messagesOf(pool, companyId, appointmentId),
      row.workflow_id && !row.workflow_finished_at ? liveState(row.workflow_id) : Promise.resolve(null),
    ]);
    return {
      appointmentId,
      workflowId: row.workflow_id,
      workflowStartedAt: iso(row.workflow_started_at),
      workflowFinishedAt: iso(row.workflow_finished_at),
      workflowOutcome: row.workflow_outcome,
      revision: row.revision,
      workflowRevision: row.workflow_revision,
      source: row.source,
      messages: messages.map((m) => ({
        kind: m.kind,
        key: m.message_key,
        status: m.status,
        reason: m.reason,
        forStartsAt: m.for_starts_at.toISOString(),
        dueAt: m.due_at.toISOString(),
        notificationId: m.notification_id,
        notificationStatus: m.notification_status,
        notificationReason: m.notification_reason,
        decidedAt: m.decided_at.toISOString(),
      })),
      stalled: live?.stalled ?? null,
      planned: live
        ? live.messages
            .filter((m) => m.state === 'planned')
            .map((m) => ({ kind: m.kind, key: m.key, dueAt: m.dueAt, forStartsAt: m.forStartsAt }))
        : null,
    };
  }

  return { booked, changed, tell, start, workflowOf, outbox, getSettings, putSettings, getSchedule };
}

export type AppointmentService = ReturnType<typeof createAppointmentService>;

/**
 * How the appointment workflows end, as Prometheus gauges of a registry (the API's GET /metrics),
 * read from the rows at each scrape, so every process tells the same story whichever worker ran
 * the workflows: `appointment_workflow_endings{ending}` (last 24 h: ended, cancelled, no_show,
 * erased, failed, reconciled), `appointment_messages_decided{status}` (last 24 h: sent, skipped,
 * failed), `appointment_workflows_failed` (runs a bug ended and nobody has restarted: alert on > 0).
 */
export function registerAppointmentMetrics(registry: Registry, pool: Pool): void {
  if (registry.getSingleMetric('appointment_workflows_failed')) return;
  new Gauge({
    name: 'appointment_workflow_endings',
    help: 'Appointment workflows that ended in the last 24 hours, by how (failed: a bug; reconciled: terminated or timed out)',
    labelNames: ['ending'] as const,
    registers: [registry],
    async collect() {
      const endings = await store.recentEndings(pool).catch(() => null); // the database down: keep the last figures
      if (!endings) return;
      this.reset();
      for (const e of endings) this.set({ ending: e.ending }, e.n);
    },
  });
  new Gauge({
    name: 'appointment_messages_decided',
    help: 'Appointment messages decided in the last 24 hours, by status (failed: the step gave up)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const decisions = await store.recentMessageDecisions(pool).catch(() => null);
      if (!decisions) return;
      this.reset();
      for (const m of decisions) this.set({ status: m.status }, m.n);
    },
  });
  new Gauge({
    name: 'appointment_workflows_failed',
    help: 'Appointments whose workflow a bug ended (row outcome failed: ...) and that have not run again',
    registers: [registry],
    async collect() {
      const n = await store.failedWorkflowCount(pool).catch(() => null);
      if (n !== null) this.set(n);
    },
  });
}
