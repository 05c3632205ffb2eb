import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  TemporalFailure,
  upsertSearchAttributes,
  workflowInfo,
  WorkflowError,
} from '@temporalio/workflow';
import type { AppointmentActivities } from '../activities/appointments';
import {
  appointmentChangedSignal,
  appointmentStateQuery,
  AppointmentStartsAt,
  AppointmentStatusKey,
  BranchId,
  CompanyId,
  NeedsAttention,
  StaffId,
  type AppointmentResult,
  type AppointmentState,
  type AppointmentWorkflowInput,
  type MessageKind,
  type PlannedMessage,
} from '../src/appointments/definitions';
import { applyFacts, dueNow, isDone, nextWake, outcomeOf } from '../src/appointments/rules';
import { bookkeepingOptions, DEFAULT_DURABILITY, externalCallOptions } from '../src/temporal/durability';

/**
 * Behaviour added for runs that start on this code (older histories replay unchanged; see
 * test/workflows/replay.test.ts):
 * - a message step that gives up is recorded on its `appointment_messages` row (status failed);
 * - a bookkeeping step (reading or finishing the row, recording a message) that spends its retry
 *   budget is not the end of the run: the run says it is stalled (NeedsAttention) and tries again;
 * - a bug in this code ends the run visibly: the row records `failed: <the error>`, NeedsAttention
 *   is set, and the run fails (instead of the workflow task failing for ever, unseen);
 * - a cancelled run (an erasure) waits for a message step in flight to finish, so whatever the step
 *   committed is there when the run is closed.
 */
const RECORD_GIVEN_UP_MESSAGES = 'record-given-up-messages';
const BOOKKEEPING_NEVER_GIVES_UP = 'bookkeeping-never-gives-up';
const BUGS_END_VISIBLY = 'bugs-end-visibly';
const CANCEL_WAITS_FOR_THE_STEP = 'cancel-waits-for-the-step';

/**
 * One appointment, durably (workflow id `appointment-<id>`), from booking to its feedback request:
 * the "booked" (or "confirmed") message, the reminders 24 h and 2 h before the start on durable
 * timers, "confirmed" when it becomes confirmed, and the feedback request after the end. The row
 * is the truth: told of a change (a signal, sent after every committed change), the workflow reads
 * the row again and moves its timers; a reminder planned for the old start is dropped, the new
 * start's are planned; a cancelled or no-show appointment, or one whose customer was erased, ends
 * it. Each message is one step that decides against the row as it is then and the clock of the
 * send (a change the workflow has not heard of yet still stops a stale reminder; a message whose
 * moment passed while the step was held up is skipped) and records what it did.
 *
 * How it ends: with the row final (`ended`, `cancelled`, `no_show`, the erasure's reason), never
 * quietly. A database outage is waited out for as long as it lasts (each bookkeeping step retries
 * for `durability.infraRetryMs`, then the run shows NeedsAttention and tries again, continuing as
 * new to keep its history bounded); a message whose step gave up is recorded `failed`; a bug fails
 * the run with the row saying `failed: <error>`.
 */
