import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  setWorkflowOptions,
  TemporalFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CallbackActivities } from '../activities/callbacks';
import {
  BranchId,
  CallbackDueAt,
  CallbackEscalated,
  CallbackPriority,
  callbackStateQuery,
  CallbackStatusKey,
  cancelSignal,
  cancelUpdate,
  CompanyId,
  completeSignal,
  completeUpdate,
  escalateSignal,
  escalateUpdate,
  isOpen,
  reassignSignal,
  reassignUpdate,
  recordAttemptSignal,
  recordAttemptUpdate,
  staffAvailableSignal,
  StaffId,
  type Actor,
  type CallbackResult,
  type CallbackState,
  type CallbackStatus,
  type CallbackWorkflowInput,
  type CarriedKeys,
  type PendingEnding,
  CALLBACK_FAILED,
  type AttemptOutcome,
  type EscalationReason,
} from '../src/callbacks/definitions';
import { nextEscalationAllowedAt, Refusal, statusAfterAttempt, transitions } from '../src/callbacks/rules';
import { bookkeepingOptions, DEFAULT_DURABILITY, externalCallOptions, finalWriteOptions } from '../src/temporal/durability';
import { stepFailure, stepTracker } from './steps';

/**
 * Patches (changed command sequences; recorded histories of older code replay without them):
 * - the continue-as-new check runs at the top of every turn of the loop, so a turn that escalates
 *   (and goes round again at once) cannot grow the history without bound;
 * - a `staffAvailable` signal that arrives while an assignment step runs is kept for the next turn;
 * - every escalation, whatever its reason, starts the failed-attempts count again.
 */
const CONTINUE_AS_NEW_CHECK_FIRST = 'callback-continue-as-new-check-first';
const KEEP_STAFF_SIGNAL_DURING_ASSIGNMENT = 'callback-keep-staff-signal-during-assignment';
const ATTEMPTS_SINCE_ANY_ESCALATION = 'callback-attempts-since-any-escalation';
/** How many applied update ids a run remembers (and carries over) to answer a repeated one without applying it twice. */
const REMEMBERED_UPDATES = 100;

/** A manager's or agent's message, accepted and waiting to be applied in order. */
type Op =
  | { kind: 'attempt'; actor?: Actor; outcome: AttemptOutcome; notes: string | null }
  | { kind: 'complete'; actor?: Actor; notes: string | null }
  | { kind: 'reassign'; actor?: Actor; staffId: string | null }
  | { kind: 'cancel'; actor?: Actor; reason: string | null }
  | { kind: 'escalate'; actor?: Actor; notes: string | null };
type Queued = Op & { key: string; done: boolean; error?: string; errorType?: string };

/** A bug (a non-Temporal error thrown by this code, e.g. a TypeError) fails the run instead of retrying its task for ever. */
const BUGS = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

const ms = (iso: string) => Date.parse(iso);

/**
 * One callback request, durably (workflow id `callback-<id>`): assigned (preferred, qualified,
 * least loaded, or by hand), watched by durable timers (the pre-breach warning, the SLA deadline,
 * the end of its open life), escalated to a manager on a breach, after N failed contact attempts
 * or by hand (never twice within the cooldown; again after it while still open), worked by
 * messages (record an attempt, complete, reassign, cancel, escalate: updates from the API,
 * signals from the Web UI or the CLI), until completed, cancelled or expired. Each transition
 * writes one projection of the state to the row, and the run's search attributes follow it.
 */
