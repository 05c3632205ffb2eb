/**
 * The console's one way to the API: same origin, `Authorization: Bearer <the pasted key>`, JSON in
 * and out, and the API's error shape `{"error": {"code", "message", "details"}}` turned into an
 * ApiError. The types below are the parts of the API's answers the console reads (the contract
 * is GET /openapi.json); the console imports no server code.
 */

export type Role = 'agent' | 'manager' | 'admin';
export type Priority = 'urgent' | 'high' | 'normal';
export const OPEN_STATUSES = ['pending', 'assigned', 'contacted'] as const;
export const CLOSED_STATUSES = ['completed', 'cancelled', 'expired', 'failed'] as const;
export type CallbackStatus = (typeof OPEN_STATUSES)[number] | (typeof CLOSED_STATUSES)[number];

export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  staffId: string | null;
  prefix: string;
}
export interface Company {
  id: string;
  name: string;
  timeZone: string;
}
export interface Branch {
  id: string;
  name: string;
  timeZone: string;
}
export interface Staff {
  id: string;
  branchId: string;
  name: string;
  role: 'agent' | 'manager';
  available: boolean;
}
export interface Service {
  id: string;
  name: string;
}
export interface Customer {
  id: string;
  name: string;
}

export interface Callback {
  id: string;
  branchId: string;
  customerName: string;
  phoneNumber: string;
  priority: Priority;
  status: CallbackStatus;
  statusReason: string | null;
  assignedTo: string | null;
  assignedAt: string | null;
  assignmentReason: string | null;
  dueAt: string;
  dueAtLocal: string;
  timeZone: string;
  warnAt: string | null;
  breachedAt: string | null;
  contactedAt: string | null;
  completedAt: string | null;
  cancelledAt: string | null;
  expiredAt: string | null;
  failedAt?: string | null;
  escalated: boolean;
  escalationCount: number;
  attemptCount: number;
  notes: string | null;
  outcomeNotes?: string | null;
  createdAt: string;
  updatedAt: string;
}
export interface OverdueCallback extends Callback {
  overdueHours: number;
}
export interface Escalation {
  id: string;
  reason: 'sla_breach' | 'multiple_attempts_failed' | 'manual';
  escalatedFrom: string | null;
  escalatedTo: string | null;
  escalatedAt: string;
  resolvedAt?: string | null;
  notes: string | null;
  notificationId: string | null;
}
export interface CallbackDetail extends Callback {
  attempts: Array<{ id: string; staffId: string | null; outcome: string; notes: string | null; attemptedAt: string }>;
  escalations: Escalation[];
  live: { status: CallbackStatus; assignedTo: string | null; breached: boolean; warned: boolean; nextEscalationAt: string | null } | null;
}
export interface CallbackMessageResult {
  applied: boolean;
  callback: CallbackDetail;
}

export interface Appointment {
  id: string;
  customerId: string;
  branchId: string;
  serviceId: string;
  staffId: string | null;
  startsAt: string;
  endsAt: string;
  status: string;
}
export interface AppointmentSchedule {
  appointmentId: string;
  workflowId: string | null;
  workflowFinishedAt: string | null;
  workflowOutcome: string | null;
  messages: Array<{
    kind: string;
    key: string;
    status: 'sent' | 'skipped';
    reason: string | null;
    forStartsAt: string;
    dueAt: string;
    notificationId: string | null;
    decidedAt: string;
  }>;
  planned: Array<{ kind: string; key: string; dueAt: string; forStartsAt: string }> | null;
}

export type Channel = 'email' | 'sms' | 'whatsapp' | 'push';
export interface NotificationAnalytics {
  from: string;
  to: string;
  rows: Array<{
    eventType: string;
    channel: Channel;
    sent: number;
    failed: number;
    fallback: number;
    sending: number;
    latencyP50Ms: number | null;
    latencyP95Ms: number | null;
  }>;
  totals: { sent: number; failed: number; fallback: number; sending: number };
}
export interface NotificationDetail {
  id: string;
  eventType: string;
  notifiable: { type: string; id: string };
  status: string;
  statusReason: string | null;
  createdAt: string;
  completedAt: string | null;
  attempts: Array<{
    id: string;
    attemptNumber: number;
    channel: Channel;
    provider: string;
    recipient: string;
    isFallback: boolean;
    status: 'sending' | 'sent' | 'failed';
    error: string | null;
    errorKind: string | null;
    mayHaveSent: boolean;
    startedAt: string;
    completedAt: string | null;
    latencyMs: number | null;
  }>;
  live: { status: string; waitingFor: string | null; waitingUntil: string | null } | null;
}

/** An answer of the API other than 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** What went wrong, in words a manager reads (the API's own message where it says more). */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.status) {
    case 0:
      return 'The service cannot be reached. Check the connection and try again.';
    case 400: {
      const fields = (error.details as { fields?: Array<{ field: string; message: string }> } | undefined)?.fields ?? [];
      return fields.length
        ? `Please check: ${fields.map((f) => `${f.field.replace(/^(body|query|params)\./, '')} ${f.message}`).join('; ')}.`
        : error.message;
    }
    case 401:
      return 'This key is not accepted (mistyped, or revoked). Sign in with a valid key.';
    case 403:
      return `Not allowed for your key: ${error.message}.`;
    case 404:
      return 'Not found. It does not exist, or it belongs to another company.';
    case 409:
      return `Not possible now: ${error.message}.`;
    case 429:
      return 'Too many requests right now. Wait a minute and try again.';
    case 503:
      return 'The service is unavailable at the moment (a dependency is down). Nothing was changed; try again shortly.';
    default:
      return `The service answered ${error.status}: ${error.message}`;
  }
}

/** An Idempotency-Key for one submitted action (crypto.getRandomValues also works outside a secure context). */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export interface Api {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown, options?: { idempotencyKey?: string }): Promise<{ status: number; body: T }>;
}

export function createApi(key: string): Api {
  async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (error) {
      throw new ApiError(0, 'network', error instanceof Error ? error.message : 'network error');
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? 'error', e?.message ?? res.statusText, e?.details);
    }
    return { status: res.status, body: parsed as T };
  }
  return {
    get: async <T>(path: string) => (await call<T>('GET', path)).body,
    post: <T>(path: string, body: unknown, options: { idempotencyKey?: string } = {}) =>
      call<T>('POST', path, body, options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
  };
}

/** Builds a query string from the defined values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