export async function appointmentWorkflow(input: AppointmentWorkflowInput): Promise<AppointmentResult> {
  const durability = input.durability ?? DEFAULT_DURABILITY;
  const local = proxyLocalActivities<AppointmentActivities>(bookkeepingOptions(durability));
  const remote = proxyActivities<AppointmentActivities>(externalCallOptions(durability, '1m'));
  const remoteWaiting = proxyActivities<AppointmentActivities>({
    ...externalCallOptions(durability, '1m'),
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  let state: AppointmentState = input.carried ?? {
    appointmentId: input.appointmentId,
    facts: null,
    learnedAt: null,
    messages: [],
    phase: 'running',
    outcome: null,
    run: 1,
  };
  // Every run reads the row first (a change may have arrived while the previous run handed over).
  let told = true;
  setHandler(appointmentChangedSignal, (change) => {
    if (!state.facts || typeof change?.revision !== 'number' || change.revision > state.facts.revision) told = true;
  });
  setHandler(appointmentStateQuery, () => ({ ...state, messages: state.messages.map((m) => ({ ...m })) }));

  // ---- search attributes: ids and states only; one upsert per change, of what changed ----
  const published: { staff?: string | null; startsAt?: string; status?: string; ids?: boolean } = {};
  const publish = () => {
    const f = state.facts;
    if (!f) return;
    const updates: Parameters<typeof upsertSearchAttributes>[0] = [];
    if (!published.ids) {
      updates.push({ key: CompanyId, value: f.companyId }, { key: BranchId, value: f.branchId });
    }
    if (published.staff !== f.staffId) updates.push({ key: StaffId, value: f.staffId });
    if (published.startsAt !== f.startsAt) updates.push({ key: AppointmentStartsAt, value: new Date(Date.parse(f.startsAt)) });
    if (published.status !== f.status) updates.push({ key: AppointmentStatusKey, value: f.status });
    if (updates.length === 0) return;
    upsertSearchAttributes(updates as never);
    Object.assign(published, { staff: f.staffId, startsAt: f.startsAt, status: f.status, ids: true });
  };
  /** NeedsAttention: while a step is stalled, once a message was given up, and when a bug ends the run. */
  let failedByBug = false;
  const attention = () => {
    const needed = !!state.stalled || failedByBug || state.messages.some((m) => m.state === 'failed');
    if ((workflowInfo().typedSearchAttributes.get(NeedsAttention) ?? false) !== needed)
      upsertSearchAttributes([{ key: NeedsAttention, value: needed }]);
  };

  const historyLimit = input.historyLimit;
  /** A long life (many moves over months, a long outage) hands over to a new run carrying the plan. */
  async function handOverIfLong(): Promise<void> {
    const info = workflowInfo();
    if (info.continueAsNewSuggested || (historyLimit !== undefined && info.historyLength >= historyLimit)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof appointmentWorkflow>({ ...input, carried: { ...state, run: state.run + 1 } });
    }
  }

  /**
   * A bookkeeping step that never gives up: an outage is infrastructure, never an ending. Each try
   * retries for `durability.infraRetryMs`; when that is spent the run shows it is stalled (live
   * state, NeedsAttention, an error log), pauses and tries again, handing over to a new run when
   * its history grows long. The first success clears the stall.
   */
  async function patiently<T>(step: string, run: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const result = await run();
        if (state.stalled) {
          log.info('an appointment workflow step went through again', {
            appointmentId: input.appointmentId,
            step,
            since: state.stalled.since,
          });
          state = { ...state, stalled: null };
          attention();
        }
        return result;
      } catch (error) {
        // A local activity that gave up is an ActivityFailure when it happens, but replays from its
        // marker as the bare cause (a TimeoutFailure after its schedule-to-close): both are a step
        // that spent its budget.
        if (isCancellation(error) || !(error instanceof TemporalFailure) || !patched(BOOKKEEPING_NEVER_GIVES_UP)) throw error;
        const since = state.stalled?.since ?? new Date(Date.now()).toISOString();
        state = { ...state, stalled: { step, since, error: causeOf(error) } };
        attention();
        log.error('an appointment workflow step spent its retry budget; trying again', {
          appointmentId: input.appointmentId,
          step,
          since,
          error: causeOf(error),
        });
        // As long as the longest interval between two retries (5 minutes by default), then a new budget.
        await sleep(Math.max(1_000, durability.infraMaximumIntervalMs));
        await handOverIfLong();
      }
    }
  }

  /** Reads the row and replans; false when the row is gone. */
  async function read(): Promise<boolean> {
    told = false;
    const facts = await patiently('reading the appointment', () => local.readAppointment({ appointmentId: input.appointmentId }));
    if (!facts) return false;
    state = applyFacts(state, facts, Date.now());
    publish();
    return true;
  }

  const mark = (key: string, outcome: { state: 'sent' | 'skipped' | 'failed'; reason: string | null }) => {
    state = { ...state, messages: state.messages.map((m) => (m.key === key ? { ...m, state: outcome.state, reason: outcome.reason } : m)) };
  };

  /** One message step: decided and recorded by the activity; if it gives up, recorded as failed. */
  async function send(m: PlannedMessage): Promise<void> {
    const step = patched(CANCEL_WAITS_FOR_THE_STEP) ? remoteWaiting : remote;
    try {
      const outcome = await step.sendAppointmentMessage({
        appointmentId: input.appointmentId,
        companyId: input.companyId,
        kind: m.kind,
        key: m.key,
        forStartsAt: m.forStartsAt,
        dueAt: m.dueAt,
        at: new Date(Date.now()).toISOString(),
      });
      mark(m.key, { state: outcome.status, reason: outcome.reason });
    } catch (error) {
      // Retried through infrastructure trouble for hours (durability) and still failing: this
      // message is given up, the appointment's other messages are not.
      if (!(error instanceof ActivityFailure) || isCancellation(error)) throw error;
      const reason = `could not be sent: ${causeOf(error)}`;
      const at = new Date(Date.now()).toISOString();
      log.error('an appointment message could not be sent', { appointmentId: input.appointmentId, key: m.key, error: reason });
      if (!patched(RECORD_GIVEN_UP_MESSAGES)) {
        mark(m.key, { state: 'skipped', reason });
        return;
      }
      const recorded = await patiently('recording a message that could not be sent', () =>
        local.recordMessageFailure({
          appointmentId: input.appointmentId,
          companyId: input.companyId,
          kind: m.kind,
          key: m.key,
          forStartsAt: m.forStartsAt,
          dueAt: m.dueAt,
          reason,
          at,
        }),
      );
      // The step may have committed after all (its answer lost): then its decision stands.
      mark(m.key, recorded ? { state: recorded.status, reason: recorded.reason } : { state: 'failed', reason });
      attention();
    }
  }

  async function lifetime(): Promise<AppointmentResult> {
    for (;;) {
      if (told) {
        if (!(await read())) {
          state = { ...state, phase: 'finished', outcome: 'the appointment no longer exists' };
          break;
        }
        continue;
      }
      const { send: due, skip } = dueNow(state, Date.now());
      for (const m of skip) mark(m.key, { state: 'skipped', reason: m.reason });
      for (const m of due) {
        await send(m);
        // A change arrived while sending: read it before deciding on the next message.
        if (told) break;
      }
      if (told) continue;

      const facts = state.facts!;
      if (isDone(state, Date.now())) {
        const outcome = outcomeOf(facts);
        // Recorded only if the row has not changed since the last read; a change arriving now is read instead.
        const recorded = await patiently('recording the end', () =>
          local.finishAppointment({ appointmentId: input.appointmentId, revision: facts.revision, outcome }),
        );
        if (!recorded) told = true;
        if (told) continue;
        await condition(allHandlersFinished);
        if (told) continue;
        state = { ...state, phase: 'finished', outcome };
        break;
      }

      await handOverIfLong();

      const now = Date.now();
      const wakes = [nextWake(state), Date.parse(facts.endsAt)].filter((w): w is number => w !== null && w > now);
      if (wakes.length === 0) await condition(() => told);
      else await condition(() => told, Math.max(1, Math.min(...wakes) - now));
    }

    const sent = state.messages.filter((m) => m.state === 'sent').map((m) => m.kind as MessageKind);
    const skipped = state.messages.filter((m) => m.state === 'skipped' || m.state === 'failed').length;
    log.info('appointment workflow finished', { appointmentId: input.appointmentId, outcome: state.outcome, sent: sent.length, skipped });
    return { outcome: state.outcome ?? 'ended', sent, skipped };
  }

  try {
    return await lifetime();
  } catch (error) {
    // A bug (an error that is not Temporal's: a TypeError, a RangeError on a value nobody expected)
    // would fail the workflow task for ever, the run Running and unseen. Instead: the row says so,
    // the run is flagged, and it fails (the Web UI and `ExecutionStatus = 'Failed'` show the error).
    if (!isBug(error) || !patched(BUGS_END_VISIBLY)) throw error;
    const reason = `a bug in the appointment workflow: ${describe(error)}`;
    log.error('appointment workflow failed', { appointmentId: input.appointmentId, error: reason });
    failedByBug = true;
    attention();
    await patiently('recording the failure', () => local.recordAppointmentFailure({ appointmentId: input.appointmentId, reason }));
    throw ApplicationFailure.nonRetryable(reason, 'AppointmentWorkflowBug');
  }
}

/** An error of this code, not one of Temporal's (failures, cancellation, continue-as-new, the SDK's own). */
function isBug(error: unknown): error is Error {
  return (
    error instanceof Error &&
    !(error instanceof TemporalFailure) &&
    !(error instanceof ContinueAsNew) &&
    !(error instanceof WorkflowError) &&
    !isCancellation(error)
  );
}

const describe = (error: Error) => `${error.name}: ${error.message}`;

function causeOf(error: unknown): string {
  let e = error as { cause?: unknown; message?: string } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(error);
}
