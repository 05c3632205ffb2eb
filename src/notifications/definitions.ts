import type { ConsentPlan, MessageKind } from '../consent/definitions';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Channel, PushSubscriptionJSON } from '../channels/types';
import type { ConfigLevel } from '../directory/hierarchy';
import type { Durability } from '../temporal/durability';

export { CHANNELS, type Channel } from '../channels/types';

/** The notification event types seeded by the migrations (the 13 of docs/design.md, Notifications, and two of the callbacks). Pure: importable by workflows. */
export const NOTIFICATION_EVENT_TYPES = [
  'appointment_created',
  'appointment_confirmed',
  'appointment_cancelled',
  'appointment_rescheduled',
  'appointment_reminder_24h',
  'appointment_reminder_2h',
  'callback_requested',
  'callback_escalated',
  'payment_received',
  'payment_failed',
  'policy_violation',
  'staff_assigned',
  'customer_feedback_request',
  // Added with the callback workflows (migration 1764100000006):
  'callback_sla_warning',
  'callback_expired',
] as const;

export type NotificationEventType = (typeof NOTIFICATION_EVENT_TYPES)[number];

/**
 * The notification workflow's contract, shared by the workflow (handlers) and the service
 * (client calls). Definitions only: no I/O.
 */
export const notificationWorkflowId = (notificationId: string) => `notification-${notificationId}`;

/** Why nothing more is sent to or about a customer, wherever that is recorded (the erasure's own reason too). */
export const CUSTOMER_ERASED = "the customer's personal data was erased";

export interface NotificationWorkflowInput {
  notificationId: string;
  companyId: string;
  eventType: NotificationEventType;
  /** How patiently infrastructure errors are retried (absent in runs started before it existed: the defaults). */
  durability?: Durability;
}

export const NOTIFICATION_STATUSES = ['pending', 'waiting', 'sending', 'delivered', 'failed', 'suppressed', 'cancelled'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];
export type NotificationFinalStatus = 'delivered' | 'failed' | 'suppressed' | 'cancelled';
export const FINAL_STATUSES: readonly NotificationFinalStatus[] = ['delivered', 'failed', 'suppressed', 'cancelled'];
export const isFinalStatus = (s: string): s is NotificationFinalStatus => (FINAL_STATUSES as readonly string[]).includes(s);

/** How an attempt failed: the provider's answer (transient, permanent, configuration), a template error, or no answer recorded. */
export type AttemptErrorKind = 'transient' | 'permanent' | 'configuration' | 'template' | 'unknown';

export interface AttemptSummary {
  attempt: number;
  channel: Channel;
  provider: string;
  isFallback: boolean;
  outcome: 'sent' | 'failed';
  errorKind: AttemptErrorKind | null;
  error: string | null;
}

/** Live state, answered by the workflow (query) while it runs. */
export interface NotificationLiveState {
  notificationId: string;
  status: NotificationStatus;
  reason: string | null;
  /** The channel being tried (the fallback's once it is reached). */
  channel: Channel | null;
  attempts: AttemptSummary[];
  waitingFor: 'retry' | 'quiet_hours' | null;
  /** ISO time the current wait ends (workflow time). */
  waitingUntil: string | null;
  cancelRequested: boolean;
}

/** What a cancel answers: the final status, or `cancelRequested` while an attempt is in flight (it ends the notification after it). */
export type CancelOutcome = { status: NotificationFinalStatus | 'cancelRequested'; reason: string | null };

export interface NotificationResult {
  status: NotificationFinalStatus;
  reason: string | null;
  attempts: number;
  delivered: { channel: Channel; provider: string; attempt: number; isFallback: boolean } | null;
}

export const notificationStateQuery = defineQuery<NotificationLiveState>('notificationState');

/**
 * Cancels a notification. Rejected by the validator once the notification is final. While it waits
 * (for a retry or its send window) it ends `cancelled` at once and the update says so; while an
 * attempt is in flight the update answers `cancelRequested` at once, and the attempt decides: sent
 * (delivered) or not (cancelled, no further attempt).
 */
export interface CancelNotificationRequest {
  reason?: string;
}
export const cancelNotificationUpdate = defineUpdate<CancelOutcome, [CancelNotificationRequest]>('cancelNotification');

/** Error types of the requestNotification activity that a caller should list as non-retryable. */
export const REQUEST_NOTIFICATION_NON_RETRYABLE = ['ValidationError', 'NotFoundError', 'ConflictError'];

