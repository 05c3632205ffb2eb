import type { Channel, NotificationEventType } from './notification-events';
import type { QuietHours } from './quiet-hours';
import type { RetryStrategy } from './retry-delays';

/**
 * Resolution of a notification's settings through the hierarchy (SPEC 1 and 5):
 * staff > service > branch > company > system defaults. Pure: the activity loads the rows, this
 * decides. In a configuration row NULL means "inherit", so every setting is resolved on its own and
 * records the level (and row) it came from: the provenance stored on the notification.
 */
export const CONFIG_LEVELS = ['staff', 'service', 'branch', 'company'] as const;
export type ConfigLevel = (typeof CONFIG_LEVELS)[number];
export type SettingSource = ConfigLevel | 'default';

export const NOTIFIABLE_TYPES = ['customer', 'staff', 'appointment'] as const;
export type NotifiableType = (typeof NOTIFIABLE_TYPES)[number];

/** Which staff, service, branch and company a notification is about (extracted from its notifiable). */
export interface HierarchyContext {
  companyId: string;
  branchId?: string | null;
  serviceId?: string | null;
  staffId?: string | null;
}

/** The levels to consult, most specific first, skipping those the context does not have. */
export function hierarchyChain(ctx: HierarchyContext): Array<{ level: ConfigLevel; id: string }> {
  const chain: Array<{ level: ConfigLevel; id: string }> = [];
  if (ctx.staffId) chain.push({ level: 'staff', id: ctx.staffId });
  if (ctx.serviceId) chain.push({ level: 'service', id: ctx.serviceId });
  if (ctx.branchId) chain.push({ level: 'branch', id: ctx.branchId });
  chain.push({ level: 'company', id: ctx.companyId });
  return chain;
}

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
}

export type SettingName = keyof NotificationSettings;

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

/** System defaults for everything the event mapping does not say. */
export const SYSTEM_DEFAULTS: Omit<NotificationSettings, 'channel' | 'fallbackChannel'> = {
  enabled: true,
  retryCount: 3,
  retryDelayMinutes: 5,
  retryStrategy: 'exponential',
  maxRetryDelayMinutes: 60,
  providers: null,
  templateSubject: null,
  templateBody: null,
  quietHours: null,
  rateLimit: null,
};

/** How each setting reads a row; null = this row inherits it. Paired columns resolve together. */
const EXTRACTORS: Record<SettingName, (row: NotificationConfigRow) => unknown> = {
  channel: (r) => r.channel,
  // 'none' is a value (no fallback), distinct from NULL (inherit).
  fallbackChannel: (r) => r.fallbackChannel,
  enabled: (r) => r.enabled,
  retryCount: (r) => r.retryCount,
  retryDelayMinutes: (r) => r.retryDelayMinutes,
  retryStrategy: (r) => r.retryStrategy,
  maxRetryDelayMinutes: (r) => r.maxRetryDelayMinutes,
  providers: (r) => (r.providers && r.providers.length > 0 ? r.providers : null),
  templateSubject: (r) => r.templateSubject,
  templateBody: (r) => r.templateBody,
  quietHours: (r) => (r.quietHoursStart && r.quietHoursEnd ? { start: r.quietHoursStart, end: r.quietHoursEnd } : null),
  rateLimit: (r) =>
    r.rateLimitCount && r.rateLimitWindowSeconds ? { count: r.rateLimitCount, windowSeconds: r.rateLimitWindowSeconds } : null,
};

/**
 * Resolves every setting to the nearest level that sets it. `rows` may contain rows of any level
 * of the company; only those on the context's chain count.
 */
export function resolveNotificationConfig(
  ctx: HierarchyContext,
  rows: NotificationConfigRow[],
  eventDefaults: EventDefaults,
): ResolvedNotificationConfig {
  const chain = hierarchyChain(ctx).map(({ level, id }) => {
    const row = rows.find((r) => r.configurableType === level && r.configurableId === id) ?? null;
    return { level, id, row };
  });
  const defaults: NotificationSettings = {
    ...SYSTEM_DEFAULTS,
    channel: eventDefaults.channel,
    fallbackChannel: eventDefaults.fallbackChannel,
  };
  const settings = {} as Record<SettingName, unknown>;
  const provenance = {} as Record<SettingName, SettingProvenance>;
  for (const name of Object.keys(EXTRACTORS) as SettingName[]) {
    const extract = EXTRACTORS[name];
    const hit = chain.find((c) => c.row && extract(c.row) !== null && extract(c.row) !== undefined);
    if (hit?.row) {
      settings[name] = extract(hit.row);
      provenance[name] = { level: hit.level, configId: hit.row.id };
    } else {
      settings[name] = defaults[name];
      provenance[name] = { level: 'default', configId: null };
    }
  }
  const resolved = settings as unknown as NotificationSettings;
  // An explicit 'none', or a fallback equal to the (possibly overridden) channel, means no fallback.
  if ((resolved.fallbackChannel as string) === 'none' || resolved.fallbackChannel === resolved.channel) resolved.fallbackChannel = null;
  const nearest = chain.find((c) => c.row);
  return {
    settings: resolved,
    provenance,
    configId: nearest?.row?.id ?? null,
    chain: chain.map((c) => ({ level: c.level, id: c.id, configId: c.row?.id ?? null })),
  };
}

/**
 * Who receives a notification about a notifiable: a customer or staff member themself; for an
 * appointment its customer, except the events addressed to the appointment's staff member.
 */
export const STAFF_ADDRESSED_EVENTS: ReadonlySet<NotificationEventType> = new Set(['staff_assigned']);

export function recipientKind(eventType: NotificationEventType, notifiable: NotifiableType): 'customer' | 'staff' {
  if (notifiable === 'staff') return 'staff';
  if (notifiable === 'customer') return 'customer';
  return STAFF_ADDRESSED_EVENTS.has(eventType) ? 'staff' : 'customer';
}
