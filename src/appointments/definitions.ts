import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { NotificationEventType } from '../notifications/definitions';
import type { Durability } from '../temporal/durability';

/**
 * The appointment workflow's contract, shared by the workflow (handlers), its activities and the
 * service (client calls). Definitions only: no I/O. One workflow per appointment, id
 * `appointment-<id>`; the appointment row is the truth, the workflow owns the time: it reads the
 * row whenever it is told of a change and sends the appointment's messages at their instants.
 */
export const appointmentWorkflowId = (appointmentId: string) => `appointment-${appointmentId}`;
export const APPOINTMENT_WORKFLOW_TYPE = 'appointmentWorkflow';

export const APPOINTMENT_STATUSES = ['scheduled', 'confirmed', 'cancelled', 'completed', 'no_show'] as const;
export type AppointmentStatus = (typeof APPOINTMENT_STATUSES)[number];
/** After these no message is sent (a completed visit still gets its feedback request). */
export const CLOSED_STATUSES: readonly AppointmentStatus[] = ['cancelled', 'no_show'];

export const APPOINTMENT_SOURCES = ['api', 'calcom', 'import'] as const;
export type AppointmentSource = (typeof APPOINTMENT_SOURCES)[number];

/** The messages an appointment workflow sends, and the notification event of each. */
export const MESSAGE_KINDS = ['created', 'confirmed', 'reminder_24h', 'reminder_2h', 'feedback'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];
export const EVENT_OF: Record<MessageKind, NotificationEventType> = {
  created: 'appointment_created',
  confirmed: 'appointment_confirmed',
  reminder_24h: 'appointment_reminder_24h',
  reminder_2h: 'appointment_reminder_2h',
  feedback: 'customer_feedback_request',
};
export type ReminderKind = 'reminder_24h' | 'reminder_2h';
/** How long before the start each reminder is due. */
export const REMINDER_LEAD_MS: Record<ReminderKind, number> = { reminder_24h: 24 * 3_600_000, reminder_2h: 2 * 3_600_000 };

/** What the workflow knows of its row (read by an activity, never from a message's payload). */
export interface AppointmentFacts {
  appointmentId: string;
  companyId: string;
  branchId: string;
  staffId: string | null;
  status: AppointmentStatus;
  startsAt: string;
  endsAt: string;
  /** The row's revision (bumped by a trigger on every change of times, status or staff). */
  revision: number;
  source: AppointmentSource;
  /** The company's setting at the time of the read (appointment_settings; default 60). */
  feedbackDelayMinutes: number;
  /** The customer's personal data was erased: nothing more is sent (absent in reads made by older activities). */
  customerErased?: boolean;
}

/** The reason recorded for everything an erased customer's appointment does not send, and its workflow's outcome. */
export { CUSTOMER_ERASED } from '../notifications/definitions';

/** One message of the appointment, as the workflow plans and records it. */
export interface PlannedMessage {
  kind: MessageKind;
  /** Unique per appointment: the kind, and for a reminder the start it is for (`reminder_24h@2026-03-02T09:00:00.000Z`). */
  key: string;
  /** When it is due (ISO, workflow time). */
  dueAt: string;
  /** The start time it is about. */
  forStartsAt: string;
  /** failed: its step gave up (infrastructure unavailable beyond the retry budget); recorded as such on its row. */
  state: 'planned' | 'sent' | 'skipped' | 'failed';
  reason: string | null;
}

/** The live state, answered by the query and carried over by continue-as-new. */
export interface AppointmentState {
  appointmentId: string;
  facts: AppointmentFacts | null;
  /** When the workflow learned the current start time (reminders due before it are never sent). */
  learnedAt: string | null;
  messages: PlannedMessage[];
  phase: 'running' | 'finished';
  outcome: string | null;
  /** Runs of this workflow chain so far (continue-as-new). */
  run: number;
  /**
   * Set while a bookkeeping step (reading or finishing the row, recording a message) has spent its
   * retry budget and is being tried again (the database unreachable for that long): what, since
   * when, and the last error. Absent in runs of older code.
   */
  stalled?: { step: string; since: string; error: string } | null;
}

export interface AppointmentWorkflowInput {
  appointmentId: string;
  companyId: string;
  durability?: Durability;
  /** Continue as new once the history has this many events (tests set it low; default: the SDK's suggestion). */
  historyLimit?: number;
  /** The state carried over from a previous run (continue-as-new). */
  carried?: AppointmentState;
}

export interface AppointmentResult {
  outcome: string;
  sent: MessageKind[];
  skipped: number;
}

/**
 * "The row changed": the workflow reads it again (the payload's revision only lets it skip a read
 * it has already made). Sent by the API after COMMIT (signal-with-start) and by the reconciler for
 * rows whose workflow was not told; from the Web UI or the CLI it is harmless (a re-read).
 */
export const appointmentChangedSignal = defineSignal<[{ revision?: number }]>('appointmentChanged');
export const appointmentStateQuery = defineQuery<AppointmentState>('appointmentState');

/** What a message step decided. */
export interface MessageOutcome {
  status: 'sent' | 'skipped' | 'failed';
  reason: string | null;
  notificationId: string | null;
}

export {
  AppointmentStartsAt,
  AppointmentStatus as AppointmentStatusKey,
  BranchId,
  CompanyId,
  NeedsAttention,
  StaffId,
} from '../temporal/search-attribute-keys';