/** Search attributes every notification run carries (ids and states only: never names or addresses). */
export {
  CompanyId,
  NotificationChannel,
  NotificationEventType as NotificationEventTypeKey,
  NotificationStatus as NotificationStatusKey,
} from '../temporal/search-attribute-keys';

// ---- settings (resolved by rules.ts through the hierarchy) ----

export const RETRY_STRATEGIES = ['exponential', 'linear', 'fibonacci', 'constant'] as const;
export type RetryStrategy = (typeof RETRY_STRATEGIES)[number];

export interface QuietHours {
  start: string;
  end: string;
}

export type SettingSource = ConfigLevel | 'default';

export const NOTIFIABLE_TYPES = ['customer', 'staff', 'appointment'] as const;
export type NotifiableType = (typeof NOTIFIABLE_TYPES)[number];

/** One notification_configurations row, NULL = inherit. */
export interface NotificationConfigRow {
  id: string;
  configurableType: ConfigLevel;
  configurableId: string;
  channel: Channel | null;
  /** 'none' switches the fallback off at this level. */
  fallbackChannel: Channel | 'none' | null;
  enabled: boolean | null;
  retryCount: number | null;
  retryDelayMinutes: number | null;
  retryStrategy: RetryStrategy | null;
  maxRetryDelayMinutes: number | null;
  providers: string[] | null;
  templateSubject: string | null;
  templateBody: string | null;
  quietHoursStart: string | null;
  quietHoursEnd: string | null;
  rateLimitCount: number | null;
  rateLimitWindowSeconds: number | null;
  /** The channels to move on to when the recipient cannot be reached on the configured one (NULL inherits). */
  channelOrder: Channel[] | null;
}

export interface RateLimit {
  count: number;
  windowSeconds: number;
}

export interface NotificationSettings {
  channel: Channel;
  fallbackChannel: Channel | null;
  enabled: boolean;
  retryCount: number;
  retryDelayMinutes: number;
  retryStrategy: RetryStrategy;
  maxRetryDelayMinutes: number;
  /** Provider names in failover order; null = every provider registered for the channel. */
  providers: string[] | null;
  /** Template overrides for the primary channel; null = the default template. */
  templateSubject: string | null;
  templateBody: string | null;
  quietHours: QuietHours | null;
  rateLimit: RateLimit | null;
  /**
   * Where the message goes when the recipient has no address (or no consent) on the configured
   * channel or its fallback: the next of these they can be reached on; email is always the last
   * resort (docs/notifications.md, Reaching the recipient).
   */
  channelOrder: Channel[];
}

export type SettingName = keyof NotificationSettings;

// ---- the delivery plan: which channels reach this recipient (rules.ts, planDelivery) ----

/** Why the plan passed a channel by: the recipient has no address there, or opted out of it for this kind of message. */
export type SkipReason = 'no_address' | 'opted_out';

export interface PlannedLeg {
  channel: Channel;
  /** Not the configured channel: its substitute, or the fallback after it. */
  isFallback: boolean;
  /** Attempts on this channel at most: the first leg 1 + retryCount, the fallback 1. */
  rounds: number;
}

export interface DeliveryPlan {
  /** The channels considered, in order: the configured one, its fallback, the channel order, email. */
  order: Channel[];
  /** What will be tried: the first channel that reaches the recipient, and (with a fallback configured) the next one. */
  legs: PlannedLeg[];
  /** Each channel passed by, and why; `leg`: while looking for which leg. */
  skipped: Array<{ channel: Channel; reason: SkipReason; leg: 'primary' | 'fallback' }>;
}

export interface SettingProvenance {
  level: SettingSource;
  /** The configuration row it came from (null for system defaults). */
  configId: string | null;
}

export interface ResolvedNotificationConfig {
  settings: NotificationSettings;
  provenance: Record<SettingName, SettingProvenance>;
  /** The most specific configuration row that applies (stored on every attempt); null when only defaults apply. */
  configId: string | null;
  /** The levels consulted, most specific first, with the row found at each (if any). */
  chain: Array<{ level: ConfigLevel; id: string; configId: string | null }>;
}

/** What an event defaults to (notification_event_mappings). */
export interface EventDefaults {
  channel: Channel;
  fallbackChannel: Channel | null;
}

// ---- the activities' inputs and outputs (shared by workflow and activities) ----

/** What templates can refer to. Absent parts are left out (strict mode then names them). */
export interface TemplateVariables {
  event: { type: string; description: string };
  company: { name: string };
  recipient: { name: string; kind: 'customer' | 'staff' };
  data: Record<string, unknown>;
  branch?: { name: string; phone: string | null; email: string | null };
  service?: { name: string; durationMinutes: number };
  staff?: { name: string };
  customer?: { name: string };
  appointment?: { date: string; time: string; startsAt: string; endsAt: string; timeZone: string; status: string };
}

