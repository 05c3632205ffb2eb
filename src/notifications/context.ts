import { DateTime } from 'luxon';
import type { PushSubscriptionJSON } from '../channels/types';
import type { Queryable } from '../db/transaction';
import type { Channel, NotificationEventType } from './definitions';
import {
  recipientKind,
  resolveNotificationConfig,
  type HierarchyContext,
  type NotifiableType,
  type ResolvedNotificationConfig,
} from './rules';
import { loadConfigRows, loadEventMapping, type EventMapping } from './store';
import type { TemplateVariables } from './templates/render';

/**
 * Who a notification is about and for: the notifiable's context (which staff, service, branch and
 * company; the recipient's addresses and time zone; the template variables), and the settings
 * resolved for it through the hierarchy. Every query is scoped by company_id.
 */
export interface Notifiable {
  type: NotifiableType;
  id: string;
}

export interface RecipientContact {
  kind: 'customer' | 'staff';
  id: string | null;
  name: string;
  email: string | null;
  phone: string | null;
  timeZone: string;
  pushSubscription: PushSubscriptionJSON | null;
}

export interface NotifiableContext {
  hierarchy: HierarchyContext;
  recipient: RecipientContact;
  vars: Omit<TemplateVariables, 'event' | 'data'>;
}

function formatAppointment(startsAt: Date, endsAt: Date, status: string, timeZone: string) {
  let start = DateTime.fromJSDate(startsAt, { zone: timeZone });
  let end = DateTime.fromJSDate(endsAt, { zone: timeZone });
  if (!start.isValid) {
    start = DateTime.fromJSDate(startsAt, { zone: 'utc' });
    end = DateTime.fromJSDate(endsAt, { zone: 'utc' });
  }
  return {
    date: start.setLocale('en-GB').toFormat('cccc d LLLL yyyy'),
    time: start.toFormat('HH:mm'),
    startsAt: start.toISO() ?? startsAt.toISOString(),
    endsAt: end.toISO() ?? endsAt.toISOString(),
    timeZone: start.zoneName ?? 'UTC',
    status,
  };
}

const contact = (kind: 'customer' | 'staff', r: Record<string, unknown>, prefix: string): RecipientContact => ({
  kind,
  id: (r[`${prefix}id`] as string | null) ?? null,
  name: (r[`${prefix}name`] as string | null) ?? '',
  email: (r[`${prefix}email`] as string | null) ?? null,
  phone: (r[`${prefix}phone`] as string | null) ?? null,
  timeZone: (r[`${prefix}time_zone`] as string | null) ?? 'UTC',
  pushSubscription: kind === 'customer' ? ((r[`${prefix}push_subscription`] as PushSubscriptionJSON | null) ?? null) : null,
});

/**
 * The context of a notifiable (docs/design.md, Notifications): a staff member -> staff, their branch, company; a customer
 * -> their home branch (if any), company; an appointment -> its staff, service, branch, company.
 * Null when it does not exist in the company.
 */
