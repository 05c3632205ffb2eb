import { createHmac, randomUUID } from 'node:crypto';
import Retell from 'retell-sdk';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks';
import { PLATFORM_TOKEN, TEST_TWILIO_AUTH_TOKEN, type TestApi } from '../support/api';
import { countRows, fieldsOf } from '../support/directory';
import type { ChannelServers } from '../support/workers';
import { until } from '../support/until';
import { startApiStack, type ApiStack } from '../support/stack';

/**
 * Phone numbers through the real API, worker, PostgreSQL and the local Twilio-style HTTP sink:
 * whatever a person typed is read in the company's (or the branch's) country and stored in E.164,
 * so an SMS reaches it, Twilio's STOP from that number opts that customer out, and the phone
 * agent (Retell, signed with retell-sdk) matches callers by the whole number, not its last digits.
 */
describe('phone numbers are E.164, whatever the user typed', () => {
  let stack: ApiStack;
  let api: TestApi;
  let servers: ChannelServers;

  beforeAll(async () => {
    stack = await startApiStack();
    ({ api, servers } = stack);
  });
  afterAll(() => stack?.close());

  /** A company created the way existing callers create one (name and time zone), with its admin and manager keys. */
  async function company(body: Record<string, unknown>) {
    const created = await api.request('POST', '/v1/companies', { key: PLATFORM_TOKEN, body: { name: `Co ${randomUUID()}`, ...body } });
    expect(created.status).toBe(201);
    const admin = created.body.apiKey.key as string;
    const manager = (await api.request('POST', '/v1/api-keys', { key: admin, body: { name: 'manager', role: 'manager' } })).body.key;
    const agent = (await api.request('POST', '/v1/api-keys', { key: admin, body: { name: 'agent', role: 'agent' } })).body.key;
    return { id: created.body.company.id as string, view: created.body.company, admin, manager: manager as string, agent: agent as string };
  }
  const post = (key: string, path: string, body: unknown) => api.request('POST', path, { key, body });
  const customer = async (key: string, body: Record<string, unknown>) => {
    const r = await post(key, '/v1/customers', { name: 'Client', ...body });
    expect([r.status, r.body]).toEqual([201, expect.anything()]);
    return r.body as { id: string; phone: string };
  };

  it('a customer saved as (415) 555-0142 in a US company gets the SMS at +14155550142 (Twilio-style sink)', async () => {
    const us = await company({ timeZone: 'America/Los_Angeles' });
    const c = await customer(us.admin, { phone: '(415) 555-0142' });
    const config = await api.request('PUT', '/v1/notification-configs', {
      key: us.manager,
      body: { configurableType: 'company', configurableId: us.id, eventType: 'payment_failed', channel: 'sms', fallbackChannel: 'email' },
    });
    expect(config.status).toBeLessThan(300);
    const sent = await post(us.agent, '/v1/notifications', { eventType: 'payment_failed', notifiable: { type: 'customer', id: c.id } });
    expect(sent.status).toBe(202);
    const final = await until('the notification to end', async () => {
      const n = (await api.request('GET', `/v1/notifications/${sent.body.notification.id}`, { key: us.agent })).body;
      return ['delivered', 'failed', 'suppressed'].includes(n.status) && n;
    });
    expect(final).toMatchObject({ status: 'delivered' });
    expect(servers.twilio.messages.filter((m) => m.to === '+14155550142')).toHaveLength(1);
    expect(c.phone).toBe('+14155550142');
  });

  it("a Twilio STOP from +14155550199 (signed with Twilio's library) opts out the customer saved as (415) 555-0199", async () => {
    const us = await company({ timeZone: 'America/New_York' });
    const c = await customer(us.admin, { phone: '(415) 555-0199' });
    const other = await customer(us.admin, { phone: '(415) 555-0198' });
    const url = `${api.url}/webhooks/twilio/sms`;
    const params = { MessageSid: 'SM0123456789', AccountSid: 'AC0123', From: '+14155550199', To: '+15005550006', Body: 'STOP' };
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': getExpectedTwilioSignature(TEST_TWILIO_AUTH_TOKEN, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(res.status).toBe(200);
    const sms = async (id: string) =>
      (await api.request('GET', `/v1/customers/${id}/consents`, { key: us.agent })).body.consents.find(
        (x: { channel: string; kind: string }) => x.channel === 'sms' && x.kind === 'transactional',
      );
    expect(await sms(c.id)).toMatchObject({ decision: 'opted_out', source: 'sms_keyword' });
    expect((await sms(other.id)).decision).toBe('allowed');
  });

  describe('the phone agent matches callers by the whole number (Retell, signed with retell-sdk)', () => {
    async function withRetell(timeZone: string, phone: string) {
      const co = await company({ timeZone });
      const branch = (await post(co.admin, '/v1/branches', { name: 'Main' })).body;
      const saved = await post(co.admin, '/v1/customers', { name: 'Chloé', phone, homeBranchId: branch.id });
      const apiKey = `key_${randomUUID().replace(/-/g, '')}`;
      const set = await api.request('PUT', '/v1/integrations/retell', {
        key: co.admin,
        body: { secret: apiKey, defaultBranchId: branch.id },
      });
      expect(set.status).toBe(201);
      hookPaths.set(apiKey, set.body.webhookPath);
      return { co, saved, apiKey };
    }
    /** Each integration has its own webhook URL (`/webhooks/retell/<hook id>`). */
    const hookPaths = new Map<string, string>();
    const call = async (apiKey: string, from: string) => {
      const raw = JSON.stringify({
        name: 'check_cancellation_policy',
        args: {},
        call: {
          call_id: `call_${randomUUID()}`,
          agent_id: 'agent_1',
          from_number: from,
          to_number: '+34910000000',
          direction: 'inbound',
          call_status: 'ongoing',
        },
      });
      const r = await api.request('POST', hookPaths.get(apiKey)!, {
        raw,
        headers: { 'x-retell-signature': await Retell.sign(raw, apiKey) },
      });
      expect(r.status).toBe(200);
      return r.body;
    };

    it('a call from +33600123456 is not the customer saved as 600 123 456 in a Spanish company', async () => {
      const es = await withRetell('Europe/Madrid', '600 123 456');
      expect(await call(es.apiKey, '+33600123456')).toMatchObject({ ok: false, error: 'unknown_caller' });
      const { rows } = await api.pool.query(`SELECT from_number, customer_id FROM calls WHERE company_id = $1`, [es.co.id]);
      expect(rows).toEqual([{ from_number: '+33600123456', customer_id: null }]);
      // Their own number, written any way, is them (no appointment yet: matched, nothing to quote).
      expect(await call(es.apiKey, '+34 600 12 34 56')).toMatchObject({ ok: false, error: 'no_appointment' });
      expect(es.saved.body.phone).toBe('+34600123456');
    });

    it('a US company cannot save 600 123 456 at all (not a US number): 400 naming the field', async () => {
      const us = await company({ timeZone: 'America/Chicago' });
      const r = await post(us.admin, '/v1/customers', { name: 'X', phone: '600 123 456' });
      expect(r.status).toBe(400);
      expect(r.body.error.details.fields).toEqual([
        { field: 'body.phone', message: expect.stringMatching(/not a valid phone number in US/) },
      ]);
      expect(await countRows(api, 'customers', us.id)).toBe(0);
    });

    it('the same call is the customer saved as 600 123 456 in a French company', async () => {
      const fr = await withRetell('Europe/Paris', '600 123 456');
      expect(fr.saved.body.phone).toBe('+33600123456');
      expect(await call(fr.apiKey, '+33600123456')).toMatchObject({ ok: false, error: 'no_appointment' });
      const { rows } = await api.pool.query(`SELECT customer_id FROM calls WHERE company_id = $1`, [fr.co.id]);
      expect(rows).toEqual([{ customer_id: fr.saved.body.id }]);
    });
  });

  it('junk is a 400 naming the field, and nothing is written', async () => {
    const es = await company({ country: 'es' });
    expect(es.view.country).toBe('ES');
    const branch = (await post(es.admin, '/v1/branches', { name: 'Centro' })).body;
    const cases: Array<[string, unknown, string]> = [
      ['/v1/customers', { name: 'A', phone: 'call me' }, 'body.phone'],
      ['/v1/customers', { name: 'A', phone: '+34 000 000 000' }, 'body.phone'],
      ['/v1/customers', { name: 'A', phone: '(415) 555-0142' }, 'body.phone'],
      ['/v1/staff', { name: 'A', branchId: branch.id, phone: '12' }, 'body.phone'],
      ['/v1/branches', { name: 'B', phone: '+1 555' }, 'body.phone'],
      ['/v1/callbacks', { branchId: branch.id, customerName: 'A', phoneNumber: '999' }, 'body.phoneNumber'],
    ];
    for (const [path, body, field] of cases) {
      const r = await post(es.admin, path, body);
      expect([path, r.status, fieldsOf(r)]).toEqual([path, 400, [field]]);
      expect(r.body.error.details.fields[0].message).toMatch(/phone number/);
    }
    const query = await api.request('GET', `/v1/customers?phone=${encodeURIComponent('+34 000')}`, { key: es.agent });
    expect([query.status, fieldsOf(query)]).toEqual([400, ['query.phone']]);
    const patch = await api.request('PATCH', `/v1/branches/${branch.id}`, { key: es.admin, body: { phone: '1' } });
    expect([patch.status, fieldsOf(patch)]).toEqual([400, ['body.phone']]);
    for (const table of ['customers', 'staff', 'callback_requests']) expect(await countRows(api, table, es.id)).toBe(0);
    expect(await countRows(api, 'branches', es.id)).toBe(1);
    expect((await api.request('GET', `/v1/branches/${branch.id}`, { key: es.agent })).body.phone).toBeNull();
  });

  it('the branch’s country overrides the company’s: customers, staff, branches and callbacks of a French branch of a Spanish company', async () => {
    const es = await company({ timeZone: 'Europe/Madrid' });
    expect(es.view.country).toBe('ES');
    // Absent: the time zone's country. null: the company's.
    const paris = await post(es.admin, '/v1/branches', { name: 'Paris', timeZone: 'Europe/Paris', phone: '01 42 68 53 00' });
    expect(paris.body).toMatchObject({ country: 'FR', phone: '+33142685300' });
    const madrid = (await post(es.admin, '/v1/branches', { name: 'Madrid', timeZone: 'Europe/Paris', country: null })).body;
    expect(madrid.country).toBeNull();
    const inParis = await customer(es.admin, { phone: '06 00 12 34 56', homeBranchId: paris.body.id });
    const inMadrid = await customer(es.admin, { phone: '600 123 456', homeBranchId: madrid.id });
    const noBranch = await customer(es.admin, { phone: '600 123 457' });
    expect([inParis.phone, inMadrid.phone, noBranch.phone]).toEqual(['+33600123456', '+34600123456', '+34600123457']);
    const staff = await post(es.admin, '/v1/staff', { name: 'Jean', branchId: paris.body.id, phone: '07 00 00 00 01' });
    expect(staff.body.phone).toBe('+33700000001');
    const moved = await api.request('PATCH', `/v1/customers/${noBranch.id}`, {
      key: es.admin,
      body: { homeBranchId: paris.body.id, phone: '06 11 22 33 44' },
    });
    expect(moved.body.phone).toBe('+33611223344');
    const callback = await post(es.agent, '/v1/callbacks', { branchId: paris.body.id, customerName: 'Luc', phoneNumber: '06 99 88 77 66' });
    expect(callback.status).toBe(201);
    expect(callback.body.callback.phoneNumber).toBe('+33699887766');
    // Found by the number however it is written (read as a customer's: the company's country, or +…).
    const found = await api.request('GET', `/v1/customers?phone=${encodeURIComponent('+33 6 00 12 34 56')}`, { key: es.agent });
    expect(found.body.items.map((x: { id: string }) => x.id)).toEqual([inParis.id]);
    const national = await api.request('GET', `/v1/customers?phone=${encodeURIComponent('600-123-456')}`, { key: es.agent });
    expect(national.body.items.map((x: { id: string }) => x.id)).toEqual([inMadrid.id]);
  });

  it('a company’s country: absent, the time zone’s (none for UTC: numbers need +country code); set by an admin', async () => {
    // What existing callers send still creates the company (201), now with a country.
    const plain = await company({});
    expect(plain.view).toMatchObject({ timeZone: 'UTC', country: null });
    const national = await post(plain.admin, '/v1/customers', { name: 'A', phone: '600 123 456' });
    expect(national.status).toBe(400);
    expect(national.body.error.details.fields[0].message).toMatch(/no country code.*\+<country code>/);
    expect((await customer(plain.admin, { phone: '+34 600 123 456' })).phone).toBe('+34600123456');

    const bad = await api.request('POST', '/v1/companies', { key: PLATFORM_TOKEN, body: { name: 'X', country: 'XX' } });
    expect([bad.status, fieldsOf(bad)]).toEqual([400, ['body.country']]);

    expect((await api.request('PATCH', '/v1/company', { key: plain.manager, body: { country: 'ES' } })).status).toBe(403);
    const set = await api.request('PATCH', '/v1/company', { key: plain.admin, body: { country: 'es' } });
    expect([set.status, set.body.country]).toEqual([200, 'ES']);
    expect((await api.request('GET', '/v1/company', { key: plain.agent })).body.country).toBe('ES');
    expect((await customer(plain.admin, { phone: '600 123 456' })).phone).toBe('+34600123456');
  });

  it('Cal.com: an attendee’s number is stored in E.164; one that does not read leaves the customer without a number, the booking applied', async () => {
    const us = await company({ timeZone: 'America/Los_Angeles' });
    const branch = (await post(us.admin, '/v1/branches', { name: 'SF', timeZone: 'America/Los_Angeles' })).body;
    const service = (await post(us.admin, '/v1/services', { branchId: branch.id, name: 'Cut', durationMinutes: 30 })).body;
    const integration = (await api.request('PUT', '/v1/integrations/calcom', { key: us.admin, body: {} })).body;
    const secret = integration.secret as string;
    const eventTypeId = `${Math.floor(Math.random() * 1e9)}`;
    expect(
      (
        await api.request('PUT', `/v1/calcom/event-types/${eventTypeId}`, {
          key: us.manager,
          body: { branchId: branch.id, serviceId: service.id },
        })
      ).status,
    ).toBe(201);
    const book = async (phoneNumber: string, days: number) => {
      const uid = `bk_${randomUUID()}`;
      const startsAt = Math.ceil((Date.now() + days * 24 * 3_600_000) / 60_000) * 60_000;
      // As Cal.com builds an attendee: the booker's attendeePhoneNumber booking field becomes attendees[0].phoneNumber.
      const raw = JSON.stringify({
        triggerEvent: 'BOOKING_CREATED',
        createdAt: new Date().toISOString(),
        payload: {
          type: 'cut',
          title: 'Cut between SF and Ada',
          eventTypeId: Number(eventTypeId),
          uid,
          startTime: new Date(startsAt).toISOString(),
          endTime: new Date(startsAt + 30 * 60_000).toISOString(),
          status: 'ACCEPTED',
          attendees: [
            { name: 'Ada', email: `ada.${uid}@example.test`, timeZone: 'America/Los_Angeles', phoneNumber, language: { locale: 'en' } },
          ],
          organizer: { name: 'SF', email: 'sf@example.test', timeZone: 'America/Los_Angeles' },
        },
      });
      const r = await api.request('POST', integration.webhookPath, {
        raw,
        headers: { 'x-cal-signature-256': createHmac('sha256', secret).update(raw).digest('hex') },
      });
      expect(r.status).toBe(200);
      const { rows } = await api.pool.query(`SELECT c.phone FROM appointments a JOIN customers c ON c.id = a.customer_id WHERE a.id = $1`, [
        r.body.appointmentId,
      ]);
      return { outcome: r.body.outcome, phone: rows[0]?.phone };
    };
    expect(await book('+1 (415) 555-0177', 3)).toEqual({ outcome: 'applied', phone: '+14155550177' });
    expect(await book('(415) 555-0178', 4)).toEqual({ outcome: 'applied', phone: '+14155550178' });
    expect(await book('ask at the desk', 5)).toEqual({ outcome: 'applied', phone: null });
  });
});
