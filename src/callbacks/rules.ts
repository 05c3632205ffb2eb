import { addOpenTime, type BusinessHours } from './business-hours';
import {
  FORBIDDEN,
  INVALID_TRANSITION,
  isOpen,
  type Actor,
  type CallbackSettings,
  type CallbackState,
  type CallbackStatus,
  type Priority,
} from './definitions';

/**
 * The callback system's pure rules, shared by the workflow (deterministic: no I/O, no clock but
 * the one passed in) and the service: settings resolution, deadlines, who may do what, when the
 * next escalation is allowed.
 */

/** System defaults (docs/design.md, Callbacks): SLA urgent 2 h, high 4 h, normal 24 h; cooldown 4 h; 3 failed attempts; warning at 75 %; open 7 days. */
export const DEFAULT_CALLBACK_SETTINGS: CallbackSettings = {
  sla: { urgent: 2 * 3600, high: 4 * 3600, normal: 24 * 3600 },
  cooldownSeconds: 4 * 3600,
  attemptsBeforeEscalation: 3,
  warningPercent: 75,
  maxOpenSeconds: 7 * 24 * 3600,
  assignmentRetrySeconds: 15 * 60,
};

/** One level's settings row: NULL (undefined) = inherit. */
export interface CallbackSettingsRow {
  slaUrgentSeconds?: number | null;
  slaHighSeconds?: number | null;
  slaNormalSeconds?: number | null;
  cooldownSeconds?: number | null;
  attemptsBeforeEscalation?: number | null;
  warningPercent?: number | null;
  maxOpenSeconds?: number | null;
  assignmentRetrySeconds?: number | null;
}

export type SettingsSource = 'branch' | 'company' | 'default';

/** Branch wins over company, company over the defaults, setting by setting; each setting says where it came from. */
export function resolveCallbackSettings(
  branch: CallbackSettingsRow | null,
  company: CallbackSettingsRow | null,
): { settings: CallbackSettings; provenance: Record<string, SettingsSource> } {
  const provenance: Record<string, SettingsSource> = {};
  const pick = (name: string, field: keyof CallbackSettingsRow, fallback: number): number => {
    const b = branch?.[field];
    if (b !== null && b !== undefined) return ((provenance[name] = 'branch'), b);
    const c = company?.[field];
    if (c !== null && c !== undefined) return ((provenance[name] = 'company'), c);
    provenance[name] = 'default';
    return fallback;
  };
  const d = DEFAULT_CALLBACK_SETTINGS;
  const settings: CallbackSettings = {
    sla: {
      urgent: pick('sla.urgent', 'slaUrgentSeconds', d.sla.urgent),
      high: pick('sla.high', 'slaHighSeconds', d.sla.high),
      normal: pick('sla.normal', 'slaNormalSeconds', d.sla.normal),
    },
    cooldownSeconds: pick('cooldownSeconds', 'cooldownSeconds', d.cooldownSeconds),
    attemptsBeforeEscalation: pick('attemptsBeforeEscalation', 'attemptsBeforeEscalation', d.attemptsBeforeEscalation),
    warningPercent: pick('warningPercent', 'warningPercent', d.warningPercent),
    maxOpenSeconds: pick('maxOpenSeconds', 'maxOpenSeconds', d.maxOpenSeconds),
    assignmentRetrySeconds: pick('assignmentRetrySeconds', 'assignmentRetrySeconds', d.assignmentRetrySeconds),
  };
  return { settings, provenance };
}

/**
 * The instants a callback lives by, from its creation: the SLA deadline and the pre-breach warning
 * (open time only, when the branch has opening hours), and the end of its open life (wall-clock).
 */
export function callbackDeadlines(
  createdAtMs: number,
  priority: Priority,
  settings: CallbackSettings,
  hours: BusinessHours | null,
): { dueAt: Date; warnAt: Date; openUntil: Date } {
  const sla = settings.sla[priority];
  return {
    dueAt: new Date(addOpenTime(createdAtMs, sla, hours)),
    warnAt: new Date(addOpenTime(createdAtMs, Math.floor((sla * settings.warningPercent) / 100), hours)),
    openUntil: new Date(createdAtMs + settings.maxOpenSeconds * 1000),
  };
}

