import { resolveByKey, type KeyReader } from '../directory/hierarchy';
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

/** One level's settings row: NULL (undefined) = inherit. `id`: the callback_settings row (absent where the caller has none to name). */
export interface CallbackSettingsRow {
  id?: string;
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

/** Where one setting came from: the level and the callback_settings row (null: the system default). */
export interface SettingSourceRow {
  level: SettingsSource;
  settingsId: string | null;
}

/** Each setting and the row column it reads (a NULL column inherits; callback settings are never cleared). */
const COLUMN_OF = {
  'sla.urgent': 'slaUrgentSeconds',
  'sla.high': 'slaHighSeconds',
  'sla.normal': 'slaNormalSeconds',
  cooldownSeconds: 'cooldownSeconds',
  attemptsBeforeEscalation: 'attemptsBeforeEscalation',
  warningPercent: 'warningPercent',
  maxOpenSeconds: 'maxOpenSeconds',
  assignmentRetrySeconds: 'assignmentRetrySeconds',
} as const satisfies Record<string, keyof CallbackSettingsRow>;
type SettingKey = keyof typeof COLUMN_OF;

/**
 * Branch wins over company, company over the defaults, setting by setting (the rule every
 * hierarchical configuration shares: src/directory/hierarchy.ts, resolveByKey); each setting says
 * the level it came from (`provenance`) and the row (`sources`).
 */
export function resolveCallbackSettings(
  branch: CallbackSettingsRow | null,
  company: CallbackSettingsRow | null,
): { settings: CallbackSettings; provenance: Record<string, SettingsSource>; sources: Record<string, SettingSourceRow> } {
  const d = DEFAULT_CALLBACK_SETTINGS;
  const defaults: Record<SettingKey, number> = {
    'sla.urgent': d.sla.urgent,
    'sla.high': d.sla.high,
    'sla.normal': d.sla.normal,
    cooldownSeconds: d.cooldownSeconds,
    attemptsBeforeEscalation: d.attemptsBeforeEscalation,
    warningPercent: d.warningPercent,
    maxOpenSeconds: d.maxOpenSeconds,
    assignmentRetrySeconds: d.assignmentRetrySeconds,
  };
  const readers = Object.fromEntries(
    (Object.keys(COLUMN_OF) as SettingKey[]).map((key) => [key, (row: CallbackSettingsRow) => row[COLUMN_OF[key]] ?? undefined]),
  ) as { [K in SettingKey]: KeyReader<CallbackSettingsRow, number> };
  const layer = (level: 'branch' | 'company', row: CallbackSettingsRow | null) => ({ level, entityId: null, rowId: row?.id ?? null, row });
  const { values, provenance: from } = resolveByKey([layer('branch', branch), layer('company', company)], readers, defaults);
  const v = values as Record<SettingKey, number>;
  const settings: CallbackSettings = {
    sla: { urgent: v['sla.urgent'], high: v['sla.high'], normal: v['sla.normal'] },
    cooldownSeconds: v.cooldownSeconds,
    attemptsBeforeEscalation: v.attemptsBeforeEscalation,
    warningPercent: v.warningPercent,
    maxOpenSeconds: v.maxOpenSeconds,
    assignmentRetrySeconds: v.assignmentRetrySeconds,
  };
  const provenance: Record<string, SettingsSource> = {};
  const sources: Record<string, SettingSourceRow> = {};
  for (const [key, p] of Object.entries(from)) {
    provenance[key] = p.level;
    sources[key] = { level: p.level, settingsId: p.rowId };
  }
  return { settings, provenance, sources };
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
