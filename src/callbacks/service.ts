import { createHash, randomUUID } from 'node:crypto';
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateStage,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import { DateTime } from 'luxon';
import { Gauge, type Registry } from 'prom-client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { createFeatureSwitches, type FeatureSwitches } from '../companies/features';
import { claimRetryableKey, recordIdempotentResponse, requestHash } from '../db/idempotency';
import { createThenStart, startCommitted, type OutboxSource, type WorkflowStart } from '../db/outbox';
import { ConflictError, ForbiddenError, NotFoundError, UnavailableError, ValidationError } from '../errors';
import { e164OrThrow, phoneCountry, toE164 } from '../directory/phone';
import { DEFAULT_DURABILITY, type Durability } from '../temporal/durability';
import { validateBusinessHours, type BusinessHours } from './business-hours';
import {
  CALLBACK_WORKFLOW_TYPE,
  callbackStateQuery,
  callbackWorkflowId,
  cancelUpdate,
  completeUpdate,
  escalateUpdate,
  FORBIDDEN,
  isOpen,
  reassignUpdate,
  recordAttemptUpdate,
  staffAvailableSignal,
  BranchId,
  CallbackDueAt,
  CallbackPriority,
  CallbackStatusKey,
  CompanyId,
  type Actor,
  type CallbackSnapshot,
  type CallbackState,
  type CallbackWorkflowInput,
  type PendingEnding,
  CALLBACK_FAILED,
} from './definitions';
import { callbackDeadlines, maskPhone, resolveCallbackSettings } from './rules';
import type { CallbackDetail, CallbackQuery, CallbackSettingsInput, CallbackView, CreateCallback, RecordAttemptBody } from './schemas';
import * as store from './store';

/**
 * The callback use cases behind the HTTP routes (docs/design.md, Callbacks and API contract). Routes parse and authorise; this
 * owns the transactions and the Temporal calls. Every query is scoped by the caller's company:
 * another company's ids are "not found".
 */
export interface CallbackServiceDeps {
  pool: Pool;
  client: Client;
  taskQueue: string;
  logger?: Logger;
  durability?: Durability;
  /** How long a create waits for Temporal before leaving the start to the reconciler (default 5 s). */
  startTimeoutMs?: number;
  /** How long a message (update) may take before the API answers 202 with the state as it is (default 5 s). */
  updateTimeoutMs?: number;
  /** How long a read waits for the workflow's live state (default 1.5 s). */
  liveStateTimeoutMs?: number;
  /** Continue-as-new threshold passed to new workflows (tests; default: the SDK's suggestion). */
  historyLimit?: number;
  /** The clock deadlines are computed on (tests on a time-skipping server pass its clock). */
  clock?: () => number | Promise<number>;
  /**
   * The feature switches: with callbacks off for a company, creating one is refused
   * (FeatureDisabledError, 409 `feature_disabled`) whoever asks; callbacks already running can
   * still be read and worked to their end. Default: the company's own settings, every feature on otherwise.
   */
  features?: FeatureSwitches;
}

const IDEMPOTENCY_SCOPE = 'callbacks.create';
/** Idempotency-Keys of the messages (attempts, complete, reassign, cancel, escalate): one scope, the key names one request. */
const MESSAGE_IDEMPOTENCY_SCOPE = 'callbacks.message';
/** A message's first final answer, as recorded for its Idempotency-Key. */
type RecordedAnswer =
  { applied: boolean; callback: CallbackDetail } | { error: { kind: 'forbidden' | 'conflict'; code: string; message: string } };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export type MessageKind = 'attempt' | 'complete' | 'reassign' | 'cancel' | 'escalate';
const UPDATES: Record<MessageKind, UpdateDefinition<CallbackState, [never]>> = {
  attempt: recordAttemptUpdate as never,
  complete: completeUpdate as never,
  reassign: reassignUpdate as never,
  cancel: cancelUpdate as never,
  escalate: escalateUpdate as never,
};

