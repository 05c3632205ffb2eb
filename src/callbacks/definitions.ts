import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Durability } from '../temporal/durability';
import type { BusinessHours } from './business-hours';

/**
 * The callback workflow's contract, shared by the workflow (handlers), its activities and the
 * service (client calls). Definitions only: no I/O. One workflow per callback request,
 * id `callback-<id>`.
 */
export const callbackWorkflowId = (callbackId: string) => `callback-${callbackId}`;
export const CALLBACK_WORKFLOW_TYPE = 'callbackWorkflow';

export const PRIORITIES = ['urgent', 'high', 'normal'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** `failed`: the run could not go on (a step exhausted its retries, a bug, a run ended from outside); the reason says which. */
export const CALLBACK_STATUSES = ['pending', 'assigned', 'contacted', 'completed', 'cancelled', 'expired', 'failed'] as const;
export type CallbackStatus = (typeof CALLBACK_STATUSES)[number];
export const OPEN_STATUSES: readonly CallbackStatus[] = ['pending', 'assigned', 'contacted'];
export const isOpen = (s: CallbackStatus) => (OPEN_STATUSES as readonly string[]).includes(s);

export const ATTEMPT_OUTCOMES = ['reached', 'no_answer', 'busy', 'voicemail', 'wrong_number'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export const ESCALATION_REASONS = ['sla_breach', 'multiple_attempts_failed', 'manual'] as const;
export type EscalationReason = (typeof ESCALATION_REASONS)[number];

export const ASSIGNMENT_REASONS = ['preferred', 'expertise', 'least_loaded', 'manual'] as const;
export type AssignmentReason = (typeof ASSIGNMENT_REASONS)[number];

/** Callback settings of a company or branch, all in seconds (percent for the warning). */
export interface CallbackSettings {
  sla: Record<Priority, number>;
  /** No second escalation within this many seconds of the last one. */
  cooldownSeconds: number;
  /** Failed contact attempts (any outcome but `reached`) that escalate. */
  attemptsBeforeEscalation: number;
  /** The assignee is warned when this share of the SLA has passed. */
  warningPercent: number;
  /** Still open after this long: the callback expires. */
  maxOpenSeconds: number;
  /** Nobody available: try to assign again after this long (also on any staff availability change). */
  assignmentRetrySeconds: number;
}

/** What a running callback keeps from its creation: later settings edits do not move its deadlines. */
export interface CallbackSnapshot {
  settings: CallbackSettings;
  /** The branch's opening hours at creation (null: the SLA runs on wall-clock time). */
  businessHours: BusinessHours | null;
}

export interface CallbackWorkflowInput {
  callbackId: string;
  companyId: string;
  branchId: string;
  priority: Priority;
  /** ISO instants computed at creation from the snapshot: the SLA deadline, the warning, the end of its open life. */
  dueAt: string;
  warnAt: string;
  openUntil: string;
  snapshot: CallbackSnapshot;
  /** A staff member asked for at creation (manual assignment). */
  assignTo?: string | null;
  durability?: Durability;
  /** Continue as new once the history has this many events (tests set it low; default: the SDK's suggestion). */
  historyLimit?: number;
  /** The state carried over from a previous run (continue-as-new). */
  carried?: CallbackState;
  /** The message and step counters carried over from a previous run (continue-as-new). */
  carriedKeys?: CarriedKeys;
}

/**
 * What keys are derived from, carried over continue-as-new: signals received (a signal's key is
 * its position), assignment steps taken (`assignment:<n>`), and the ids of the last updates
 * applied (a repeated update id is answered without being applied twice).
 */
export interface CarriedKeys {
  signals: number;
  assignments: number;
  updates: string[];
}

/**
 * How a run that cannot go on ends (carried in its failure, so the outbox reconciler can write it
 * when the run could not): `failed` with the reason, or the completion or cancellation a manager
 * had sent and the run had accepted.
 */
export interface PendingEnding {
  status: 'failed' | 'completed' | 'cancelled';
  reason: string | null;
  notes: string | null;
  at: string;
}

export interface AttemptSummary {
  key: string;
  outcome: AttemptOutcome;
  staffId: string | null;
  at: string;
}

export interface EscalationSummary {
  key: string;
  reason: EscalationReason;
  at: string;
  to: string | null;
}

/** The live state, answered by the workflow (query) and by every update. */
export interface CallbackState {
  callbackId: string;
  status: CallbackStatus;
  statusReason: string | null;
  priority: Priority;
  assignedTo: string | null;
  assignmentReason: AssignmentReason | null;
  dueAt: string;
  warnAt: string;
  openUntil: string;
  breached: boolean;
  warned: boolean;
  /** Contact attempts that did not reach the customer, since the last escalation for them. */
  failedAttemptsSinceEscalation: number;
  attempts: AttemptSummary[];
  escalations: EscalationSummary[];
  lastEscalatedAt: string | null;
  /** The SLA breach escalation waits for the cooldown to end (ISO), when one is due. */
  nextEscalationAt: string | null;
  /** Runs of this callback so far (continue-as-new). */
  run: number;
}

/** Who sends a message: an API key's role and staff member, or an operator (Web UI, CLI signal). */
export interface Actor {
  kind: 'api' | 'operator';
  role: 'agent' | 'manager' | 'admin' | null;
  /** The staff member an agent key belongs to. */
  staffId: string | null;
  /** For the record (an API key id, or an operator's name). */
  label: string;
}

export interface RecordAttempt {
  actor?: Actor;
  outcome: AttemptOutcome;
  notes?: string | null;
}
export interface Complete {
  actor?: Actor;
  notes?: string | null;
}
export interface Reassign {
  actor?: Actor;
  /** A staff member of the branch; absent: the assignment rules choose. */
  staffId?: string | null;
}
export interface Cancel {
  actor?: Actor;
  reason?: string | null;
}
export interface Escalate {
  actor?: Actor;
  notes?: string | null;
}

/**
 * The managers' and agents' messages, as updates (the API: validated, answered with the new
 * state or refused before they enter the history) and as signals of the same names with a
 * `Signal` suffix (the Web UI, `temporal workflow signal`: the same effect, no answer).
 */
export const recordAttemptUpdate = defineUpdate<CallbackState, [RecordAttempt]>('recordAttempt');
export const completeUpdate = defineUpdate<CallbackState, [Complete]>('complete');
export const reassignUpdate = defineUpdate<CallbackState, [Reassign]>('reassign');
export const cancelUpdate = defineUpdate<CallbackState, [Cancel]>('cancel');
export const escalateUpdate = defineUpdate<CallbackState, [Escalate]>('escalate');

export const recordAttemptSignal = defineSignal<[RecordAttempt]>('recordAttemptSignal');
export const completeSignal = defineSignal<[Complete]>('completeSignal');
export const reassignSignal = defineSignal<[Reassign]>('reassignSignal');
export const cancelSignal = defineSignal<[Cancel]>('cancelSignal');
export const escalateSignal = defineSignal<[Escalate]>('escalateSignal');
/** Sent when a staff member of the branch becomes available: a callback nobody could take tries again. */
export const staffAvailableSignal = defineSignal<[]>('staffAvailable');

export const callbackStateQuery = defineQuery<CallbackState>('callbackState');

/** Failure types of a refused update (the API maps them: 409, 403). */
export const INVALID_TRANSITION = 'InvalidTransition';
export const FORBIDDEN = 'Forbidden';
/** The failure type of a run that could not go on (and of the messages it could not apply): the API answers 503. */
export const CALLBACK_FAILED = 'CallbackFailed';

// ---- the activities' inputs and outputs ----

export type AssignmentResult = { assignedTo: string; reason: AssignmentReason } | { assignedTo: null; reason: string };

export interface CallbackResult {
  status: CallbackStatus;
  reason: string | null;
  escalations: number;
  attempts: number;
}

export {
  BranchId,
  CallbackDueAt,
  CallbackEscalated,
  CallbackPriority,
  CallbackStatus as CallbackStatusKey,
  CompanyId,
  StaffId,
} from '../temporal/search-attribute-keys';
