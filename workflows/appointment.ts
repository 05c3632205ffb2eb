import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AppointmentActivities } from '../activities/appointments';
import {
  appointmentChangedSignal,
  appointmentStateQuery,
  AppointmentStartsAt,
  AppointmentStatusKey,
  BranchId,
  CompanyId,
  StaffId,
  type AppointmentResult,
  type AppointmentState,
  type AppointmentWorkflowInput,
  type MessageKind,
} from '../src/appointments/definitions';
import { applyFacts, dueNow, isClosed, isDone, nextWake } from '../src/appointments/rules';
import { bookkeepingOptions, DEFAULT_DURABILITY, externalCallOptions } from '../src/temporal/durability';

/**
 * One appointment, durably (workflow id `appointment-<id>`), from booking to its feedback request:
 * the "booked" (or "confirmed") message, the reminders 24 h and 2 h before the start on durable
 * timers, "confirmed" when it becomes confirmed, and the feedback request after the end. The row
 * is the truth: told of a change (a signal, sent after every committed change), the workflow reads
 * the row again and moves its timers; a reminder planned for the old start is dropped, the new
 * start's are planned; a cancelled or no-show appointment ends it. Each message is one step that
 * decides against the row as it is then (a change the workflow has not heard of yet still stops
 * a stale reminder) and records what it did.
 */
export async function appointmentWorkflow(input: AppointmentWorkflowInput): Promise<AppointmentResult> {
  const durability = input.durability ?? DEFAULT_DURABILITY;
  const local = proxyLocalActivities<AppointmentActivities>(bookkeepingOptions(durability));
  const remote = proxyActivities<AppointmentActivities>(externalCallOptions(durability, '1m'));
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

  /** Reads the row and replans; false when the row is gone. */
  async function read(): Promise<boolean> {
    told = false;
    const facts = await local.readAppointment({ appointmentId: input.appointmentId });
    if (!facts) return false;
    state = applyFacts(state, facts, Date.now());
    publish();
    return true;
  }

  const mark = (key: string, outcome: { state: 'sent' | 'skipped'; reason: string | null }) => {
    state = { ...state, messages: state.messages.map((m) => (m.key === key ? { ...m, state: outcome.state, reason: outcome.reason } : m)) };
  };

  const historyLimit = input.historyLimit;
  for (;;) {
    if (told) {
      if (!(await read())) {
        state = { ...state, phase: 'finished', outcome: 'the appointment no longer exists' };
        break;
      }
      continue;
    }
    const { send, skip } = dueNow(state, Date.now());
    for (const m of skip) mark(m.key, { state: 'skipped', reason: m.reason });
    for (const m of send) {
      try {
        const outcome = await remote.sendAppointmentMessage({
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
        if (!(error instanceof ActivityFailure)) throw error;
        log.error('an appointment message could not be sent', { appointmentId: input.appointmentId, key: m.key, error: error.message });
        mark(m.key, { state: 'skipped', reason: `could not be sent: ${error.cause?.message ?? error.message}` });
      }
      // A change arrived while sending: read it before deciding on the next message.
      if (told) break;
    }
    if (told) continue;

    const facts = state.facts!;
    if (isDone(state, Date.now())) {
      const outcome = isClosed(facts.status) ? facts.status : 'ended';
      // Recorded only if the row has not changed since the last read; a change arriving now is read instead.
      const recorded = await local.finishAppointment({ appointmentId: input.appointmentId, revision: facts.revision, outcome });
      if (!recorded) told = true;
      if (told) continue;
      await condition(allHandlersFinished);
      if (told) continue;
      state = { ...state, phase: 'finished', outcome };
      break;
    }

    // A long life (many moves over months) keeps a bounded history.
    const info = workflowInfo();
    if (info.continueAsNewSuggested || (historyLimit !== undefined && info.historyLength >= historyLimit)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof appointmentWorkflow>({ ...input, carried: { ...state, run: state.run + 1 } });
    }

    const now = Date.now();
    const wakes = [nextWake(state), Date.parse(facts.endsAt)].filter((w): w is number => w !== null && w > now);
    if (wakes.length === 0) await condition(() => told);
    else await condition(() => told, Math.max(1, Math.min(...wakes) - now));
  }

  const sent = state.messages.filter((m) => m.state === 'sent').map((m) => m.kind as MessageKind);
  const skipped = state.messages.filter((m) => m.state === 'skipped').length;
  log.info('appointment workflow finished', { appointmentId: input.appointmentId, outcome: state.outcome, sent: sent.length, skipped });
  return { outcome: state.outcome ?? 'ended', sent, skipped };
}