/** The API's view of a row; times are also shown in the row's display time zone (its customer's, else its branch's). */
function toView(r: store.CallbackRow): CallbackView {
  const timeZone = r.display_time_zone ?? 'UTC';
  const snapshot = r.settings as Partial<CallbackSnapshot>;
  return {
    id: r.id,
    branchId: r.branch_id,
    customerId: r.customer_id,
    serviceId: r.service_id,
    preferredStaffId: r.staff_id,
    phoneNumber: r.phone_number,
    customerName: r.customer_name,
    priority: r.priority,
    status: r.status,
    statusReason: r.status_reason,
    assignedTo: r.assigned_to,
    assignedAt: iso(r.assigned_at),
    assignmentReason: r.assignment_reason,
    dueAt: r.expires_at.toISOString(),
    dueAtLocal: DateTime.fromJSDate(r.expires_at, { zone: timeZone }).toISO() ?? r.expires_at.toISOString(),
    timeZone,
    warnAt: iso(r.warn_at),
    openUntil: iso(r.open_until),
    breachedAt: iso(r.breached_at),
    contactedAt: iso(r.contacted_at),
    completedAt: iso(r.completed_at),
    cancelledAt: iso(r.cancelled_at),
    expiredAt: iso(r.expired_at),
    failedAt: iso(r.failed_at),
    escalated: r.escalated,
    escalationCount: r.escalation_count,
    attemptCount: r.attempt_count,
    notes: r.notes,
    outcomeNotes: r.outcome_notes,
    assignTo: r.assign_to,
    metadata: r.metadata ?? {},
    settings: snapshot.settings ?? null,
    workflowId: r.workflow_id,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

const cursorOf = (r: store.CallbackRow) => Buffer.from(`${r.created_at.toISOString()}|${r.id}`).toString('base64url');
function parseCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at);
  if (!id || !UUID.test(id) || Number.isNaN(createdAt.getTime())) {
    throw new ValidationError('invalid request: query.cursor', [
      { field: 'query.cursor', message: 'must be a cursor returned as nextCursor' },
    ]);
  }
  return { createdAt, id };
}

/**
 * The callback's deadlines; a 409 when the branch's opening hours cannot fit its SLA (a week with
 * no opening, or so little that the deadline lies years ahead): a setting to fix, not a server fault.
 */
function deadlinesOrConflict(...args: Parameters<typeof callbackDeadlines>): ReturnType<typeof callbackDeadlines> {
  try {
    return callbackDeadlines(...args);
  } catch (error) {
    throw new ConflictError(
      `the branch's opening hours cannot hold this SLA: ${(error as Error).message}; widen the opening hours or the SLA setting`,
      'sla_unreachable',
    );
  }
}

