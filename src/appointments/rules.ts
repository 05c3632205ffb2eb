import {
  CLOSED_STATUSES,
  CUSTOMER_ERASED,
  REMINDER_LEAD_MS,
  type AppointmentFacts,
  type AppointmentState,
  type AppointmentStatus,
  type MessageKind,
  type PlannedMessage,
  type ReminderKind,
} from './definitions';

/**
 * The appointment workflow's pure rules, shared by the workflow (deterministic: no I/O, no clock
 * but the one passed in), its activities and the service:
 *
 * - a message is planned when the workflow learns the appointment (or its new start time), and
 *   only if its instant has not passed by then: a booking made 10 h ahead gets no 24 h reminder,
 *   one made 90 min ahead gets neither reminder (no reminder ever arrives after the start);
 * - a reminder is keyed by the start it is for, so moving the appointment plans new reminders and
 *   drops those still waiting for the old time, while one already sent is never sent again;
 * - reminders that fall due together (the workflow was down) are sent once: the latest one;
 * - cancelled and no-show appointments, and those of a customer whose data was erased, send nothing more;
 * - a message is decided at send time against the clock of the send (decideMessage): one whose
 *   moment has passed (messageDeadline) is recorded as skipped, never sent late.
 */

const REMINDERS: ReminderKind[] = ['reminder_24h', 'reminder_2h'];
export const isClosed = (status: AppointmentStatus) => CLOSED_STATUSES.includes(status);
export const isReminder = (kind: MessageKind): kind is ReminderKind => kind === 'reminder_24h' || kind === 'reminder_2h';
const iso = (ms: number) => new Date(ms).toISOString();

/** The key of a message: one per kind, a reminder one per kind and start time. */
export function messageKey(kind: MessageKind, startsAt: string): string {
  return isReminder(kind) ? `${kind}@${new Date(startsAt).toISOString()}` : kind;
}

/** When the feedback request is due: the end plus the company's delay. */
export const feedbackDueAt = (facts: Pick<AppointmentFacts, 'endsAt' | 'feedbackDelayMinutes'>) =>
  Date.parse(facts.endsAt) + facts.feedbackDelayMinutes * 60_000;

function planned(kind: MessageKind, dueAt: number, facts: AppointmentFacts, learnedAt: number): PlannedMessage {
  const message: PlannedMessage = {
    kind,
    key: messageKey(kind, facts.startsAt),
    dueAt: iso(dueAt),
    forStartsAt: facts.startsAt,
    state: 'planned',
    reason: null,
  };
  if (dueAt < learnedAt) {
    message.state = 'skipped';
    message.reason =
      kind === 'feedback' ? 'the visit had ended before the appointment was known' : 'its time had passed when the start time was set';
  }
  return message;
}

/** The reminders of the current start time, planned from `learnedAt` (the instant the start became known). */
export function remindersFor(facts: AppointmentFacts, learnedAt: number): PlannedMessage[] {
  const start = Date.parse(facts.startsAt);
  return REMINDERS.map((kind) => planned(kind, start - REMINDER_LEAD_MS[kind], facts, learnedAt));
}

/**
 * The state after reading the row: the first read plans the announcement ("booked", or
 * "confirmed" for a booking made confirmed; none for an import or a time already past), the
 * reminders and the feedback request; a later read moves what the change moved.
 */
