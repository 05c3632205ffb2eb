import { DateTime } from 'luxon';
import {
  hierarchyChain,
  recipientKind,
  resolveNotificationConfig,
  SYSTEM_DEFAULTS,
  type NotificationConfigRow,
} from '../../src/notifications/rules';
import { quietHoursWaitMs } from '../../src/notifications/rules';

const ctx = { companyId: 'co', branchId: 'br', serviceId: 'sv', staffId: 'st' };
const defaults = { channel: 'email' as const, fallbackChannel: 'sms' as const };

function row(
  level: NotificationConfigRow['configurableType'],
  id: string,
  values: Partial<NotificationConfigRow> = {},
): NotificationConfigRow {
  return {
    id: `cfg-${level}`,
    configurableType: level,
    configurableId: id,
    channel: null,
    fallbackChannel: null,
    enabled: null,
    retryCount: null,
    retryDelayMinutes: null,
    retryStrategy: null,
    maxRetryDelayMinutes: null,
    providers: null,
    templateSubject: null,
    templateBody: null,
    quietHoursStart: null,
    quietHoursEnd: null,
    rateLimitCount: null,
    rateLimitWindowSeconds: null,
    channelOrder: null,
    ...values,
  };
}

describe('notification settings resolution (pure)', () => {
  it('consults staff > service > branch > company, skipping what the context lacks', () => {
    expect(hierarchyChain(ctx).map((c) => c.level)).toEqual(['staff', 'service', 'branch', 'company']);
    expect(hierarchyChain({ companyId: 'co', branchId: 'br', staffId: 'st' }).map((c) => c.level)).toEqual(['staff', 'branch', 'company']);
    expect(hierarchyChain({ companyId: 'co' }).map((c) => c.level)).toEqual(['company']);
  });

  it('falls back to the event mapping and the system defaults when nothing is configured', () => {
    const r = resolveNotificationConfig(ctx, [], defaults);
    expect(r.settings).toEqual({ ...SYSTEM_DEFAULTS, channel: 'email', fallbackChannel: 'sms' });
    expect(Object.values(r.provenance).every((p) => p.level === 'default' && p.configId === null)).toBe(true);
    expect(r.configId).toBeNull();
  });

  it.each([
    ['staff', 'service'],
    ['service', 'branch'],
    ['branch', 'company'],
    ['company', 'default'],
  ] as const)('%s wins over %s', (winner, loser) => {
    const ids = { staff: 'st', service: 'sv', branch: 'br', company: 'co' } as const;
    const rows = [row(winner, ids[winner], { retryCount: 7 })];
    if (loser !== 'default') rows.push(row(loser, ids[loser], { retryCount: 2 }));
    const r = resolveNotificationConfig(ctx, rows, defaults);
    expect(r.settings.retryCount).toBe(7);
    expect(r.provenance.retryCount).toEqual({ level: winner, configId: `cfg-${winner}` });
    expect(r.configId).toBe(`cfg-${winner}`);
  });

  it('resolves each setting on its own: NULL inherits, all four levels at once', () => {
    const rows = [
      row('company', 'co', { retryCount: 1, retryDelayMinutes: 10, retryStrategy: 'linear', maxRetryDelayMinutes: 30, channel: 'sms' }),
      row('branch', 'br', { retryDelayMinutes: 20, rateLimitCount: 3, rateLimitWindowSeconds: 60, channelOrder: ['whatsapp', 'email'] }),
      row('service', 'sv', { retryStrategy: 'fibonacci', quietHoursStart: '22:00:00', quietHoursEnd: '07:00:00' }),
      row('staff', 'st', { channel: 'whatsapp', templateBody: 'Hi {{recipient.name}}' }),
      // Rows of other entities never apply.
      row('staff', 'someone-else', { enabled: false }),
    ];
    const r = resolveNotificationConfig(ctx, rows, defaults);
    expect(r.settings).toMatchObject({
      channel: 'whatsapp',
      fallbackChannel: 'sms',
      enabled: true,
      retryCount: 1,
      retryDelayMinutes: 20,
      retryStrategy: 'fibonacci',
      maxRetryDelayMinutes: 30,
      templateBody: 'Hi {{recipient.name}}',
      quietHours: { start: '22:00:00', end: '07:00:00' },
      rateLimit: { count: 3, windowSeconds: 60 },
      channelOrder: ['whatsapp', 'email'],
    });
    expect(Object.fromEntries(Object.entries(r.provenance).map(([k, v]) => [k, v.level]))).toEqual({
      channel: 'staff',
      fallbackChannel: 'default',
      enabled: 'default',
      retryCount: 'company',
      retryDelayMinutes: 'branch',
      retryStrategy: 'service',
      maxRetryDelayMinutes: 'company',
      providers: 'default',
      templateSubject: 'default',
      templateBody: 'staff',
      quietHours: 'service',
      rateLimit: 'branch',
      channelOrder: 'branch',
    });
    expect(r.configId).toBe('cfg-staff');
    expect(r.chain).toEqual([
      { level: 'staff', id: 'st', configId: 'cfg-staff' },
      { level: 'service', id: 'sv', configId: 'cfg-service' },
      { level: 'branch', id: 'br', configId: 'cfg-branch' },
      { level: 'company', id: 'co', configId: 'cfg-company' },
    ]);
  });

  it("'none' switches the fallback off; a fallback equal to the channel is no fallback", () => {
    expect(
      resolveNotificationConfig(ctx, [row('branch', 'br', { fallbackChannel: 'none' })], defaults).settings.fallbackChannel,
    ).toBeNull();
    expect(resolveNotificationConfig(ctx, [row('branch', 'br', { channel: 'sms' })], defaults).settings.fallbackChannel).toBeNull();
    // A nearer level can turn it back on.
    const on = resolveNotificationConfig(
      ctx,
      [row('company', 'co', { fallbackChannel: 'none' }), row('staff', 'st', { fallbackChannel: 'push' })],
      defaults,
    );
    expect(on.settings.fallbackChannel).toBe('push');
  });

  it('addresses appointment notifications to the customer, staff_assigned to the staff member', () => {
    expect(recipientKind('appointment_created', 'appointment')).toBe('customer');
    expect(recipientKind('staff_assigned', 'appointment')).toBe('staff');
    expect(recipientKind('callback_escalated', 'staff')).toBe('staff');
    expect(recipientKind('payment_failed', 'customer')).toBe('customer');
  });
});

