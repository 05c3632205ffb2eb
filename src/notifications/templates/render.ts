import Handlebars from 'handlebars';
import type { Channel, NotificationEventType, RenderedMessage, TemplateVariables } from '../definitions';

export type { RenderedMessage, TemplateVariables } from '../definitions';
import { CUSTOMER_TEMPLATES, DEFAULT_TEMPLATES, type ChannelTemplate } from './defaults';

/** A template that does not compile or refers to a missing variable: a configuration error, never retried. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

const handlebars = Handlebars.create();
const cache = new Map<string, Handlebars.TemplateDelegate>();

function compile(source: string): Handlebars.TemplateDelegate {
  let template = cache.get(source);
  if (!template) {
    // strict: a missing variable throws; noEscape: plain text channels, no HTML entities.
    template = handlebars.compile(source, { strict: true, noEscape: true });
    if (cache.size > 1000) cache.clear();
    cache.set(source, template);
  }
  return template;
}

/** Throws a TemplateError naming the problem when `source` does not parse. */
export function assertTemplateSyntax(source: string): void {
  try {
    handlebars.parse(source);
  } catch (error) {
    throw new TemplateError(firstLine((error as Error).message));
  }
}

const firstLine = (message: string) =>
  message
    .replace(/ in \[object Object\]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);

function renderOne(what: string, source: string, vars: TemplateVariables): string {
  try {
    return compile(source)(vars).trim();
  } catch (error) {
    throw new TemplateError(`${what}: ${firstLine((error as Error).message)}`);
  }
}

/** The template used for an event on a channel: the override where given, else the default for this kind of recipient. */
export function templateFor(
  eventType: NotificationEventType,
  channel: Channel,
  override?: { subject: string | null; body: string | null } | null,
  recipientKind: 'customer' | 'staff' = 'staff',
): ChannelTemplate {
  const base =
    (recipientKind === 'customer' ? CUSTOMER_TEMPLATES[eventType]?.[channel] : undefined) ?? DEFAULT_TEMPLATES[eventType]?.[channel];
  if (!base) throw new TemplateError(`no template for ${eventType} on ${channel}`);
  return { subject: override?.subject ?? base.subject, body: override?.body ?? base.body };
}

/** Renders an event's message for a channel; throws TemplateError on a syntax error or a missing variable. */
export function renderNotification(
  eventType: NotificationEventType,
  channel: Channel,
  vars: TemplateVariables,
  override?: { subject: string | null; body: string | null } | null,
): RenderedMessage {
  const template = templateFor(eventType, channel, override, vars.recipient?.kind);
  const body = renderOne(`${eventType}/${channel} body`, template.body, vars);
  if (!body) throw new TemplateError(`${eventType}/${channel} body rendered empty`);
  const subject = template.subject !== undefined ? renderOne(`${eventType}/${channel} subject`, template.subject, vars) : undefined;
  return subject !== undefined ? { subject, body } : { body };
}
