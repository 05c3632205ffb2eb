/** The notification event types seeded by the migrations (SPEC section 5). Pure: importable by workflows. */
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
] as const;

export type NotificationEventType = (typeof NOTIFICATION_EVENT_TYPES)[number];

export const CHANNELS = ['email', 'sms', 'whatsapp', 'push'] as const;
export type Channel = (typeof CHANNELS)[number];