export function createCallbackService(deps: CallbackServiceDeps) {
  const { pool, client, taskQueue } = deps;
  const durability = deps.durability ?? DEFAULT_DURABILITY;
  const startTimeoutMs = deps.startTimeoutMs ?? 5_000;
  const updateTimeoutMs = deps.updateTimeoutMs ?? 5_000;
  const liveTimeout = deps.liveStateTimeoutMs ?? 1_500;
  const clock = deps.clock ?? Date.now;
  const features = deps.features ?? createFeatureSwitches({ db: pool });

  /**
   * The workflow that owns a callback row. Every input comes from the committed row (the staff
   * member a manager named included), so the API's start, an Idempotency-Key replay's and the
   * reconciler's are the same start.
   */
  function workflowOf(r: store.CallbackRow): WorkflowStart {
    const snapshot = r.settings as CallbackSnapshot;
    const args: CallbackWorkflowInput = {
      callbackId: r.id,
      companyId: r.company_id,
      branchId: r.branch_id,
      priority: r.priority,
      dueAt: r.expires_at.toISOString(),
      warnAt: (r.warn_at ?? r.expires_at).toISOString(),
      openUntil: (r.open_until ?? r.expires_at).toISOString(),
      snapshot,
      assignTo: r.assign_to,
      durability,
      ...(deps.historyLimit ? { historyLimit: deps.historyLimit } : {}),
    };
    return {
      workflowType: CALLBACK_WORKFLOW_TYPE,
      workflowId: r.workflow_id,
      args: [args],
      searchAttributes: [
        { key: CompanyId, value: r.company_id },
        { key: BranchId, value: r.branch_id },
        { key: CallbackPriority, value: r.priority },
        { key: CallbackStatusKey, value: r.status },
        { key: CallbackDueAt, value: r.expires_at },
      ],
      // Shown in the Web UI: who to call, without the full number (search attributes carry ids only).
      memo: { customerName: r.customer_name, phone: maskPhone(r.phone_number) },
    };
  }

  async function liveState(workflowId: string): Promise<CallbackDetail['live']> {
    const s = await client
      .withDeadline(Date.now() + liveTimeout, () => client.workflow.getHandle(workflowId).query(callbackStateQuery))
      .catch((): CallbackState | null => null);
    if (!s) return null;
    const { status, assignedTo, breached, warned, failedAttemptsSinceEscalation, nextEscalationAt, run } = s;
    return { status, assignedTo, breached, warned, failedAttemptsSinceEscalation, nextEscalationAt, run };
  }

  async function found(companyId: string, id: string): Promise<store.CallbackRow> {
    const row = UUID.test(id) ? await store.findCallback(pool, companyId, id) : undefined;
    if (!row) throw new NotFoundError('callback', id);
    return row;
  }

  /**
   * Creates the callback: checks its references (404 for another company's ids), takes the
   * settings snapshot (branch > company > defaults) and the branch's opening hours, computes the
   * SLA deadline, the warning and the end of its open life, commits the row (with the
   * Idempotency-Key's response) and starts `callback-<id>` (src/db/outbox.ts): never a row without a
   * workflow, never a workflow without a row.
   */
  async function createCallback(
    companyId: string,
    input: CreateCallback,
    actor: { role: Actor['role'] },
    idempotencyKey?: string,
  ): Promise<{ created: boolean; callback: CallbackView }> {
    if (input.assignTo && actor.role === 'agent') throw new ForbiddenError('only a manager may assign a callback by hand');
    await features.require(companyId, 'callbacks');
    const createdAt = new Date(await clock());
    let inserted: store.CallbackRow | undefined;
    const { created, response } = await createThenStart<{ callbackId: string }>({
      pool,
      client,
      taskQueue,
      deadlineMs: startTimeoutMs,
      logger: deps.logger,
      idempotency:
        idempotencyKey === undefined
          ? undefined
          : { scope: { companyId, scope: IDEMPOTENCY_SCOPE, key: idempotencyKey }, requestHash: requestHash(input) },
      write: async (tx) => {
        // Branch, settings and customer in one statement: intake is the hot path.
        const facts = await store.intakeFacts(tx, companyId, input.branchId, input.customerId ?? null);
        if (!facts) throw new NotFoundError('branch', input.branchId);
        const { branch, customer } = facts;
        const country = phoneCountry({ branch: facts.phoneCountry });
        let { customerName } = input;
        let phoneNumber = input.phoneNumber === undefined ? undefined : e164OrThrow(input.phoneNumber, country, 'body.phoneNumber');
        if (input.customerId) {
          if (!customer) throw new NotFoundError('customer', input.customerId);
          customerName ??= customer.name;
          if (!phoneNumber) {
            // The customer's number (E.164 since it was saved; one from before that may not read).
            const theirs = customer.phone ? toE164(customer.phone, country) : undefined;
            if (!theirs?.ok) {
              throw new ValidationError('invalid request: body.phoneNumber', [
                {
                  field: 'body.phoneNumber',
                  message: theirs ? `the customer's number ${theirs.message}: give one` : 'the customer has no phone number: give one',
                },
              ]);
            }
            phoneNumber = theirs.e164;
          }
        }
        if (input.serviceId && !(await store.exists(tx, 'services', companyId, input.serviceId))) {
          throw new NotFoundError('service', input.serviceId);
        }
        for (const [field, id] of [
          ['staffId', input.staffId],
          ['assignTo', input.assignTo],
        ] as const) {
          if (!id) continue;
          const staff = await store.findStaffFacts(tx, companyId, id);
          if (!staff) throw new NotFoundError('staff member', id);
          if (field === 'assignTo' && staff.branchId !== input.branchId) {
            throw new ValidationError(`invalid request: body.${field}`, [
              { field: `body.${field}`, message: `staff member ${id} does not work at branch ${input.branchId}` },
            ]);
          }
          if (field === 'assignTo' && !staff.available) throw new ConflictError(`staff member ${id} is not available`, 'staff_unavailable');
        }
        const { settings } = resolveCallbackSettings(facts.settings.branch, facts.settings.company);
        const businessHours: BusinessHours | null = branch.openingHours ? { timeZone: branch.timeZone, weekly: branch.openingHours } : null;
        const deadlines = deadlinesOrConflict(createdAt.getTime(), input.priority, settings, businessHours);
        const id = randomUUID();
        inserted = await store.insertCallback(tx, {
          id,
          companyId,
          branchId: input.branchId,
          customerId: input.customerId ?? null,
          serviceId: input.serviceId ?? null,
          // The preferred staff member: the one the request names, else the customer's own.
          staffId: input.staffId ?? customer?.preferredStaffId ?? null,
          assignTo: input.assignTo ?? null,
          phoneNumber: phoneNumber!,
          customerName: customerName!,
          priority: input.priority,
          notes: input.notes ?? null,
          metadata: input.metadata,
          snapshot: { settings, businessHours },
          ...deadlines,
          createdAt,
          workflowId: callbackWorkflowId(id),
        });
        inserted.display_time_zone = customer?.timeZone ?? branch.timeZone;
        return { callbackId: id };
      },
      workflowOf: async (r) => workflowOf(inserted ?? (await found(companyId, r.callbackId))),
    });
    const row = inserted ?? (await found(companyId, response.callbackId));
    return { created, callback: toView(row) };
  }

  /** The row with its attempts and escalations and, while it runs, the workflow's live state. */
  async function getCallback(companyId: string, id: string): Promise<CallbackDetail> {
    const row = await found(companyId, id);
    const [attempts, escalations, live] = await Promise.all([
      store.attemptsOf(pool, companyId, id),
      store.escalationsOf(pool, companyId, id),
      isOpen(row.status) ? liveState(row.workflow_id) : Promise.resolve(null),
    ]);
    return {
      ...toView(row),
      attempts: attempts.map((a) => ({
        id: a.id,
        staffId: a.staff_id,
        outcome: a.outcome,
        notes: a.notes,
        attemptedAt: a.attempted_at.toISOString(),
      })),
      escalations: escalations.map((e) => ({
        id: e.id,
        reason: e.reason,
        escalatedFrom: e.escalated_from,
        escalatedTo: e.escalated_to,
        escalatedAt: e.escalated_at.toISOString(),
        resolvedAt: iso(e.resolved_at),
        notes: e.notes,
        notificationId: e.notification_id,
      })),
      live,
    };
  }

  async function listCallbacks(companyId: string, q: CallbackQuery): Promise<{ items: CallbackView[]; nextCursor: string | null }> {
    if (q.branchId && !(await store.findBranchFacts(pool, companyId, q.branchId))) throw new NotFoundError('branch', q.branchId);
    if (q.assignedTo && !(await store.findStaffFacts(pool, companyId, q.assignedTo))) throw new NotFoundError('staff member', q.assignedTo);
    const rows = await store.listCallbacks(pool, companyId, {
      ...q,
      after: q.cursor ? parseCursor(q.cursor) : undefined,
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    return { items: page.map((r) => toView(r)), nextCursor: rows.length > q.limit ? cursorOf(page[page.length - 1]) : null };
  }

  async function overdue(companyId: string, branchId: string) {
    if (!(await store.findBranchFacts(pool, companyId, branchId))) throw new NotFoundError('branch', branchId);
    const rows = await store.overdueOfBranch(pool, companyId, branchId, new Date(await clock()));
    return { items: rows.map((r) => ({ ...toView(r), overdueHours: r.overdue_hours })) };
  }

  /** A branch's escalations waiting for a manager (its open callbacks' unresolved escalations), oldest first. */
  async function openEscalations(companyId: string, branchId: string) {
    if (!(await store.findBranchFacts(pool, companyId, branchId))) throw new NotFoundError('branch', branchId);
    const rows = await store.openEscalationsOfBranch(pool, companyId, branchId);
    return {
      items: rows.map(({ escalation: e, callback }) => ({
        escalation: {
          id: e.id,
          reason: e.reason,
          escalatedFrom: e.escalated_from,
          escalatedTo: e.escalated_to,
          escalatedAt: e.escalated_at.toISOString(),
          notes: e.notes,
          notificationId: e.notification_id,
        },
        callback: toView(callback),
      })),
    };
  }

  async function analytics(companyId: string, q: { from?: Date; to?: Date }) {
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - 30 * 86_400_000);
    if (from >= to) throw new ValidationError('invalid request: query.from', [{ field: 'query.from', message: 'must be before to' }]);
    const rows = await store.callbackAnalytics(pool, companyId, from, to);
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      rows: rows.map((r) => ({
        branchId: r.branch_id,
        priority: r.priority,
        count: r.count,
        breached: r.breached,
        breachRate: r.count ? Math.round((r.breached / r.count) * 10_000) / 10_000 : 0,
        medianSecondsToFirstContact: r.median_contact_s === null ? null : Math.round(Number(r.median_contact_s)),
        medianSecondsToCompletion: r.median_completion_s === null ? null : Math.round(Number(r.median_completion_s)),
        escalationsByReason: r.escalations,
      })),
    };
  }

  /**
   * A manager's or agent's message, as a Temporal update: validated by the workflow against its
   * live state (409 naming the invalid transition, 403 for an agent acting on someone else's
   * callback), applied, and answered with the new state. Answers 202 with the state as it is when
   * applying takes longer than `updateTimeoutMs` (it is accepted and will be applied).
   *
   * With an Idempotency-Key the update's id is derived from the key, so a client retrying after a
   * 503 (the update was admitted, the answer did not come in time) reaches the same update and the
   * message is applied once; its first final answer (200, 403, 409) is recorded and replayed.
   */
  async function message(
    companyId: string,
    id: string,
    kind: MessageKind,
    args: Record<string, unknown>,
    actor: Actor,
    idempotencyKey?: string,
  ): Promise<{ applied: boolean; callback: CallbackDetail }> {
    const row = await found(companyId, id);
    const scope = idempotencyKey === undefined ? undefined : { companyId, scope: MESSAGE_IDEMPOTENCY_SCOPE, key: idempotencyKey };
    let retry = false;
    if (scope) {
      const claim = await claimRetryableKey<RecordedAnswer>(pool, scope, requestHash({ callbackId: id, kind, args }));
      if (claim.kind === 'replay') return replayAnswer(claim.response);
      retry = claim.kind === 'retry';
    }
    const updateId =
      idempotencyKey === undefined ? undefined : `${kind}-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}`;
    try {
      const answer = await deliver(companyId, row, kind, args, actor, updateId, retry);
      if (scope && answer.applied) await recordIdempotentResponse(pool, scope, 200, { applied: true, callback: answer.callback });
      return answer;
    } catch (error) {
      if (scope && (error instanceof ConflictError || error instanceof ForbiddenError)) {
        await recordIdempotentResponse(pool, scope, error instanceof ForbiddenError ? 403 : 409, {
          error: { kind: error instanceof ForbiddenError ? 'forbidden' : 'conflict', code: error.code, message: error.message },
        });
      }
      throw error;
    }
  }

  /** The first answer to a message with this Idempotency-Key, again. */
  function replayAnswer(recorded: RecordedAnswer): { applied: boolean; callback: CallbackDetail } {
    if ('error' in recorded) {
      throw recorded.error.kind === 'forbidden'
        ? new ForbiddenError(recorded.error.message)
        : new ConflictError(recorded.error.message, recorded.error.code);
    }
    return recorded;
  }

  async function deliver(
    companyId: string,
    row: store.CallbackRow,
    kind: MessageKind,
    args: Record<string, unknown>,
    actor: Actor,
    updateId: string | undefined,
    retry: boolean,
  ): Promise<{ applied: boolean; callback: CallbackDetail }> {
    const id = row.id;
    if (!isOpen(row.status)) {
      // A retry whose first attempt was applied after its answer timed out: the update's outcome says so.
      if (retry && updateId && (await updateCompleted(row.workflow_id, updateId)))
        return { applied: true, callback: await getCallback(companyId, id) };
      throw new ConflictError(`cannot ${kind} a ${row.status} callback`, 'invalid_transition');
    }
    if (kind === 'reassign' && typeof args.staffId === 'string') {
      const staff = await store.findStaffFacts(pool, companyId, args.staffId);
      if (!staff) throw new NotFoundError('staff member', args.staffId);
      if (staff.branchId !== row.branch_id) {
        throw new ValidationError('invalid request: body.staffId', [
          { field: 'body.staffId', message: `staff member ${args.staffId} does not work at branch ${row.branch_id}` },
        ]);
      }
      if (!staff.available) throw new ConflictError(`staff member ${args.staffId} is not available`, 'staff_unavailable');
    }
    const handle = client.workflow.getHandle(row.workflow_id);
    const send = () =>
      client.withDeadline(Date.now() + updateTimeoutMs, () =>
        handle.startUpdate(UPDATES[kind], {
          args: [{ ...args, actor }] as never,
          waitForStage: WorkflowUpdateStage.ACCEPTED,
          ...(updateId ? { updateId } : {}),
        }),
      );
    let applied = true;
    try {
      let update;
      try {
        update = await send();
      } catch (error) {
        // The row committed but its workflow never started (Temporal was down at creation): start it now.
        if (!(error instanceof WorkflowNotFoundError)) throw error;
        await startCommitted(workflowOf(row), { client, taskQueue, deadlineMs: startTimeoutMs, logger: deps.logger });
        update = await send();
      }
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), updateTimeoutMs).unref());
      applied = (await Promise.race([update.result(), timeout])) !== 'timeout';
    } catch (error) {
      if (retry && updateId && !(error instanceof WorkflowUpdateFailedError) && (await updateCompleted(row.workflow_id, updateId))) {
        return { applied: true, callback: await getCallback(companyId, id) };
      }
      throw refusal(error, kind);
    }
    return { applied, callback: await getCallback(companyId, id) };
  }

  /** Whether an update of this id completed on the workflow (also after the run closed); false when that cannot be told now. */
  async function updateCompleted(workflowId: string, updateId: string): Promise<boolean> {
    return client
      .withDeadline(Date.now() + updateTimeoutMs, () => client.workflow.getHandle(workflowId).getUpdateHandle(updateId).result())
      .then(
        () => true,
        () => false,
      );
  }

  function refusal(error: unknown, kind: MessageKind): Error {
    if (error instanceof WorkflowUpdateFailedError) {
      const cause = error.cause instanceof ApplicationFailure ? error.cause : undefined;
      if (cause?.type === FORBIDDEN) return new ForbiddenError(cause.message);
      if (cause?.type === CALLBACK_FAILED) return new UnavailableError(cause.message);
      return new ConflictError(cause?.message ?? `cannot ${kind} this callback`, 'invalid_transition');
    }
    if (error instanceof WorkflowNotFoundError) return new UnavailableError('the callback workflow is not running yet; retry shortly');
    return new UnavailableError(`Temporal did not take the message: ${(error as Error).message}`);
  }

  /** The effective settings of the company or a branch, each with where it came from. */
  async function getSettings(companyId: string, branchId: string | null) {
    if (branchId && !(await store.findBranchFacts(pool, companyId, branchId))) throw new NotFoundError('branch', branchId);
    const rows = await store.loadSettingsRows(pool, companyId, branchId);
    const { settings, provenance, sources } = resolveCallbackSettings(rows.branch, rows.company);
    return { branchId, effective: settings, provenance, sources };
  }

  /** Creates or replaces the settings of the company or a branch. Running callbacks keep their snapshot. */
  async function putSettings(
    companyId: string,
    input: CallbackSettingsInput,
  ): Promise<{ created: boolean; settings: Awaited<ReturnType<typeof getSettings>> }> {
    const branchId = input.branchId ?? null;
    if (branchId && !(await store.findBranchFacts(pool, companyId, branchId))) throw new NotFoundError('branch', branchId);
    const { created } = await store.upsertSettings(pool, companyId, branchId, {
      slaUrgentSeconds: input.slaSeconds.urgent,
      slaHighSeconds: input.slaSeconds.high,
      slaNormalSeconds: input.slaSeconds.normal,
      cooldownSeconds: input.cooldownSeconds,
      attemptsBeforeEscalation: input.attemptsBeforeEscalation,
      warningPercent: input.warningPercent,
      maxOpenSeconds: input.maxOpenSeconds,
      assignmentRetrySeconds: input.assignmentRetrySeconds,
    });
    return { created, settings: await getSettings(companyId, branchId) };
  }

  /**
   * A staff member of the branch became available: every callback of the branch nobody could take
   * tries again now (a signal each; those that miss it retry on their own timer).
   */
  async function staffBecameAvailable(companyId: string, branchId: string): Promise<number> {
    const ids = await store.waitingCallbacks(pool, companyId, branchId);
    let signalled = 0;
    await Promise.all(
      ids.map((workflowId) =>
        client
          .withDeadline(Date.now() + 3_000, () => client.workflow.getHandle(workflowId).signal(staffAvailableSignal))
          .then(() => (signalled += 1))
          .catch((error) => deps.logger?.warn({ err: error, workflowId }, 'could not tell a waiting callback; it retries on its timer')),
      ),
    );
    return signalled;
  }

  /**
   * The reconciler's view of callbacks (src/db/outbox.ts): rows whose workflow never ran, and
   * orphans. A run that ended without closing its row is recorded as what happened: `failed` with
   * the reason (a step that gave up, a bug, a run terminated or timed out), `cancelled` for a run
   * cancelled from outside, or the completion (or cancellation) the run had accepted and could not
   * write. A final row is never overwritten.
   */
  const outbox: OutboxSource = {
    workflowType: CALLBACK_WORKFLOW_TYPE,
    unstarted: async (db, options) => (await store.unstartedCallbacks(db, options)).map((r) => workflowOf(r)),
    oldestOpen: (db, options) => store.oldestOpenStartedCallback(db, options.companyIds),
    closeOrphan: async (db, workflowId, closeStatus, failure) => {
      if (!(await store.isOpenWorkflowRow(db, workflowId))) return false;
      const how = closeStatus.toLowerCase().replace(/_/g, ' ');
      if (closeStatus === 'Canceled') {
        return store.finishOrphanCallback(db, workflowId, { status: 'cancelled', reason: `the workflow was cancelled (reconciled)` });
      }
      const ended = await failure();
      const pending = ended?.type === CALLBACK_FAILED ? (ended.details[0] as PendingEnding | undefined) : undefined;
      if (pending && pending.status !== 'failed') {
        return store.finishOrphanCallback(db, workflowId, {
          status: pending.status,
          reason: pending.reason ?? `accepted before the run failed: ${ended!.message} (reconciled)`,
          outcomeNotes: pending.notes,
          at: new Date(pending.at),
        });
      }
      const reason = ended?.message
        ? `the workflow ${how}: ${ended.message} (reconciled)`
        : `the workflow ended ${how} without closing the callback (reconciled)`;
      return store.finishOrphanCallback(db, workflowId, { status: 'failed', reason });
    },
  };

  /**
   * The callbacks' own metrics on the API's registry: `callbacks_failed`, how many callbacks ended
   * `failed` (read from the rows at each scrape, so every process shows the same number whichever
   * one recorded the ending). Alert on its increase.
   */
  function registerMetrics(registry: Registry): void {
    let last = 0;
    new Gauge({
      name: 'callbacks_failed',
      help: 'Callbacks whose run could not go on (a step gave up after its retries, a bug, a run ended from outside): status failed',
      registers: [registry],
      async collect() {
        // The database down: the last value stays (a scrape never fails for it).
        last = await store.failedCallbackCount(pool).catch(() => last);
        this.set(last);
      },
    });
  }

  return {
    registerMetrics,
    createCallback,
    getCallback,
    listCallbacks,
    overdue,
    openEscalations,
    analytics,
    message,
    getSettings,
    putSettings,
    staffBecameAvailable,
    outbox,
    /** For tests and tools: the handle of a callback's workflow. */
    handleOf: (workflowId: string): WorkflowHandle => client.workflow.getHandle(workflowId),
  };
}

export type CallbackService = ReturnType<typeof createCallbackService>;
export type RecordAttemptInput = typeof RecordAttemptBody;

/** Validates opening hours for the directory (PATCH /v1/branches/:id), naming the field. */
export function checkOpeningHours(timeZone: string, weekly: unknown): void {
  const result = validateBusinessHours({ timeZone, weekly });
  if (!result.ok) {
    const issues = result.issues.map((i) => ({ field: `body.openingHours${i.path.replace(/^weekly/, '')}`, message: i.message }));
    throw new ValidationError(`invalid request: ${issues.map((i) => i.field).join(', ')}`, issues);
  }
}