describe('quiet hours (pure)', () => {
  const at = (isoLocal: string, zone: string) => DateTime.fromISO(isoLocal, { zone }).toMillis();
  const quiet = { start: '22:00', end: '07:00' };

  it('is zero outside the quiet period', () => {
    expect(quietHoursWaitMs(at('2026-03-10T12:00', 'Europe/Madrid'), 'Europe/Madrid', quiet)).toBe(0);
    expect(quietHoursWaitMs(at('2026-03-10T07:00', 'Europe/Madrid'), 'Europe/Madrid', quiet)).toBe(0);
  });

  it('waits until the end of a period spanning midnight, before and after midnight', () => {
    expect(quietHoursWaitMs(at('2026-03-10T23:30', 'Europe/Madrid'), 'Europe/Madrid', quiet)).toBe(7.5 * 3600_000);
    expect(quietHoursWaitMs(at('2026-03-11T06:15', 'Europe/Madrid'), 'Europe/Madrid', quiet)).toBe(45 * 60_000);
    expect(quietHoursWaitMs(at('2026-03-10T22:00', 'Europe/Madrid'), 'Europe/Madrid', quiet)).toBe(9 * 3600_000);
  });

  it('handles a same-day period', () => {
    const lunch = { start: '12:00:00', end: '14:30:00' };
    expect(quietHoursWaitMs(at('2026-03-10T13:00', 'UTC'), 'UTC', lunch)).toBe(90 * 60_000);
    expect(quietHoursWaitMs(at('2026-03-10T14:30', 'UTC'), 'UTC', lunch)).toBe(0);
  });

  it("uses the recipient's time zone, not the server's", () => {
    const now = Date.UTC(2026, 2, 10, 21, 30); // 21:30 UTC = 22:30 in Madrid, 06:30 next day in Tokyo
    expect(quietHoursWaitMs(now, 'UTC', quiet)).toBe(0);
    expect(quietHoursWaitMs(now, 'Europe/Madrid', quiet)).toBe(8.5 * 3600_000);
    expect(quietHoursWaitMs(now, 'Asia/Tokyo', quiet)).toBe(30 * 60_000);
  });

  it('counts real elapsed time across a DST change (the night is an hour shorter)', () => {
    // Europe/Madrid springs forward on 2026-03-29 at 02:00 -> 03:00.
    expect(quietHoursWaitMs(at('2026-03-28T23:00', 'Europe/Madrid'), 'Europe/Madrid', quiet)).toBe(7 * 3600_000);
  });

  it('an empty period or an unknown zone never blocks forever', () => {
    expect(quietHoursWaitMs(Date.now(), 'UTC', { start: '08:00', end: '08:00' })).toBe(0);
    const wait = quietHoursWaitMs(Date.UTC(2026, 2, 10, 23, 0), 'Mars/Olympus_Mons', quiet);
    expect(wait).toBe(8 * 3600_000); // treated as UTC
  });
});
