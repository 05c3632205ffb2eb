import type { Channel, NotificationEventType } from '../definitions';

/**
 * Default templates for every seeded event on every channel (Handlebars, rendered in strict mode
 * without HTML escaping: the channels carry plain text). A configuration's template_subject /
 * template_body replaces them for its primary channel.
 *
 * Variables (see TemplateVariables in ./render): event, company, recipient, data, and, when the
 * notifiable has them, branch, service, staff, customer, appointment. A default only uses what its
 * event's usual notifiable provides; optional extras from `data` are guarded with {{#if}}.
 */
export interface ChannelTemplate {
  subject?: string;
  body: string;
}

interface EventText {
  /** Email subject and push title. */
  subject: string;
  /** The full text (email). */
  long: string;
  /** The short text (SMS, WhatsApp, push). */
  short: string;
}

const AT = '{{service.name}} at {{branch.name}} on {{appointment.date}} at {{appointment.time}}';

const TEXTS: Record<NotificationEventType, EventText> = {
  appointment_created: {
    subject: 'Your appointment at {{branch.name}} is booked',
    long: `Your appointment for ${AT} is booked{{#if staff}} with {{staff.name}}{{/if}}.`,
    short: `{{company.name}}: booked ${AT}.`,
  },
  appointment_confirmed: {
    subject: 'Your appointment on {{appointment.date}} is confirmed',
    long: `Your appointment for ${AT} is confirmed. We look forward to seeing you.`,
    short: `{{company.name}}: confirmed ${AT}.`,
  },
  appointment_cancelled: {
    subject: 'Your appointment on {{appointment.date}} was cancelled',
    long: `Your appointment for ${AT} was cancelled.{{#if data.fee}} A cancellation fee of {{data.fee}} applies.{{/if}}`,
    short: `{{company.name}}: cancelled ${AT}.`,
  },
  appointment_rescheduled: {
    subject: 'Your appointment was moved to {{appointment.date}}',
    long: `Your appointment for {{service.name}} at {{branch.name}}{{#if data.previousStartsAt}} (was {{data.previousStartsAt}}){{/if}} now takes place on {{appointment.date}} at {{appointment.time}}.`,
    short: `{{company.name}}: moved to {{appointment.date}} {{appointment.time}} ({{service.name}}).`,
  },
  appointment_reminder_24h: {
    subject: 'Reminder: {{service.name}} tomorrow at {{appointment.time}}',
    long: `A reminder of your appointment for ${AT}.`,
    short: `{{company.name}} reminder: ${AT}.`,
  },
  appointment_reminder_2h: {
    subject: 'See you at {{appointment.time}}',
    long: `Your appointment for ${AT} starts in about two hours.`,
    short: `{{company.name}}: see you at {{appointment.time}} at {{branch.name}}.`,
  },
  callback_requested: {
    subject: 'Callback requested{{#if data.customerName}} by {{data.customerName}}{{/if}}',
    long: '{{#if data.customerName}}{{data.customerName}}{{else}}A customer{{/if}} asked to be called back{{#if data.phoneNumber}} on {{data.phoneNumber}}{{/if}}.{{#if data.priority}} Priority: {{data.priority}}.{{/if}}',
    short:
      'Callback requested{{#if data.customerName}} by {{data.customerName}}{{/if}}{{#if data.phoneNumber}} ({{data.phoneNumber}}){{/if}}.',
  },
  callback_escalated: {
    subject: 'Escalated callback{{#if data.customerName}} for {{data.customerName}}{{/if}}',
    long: 'A callback{{#if data.customerName}} for {{data.customerName}}{{/if}}{{#if data.phoneNumber}} ({{data.phoneNumber}}){{/if}} was escalated to you{{#if data.reason}}: {{data.reason}}{{/if}}. Please take it over.',
    short: 'Escalated callback{{#if data.customerName}} for {{data.customerName}}{{/if}}{{#if data.reason}}: {{data.reason}}{{/if}}.',
  },
  callback_sla_warning: {
    subject: 'Callback due soon{{#if data.customerName}}: {{data.customerName}}{{/if}}',
    long: 'The callback{{#if data.customerName}} for {{data.customerName}}{{/if}}{{#if data.phoneNumber}} ({{data.phoneNumber}}){{/if}} assigned to you is due{{#if data.dueAtLocal}} at {{data.dueAtLocal}}{{else}} soon{{/if}}. Please call now.',
    short:
      'Callback due{{#if data.dueAtLocal}} at {{data.dueAtLocal}}{{else}} soon{{/if}}{{#if data.customerName}}: {{data.customerName}}{{/if}}.',
  },
  callback_expired: {
    subject: 'Callback expired unanswered{{#if data.customerName}}: {{data.customerName}}{{/if}}',
    long: 'The callback{{#if data.customerName}} for {{data.customerName}}{{/if}}{{#if data.phoneNumber}} ({{data.phoneNumber}}){{/if}} stayed open for its whole open life and expired without being completed.',
    short: 'Callback expired{{#if data.customerName}}: {{data.customerName}}{{/if}}.',
  },
  payment_received: {
    subject: 'Payment received',
    long: 'We received your payment{{#if data.amount}} of {{data.amount}}{{/if}}. Thank you.',
    short: '{{company.name}}: payment received{{#if data.amount}} ({{data.amount}}){{/if}}. Thank you.',
  },
  payment_failed: {
    subject: 'Your payment did not go through',
    long: 'Your payment{{#if data.amount}} of {{data.amount}}{{/if}} failed{{#if data.reason}}: {{data.reason}}{{/if}}. Please try again or contact us.',
    short: '{{company.name}}: payment{{#if data.amount}} of {{data.amount}}{{/if}} failed. Please try again.',
  },
  policy_violation: {
    subject: 'Your request falls outside our policy',
    long: '{{#if data.description}}{{data.description}}{{else}}Your cancellation or reschedule falls outside our policy.{{/if}}{{#if data.fee}} A fee of {{data.fee}} applies.{{/if}}',
    short: '{{company.name}}: your request falls outside our policy{{#if data.fee}}; fee {{data.fee}}{{/if}}.',
  },
  staff_assigned: {
    subject: 'New assignment',
    long: 'You have been assigned {{#if appointment}}the appointment of {{customer.name}} for {{service.name}} on {{appointment.date}} at {{appointment.time}}{{else}}{{#if data.description}}{{data.description}}{{else}}a new task{{/if}}{{/if}}.',
    short:
      'Assigned: {{#if appointment}}{{customer.name}}, {{appointment.date}} {{appointment.time}}{{else}}{{#if data.description}}{{data.description}}{{else}}a new task{{/if}}{{/if}}.',
  },
  customer_feedback_request: {
    subject: 'How was your visit?',
    long: 'Thank you for visiting {{#if branch}}{{branch.name}}{{else}}{{company.name}}{{/if}}{{#if service}} for {{service.name}}{{/if}}. How was it? {{#if data.feedbackUrl}}Tell us at {{data.feedbackUrl}}.{{else}}Just reply to this message.{{/if}}',
    short: '{{company.name}}: how was your visit? {{#if data.feedbackUrl}}{{data.feedbackUrl}}{{else}}Reply to tell us.{{/if}}',
  },
};