export interface RenderedMessage {
  subject?: string;
  body: string;
}

/** Where a recipient is reached on a channel. */
export interface Address {
  to: string;
  push?: PushSubscriptionJSON;
}

export type PreparedNotification =
  /** No row (a workflow started by hand, or an older run whose creating transaction rolled back). Nothing to do. */
  | { kind: 'missing'; reason: string }
  /** The row is already final (e.g. a reset workflow): report it, change nothing. */
  | { kind: 'final'; status: NotificationFinalStatus; reason: string | null }
  /** The notifiable is gone: the notification fails without an attempt. */
  | { kind: 'invalid'; reason: string }
  | {
      kind: 'ready';
      eventType: NotificationEventType;
      isUrgent: boolean;
      settings: NotificationSettings;
      configId: string | null;
      /** Providers to try per channel, in order. */
      providers: Record<Channel, string[]>;
      recipient: { kind: 'customer' | 'staff'; timeZone: string; addresses: Record<Channel, Address | null> };
      vars: TemplateVariables;
      /** The configured channel's message, rendered with the configuration (absent: no address there, or an older activity). */
      primary?: RenderOutcome;
      /** A customer recipient's consent per channel for this message's kind (absent: a staff recipient, or an older activity). */
      consent?: ConsentPlan;
      /** ISO instant from which the notification has lost its point (a reminder: the start); absent: none, or an older activity. */
      deliverBefore?: string;
      /** The channels that reach the recipient, and those passed by (absent: an older activity). With it, `primary` is rendered for `primaryChannel`. */
      plan?: DeliveryPlan;
      primaryChannel?: Channel;
    };

export interface RenderInput {
  notificationId: string;
  companyId: string;
  eventType: NotificationEventType;
  channel: Channel;
  /** The attempt number a template failure is recorded under. */
  attempt: number;
  isFallback: boolean;
  configId: string | null;
  recipient: string;
  vars: TemplateVariables;
  override: { subject: string | null; body: string | null } | null;
}

export interface AttemptInput {
  /** The key the provider sees (its deduplication key where it has one): the attempt's own, or that of an ambiguous earlier attempt on the same provider. */
  providerKey?: string;
  notificationId: string;
  companyId: string;
  eventType: NotificationEventType;
  configId: string | null;
  channel: Channel;
  provider: string;
  attempt: number;
  isFallback: boolean;
  address: Address | null;
  message: RenderedMessage;
  rateLimit: RateLimit | null;
  /** A customer recipient: consent is checked again at the moment of sending (it may have changed during a wait). */
  consent?: { customerId: string; kind: MessageKind };
  /** The row's status reason if this attempt delivers (e.g. the fallback used because the customer opted out of a channel). */
  deliveredReason?: string;
  /** ISO instant from which the message has lost its point: the attempt compares it with its own clock and does not send at or after it. */
  deliverBefore?: string;
}

export type AttemptOutcome =
  | { status: 'sent'; providerMessageId: string | null; latencyMs: number | null }
  | {
      status: 'failed';
      errorKind: Exclude<AttemptErrorKind, 'template'>;
      error: string;
      /** The request may have reached the provider (e.g. a timeout after it left): retry with the same provider key. */
      ambiguous?: boolean;
    }
  | { status: 'rate_limited'; error: string }
  /** The customer opted out of this channel since the notification was prepared: no attempt was made. */
  | { status: 'opted_out'; error: string }
  /**
   * Not sent, and nothing will be: the notification's moment has passed (`suppressed`), or its
   * customer's personal data was erased (`cancelled`). The notification ends so, with the reason.
   */
  | { status: 'withheld'; ending: 'suppressed' | 'cancelled'; reason: string };

/** A rendered message, or the template error that makes the notification fail (never retried). */
export type RenderOutcome = { kind: 'rendered'; message: RenderedMessage } | { kind: 'template_error'; error: string };

/** The key of an attempt row: `<notification>:<attempt>:<provider>`. */
export const attemptKey = (notificationId: string, attempt: number, provider: string) => `${notificationId}:${attempt}:${provider}`;

/** A request from another workflow (e.g. a callback escalation) to send a notification. */
export interface NotificationRequest {
  companyId: string;
  eventType: NotificationEventType;
  notifiable: { type: NotifiableType; id: string };
  data?: Record<string, unknown>;
  idempotencyKey?: string;
}
