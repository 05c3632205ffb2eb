import { CHANNELS, type Channel } from '../channels/types';

/**
 * The consent feature's vocabulary, shared by the notification workflow (through
 * PreparedNotification), its activities and the API. Definitions only: no I/O.
 */

/**
 * Transactional: what the customer needs about something they asked for (confirmations,
 * reminders, cancellations, callbacks, payments). Optional: everything else (feedback requests,
 * anything marketing-like). Each seeded event type has one (notification_event_mappings.message_kind).
 */
export const MESSAGE_KINDS = ['transactional', 'optional'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** Where a consent answer came from. */
export const CONSENT_SOURCES = ['api', 'unsubscribe_link', 'sms_keyword'] as const;
export type ConsentSource = (typeof CONSENT_SOURCES)[number];

export type ConsentDecision = 'allowed' | 'opted_out';

/** A customer's stored answer for one channel and kind (no answer: the default applies). */
export interface ConsentAnswer {
  channel: Channel;
  kind: MessageKind;
  granted: boolean;
}

/**
 * What a notification to a customer may use, decided when it is prepared (and checked again before
 * every attempt): per channel, allowed or opted out, for the message's kind.
 */
export interface ConsentPlan {
  customerId: string;
  kind: MessageKind;
  channels: Record<Channel, ConsentDecision>;
}

/** The reason a notification ends with when consent leaves it no channel (`suppressed`). */
export const OPTED_OUT = 'opted_out';

export { CHANNELS, type Channel };