/**
 * Wording for a customer where the default text is written for staff: the customer reads about
 * their own request, not "a customer asked to be called back".
 */
const CUSTOMER_TEXTS: Partial<Record<NotificationEventType, EventText>> = {
  callback_requested: {
    subject: 'We will call you back',
    long: 'Thank you for your request: {{#if branch}}{{branch.name}}{{else}}{{company.name}}{{/if}} will call you back{{#if data.phoneNumber}} on {{data.phoneNumber}}{{/if}}{{#if data.dueAtLocal}} by {{data.dueAtLocal}}{{else}} as soon as possible{{/if}}.',
    short:
      '{{company.name}}: we got your callback request and will call you{{#if data.phoneNumber}} on {{data.phoneNumber}}{{/if}}{{#if data.dueAtLocal}} by {{data.dueAtLocal}}{{else}} soon{{/if}}.',
  },
};

const EMAIL_BODY = (text: string) => `Hello {{recipient.name}},\n\n${text}\n\n{{company.name}}`;

const perChannel = (t: EventText): Record<Channel, ChannelTemplate> => ({
  email: { subject: t.subject, body: EMAIL_BODY(t.long) },
  sms: { body: t.short },
  whatsapp: { body: t.short },
  push: { subject: t.subject, body: t.short },
});

export const DEFAULT_TEMPLATES: Record<NotificationEventType, Record<Channel, ChannelTemplate>> = Object.fromEntries(
  Object.entries(TEXTS).map(([event, t]) => [event, perChannel(t)]),
) as Record<NotificationEventType, Record<Channel, ChannelTemplate>>;

/** The defaults a customer gets where they differ from the staff wording (else DEFAULT_TEMPLATES). */
export const CUSTOMER_TEMPLATES: Partial<Record<NotificationEventType, Record<Channel, ChannelTemplate>>> = Object.fromEntries(
  Object.entries(CUSTOMER_TEXTS).map(([event, t]) => [event, perChannel(t)]),
);