export function applyFacts(state: AppointmentState, facts: AppointmentFacts, now: number): AppointmentState {
  const previous = state.facts;
  const messages = state.messages.map((m) => ({ ...m }));
  let learnedAt = state.learnedAt === null ? now : Date.parse(state.learnedAt);
  const add = (m: PlannedMessage) => {
    const existing = messages.findIndex((x) => x.key === m.key);
    if (existing < 0) messages.push(m);
    // A message dropped because of a move (never sent) may be planned again when the time moves back.
    else if (messages[existing].state === 'skipped' && m.state === 'planned') messages[existing] = m;
  };

  if (!previous) {
    learnedAt = now;
    if (facts.source !== 'import' && !isClosed(facts.status) && Date.parse(facts.startsAt) > now) {
      const kind: MessageKind = facts.status === 'confirmed' ? 'confirmed' : 'created';
      add({ ...planned(kind, now, facts, now), key: kind });
    }
    for (const r of remindersFor(facts, learnedAt)) add(r);
    add({ ...planned('feedback', feedbackDueAt(facts), facts, learnedAt), key: 'feedback' });
  } else {
    if (previous.startsAt !== facts.startsAt) {
      learnedAt = now;
      for (const m of messages) {
        if (m.state === 'planned' && isReminder(m.kind)) {
          m.state = 'skipped';
          m.reason = `the appointment was moved to ${new Date(facts.startsAt).toISOString()}`;
        }
      }
      for (const r of remindersFor(facts, learnedAt)) add(r);
    }
    const feedback = messages.find((m) => m.kind === 'feedback');
    if (feedback?.state === 'planned') {
      feedback.dueAt = iso(feedbackDueAt(facts));
      feedback.forStartsAt = facts.startsAt;
    }
    if (previous.status !== 'confirmed' && facts.status === 'confirmed' && !messages.some((m) => m.kind === 'confirmed')) {
      add({ ...planned('confirmed', now, facts, now), key: 'confirmed' });
    }
  }
  if (isClosed(facts.status) || facts.customerErased) {
    for (const m of messages) {
      if (m.state === 'planned') {
        m.state = 'skipped';
        m.reason = facts.customerErased ? CUSTOMER_ERASED : `the appointment is ${facts.status.replace('_', '-')}`;
      }
    }
  }
  return { ...state, facts, learnedAt: iso(learnedAt), messages };
}

/**
 * What to do now: the planned messages that are due, split into those to send and those to skip
 * (a reminder whose appointment has started; a 24 h reminder when the 2 h one is due as well).
 */
export function dueNow(state: AppointmentState, now: number): { send: PlannedMessage[]; skip: Array<PlannedMessage & { reason: string }> } {
  const due = state.messages.filter((m) => m.state === 'planned' && Date.parse(m.dueAt) <= now);
  const send: PlannedMessage[] = [];
  const skip: Array<PlannedMessage & { reason: string }> = [];
  const start = state.facts ? Date.parse(state.facts.startsAt) : Infinity;
  const twoHourDue = due.some((m) => m.kind === 'reminder_2h');
  for (const m of due) {
    if (isReminder(m.kind) && now >= start) skip.push({ ...m, reason: 'the appointment had started' });
    else if (m.kind === 'reminder_24h' && twoHourDue) skip.push({ ...m, reason: 'the 2-hour reminder was due as well (sent instead)' });
    else send.push(m);
  }
  return { send, skip };
}

/** The next instant the workflow must wake at (null: nothing planned). */
export function nextWake(state: AppointmentState): number | null {
  const due = state.messages.filter((m) => m.state === 'planned').map((m) => Date.parse(m.dueAt));
  return due.length ? Math.min(...due) : null;
}

/** Nothing left to send: the appointment is closed (or its customer erased), or it has ended and every message is decided. */
export function isDone(state: AppointmentState, now: number): boolean {
  if (!state.facts) return false;
  if (state.messages.some((m) => m.state === 'planned')) return false;
  return isClosed(state.facts.status) || state.facts.customerErased === true || now >= Date.parse(state.facts.endsAt);
}

/** How the workflow records its end on the row. */
export function outcomeOf(facts: AppointmentFacts): string {
  if (facts.customerErased) return CUSTOMER_ERASED;
  return isClosed(facts.status) ? facts.status : 'ended';
}

// ---- the message step's decision (the activity applies it to the row as it is at COMMIT time) ----

/** appointment_settings: which messages a company sends. */
export interface AppointmentSettings {
  sendCreated: boolean;
  sendConfirmed: boolean;
  reminder24h: boolean;
  reminder2h: boolean;
  feedbackRequest: boolean;
  feedbackDelayMinutes: number;
}

