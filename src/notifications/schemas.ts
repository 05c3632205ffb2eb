import { z } from 'zod';
import { DateTimeWithOffset, text } from '../api/fields';
import { MESSAGE_KINDS } from '../consent/definitions';
import { CHANNELS, NOTIFICATION_EVENT_TYPES, NOTIFICATION_STATUSES } from './definitions';
import { CONFIG_LEVELS, isTimeOfDay, NOTIFIABLE_TYPES, RETRY_STRATEGIES } from './rules';

/**
 * Plain zod schemas of the notification service's inputs and outputs. The service validates with
 * them; the API reuses them for request validation and (after extendZodWithOpenApi) OpenAPI.
 */
export const EventTypeSchema = z.enum(NOTIFICATION_EVENT_TYPES);
export const ChannelSchema = z.enum(CHANNELS);
export const RetryStrategySchema = z.enum(RETRY_STRATEGIES);
const Id = z.uuid({ message: 'must be a UUID' });

export const SendNotificationInput = z
  .object({
    eventType: EventTypeSchema,
    notifiable: z.object({ type: z.enum(NOTIFIABLE_TYPES), id: Id }).strict(),
    /** Extra template variables, available as {{data.*}}. */
    data: z
      .record(z.string(), z.unknown())
      .default({})
      .refine((d) => JSON.stringify(d).length <= 16_384, { message: 'must serialise to at most 16 KiB' }),
  })
  .strict();
export type SendNotificationInput = z.input<typeof SendNotificationInput>;

const TimeOfDay = z.string().refine(isTimeOfDay, { message: 'must be a time of day HH:MM or HH:MM:SS' });
const ProviderName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { message: 'must be a provider name such as smtp or twilio-sms' });

/**
 * A configuration for one entity and event (PUT semantics: the row is replaced). Every setting
 * may be null or left out: inherit it from the next level (staff > service > branch > company >
 * system defaults). fallbackChannel 'none' switches the fallback off.
 */
export const NotificationConfigInput = z
  .object({
    configurableType: z.enum(CONFIG_LEVELS),
    configurableId: Id,
    eventType: EventTypeSchema,
    channel: ChannelSchema.nullish(),
    fallbackChannel: z.enum([...CHANNELS, 'none']).nullish(),
    enabled: z.boolean().nullish(),
    retryCount: z.number().int().min(0).max(20).nullish(),
    retryDelayMinutes: z.number().int().min(0).max(10_080).nullish(),
    retryStrategy: RetryStrategySchema.nullish(),
    maxRetryDelayMinutes: z.number().int().min(0).max(10_080).nullish(),
    /** Provider names in failover order (those not serving a channel are skipped for it). */
    providers: z.array(ProviderName).min(1).max(10).nullish(),
    templateSubject: text(1, 500).nullish(),
    templateBody: text(1, 10_000).nullish(),
    /** No sending from start to end, local time of the recipient (may span midnight). */
    quietHours: z.object({ start: TimeOfDay, end: TimeOfDay }).strict().nullish(),
    /** At most `count` sends per recipient and channel per `windowSeconds`. */
    rateLimit: z
      .object({ count: z.number().int().min(1).max(100_000), windowSeconds: z.number().int().min(1).max(31_536_000) })
      .strict()
      .nullish(),
    /**
     * The channels to move on to, in order, when the recipient has no address (or no consent) on
     * the configured channel or its fallback; email is always the last resort. Distinct channels.
     */
    channelOrder: z
      .array(ChannelSchema)
      .min(1)
      .max(4)
      .refine((order) => new Set(order).size === order.length, { message: 'must not name a channel twice' })
      .nullish(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.channel && c.fallbackChannel && c.channel === c.fallbackChannel) {
      ctx.addIssue({ code: 'custom', path: ['fallbackChannel'], message: 'must differ from channel' });
    }
  });
export type NotificationConfigInput = z.input<typeof NotificationConfigInput>;