/** A refused message: the workflow's validator throws it (an update is then rejected before it enters the history). */
export class Refusal extends Error {
  constructor(
    readonly type: typeof INVALID_TRANSITION | typeof FORBIDDEN,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

const isManager = (actor: Actor | undefined) => !actor || actor.kind === 'operator' || actor.role === 'manager' || actor.role === 'admin';

function mustBeOpen(state: CallbackState, what: string): void {
  if (!isOpen(state.status)) throw new Refusal(INVALID_TRANSITION, `cannot ${what} a ${state.status} callback`);
}

/** An agent may act only on a callback assigned to the staff member their key belongs to. */
function mustBeAssigneeOrManager(state: CallbackState, actor: Actor | undefined, what: string): void {
  if (isManager(actor)) return;
  if (!actor!.staffId) throw new Refusal(FORBIDDEN, `only the assignee or a manager may ${what}; this key belongs to no staff member`);
  if (actor!.staffId !== state.assignedTo) throw new Refusal(FORBIDDEN, `only the assignee or a manager may ${what} this callback`);
}

function mustBeManager(actor: Actor | undefined, what: string): void {
  if (!isManager(actor)) throw new Refusal(FORBIDDEN, `only a manager may ${what}`);
}

/** Who may do what to a callback in which state (docs/design.md, Callbacks: pending > assigned > contacted > completed; cancel from any open state). */
export const transitions = {
  recordAttempt(state: CallbackState, actor: Actor | undefined): void {
    mustBeOpen(state, 'record an attempt on');
    if (!state.assignedTo) throw new Refusal(INVALID_TRANSITION, 'cannot record an attempt on a callback nobody is assigned to');
    mustBeAssigneeOrManager(state, actor, 'record an attempt on');
  },
  complete(state: CallbackState, actor: Actor | undefined): void {
    if (state.status === 'completed') throw new Refusal(INVALID_TRANSITION, 'the callback is already completed');
    mustBeOpen(state, 'complete');
    mustBeAssigneeOrManager(state, actor, 'complete');
  },
  reassign(state: CallbackState, actor: Actor | undefined): void {
    mustBeOpen(state, 'reassign');
    mustBeManager(actor, 'reassign a callback');
  },
  cancel(state: CallbackState, actor: Actor | undefined): void {
    if (state.status === 'cancelled') throw new Refusal(INVALID_TRANSITION, 'the callback is already cancelled');
    mustBeOpen(state, 'cancel');
    mustBeManager(actor, 'cancel a callback');
  },
  escalate(state: CallbackState, actor: Actor | undefined, nowMs: number, cooldownSeconds: number): void {
    mustBeOpen(state, 'escalate');
    mustBeManager(actor, 'escalate a callback by hand');
    const allowed = nextEscalationAllowedAt(state.lastEscalatedAt, cooldownSeconds);
    if (allowed !== null && nowMs < allowed) {
      throw new Refusal(INVALID_TRANSITION, `escalated less than the cooldown ago; next possible at ${new Date(allowed).toISOString()}`);
    }
  },
};

/** The earliest instant (ms) another escalation may happen: the last one plus the cooldown (null: none yet). */
export function nextEscalationAllowedAt(lastEscalatedAt: string | null, cooldownSeconds: number): number | null {
  return lastEscalatedAt === null ? null : Date.parse(lastEscalatedAt) + cooldownSeconds * 1000;
}

/** The status after a contact attempt: reaching the customer makes an open callback `contacted`. */
export function statusAfterAttempt(status: CallbackStatus, reached: boolean): CallbackStatus {
  return reached && (status === 'assigned' || status === 'pending') ? 'contacted' : status;
}

/** `+34 600 123 456` -> `+34 ••• ••• 456`: enough to recognise a number in the Web UI's memo, not to dial it. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length <= 4) return '•'.repeat(digits.length);
  return `${phone.trim().startsWith('+') ? '+' : ''}${digits.slice(0, phone.trim().startsWith('+') ? 2 : 0)}…${digits.slice(-3)}`;
}

/** The order of the overdue list: urgent, high, normal. */
export const PRIORITY_RANK: Record<Priority, number> = { urgent: 0, high: 1, normal: 2 };