export const DEFAULT_APPOINTMENT_SETTINGS: AppointmentSettings = {
  sendCreated: true,
  sendConfirmed: true,
  reminder24h: true,
  reminder2h: true,
  feedbackRequest: true,
  feedbackDelayMinutes: 60,
};

const SETTING_OF: Record<MessageKind, keyof AppointmentSettings> = {
  created: 'sendCreated',
  confirmed: 'sendConfirmed',
  reminder_24h: 'reminder24h',
  reminder_2h: 'reminder2h',
  feedback: 'feedbackRequest',
};

/** How long after the end of the visit a feedback request still makes sense. */
export const FEEDBACK_WINDOW_MS = 72 * 3_600_000;

/**
 * The instant from which a message has lost its point: it is never sent at or after it, whatever
 * held it back (an outage, a backlog, quiet hours, retry delays). Per kind:
 * - "booked" and "confirmed": the start (news of a booking after it has begun is noise);
 * - the 2 h reminder: the start;
 * - the 24 h reminder: the 2 h reminder's instant, start - 2 h (from then on the 2 h reminder is
 *   the one that counts, and "tomorrow at 10:00" read on the day itself is wrong);
 * - the feedback request: 72 hours after the end.
 */
export function messageDeadline(kind: MessageKind, startsAt: number, endsAt: number): number {
  switch (kind) {
    case 'reminder_24h':
      return startsAt - REMINDER_LEAD_MS.reminder_2h;
    case 'feedback':
      return endsAt + FEEDBACK_WINDOW_MS;
    default:
      return startsAt;
  }
}

/** Why a message is not sent at `deadline` or later. */
function lateReason(kind: MessageKind, deadline: number): string {
  if (kind === 'reminder_24h') return `too late for the 24-hour reminder: the 2-hour reminder's moment (${iso(deadline)}) had come`;
  if (kind === 'feedback') return 'too late for the feedback request: more than 72 hours after the visit';
  return 'the appointment had started';
}

/** The row as a message step sees it (locked): its status, times, and whether its customer was erased. */
export interface MessageRow {
  status: AppointmentStatus;
  startsAt: Date;
  endsAt: Date;
  customerErased: boolean;
}

/**
 * Whether a due message goes out, against the row as it is now (locked by the step) and the clock
 * of the send (`at`, never the instant the workflow planned): the workflow may not have heard of a
 * change yet, so a reminder for a start the row no longer has, or any message of a cancelled
 * appointment, is skipped here, whatever the workflow believed; and a message whose moment has
 * passed (messageDeadline) is skipped however late the step runs. With `send`, the deadline the
 * notification carries to its own send.
 */
export function decideMessage(
  kind: MessageKind,
  row: MessageRow | null,
  settings: AppointmentSettings,
  forStartsAt: string,
  at: number,
): { send: true; deliverBefore: Date } | { send: false; reason: string } {
  if (!row) return { send: false, reason: 'the appointment no longer exists' };
  if (row.customerErased) return { send: false, reason: CUSTOMER_ERASED };
  if (isClosed(row.status)) return { send: false, reason: `the appointment is ${row.status.replace('_', '-')}` };
  if (isReminder(kind) && row.startsAt.getTime() !== Date.parse(forStartsAt)) return { send: false, reason: 'the appointment was moved' };
  const deadline = messageDeadline(kind, row.startsAt.getTime(), row.endsAt.getTime());
  if (at >= deadline) return { send: false, reason: lateReason(kind, deadline) };
  if (kind === 'confirmed' && row.status !== 'confirmed') return { send: false, reason: 'the appointment is no longer confirmed' };
  if (!settings[SETTING_OF[kind]]) return { send: false, reason: `turned off in the company's appointment settings (${SETTING_OF[kind]})` };
  return { send: true, deliverBefore: new Date(deadline) };
}
