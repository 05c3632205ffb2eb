/**
 * The notification system's pure rules, shared by the workflow (deterministic: no I/O, no clock
 * but the one passed in) and the service: settings resolution, the delivery plan, retry delays,
 * quiet hours.
 */
import { DateTime } from 'luxon';
import type { MessageKind } from '../consent/definitions';
import { optedOutReason } from '../consent/rules';
import { hierarchyChain, resolveByKey, type ConfigLevel, type HierarchyContext, type KeyReader } from '../directory/hierarchy';
import type {
  Channel,
  DeliveryPlan,
  EventDefaults,
  NotifiableType,
  NotificationConfigRow,
  NotificationEventType,
  NotificationSettings,
  PlannedLeg,
  QuietHours,
  ResolvedNotificationConfig,
  RetryStrategy,
  SettingName,
  SettingProvenance,
  SkipReason,
} from './definitions';

export { CONFIG_LEVELS, hierarchyChain, type ConfigLevel, type HierarchyContext } from '../directory/hierarchy';
export {
  NOTIFIABLE_TYPES,
  RETRY_STRATEGIES,
  type EventDefaults,
  type NotifiableType,
  type NotificationConfigRow,
  type NotificationSettings,
  type QuietHours,
  type RateLimit,
  type ResolvedNotificationConfig,
  type RetryStrategy,
  type SettingName,
  type SettingProvenance,
  type SettingSource,
  type DeliveryPlan,
  type PlannedLeg,
  type SkipReason,
} from './definitions';

/**
 * Resolution of a notification's settings through the hierarchy (docs/design.md, Organisation hierarchy and Notifications):
 * staff > service > branch > company > system defaults, by the rule every hierarchical configuration
 * shares (src/directory/hierarchy.ts, resolveByKey). Pure: the activity loads the rows, this
 * decides. In a configuration row NULL means "inherit", so every setting is resolved on its own and
 * records the level (and row) it came from: the provenance stored on the notification.
 */
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
  // Phone channels before push, email the last resort: a customer with only an email, only a
  // phone, or both is reached whatever the event's configured channel.
  channelOrder: ['sms', 'whatsapp', 'push', 'email'],
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
  channelOrder: (r) => (r.channelOrder && r.channelOrder.length > 0 ? r.channelOrder : null),
};

/**
 * Resolves every setting to the nearest level that sets it (the one rule of src/directory/hierarchy.ts).
 * `rows` may contain rows of any level of the company; only those on the context's chain count.
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
  // A NULL column inherits: no notification setting is ever "cleared" (fallbackChannel 'none' is a value).
  const readers = Object.fromEntries(
    (Object.keys(EXTRACTORS) as SettingName[]).map((name) => [name, (row: NotificationConfigRow) => EXTRACTORS[name](row) ?? undefined]),
  ) as { [K in SettingName]: KeyReader<NotificationConfigRow, NotificationSettings[K]> };
  const resolvedKeys = resolveByKey(
    chain.map((c) => ({ level: c.level, entityId: c.id, rowId: c.row?.id ?? null, row: c.row })),
    readers,
    defaults,
  );
  const resolved = resolvedKeys.values as NotificationSettings;
  const provenance = Object.fromEntries(
    Object.entries(resolvedKeys.provenance).map(([name, p]) => [name, { level: p.level, configId: p.rowId }]),
  ) as Record<SettingName, SettingProvenance>;
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

// ---- the delivery plan ----

/** Whether a channel reaches the recipient: an address there, and (a customer) consent for this kind of message. */
export type Reach = 'ok' | SkipReason;

/**
 * Which channels reach the recipient (docs/notifications.md, Reaching the recipient), decided once
 * when the notification is prepared, so the workflow follows it deterministically. The channels
 * are considered in order: the configured channel, its fallback, the configured channel order,
 * then email as the last resort. The first that reaches the recipient is the first leg (with the
 * configured retries); when a fallback is configured, the next that reaches them is the fallback
 * (one attempt, never falling back again). Every channel passed by is recorded with its reason.
 */
