import { Connection } from '@temporalio/client';
import { testClient } from '../support/encryption';
import { fieldIssues } from '../../src/api/errors';
import { NotFoundError, ValidationError } from '../../src/errors';
import type { NotificationEventType } from '../../src/notifications/definitions';
import { NotificationConfigInput } from '../../src/notifications/schemas';
import { createNotificationService, type NotificationService } from '../../src/notifications/service';
import { testPool } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';

/** Configuration through the service against the real database: validation, the hierarchy, provenance. */
describe('notification configuration (service, real PostgreSQL)', () => {
  const pool = testPool();
  let connection: Connection;
  let service: NotificationService;
  let org: Organisation;
  let other: Organisation;

  beforeAll(async () => {
    // Configuration never talks to Temporal; a lazy client is enough.
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    service = createNotificationService({ pool, client: testClient(connection), taskQueue: 'unused' });
    org = await createOrganisation(pool);
    other = await createOrganisation(pool);
  });
  afterAll(async () => {
    await connection.close();
    await pool.end();
  });

  const put = (o: Organisation, body: Omit<NotificationConfigInput, 'eventType'> & { eventType?: NotificationEventType }) =>
    service.upsertNotificationConfig(o.companyId, { eventType: 'appointment_confirmed', ...body });
  const resolve = (
    o: Organisation,
    type: 'appointment' | 'staff' | 'customer',
    id: string,
    eventType: NotificationEventType = 'appointment_confirmed',
  ) => service.resolveNotificationConfig(o.companyId, { eventType, notifiable: { type, id } });

  it('uses the event mapping and system defaults when nothing is configured', async () => {
    const r = await resolve(org, 'appointment', org.appointmentId, 'appointment_reminder_2h');
    expect(r.settings).toEqual({
      channel: 'sms',
      fallbackChannel: 'whatsapp',
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
      channelOrder: ['sms', 'whatsapp', 'push', 'email'],
    });
    expect(new Set(Object.values(r.provenance).map((p) => p.level))).toEqual(new Set(['default']));
    expect(r.configId).toBeNull();
  });

  it('each level wins over the next: staff > service > branch > company > default', async () => {
    const company = await put(org, { configurableType: 'company', configurableId: org.companyId, retryCount: 1 });
    expect(company.created).toBe(true);
    let r = await resolve(org, 'appointment', org.appointmentId);
    expect([r.settings.retryCount, r.provenance.retryCount.level, r.configId]).toEqual([1, 'company', company.config.id]);

    const branch = await put(org, { configurableType: 'branch', configurableId: org.branchId, retryCount: 2 });
    r = await resolve(org, 'appointment', org.appointmentId);
    expect([r.settings.retryCount, r.provenance.retryCount.level, r.configId]).toEqual([2, 'branch', branch.config.id]);

    const svc = await put(org, { configurableType: 'service', configurableId: org.serviceId, retryCount: 3 });
    r = await resolve(org, 'appointment', org.appointmentId);
    expect([r.settings.retryCount, r.provenance.retryCount.level, r.configId]).toEqual([3, 'service', svc.config.id]);

    const staff = await put(org, { configurableType: 'staff', configurableId: org.staffId, retryCount: 4 });
    r = await resolve(org, 'appointment', org.appointmentId);
    expect([r.settings.retryCount, r.provenance.retryCount.level, r.configId]).toEqual([4, 'staff', staff.config.id]);
    expect(r.chain.map((c) => [c.level, c.configId])).toEqual([
      ['staff', staff.config.id],
      ['service', svc.config.id],
      ['branch', branch.config.id],
      ['company', company.config.id],
    ]);
  });

  it('a staff member inherits from the branch (no service); a customer from the home branch, then the company', async () => {
    // From the previous test: staff 4, service 3, branch 2, company 1.
    let r = await resolve(org, 'staff', org.managerId);
    expect([r.settings.retryCount, r.provenance.retryCount.level]).toEqual([2, 'branch']);
    r = await resolve(org, 'staff', org.staffId);
    expect([r.settings.retryCount, r.provenance.retryCount.level]).toEqual([4, 'staff']);
    r = await resolve(org, 'customer', org.customerId);
    expect([r.settings.retryCount, r.provenance.retryCount.level]).toEqual([2, 'branch']);
    const { rows } = await pool.query(`INSERT INTO customers (company_id, name) VALUES ($1, 'Walk-in') RETURNING id`, [org.companyId]);
    r = await resolve(org, 'customer', rows[0].id);
    expect([r.settings.retryCount, r.provenance.retryCount.level]).toEqual([1, 'company']);
  });

  it('NULL inherits setting by setting; PUT replaces the row; all four levels at once', async () => {
    await put(org, {
      configurableType: 'company',
      configurableId: org.companyId,
      retryCount: 1,
      retryStrategy: 'constant',
      rateLimit: { count: 5, windowSeconds: 60 },
    });
    await put(org, { configurableType: 'branch', configurableId: org.branchId, retryDelayMinutes: 7, fallbackChannel: 'none' });
    await put(org, { configurableType: 'service', configurableId: org.serviceId, quietHours: { start: '21:00', end: '08:30' } });
    const replaced = await put(org, {
      configurableType: 'staff',
      configurableId: org.staffId,
      channel: 'whatsapp',
      providers: ['twilio-whatsapp'],
    });
    expect(replaced.created).toBe(false);
    expect(replaced.config.retryCount).toBeNull(); // replaced, not merged
    const r = await resolve(org, 'appointment', org.appointmentId);
    expect(r.settings).toMatchObject({
      channel: 'whatsapp',
      fallbackChannel: null,
      retryCount: 1,
      retryStrategy: 'constant',
      retryDelayMinutes: 7,
      quietHours: { start: '21:00:00', end: '08:30:00' },
      rateLimit: { count: 5, windowSeconds: 60 },
      providers: ['twilio-whatsapp'],
    });
    expect(r.provenance).toMatchObject({
      channel: { level: 'staff' },
      providers: { level: 'staff' },
      quietHours: { level: 'service' },
      retryDelayMinutes: { level: 'branch' },
      fallbackChannel: { level: 'branch' },
      retryCount: { level: 'company' },
      rateLimit: { level: 'company' },
      maxRetryDelayMinutes: { level: 'default' },
    });
  });

  it('the route schema names each invalid field', () => {
    const parsed = NotificationConfigInput.safeParse({
      configurableType: 'room',
      configurableId: 'x',
      eventType: 'appointment_confirmed',
      channel: 'fax',
      retryCount: -1,
      retryStrategy: 'random',
      quietHours: { start: '25:00', end: '07:00' },
      rateLimit: { count: 0, windowSeconds: 60 },
      surprise: true,
    });
    expect(parsed.success).toBe(false);
    expect(
      fieldIssues(parsed.error!)
        .map((i) => i.field)
        .sort(),
    ).toEqual(
      [
        'channel',
        'configurableId',
        'configurableType',
        'quietHours.start',
        'rateLimit.count',
        'retryCount',
        'retryStrategy',
        'surprise',
      ].sort(),
    );
    const same = NotificationConfigInput.safeParse({
      configurableType: 'company',
      configurableId: org.companyId,
      eventType: 'appointment_confirmed',
      channel: 'sms',
      fallbackChannel: 'sms',
    });
    expect(fieldIssues(same.error!)).toEqual([{ field: 'fallbackChannel', message: 'must differ from channel' }]);
  });

  it('refuses a template that does not parse, naming the field', async () => {
    const error = await put(org, { configurableType: 'company', configurableId: org.companyId, templateBody: 'Hello {{#if x}}' }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues[0].field).toBe('body.templateBody');
  });

  it("another company's entities are not found, and nothing is written", async () => {
    const before = await pool.query(`SELECT count(*)::int AS n FROM notification_configurations WHERE company_id = $1`, [org.companyId]);
    for (const [type, id] of [
      ['branch', other.branchId],
      ['service', other.serviceId],
      ['staff', other.staffId],
      ['company', other.companyId],
    ] as const) {
      await expect(put(org, { configurableType: type, configurableId: id, retryCount: 1 })).rejects.toBeInstanceOf(NotFoundError);
    }
    await expect(resolve(org, 'appointment', other.appointmentId)).rejects.toBeInstanceOf(NotFoundError);
    const after = await pool.query(`SELECT count(*)::int AS n FROM notification_configurations WHERE company_id = $1`, [org.companyId]);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('lists the 15 seeded event types with their default channels', async () => {
    const events = await service.listEventTypes();
    expect(events).toHaveLength(15);
    expect(events.find((e) => e.eventType === 'callback_escalated')).toEqual({
      eventType: 'callback_escalated',
      description: expect.any(String),
      defaultChannel: 'email',
      defaultFallbackChannel: 'sms',
      isUrgent: true,
      messageKind: 'transactional',
    });
    expect(events.find((e) => e.eventType === 'payment_received')?.defaultFallbackChannel).toBeNull();
    // The feedback request is the one optional message: it needs the customer's (or the company's default) consent.
    expect(events.filter((e) => e.messageKind === 'optional').map((e) => e.eventType)).toEqual(['customer_feedback_request']);
  });
});