export async function callbackWorkflow(input: CallbackWorkflowInput): Promise<CallbackResult> {
  const durability = input.durability ?? DEFAULT_DURABILITY;
  // Which step a failure came from is known from this run's own state (see ./steps).
  const steps = stepTracker();
  const local = steps.track(proxyLocalActivities<CallbackActivities>(bookkeepingOptions(durability)));
  const remote = steps.track(proxyActivities<CallbackActivities>(externalCallOptions(durability, '1m')));
  const { settings } = input.snapshot;
  const state: CallbackState = input.carried ?? {
    callbackId: input.callbackId,
    status: 'pending',
    statusReason: null,
    priority: input.priority,
    assignedTo: null,
    assignmentReason: null,
    dueAt: input.dueAt,
    warnAt: input.warnAt,
    openUntil: input.openUntil,
    breached: false,
    warned: false,
    failedAttemptsSinceEscalation: 0,
    attempts: [],
    escalations: [],
    lastEscalatedAt: null,
    nextEscalationAt: null,
    run: 1,
  };
  // Keys of the messages and steps, carried over continue-as-new: derived from the messages' own
  // ids and the steps' order, never random, so a retried step or a reset that re-applies a message
  // writes under the same key (and is found) instead of writing again.
  const keys: CarriedKeys = {
    signals: input.carriedKeys?.signals ?? 0,
    assignments: input.carriedKeys?.assignments ?? 0,
    updates: [...(input.carriedKeys?.updates ?? [])],
  };
  const inbox: Queued[] = [];
  let staffAvailable = false;
  /** staffAvailable signals received so far (an assignment step clears only those it saw). */
  let staffSignals = 0;
  /** A finishing message (complete, cancel) is accepted: later ones are refused at once. */
  let finishing = false;

  // ---- messages: validated against the live state, then applied in order by the main loop ----
  /** `accepting`: checked when the message arrives (a finish already queued refuses another). */
  const validate = (op: Op, accepting = true) => {
    if (accepting && finishing && (op.kind === 'complete' || op.kind === 'cancel')) {
      throw new Refusal(
        'InvalidTransition',
        `the callback is already being ${inbox.some((q) => q.kind === 'cancel') ? 'cancelled' : 'completed'}`,
      );
    }
    switch (op.kind) {
      case 'attempt':
        return transitions.recordAttempt(state, op.actor);
      case 'complete':
        return transitions.complete(state, op.actor);
      case 'reassign':
        return transitions.reassign(state, op.actor);
      case 'cancel':
        return transitions.cancel(state, op.actor);
      case 'escalate':
        return transitions.escalate(state, op.actor, Date.now(), settings.cooldownSeconds);
    }
  };
  const asFailure = (error: unknown) =>
    error instanceof Refusal ? ApplicationFailure.create({ type: error.type, message: error.message, nonRetryable: true }) : error;
  const enqueue = (op: Op, key: string): Queued => {
    const queued: Queued = { ...op, key, done: false };
    if (op.kind === 'complete' || op.kind === 'cancel') finishing = true;
    inbox.push(queued);
    return queued;
  };
  /** An update: refused before it enters the history if invalid; else applied, and answered with the new state. */
  const asUpdate = <A>(toOp: (a: A) => Op) => ({
    handler: async (a: A): Promise<CallbackState> => {
      // The update's id (the API derives it from the request's Idempotency-Key): a repeated one,
      // e.g. carried over from the run before a continue-as-new, is answered without applying it twice.
      const id = currentUpdateInfo()?.id;
      if (id && keys.updates.includes(id)) return snapshot();
      if (id) keys.updates = [...keys.updates, id].slice(-REMEMBERED_UPDATES);
      const queued = enqueue(toOp(a), id ? `update:${id}` : `update:${workflowInfo().runId}:${inbox.length}`);
      await condition(() => queued.done);
      if (queued.error) throw ApplicationFailure.create({ type: queued.errorType, message: queued.error, nonRetryable: true });
      return snapshot();
    },
    validator: (a: A) => {
      try {
        validate(toOp(a));
      } catch (error) {
        throw asFailure(error);
      }
    },
  });
  /** A signal: the same message without an answer; an invalid one is logged and dropped. */
  const asSignal =
    <A>(toOp: (a: A) => Op) =>
    (a: A) => {
      const op = toOp(a);
      keys.signals += 1;
      try {
        validate(op);
        enqueue(op, `signal:${keys.signals}`);
      } catch (error) {
        log.warn('callback message refused', { kind: op.kind, reason: (error as Error).message });
      }
    };
  const attemptOp = (a: { actor?: Actor; outcome: AttemptOutcome; notes?: string | null }): Op => ({
    kind: 'attempt',
    actor: a?.actor,
    outcome: a?.outcome,
    notes: a?.notes ?? null,
  });
  const completeOp = (a: { actor?: Actor; notes?: string | null }): Op => ({ kind: 'complete', actor: a?.actor, notes: a?.notes ?? null });
  const reassignOp = (a: { actor?: Actor; staffId?: string | null }): Op => ({
    kind: 'reassign',
    actor: a?.actor,
    staffId: a?.staffId ?? null,
  });
  const cancelOp = (a: { actor?: Actor; reason?: string | null }): Op => ({ kind: 'cancel', actor: a?.actor, reason: a?.reason ?? null });
  const escalateOp = (a: { actor?: Actor; notes?: string | null }): Op => ({ kind: 'escalate', actor: a?.actor, notes: a?.notes ?? null });

  const update = {
    attempt: asUpdate(attemptOp),
    complete: asUpdate(completeOp),
    reassign: asUpdate(reassignOp),
    cancel: asUpdate(cancelOp),
    escalate: asUpdate(escalateOp),
  };
  setHandler(recordAttemptUpdate, update.attempt.handler, { validator: update.attempt.validator });
  setHandler(completeUpdate, update.complete.handler, { validator: update.complete.validator });
  setHandler(reassignUpdate, update.reassign.handler, { validator: update.reassign.validator });
  setHandler(cancelUpdate, update.cancel.handler, { validator: update.cancel.validator });
  setHandler(escalateUpdate, update.escalate.handler, { validator: update.escalate.validator });
  setHandler(recordAttemptSignal, asSignal(attemptOp));
  setHandler(completeSignal, asSignal(completeOp));
  setHandler(reassignSignal, asSignal(reassignOp));
  setHandler(cancelSignal, asSignal(cancelOp));
  setHandler(escalateSignal, asSignal(escalateOp));
  setHandler(staffAvailableSignal, () => {
    staffAvailable = true;
    staffSignals += 1;
  });
  setHandler(callbackStateQuery, () => snapshot());

  function snapshot(): CallbackState {
    return { ...state, attempts: [...state.attempts], escalations: [...state.escalations] };
  }

  // ---- search attributes: ids and states only ----
  // One upsert per transition, only of what changed (each upsert is a history event and a visibility write).
  const published: { status?: CallbackStatus; staff?: string | null; escalated?: boolean } = {};
  const publish = () => {
    const updates: Parameters<typeof upsertSearchAttributes>[0] = [];
    if (published.status !== state.status) updates.push({ key: CallbackStatusKey, value: state.status });
    if (published.staff !== state.assignedTo) updates.push({ key: StaffId, value: state.assignedTo });
    const escalated = state.escalations.length > 0;
    if (published.escalated !== escalated) updates.push({ key: CallbackEscalated, value: escalated });
    if (updates.length === 0) return;
    upsertSearchAttributes(updates as never);
    Object.assign(published, { status: state.status, staff: state.assignedTo, escalated });
  };
  const setStatus = (status: CallbackStatus, reason: string | null = state.statusReason) => {
    state.status = status;
    state.statusReason = reason;
    publish();
  };

  // ---- steps ----
  async function assign(explicit: string | null, exclude: string | null): Promise<string | null> {
    keys.assignments += 1;
    const signalsBefore = staffSignals;
    const result = await remote.assignCallback({
      callbackId: input.callbackId,
      companyId: input.companyId,
      explicit,
      exclude,
      key: `assignment:${keys.assignments}`,
    });
    // A staff member who became available while the step ran is someone the step may not have seen: keep the signal.
    staffAvailable = patched(KEEP_STAFF_SIGNAL_DURING_ASSIGNMENT) ? staffSignals > signalsBefore : false;
    if (result.assignedTo) {
      state.assignedTo = result.assignedTo;
      state.assignmentReason = result.reason;
      setStatus(state.status === 'pending' ? 'assigned' : state.status, null);
      return null;
    }
    if (state.assignedTo) {
      state.assignedTo = null;
      state.assignmentReason = null;
      setStatus('pending');
    }
    state.statusReason = result.reason;
    return result.reason;
  }

  async function escalate(reason: EscalationReason, notes: string | null, actor?: Actor): Promise<void> {
    const at = new Date(Date.now()).toISOString();
    const key = String(state.escalations.length + 1);
    const result = await remote.escalateCallback({
      callbackId: input.callbackId,
      companyId: input.companyId,
      branchId: input.branchId,
      key,
      reason,
      from: state.assignedTo,
      notes: notes ?? (actor ? `by ${actor.label}` : null),
      at,
    });
    // The escalation's own time, not the decision's: the cooldown runs from it. A retry that found
    // an earlier try's commit answers with that row's time; a try that committed now is known to
    // have committed by the time its completion reaches the workflow (this task's clock; a step
    // that retried for hours does not make the next escalation due at once). Older recorded
    // results carry no time: the decision's.
    const committedAt =
      result.at === undefined
        ? at
        : result.committedBefore
          ? result.at
          : new Date(Math.max(Date.parse(result.at), Date.now())).toISOString();
    state.escalations.push({ key, reason, at: committedAt, to: result.to });
    state.lastEscalatedAt = committedAt;
    if (reason === 'multiple_attempts_failed' || patched(ATTEMPTS_SINCE_ANY_ESCALATION)) state.failedAttemptsSinceEscalation = 0;
    publish();
  }

  async function apply(op: Queued): Promise<void> {
    // A message accepted before an earlier one changed the state is checked again here.
    try {
      validate(op, false);
    } catch (error) {
      op.error = (error as Error).message;
      op.errorType = error instanceof Refusal ? error.type : 'InvalidTransition';
      return;
    }
    const at = new Date(Date.now()).toISOString();
    switch (op.kind) {
      case 'attempt': {
        const reached = op.outcome === 'reached';
        const status = statusAfterAttempt(state.status, reached);
        await local.recordCallbackAttempt({
          callbackId: input.callbackId,
          key: op.key,
          staffId: op.actor?.staffId ?? state.assignedTo,
          outcome: op.outcome,
          notes: op.notes,
          at,
          status,
        });
        state.attempts.push({ key: op.key, outcome: op.outcome, staffId: op.actor?.staffId ?? state.assignedTo, at });
        if (!reached) state.failedAttemptsSinceEscalation += 1;
        setStatus(status);
        return;
      }
      case 'complete':
      case 'cancel': {
        const status = op.kind === 'complete' ? 'completed' : 'cancelled';
        const reason = op.kind === 'cancel' ? (op.reason ?? 'cancelled') : null;
        const notes = op.kind === 'complete' ? op.notes : null;
        await local.finishCallback({ callbackId: input.callbackId, status, reason, notes, at });
        setStatus(status, reason);
        return;
      }
      case 'reassign': {
        const unassigned = await assign(op.staffId, op.staffId ? null : state.assignedTo);
        if (unassigned && op.staffId) {
          op.error = unassigned;
          op.errorType = 'InvalidTransition';
        }
        return;
      }
      case 'escalate':
        await escalate('manual', op.notes, op.actor);
        return;
    }
  }

  // ---- the run ----
  upsertSearchAttributes([
    { key: CompanyId, value: input.companyId },
    { key: BranchId, value: input.branchId },
    { key: CallbackPriority, value: input.priority },
    { key: CallbackDueAt, value: new Date(ms(input.dueAt)) },
    { key: CallbackStatusKey, value: state.status },
    { key: StaffId, value: state.assignedTo },
    { key: CallbackEscalated, value: state.escalations.length > 0 },
  ]);
  Object.assign(published, { status: state.status, staff: state.assignedTo, escalated: state.escalations.length > 0 });
  /** The message being applied (a failure while applying it answers it and, for a completion or a cancellation, keeps it). */
  let applying: Queued | undefined;
  try {
    await run();
  } catch (error) {
    if (isCancellation(error) || !isOwnFailure(error, steps.inFlight)) throw error;
    return await endFailed(error, steps.inFlight);
  }

  // Messages accepted but not applied before the callback closed: refused now, with why.
  for (const op of inbox.splice(0)) {
    op.error = `the callback is already ${state.status}`;
    op.errorType = 'InvalidTransition';
    op.done = true;
  }
  await condition(allHandlersFinished);
  return { status: state.status, reason: state.statusReason, escalations: state.escalations.length, attempts: state.attempts.length };

  async function run(): Promise<void> {
    let nextAssignmentAt = Date.now();
    if (!input.carried) {
      await local.markCallbackStarted({ callbackId: input.callbackId });
      const unassigned = await assign(input.assignTo ?? null, null);
      if (unassigned) nextAssignmentAt = Date.now() + settings.assignmentRetrySeconds * 1000;
    } else if (!state.assignedTo) {
      nextAssignmentAt = Date.now();
    }

    const historyLimit = input.historyLimit;
    /** A long life (escalating every cooldown for days) keeps a bounded history: continue as new. */
    const continueAsNewIfLong = async () => {
      const info = workflowInfo();
      if (inbox.length === 0 && (info.continueAsNewSuggested || (historyLimit !== undefined && info.historyLength >= historyLimit))) {
        await condition(allHandlersFinished);
        if (inbox.length === 0) {
          await continueAsNew<typeof callbackWorkflow>({
            ...input,
            assignTo: null,
            carried: { ...snapshot(), run: state.run + 1 },
            carriedKeys: { ...keys, updates: [...keys.updates] },
          });
        }
      }
    };
    while (isOpen(state.status)) {
      while (inbox.length > 0 && isOpen(state.status)) {
        applying = inbox.shift()!;
        await apply(applying);
        applying.done = true;
        applying = undefined;
      }
      if (!isOpen(state.status)) break;
      // Every turn, whatever the last one did (an escalation goes round again at once).
      if (patched(CONTINUE_AS_NEW_CHECK_FIRST)) await continueAsNewIfLong();
      const now = Date.now();
      const waiting = state.status === 'pending' || state.status === 'assigned';

      if (now >= ms(state.openUntil)) {
        await remote.expireCallback({
          callbackId: input.callbackId,
          companyId: input.companyId,
          branchId: input.branchId,
          at: new Date(now).toISOString(),
        });
        setStatus('expired', 'still open at the end of its open life');
        break;
      }
      if (!state.breached && waiting && now >= ms(state.dueAt)) {
        await local.markCallbackBreached({ callbackId: input.callbackId, at: new Date(now).toISOString() });
        state.breached = true;
      }
      if (!state.warned && !state.breached && waiting && state.assignedTo && now >= ms(state.warnAt)) {
        await remote.warnCallbackAssignee({
          callbackId: input.callbackId,
          companyId: input.companyId,
          staffId: state.assignedTo,
          at: new Date(now).toISOString(),
        });
        state.warned = true;
      }

      // Escalations: after N failed attempts, on a breach and every cooldown after while open; never within the cooldown.
      const reason: EscalationReason | null =
        state.failedAttemptsSinceEscalation >= settings.attemptsBeforeEscalation
          ? 'multiple_attempts_failed'
          : state.breached
            ? 'sla_breach'
            : null;
      const allowedAt = nextEscalationAllowedAt(state.lastEscalatedAt, settings.cooldownSeconds) ?? now;
      state.nextEscalationAt = reason ? new Date(Math.max(allowedAt, now)).toISOString() : null;
      if (reason && now >= allowedAt) {
        await escalate(reason, null);
        continue;
      }

      if (!state.assignedTo && state.status === 'pending' && (staffAvailable || now >= nextAssignmentAt)) {
        if (await assign(null, null)) nextAssignmentAt = Date.now() + settings.assignmentRetrySeconds * 1000;
        continue;
      }

      if (!patched(CONTINUE_AS_NEW_CHECK_FIRST)) await continueAsNewIfLong();

      const wakes = [ms(state.openUntil)];
      if (waiting && !state.breached) wakes.push(ms(state.dueAt));
      if (waiting && !state.warned && !state.breached && state.assignedTo) wakes.push(ms(state.warnAt));
      if (reason) wakes.push(allowedAt);
      if (!state.assignedTo && state.status === 'pending') wakes.push(nextAssignmentAt);
      const until = Math.min(...wakes.filter((w) => w > now));
      await condition(() => inbox.length > 0 || (staffAvailable && !state.assignedTo), Math.max(1, until - now));
    }
  }

  /**
   * The run cannot go on: a step exhausted its retries (an outage longer than its budget), or this
   * code threw (a bug). Ends as what it is: `failed` with the reason (or, when a completion or a
   * cancellation was being applied, that ending: a manager's accepted message is never turned into
   * something else), in the search attributes and on the row; then the run fails, so Temporal shows
   * it. When the row cannot be written either (the database is still down), the failure carries the
   * ending and the outbox reconciler writes it.
   */
  async function endFailed(error: unknown, step: string | null): Promise<CallbackResult> {
    const reason = failureReason(error, step);
    const pending: PendingEnding =
      applying && (applying.kind === 'complete' || applying.kind === 'cancel')
        ? {
            status: applying.kind === 'complete' ? 'completed' : 'cancelled',
            reason: applying.kind === 'cancel' ? (applying.reason ?? 'cancelled') : null,
            notes: applying.kind === 'complete' ? applying.notes : null,
            at: new Date(Date.now()).toISOString(),
          }
        : { status: 'failed', reason, notes: null, at: new Date(Date.now()).toISOString() };
    for (const op of [...(applying ? [applying] : []), ...inbox.splice(0)]) {
      if (op.done) continue;
      if (op !== applying || pending.status === 'failed') {
        op.error = `the callback failed: ${reason}`;
        op.errorType = CALLBACK_FAILED;
      }
      op.done = true;
    }
    setStatus(pending.status, pending.reason);
    let written = false;
    try {
      await proxyLocalActivities<CallbackActivities>(finalWriteOptions(durability)).finishCallback({
        callbackId: input.callbackId,
        ...pending,
      });
      written = true;
    } catch (writeError) {
      log.warn('the failed callback could not be written now; the outbox reconciler writes it', {
        reason: failureReason(writeError, 'finishCallback'),
      });
    }
    await condition(allHandlersFinished);
    if (written && pending.status !== 'failed') {
      return { status: pending.status, reason: pending.reason, escalations: state.escalations.length, attempts: state.attempts.length };
    }
    throw ApplicationFailure.create({ type: CALLBACK_FAILED, message: reason, nonRetryable: true, details: [pending] });
  }
}

/**
 * What this run's own code can end on: a step that gave up (a Temporal failure while a step was in
 * flight, whichever form it takes), or a bug; not the SDK's continue-as-new or a cancellation.
 */
function isOwnFailure(error: unknown, step: string | null): boolean {
  return (step !== null && error instanceof TemporalFailure) || BUGS.some((type) => error instanceof type);
}

function failureReason(error: unknown, step: string | null): string {
  if (step !== null && error instanceof TemporalFailure) {
    // The same reason from the failure as it happened (an ActivityFailure) and as a local step replays it (bare).
    const causes: string[] = [];
    for (let cause: Error | undefined = stepFailure(error); cause && causes.length < 4; cause = cause.cause as Error | undefined) {
      if (cause.message) causes.push(cause.message);
    }
    return `the step ${step} gave up after its retries: ${causes.join(': ') || 'no cause'}`;
  }
  if (error instanceof Error) return `a bug in the callback workflow: ${error.name}: ${error.message}`;
  return `the callback workflow failed: ${String(error)}`;
}

// A bug thrown outside the main loop (a message handler) fails the run too; the reconciler closes its row.
setWorkflowOptions({ failureExceptionTypes: BUGS }, callbackWorkflow);
