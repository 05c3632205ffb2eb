import type { Channel } from '../../src/notifications/definitions';
import {
  deliveredByFallbackReason,
  planDelivery,
  SYSTEM_DEFAULTS,
  unreachableReason,
  type NotificationSettings,
} from '../../src/notifications/rules';

/**
 * The delivery plan (pure, src/notifications/rules.ts): which channels reach the recipient, in the
 * order the configuration gives, email the last resort, every channel passed by recorded with why.
 */
describe('the delivery plan (pure)', () => {
  const reach = (ok: Channel[], optedOut: Channel[] = []) =>
    Object.fromEntries(
      (['email', 'sms', 'whatsapp', 'push'] as const).map((c) => [
        c,
        optedOut.includes(c) ? 'opted_out' : ok.includes(c) ? 'ok' : 'no_address',
      ]),
    ) as Record<Channel, 'ok' | 'no_address' | 'opted_out'>;
  const settings = (channel: Channel, fallbackChannel: Channel | null, over: Partial<NotificationSettings> = {}) => ({
    ...SYSTEM_DEFAULTS,
    channel,
    fallbackChannel,
    ...over,
  });
  const emailOnly = reach(['email']);
  const phoneOnly = reach(['sms', 'whatsapp']);
  const both = reach(['email', 'sms', 'whatsapp']);

  // The seeded defaults of the appointment messages (notification_event_mappings) for each kind of customer.
  type Case = [string, string, Channel, Channel | null, Record<Channel, 'ok' | 'no_address' | 'opted_out'>, unknown[], Channel[]];
  const cases: Case[] = [
    [
      'appointment_created (email, fallback sms)',
      'only an email',
      'email',
      'sms',
      emailOnly,
      [['email', false, 4]],
      ['sms', 'whatsapp', 'push'],
    ],
    [
      'appointment_created (email, fallback sms)',
      'only a phone',
      'email',
      'sms',
      phoneOnly,
      [
        ['sms', true, 4],
        ['whatsapp', true, 1],
      ],
      ['email'],
    ],
    [
      'appointment_created (email, fallback sms)',
      'both',
      'email',
      'sms',
      both,
      [
        ['email', false, 4],
        ['sms', true, 1],
      ],
      [],
    ],
    [
      'appointment_reminder_2h (sms, fallback whatsapp)',
      'only an email',
      'sms',
      'whatsapp',
      emailOnly,
      [['email', true, 4]],
      ['sms', 'whatsapp', 'push'],
    ],
    [
      'appointment_reminder_2h (sms, fallback whatsapp)',
      'only a phone',
      'sms',
      'whatsapp',
      phoneOnly,
      [
        ['sms', false, 4],
        ['whatsapp', true, 1],
      ],
      [],
    ],
    [
      'appointment_reminder_2h (sms, fallback whatsapp)',
      'both',
      'sms',
      'whatsapp',
      both,
      [
        ['sms', false, 4],
        ['whatsapp', true, 1],
      ],
      [],
    ],
    ['customer_feedback_request (email, no fallback)', 'only an email', 'email', null, emailOnly, [['email', false, 4]], []],
    ['customer_feedback_request (email, no fallback)', 'only a phone', 'email', null, phoneOnly, [['sms', true, 4]], ['email']],
  ];
  it.each(cases)('%s reaches a customer with %s', (_event, _who, channel, fallback, who, legs, skipped) => {
    const plan = planDelivery(settings(channel, fallback), who);
    expect(plan.legs.map((l) => [l.channel, l.isFallback, l.rounds])).toEqual(legs);
    expect(plan.skipped.map((s) => s.channel)).toEqual(skipped);
    expect(plan.skipped.every((s) => s.reason === 'no_address')).toBe(true);
  });

  it('the company’s order decides the substitutes; email stays the last resort; an opt-out is passed by like a missing address', () => {
    const plan = planDelivery(settings('sms', null, { channelOrder: ['push', 'whatsapp'] }), reach(['email', 'whatsapp', 'sms'], ['sms']));
    expect(plan.order).toEqual(['sms', 'push', 'whatsapp', 'email']);
    expect(plan.legs).toEqual([{ channel: 'whatsapp', isFallback: true, rounds: 4 }]);
    expect(plan.skipped).toEqual([
      { channel: 'sms', reason: 'opted_out', leg: 'primary' },
      { channel: 'push', reason: 'no_address', leg: 'primary' },
    ]);
    // A channel left out of the order is never a substitute: only email, the last resort.
    const narrow = planDelivery(settings('sms', null, { channelOrder: ['sms'] }), reach(['email', 'whatsapp']));
    expect(narrow.legs.map((l) => l.channel)).toEqual(['email']);
    expect(narrow.order).toEqual(['sms', 'email']);
  });

  it('nothing reaches: no legs; the reason says whose choice it was', () => {
    const refused = planDelivery(settings('email', 'sms'), reach(['email', 'sms'], ['email', 'sms']));
    expect(refused.legs).toEqual([]);
    expect(unreachableReason('transactional', refused.skipped)).toEqual({
      status: 'suppressed',
      reason: 'opted_out: the customer opted out of transactional messages by email and sms; the recipient has no whatsapp or push address',
    });
    const nobody = planDelivery(settings('sms', 'whatsapp'), reach([]));
    expect(unreachableReason('transactional', nobody.skipped)).toEqual({
      status: 'failed',
      reason: 'no channel reaches the recipient: the recipient has no sms, whatsapp, push or email address',
    });
    expect(deliveredByFallbackReason('email', [{ channel: 'sms', reason: 'no_address' }])).toBe(
      'delivered by the fallback channel email (the recipient has no sms address)',
    );
  });
});