export const NotificationConfigView = z.object({
  id: Id,
  companyId: Id,
  configurableType: z.enum(CONFIG_LEVELS),
  configurableId: Id,
  eventType: EventTypeSchema,
  channel: ChannelSchema.nullable(),
  fallbackChannel: z.enum([...CHANNELS, 'none']).nullable(),
  enabled: z.boolean().nullable(),
  retryCount: z.number().int().nullable(),
  retryDelayMinutes: z.number().int().nullable(),
  retryStrategy: RetryStrategySchema.nullable(),
  maxRetryDelayMinutes: z.number().int().nullable(),
  providers: z.array(z.string()).nullable(),
  templateSubject: z.string().nullable(),
  templateBody: z.string().nullable(),
  quietHours: z.object({ start: z.string(), end: z.string() }).nullable(),
  rateLimit: z.object({ count: z.number().int(), windowSeconds: z.number().int() }).nullable(),
  channelOrder: z.array(ChannelSchema).nullable(),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type NotificationConfigView = z.infer<typeof NotificationConfigView>;

const SettingSourceSchema = z.enum([...CONFIG_LEVELS, 'default']);

export const ResolvedConfigView = z.object({
  settings: z.object({
    channel: ChannelSchema,
    fallbackChannel: ChannelSchema.nullable(),
    enabled: z.boolean(),
    retryCount: z.number().int(),
    retryDelayMinutes: z.number().int(),
    retryStrategy: RetryStrategySchema,
    maxRetryDelayMinutes: z.number().int(),
    providers: z.array(z.string()).nullable(),
    templateSubject: z.string().nullable(),
    templateBody: z.string().nullable(),
    quietHours: z.object({ start: z.string(), end: z.string() }).nullable(),
    rateLimit: z.object({ count: z.number().int(), windowSeconds: z.number().int() }).nullable(),
    /** Absent in notifications resolved before it existed. */
    channelOrder: z.array(ChannelSchema).optional(),
  }),
  /** For each setting, the level (and configuration row) it came from. */
  provenance: z.record(z.string(), z.object({ level: SettingSourceSchema, configId: Id.nullable() })),
  /** The most specific configuration row that applied (stored on every attempt). */
  configId: Id.nullable(),
  chain: z.array(z.object({ level: z.enum(CONFIG_LEVELS), id: Id, configId: Id.nullable() })),
  /** A customer's consent for this message when it was prepared (absent for staff recipients). */
  consent: z
    .object({ customerId: Id, kind: z.enum(MESSAGE_KINDS), channels: z.record(ChannelSchema, z.enum(['allowed', 'opted_out'])) })
    .optional(),
  /**
   * Which channels reach the recipient, decided when the notification was prepared: the legs
   * tried and every channel passed by with its reason (absent before it existed, and in a dry run).
   */
  plan: z
    .object({
      order: z.array(ChannelSchema),
      legs: z.array(z.object({ channel: ChannelSchema, isFallback: z.boolean(), rounds: z.number().int() })),
      skipped: z.array(
        z.object({ channel: ChannelSchema, reason: z.enum(['no_address', 'opted_out']), leg: z.enum(['primary', 'fallback']) }),
      ),
    })
    .optional(),
});
export type ResolvedConfigView = z.infer<typeof ResolvedConfigView>;

export const DeliveryAttemptView = z.object({
  id: Id,
  attemptNumber: z.number().int(),
  channel: ChannelSchema,
  provider: z.string(),
  recipient: z.string(),
  isFallback: z.boolean(),
  status: z.enum(['sending', 'sent', 'failed']),
  error: z.string().nullable(),
  errorKind: z.enum(['transient', 'permanent', 'configuration', 'template', 'unknown']).nullable(),
  configId: Id.nullable(),
  providerMessageId: z.string().nullable(),
  /** The key the provider saw: the attempt's own, or an earlier ambiguous attempt's on the same provider. */
  providerKey: z.string(),
  /** The provider may have taken this message although the row does not record one clean send (at-least-once). */
  mayHaveSent: z.boolean(),
  startedAt: z.string(),
  completedAt: z.string().nullable(),
  latencyMs: z.number().int().nullable(),
});
export type DeliveryAttemptView = z.infer<typeof DeliveryAttemptView>;

export const NotificationLiveStateView = z.object({
  status: z.enum(NOTIFICATION_STATUSES),
  reason: z.string().nullable(),
  channel: ChannelSchema.nullable(),
  waitingFor: z.enum(['retry', 'quiet_hours']).nullable(),
  waitingUntil: z.string().nullable(),
  cancelRequested: z.boolean(),
});

export const NotificationView = z.object({
  id: Id,
  companyId: Id,
  eventType: EventTypeSchema,
  notifiable: z.object({ type: z.enum(NOTIFIABLE_TYPES), id: Id }),
  data: z.record(z.string(), z.unknown()),
  status: z.enum(NOTIFICATION_STATUSES),
  statusReason: z.string().nullable(),
  workflowId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  completedAt: z.string().nullable(),
  /** Resolved settings with their provenance (null until the workflow has resolved them). */
  resolvedConfig: ResolvedConfigView.nullable(),
  attempts: z.array(DeliveryAttemptView),
  /** The running workflow's own view (null once it has finished or when it cannot be reached). */
  live: NotificationLiveStateView.nullable(),
});
export type NotificationView = z.infer<typeof NotificationView>;

/** Up to 100 notifications in one request; each item is a notification of its own. */
export const SendNotificationBatchInput = z.object({ items: z.array(SendNotificationInput).min(1).max(100) }).strict();
export type SendNotificationBatchInput = z.input<typeof SendNotificationBatchInput>;

export const BatchResult = z.object({
  accepted: z.number().int(),
  /** Items an earlier request with the same Idempotency-Key had already created. */
  replayed: z.number().int(),
  failed: z.number().int(),
  results: z.array(
    z.object({
      index: z.number().int(),
      status: z.enum(['accepted', 'replayed', 'error']),
      notificationId: Id.optional(),
      workflowId: z.string().optional(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});
export type BatchResult = z.infer<typeof BatchResult>;

export const SendNotificationResult = z.object({
  /** False when an Idempotency-Key replayed an earlier request. */
  created: z.boolean(),
  notification: NotificationView,
});
export type SendNotificationResult = z.infer<typeof SendNotificationResult>;

export const EventTypeView = z.object({
  eventType: EventTypeSchema,
  description: z.string(),
  defaultChannel: ChannelSchema,
  defaultFallbackChannel: ChannelSchema.nullable(),
  isUrgent: z.boolean(),
  /** transactional or optional: the consent a customer must have given. */
  messageKind: z.enum(MESSAGE_KINDS),
});
export type EventTypeView = z.infer<typeof EventTypeView>;

/** Query of the analytics route; both bounds ISO 8601, `to` exclusive; defaults: the last 7 days. */
export const AnalyticsQuery = z
  .object({
    from: DateTimeWithOffset.transform((v) => new Date(v)).optional(),
    to: DateTimeWithOffset.transform((v) => new Date(v)).optional(),
  })
  .strict()
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'from must be before to', path: ['from'] });
export type AnalyticsQuery = z.input<typeof AnalyticsQuery>;

export const AnalyticsRow = z.object({
  eventType: EventTypeSchema,
  channel: ChannelSchema,
  /** Attempts the provider accepted. */
  sent: z.number().int(),
  failed: z.number().int(),
  /** Attempts on a fallback channel (sent or failed). */
  fallback: z.number().int(),
  /** Attempts still in flight. */
  sending: z.number().int(),
  /** Provider call latency of the sent attempts, milliseconds (percentile_cont). */
  latencyP50Ms: z.number().nullable(),
  latencyP95Ms: z.number().nullable(),
});
export const AnalyticsView = z.object({
  from: z.string(),
  to: z.string(),
  rows: z.array(AnalyticsRow),
  totals: z.object({ sent: z.number().int(), failed: z.number().int(), fallback: z.number().int(), sending: z.number().int() }),
});
export type AnalyticsView = z.infer<typeof AnalyticsView>;

export const CancelResult = z.object({
  /** cancelled; cancel_requested (an attempt is in flight); or how it ended meanwhile. */
  outcome: z.enum(['cancelled', 'cancel_requested', 'delivered', 'failed', 'suppressed']),
  notification: NotificationView,
});
export type CancelResult = z.infer<typeof CancelResult>;