export async function loadNotifiableContext(
  db: Queryable,
  companyId: string,
  notifiable: Notifiable,
  eventType: NotificationEventType,
): Promise<NotifiableContext | null> {
  if (notifiable.type === 'staff') {
    const { rows } = await db.query(
      `SELECT co.name AS company_name, s.id AS s_id, s.name AS s_name, s.email AS s_email, s.phone AS s_phone, s.time_zone AS s_time_zone,
              b.id AS branch_id, b.name AS branch_name, b.phone AS branch_phone, b.email AS branch_email
         FROM staff s
         JOIN companies co ON co.id = s.company_id
         JOIN branches b ON b.company_id = s.company_id AND b.id = s.branch_id
        WHERE s.company_id = $1 AND s.id = $2`,
      [companyId, notifiable.id],
    );
    const r = rows[0];
    if (!r) return null;
    const recipient = contact('staff', r, 's_');
    return {
      hierarchy: { companyId, staffId: notifiable.id, branchId: r.branch_id },
      recipient,
      vars: {
        company: { name: r.company_name },
        recipient: { name: recipient.name, kind: 'staff' },
        branch: { name: r.branch_name, phone: r.branch_phone, email: r.branch_email },
        staff: { name: recipient.name },
      },
    };
  }
  if (notifiable.type === 'customer') {
    const { rows } = await db.query(
      `SELECT co.name AS company_name, c.id AS c_id, c.name AS c_name, c.email AS c_email, c.phone AS c_phone, c.time_zone AS c_time_zone,
              c.push_subscription AS c_push_subscription,
              b.id AS branch_id, b.name AS branch_name, b.phone AS branch_phone, b.email AS branch_email
         FROM customers c
         JOIN companies co ON co.id = c.company_id
         LEFT JOIN branches b ON b.company_id = c.company_id AND b.id = c.home_branch_id
        WHERE c.company_id = $1 AND c.id = $2`,
      [companyId, notifiable.id],
    );
    const r = rows[0];
    if (!r) return null;
    const recipient = contact('customer', r, 'c_');
    return {
      hierarchy: { companyId, branchId: r.branch_id },
      recipient,
      vars: {
        company: { name: r.company_name },
        recipient: { name: recipient.name, kind: 'customer' },
        customer: { name: recipient.name },
        ...(r.branch_id ? { branch: { name: r.branch_name, phone: r.branch_phone, email: r.branch_email } } : {}),
      },
    };
  }
  const { rows } = await db.query(
    `SELECT co.name AS company_name, a.starts_at, a.ends_at, a.status, a.branch_id, a.service_id, a.staff_id,
            b.name AS branch_name, b.phone AS branch_phone, b.email AS branch_email,
            sv.name AS service_name, sv.duration_minutes,
            st.id AS s_id, st.name AS s_name, st.email AS s_email, st.phone AS s_phone, st.time_zone AS s_time_zone,
            cu.id AS c_id, cu.name AS c_name, cu.email AS c_email, cu.phone AS c_phone, cu.time_zone AS c_time_zone,
            cu.push_subscription AS c_push_subscription
       FROM appointments a
       JOIN companies co ON co.id = a.company_id
       JOIN branches b ON b.company_id = a.company_id AND b.id = a.branch_id
       JOIN services sv ON sv.company_id = a.company_id AND sv.id = a.service_id
       JOIN customers cu ON cu.company_id = a.company_id AND cu.id = a.customer_id
       LEFT JOIN staff st ON st.company_id = a.company_id AND st.id = a.staff_id
      WHERE a.company_id = $1 AND a.id = $2`,
    [companyId, notifiable.id],
  );
  const r = rows[0];
  if (!r) return null;
  const customer = contact('customer', r, 'c_');
  const kind = recipientKind(eventType, 'appointment');
  // An appointment without staff cannot reach "its staff member": the recipient has no address.
  const recipient = kind === 'customer' ? customer : r.s_id ? contact('staff', r, 's_') : { ...contact('staff', r, 's_'), name: 'staff' };
  return {
    hierarchy: { companyId, staffId: r.staff_id, serviceId: r.service_id, branchId: r.branch_id },
    recipient,
    vars: {
      company: { name: r.company_name },
      recipient: { name: recipient.name, kind },
      branch: { name: r.branch_name, phone: r.branch_phone, email: r.branch_email },
      service: { name: r.service_name, durationMinutes: r.duration_minutes },
      customer: { name: customer.name },
      ...(r.s_id ? { staff: { name: r.s_name } } : {}),
      appointment: formatAppointment(r.starts_at, r.ends_at, r.status, recipient.timeZone),
    },
  };
}

export interface ResolvedForNotifiable {
  context: NotifiableContext;
  mapping: EventMapping;
  resolved: ResolvedNotificationConfig;
}

/** Context, event defaults and resolved configuration of a notifiable; null when the notifiable is not in the company. */
export async function resolveForNotifiable(
  db: Queryable,
  companyId: string,
  eventType: NotificationEventType,
  notifiable: Notifiable,
): Promise<ResolvedForNotifiable | null> {
  const mapping = await loadEventMapping(db, eventType);
  if (!mapping) throw new Error(`unknown event type ${eventType}`);
  const context = await loadNotifiableContext(db, companyId, notifiable, eventType);
  if (!context) return null;
  const rows = await loadConfigRows(db, context.hierarchy, eventType);
  return { context, mapping, resolved: resolveNotificationConfig(context.hierarchy, rows, mapping) };
}

/** Where a recipient is reached on a channel; null when they have no address there. */
export function addressFor(channel: Channel, r: RecipientContact): { to: string; push?: PushSubscriptionJSON } | null {
  switch (channel) {
    case 'email':
      return r.email ? { to: r.email } : null;
    case 'sms':
      return r.phone ? { to: dialable(r.phone) } : null;
    case 'whatsapp':
      return r.phone ? { to: r.phone.startsWith('whatsapp:') ? r.phone : `whatsapp:${dialable(r.phone)}` } : null;
    case 'push':
      return r.pushSubscription?.endpoint ? { to: r.pushSubscription.endpoint, push: r.pushSubscription } : null;
  }
}

/**
 * A stored number as providers take it. Numbers are stored in E.164 (src/directory/phone.ts), so
 * this changes nothing for them; it strips the punctuation of a number stored before that, which
 * the E.164 migration could not read (listed in phone_number_review; the provider refuses it).
 */
export function dialable(phone: string): string {
  return phone.replace(/[\s().-]/g, '');
}
