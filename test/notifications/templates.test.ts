import { CHANNELS, NOTIFICATION_EVENT_TYPES, type NotificationEventType } from '../../src/notifications/definitions';
import { loadNotifiableContext, type Notifiable } from '../../src/notifications/context';
import { DEFAULT_TEMPLATES } from '../../src/notifications/templates/defaults';
import { renderNotification, TemplateError, type TemplateVariables } from '../../src/notifications/templates/render';
import { testPool } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';

/** Each event's usual notifiable: appointments for appointment events, a manager for callbacks, the customer otherwise. */
function notifiableFor(event: NotificationEventType, org: Organisation): Notifiable {
  if (event.startsWith('appointment_') || event === 'staff_assigned') return { type: 'appointment', id: org.appointmentId };
  if (event.startsWith('callback_')) return { type: 'staff', id: org.managerId };
  return { type: 'customer', id: org.customerId };
}

describe('notification templates', () => {
  const pool = testPool();
  let org: Organisation;
  let mappings: Array<{
    event_type: NotificationEventType;
    description: string;
    default_channel: string;
    default_fallback_channel: string | null;
  }>;
  beforeAll(async () => {
    org = await createOrganisation(pool, { name: 'Peluquería Sol & Luna', customer: { timeZone: 'America/New_York' } });
    mappings = (
      await pool.query(`SELECT event_type, description, default_channel, default_fallback_channel FROM notification_event_mappings`)
    ).rows;
  });
  afterAll(() => pool.end());

  async function varsFor(event: NotificationEventType, data: Record<string, unknown> = {}): Promise<TemplateVariables> {
    const ctx = await loadNotifiableContext(pool, org.companyId, notifiableFor(event, org), event);
    return { ...ctx!.vars, event: { type: event, description: event }, data };
  }

  it('has a default template for every seeded event on every channel', () => {
    expect(Object.keys(DEFAULT_TEMPLATES).sort()).toEqual([...NOTIFICATION_EVENT_TYPES].sort());
    for (const event of NOTIFICATION_EVENT_TYPES) expect(Object.keys(DEFAULT_TEMPLATES[event]).sort()).toEqual([...CHANNELS].sort());
  });

  it('renders each of the 15 seeded events on its default and fallback channel with a real context', async () => {
    expect(mappings).toHaveLength(15);
    const rendered: string[] = [];
    for (const m of mappings) {
      const channels = [m.default_channel, m.default_fallback_channel].filter(Boolean) as Array<(typeof CHANNELS)[number]>;
      for (const channel of channels) {
        const out = renderNotification(m.event_type, channel, await varsFor(m.event_type));
        expect(out.body.length).toBeGreaterThan(10);
        expect(out.body).not.toMatch(/\{\{|\}\}|undefined|\[object/);
        if (channel === 'email' || channel === 'push') expect(out.subject).toBeTruthy();
        if (channel === 'email') expect(out.body).toMatch(/^Hello (Carla|Marta|Ana),/);
        rendered.push(`${m.event_type}/${channel}`);
      }
    }
    // 15 defaults + the 11 events that have a fallback.
    expect(rendered).toHaveLength(26);
  });

  it('renders appointment times in the recipient time zone, and staff_assigned to the staff member', async () => {
    const { rows } = await pool.query(`SELECT starts_at FROM appointments WHERE id = $1`, [org.appointmentId]);
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'America/New_York',
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    }).format(rows[0].starts_at);
    const created = renderNotification('appointment_created', 'sms', await varsFor('appointment_created'));
    expect(created.body).toContain(`at ${local}`);
    expect(created.body).toContain('Peluquería Sol & Luna'); // no HTML escaping on text channels
    const assigned = renderNotification('staff_assigned', 'email', await varsFor('staff_assigned'));
    expect(assigned.body).toMatch(/^Hello Ana,/);
    expect(assigned.body).toContain('appointment of Carla');
  });

  it('uses optional data when given', async () => {
    const out = renderNotification(
      'callback_escalated',
      'sms',
      await varsFor('callback_escalated', { customerName: 'Dora', reason: 'sla_breach' }),
    );
    expect(out.body).toBe('Escalated callback for Dora: sla_breach.');
  });

  it('a missing variable or a syntax error is a TemplateError naming the problem', async () => {
    const vars = await varsFor('payment_received');
    expect(() => renderNotification('payment_received', 'email', vars, { subject: null, body: 'Paid {{data.amount}}' })).toThrow(
      TemplateError,
    );
    expect(() => renderNotification('payment_received', 'email', vars, { subject: null, body: 'Paid {{data.amount}}' })).toThrow(
      /"amount" not defined/,
    );
    // A customer notifiable has no appointment: an appointment template cannot render for it.
    expect(() => renderNotification('appointment_created', 'sms', vars)).toThrow(/appointment/);
    expect(() => renderNotification('payment_received', 'sms', vars, { subject: null, body: 'Hi {{#each}}' })).toThrow(/Parse error/);
  });

  it('applies an override and keeps the default subject when only the body is overridden', async () => {
    const out = renderNotification('payment_received', 'email', await varsFor('payment_received', { amount: '25 EUR' }), {
      subject: null,
      body: 'Thanks {{recipient.name}}, {{data.amount}}',
    });
    expect(out).toEqual({ subject: 'Payment received', body: 'Thanks Carla, 25 EUR' });
  });
});