export function planDelivery(
  settings: Pick<NotificationSettings, 'channel' | 'fallbackChannel' | 'channelOrder' | 'retryCount'>,
  reach: Record<Channel, Reach>,
): DeliveryPlan {
  const order: Channel[] = [];
  for (const c of [settings.channel, settings.fallbackChannel, ...(settings.channelOrder ?? []), 'email' as const])
    if (c && !order.includes(c)) order.push(c);
  const skipped: DeliveryPlan['skipped'] = [];
  let next = 0;
  const take = (leg: 'primary' | 'fallback'): Channel | null => {
    for (; next < order.length; next++) {
      const channel = order[next];
      const r = reach[channel];
      if (r === 'ok') return order[next++];
      skipped.push({ channel, reason: r, leg });
    }
    return null;
  };
  const legs: PlannedLeg[] = [];
  const first = take('primary');
  if (first) {
    legs.push({ channel: first, isFallback: first !== settings.channel, rounds: 1 + settings.retryCount });
    const fallback = settings.fallbackChannel ? take('fallback') : null;
    if (fallback) legs.push({ channel: fallback, isFallback: true, rounds: 1 });
  }
  return { order, legs, skipped };
}

const list = (items: readonly string[], last: 'and' | 'or') =>
  items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} ${last} ${items[items.length - 1]}`;

/** Why channels were passed by, in words: `the customer opted out of email; the recipient has no sms or whatsapp address`. */
export function skippedReason(skipped: ReadonlyArray<{ channel: Channel; reason: SkipReason }>): string {
  const optedOut = skipped.filter((s) => s.reason === 'opted_out').map((s) => s.channel);
  const noAddress = skipped.filter((s) => s.reason === 'no_address').map((s) => s.channel);
  return [
    ...(optedOut.length ? [`the customer opted out of ${list(optedOut, 'and')}`] : []),
    ...(noAddress.length ? [`the recipient has no ${list(noAddress, 'or')} address`] : []),
  ].join('; ');
}

/** The reason of a delivery on a channel other than the configured one, naming the channels passed by and why. */
export function deliveredByFallbackReason(channel: Channel, skipped: ReadonlyArray<{ channel: Channel; reason: SkipReason }>): string {
  const why = skippedReason(skipped);
  return `delivered by the fallback channel ${channel}${why ? ` (${why})` : ''}`;
}

/**
 * Why no channel reached the recipient. With an opt-out among the reasons it is the customer's
 * choice (`opted_out: …`, the notification is suppressed); otherwise nobody can be reached
 * (`no channel reaches the recipient: …`, it fails).
 */
export function unreachableReason(
  kind: MessageKind,
  skipped: ReadonlyArray<{ channel: Channel; reason: SkipReason }>,
): { status: 'suppressed' | 'failed'; reason: string } {
  const optedOut = skipped.filter((s) => s.reason === 'opted_out').map((s) => s.channel);
  const noAddress = skipped.filter((s) => s.reason === 'no_address');
  if (optedOut.length === 0) return { status: 'failed', reason: `no channel reaches the recipient: ${skippedReason(noAddress)}` };
  const rest = noAddress.length ? `; ${skippedReason(noAddress)}` : '';
  return { status: 'suppressed', reason: `${optedOutReason(kind, optedOut)}${rest}` };
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

// ---- retry delays ----

/**
 * Delays between notification attempts (docs/design.md, Notifications). Pure and deterministic: the notification
 * workflow calls these to size its durable timers.
 *
 * For a base delay d and retry number n (1-based: the wait before the n-th retry):
 *   exponential d * 2^(n-1)   linear d * n   fibonacci d * fib(n) with fib = 1, 1, 2, 3, 5, ...   constant d
 * each capped at the maximum. Any n, however large, gives a finite number within [0, max]:
 * no overflow to Infinity, no NaN (0 * Infinity), no loop proportional to n.
 */

const nonNegative = (x: number) => (Number.isFinite(x) && x > 0 ? x : 0);

/** The uncapped multiplier of the base delay, or Infinity once it exceeds `limit`. */
function factor(strategy: RetryStrategy, n: number, limit: number): number {
  switch (strategy) {
    case 'constant':
      return 1;
    case 'linear':
      return n;
    case 'exponential':
      // 2^1024 is already Infinity; Math.pow handles it, but stop early to keep it obvious.
      return n - 1 >= 1024 ? Infinity : 2 ** (n - 1);
    case 'fibonacci': {
      let previous = 0;
      let current = 1; // fib(1)
      for (let i = 1; i < n; i++) {
        [previous, current] = [current, previous + current];
        // Past the cap (or the float range) every later term is too: stop after O(log limit) steps.
        if (current > limit) return Infinity;
      }
      return current;
    }
  }
}

/** Minutes to wait before retry `n` (1-based), capped at `maxMinutes`. */
export function retryDelayMinutes(strategy: RetryStrategy, baseMinutes: number, n: number, maxMinutes: number): number {
  const base = nonNegative(baseMinutes);
  const cap = nonNegative(maxMinutes);
  if (base === 0 || cap === 0) return 0;
  const retry = Number.isFinite(n) ? Math.max(1, Math.floor(n)) : Number.MAX_SAFE_INTEGER;
  // The multiplier beyond which base * multiplier passes the cap.
  const f = factor(strategy, retry, cap / base);
  const delay = base * f;
  return Number.isFinite(delay) ? Math.min(delay, cap) : cap;
}

export const retryDelayMs = (strategy: RetryStrategy, baseMinutes: number, n: number, maxMinutes: number): number =>
  Math.round(retryDelayMinutes(strategy, baseMinutes, n, maxMinutes) * 60_000);

// ---- quiet hours ----

/**
 * Quiet hours in the recipient's time zone (docs/notifications.md, The workflow). Pure: the notification
 * workflow passes its own deterministic Date.now(), so the wait it computes replays identically.
 *
 * `start`..`end` is the quiet period (no sending), local wall-clock time "HH:MM" or "HH:MM:SS";
 * when start > end it spans midnight (22:00..07:00). start == end means no quiet period.
 */

const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

export function isTimeOfDay(value: string): boolean {
  return TIME_OF_DAY.test(value);
}

function secondsOfDay(value: string): number {
  const m = TIME_OF_DAY.exec(value);
  if (!m) throw new Error(`not a time of day: ${value}`);
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0);
}

/** The local wall-clock moment `seconds` after midnight of `day`, in the day's zone (DST-safe: luxon moves a time in a spring-forward gap forward). */
function at(day: DateTime, seconds: number): DateTime {
  return day.set({ hour: Math.floor(seconds / 3600), minute: Math.floor((seconds % 3600) / 60), second: seconds % 60, millisecond: 0 });
}

/**
 * Milliseconds from `nowMs` until sending is allowed again: 0 outside the quiet period, else the
 * time until its end. An unknown time zone is treated as UTC rather than blocking the message.
 */
export function quietHoursWaitMs(nowMs: number, timeZone: string, quiet: QuietHours): number {
  const start = secondsOfDay(quiet.start);
  const end = secondsOfDay(quiet.end);
  if (start === end) return 0;
  let now = DateTime.fromMillis(nowMs, { zone: timeZone });
  if (!now.isValid) now = DateTime.fromMillis(nowMs, { zone: 'utc' });
  const today = now.startOf('day');
  const t = now.hour * 3600 + now.minute * 60 + now.second;
  let opensAt: DateTime | undefined;
  if (start < end) {
    if (t >= start && t < end) opensAt = at(today, end);
  } else if (t >= start) {
    opensAt = at(today.plus({ days: 1 }), end);
  } else if (t < end) {
    opensAt = at(today, end);
  }
  if (!opensAt) return 0;
  const wait = opensAt.toMillis() - nowMs;
  return Number.isFinite(wait) && wait > 0 ? wait : 0;
}
