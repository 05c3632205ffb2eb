import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks';
import { signUnsubscribeToken } from '../../src/consent/tokens';
import { TEST_TWILIO_AUTH_TOKEN, TEST_UNSUBSCRIBE_SECRET, type TestApi } from '../support/api';
import { mailHeader } from '../support/channel-servers';
import { fieldsOf, seedTwoCompanies } from '../support/directory';
import type { ChannelServers } from '../support/workers';
import { until } from '../support/until';
import { startApiStack, type ApiStack } from '../support/stack';

/**
 * The consent routes through the real API: answers recorded with who and when, another company's
 * customer a 404, the company default; the one-click unsubscribe link followed from a real email
 * (valid, replayed, tampered, expired); Twilio's inbound webhook for STOP/START with signatures
 * made by Twilio's own library (good, bad, missing, for another body).
 */
describe('consent routes', () => {
  let stack: ApiStack;
  let api: TestApi;
  let servers: ChannelServers;

  beforeAll(async () => {
    stack = await startApiStack({ linksToApi: true });
    ({ api, servers } = stack);
  });
  afterAll(() => stack?.close());

  const consents = (key: string, customerId: string) => api.request('GET', `/v1/customers/${customerId}/consents`, { key });
  const put = (key: string, customerId: string, body: unknown) => api.request('PUT', `/v1/customers/${customerId}/consents`, { key, body });
  const cell = (view: any, channel: string, kind: string) => view.consents.find((c: any) => c.channel === channel && c.kind === kind);

  it('records answers with who and when; defaults shown; invalid input named; another company’s customer is 404', async () => {
    const { a, b, dirA, dirB } = await seedTwoCompanies(api);
    const fresh = (await consents(a.agent, dirA.customer.id)).body;
    expect(fresh.optionalMessagesDefault).toBe('allowed');
    expect(fresh.consents).toHaveLength(8);
    expect(cell(fresh, 'sms', 'transactional')).toMatchObject({ decision: 'allowed', granted: null, source: 'default', actor: null });

    const bad = await put(a.agent, dirA.customer.id, { consents: [{ channel: 'fax', kind: 'sometimes', granted: 'no' }], extra: 1 });
    expect(bad.status).toBe(400);
    expect(fieldsOf(bad).sort()).toEqual(
      ['body.consents.0.channel', 'body.consents.0.granted', 'body.consents.0.kind', 'body.extra'].sort(),
    );

    const done = await put(a.agent, dirA.customer.id, {
      consents: [{ channel: 'sms', kind: 'all', granted: false, note: 'asked at the desk' }],
    });
    expect(done.status).toBe(200);
    expect(done.body.changed).toBe(2);
    const view = done.body.consent;
    expect(cell(view, 'sms', 'transactional')).toMatchObject({
      decision: 'opted_out',
      granted: false,
      source: 'api',
      note: 'asked at the desk',
    });
    expect(cell(view, 'sms', 'transactional').actor).toMatch(/^api-key:[0-9a-f-]{36} \(agent\)$/);
    expect(Date.parse(cell(view, 'sms', 'transactional').changedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(cell(view, 'email', 'transactional').decision).toBe('allowed');
    expect(view.history).toHaveLength(2);
    // The same answers again change nothing and add no history.
    const again = await put(a.agent, dirA.customer.id, { consents: [{ channel: 'sms', kind: 'all', granted: false }] });
    expect(again.body.changed).toBe(0);
    expect(again.body.consent.history).toHaveLength(2);

    // Another company's customer: 404 on both, nothing written.
    expect((await consents(a.agent, dirB.customer.id)).status).toBe(404);
    expect((await put(a.agent, dirB.customer.id, { consents: [{ channel: 'sms', kind: 'all', granted: false }] })).status).toBe(404);
    expect((await consents(b.agent, dirB.customer.id)).body.history).toHaveLength(0);

    // The company default: admins set it; it shows on every customer.
    expect(
      (await api.request('PUT', '/v1/company/consent-defaults', { key: a.manager, body: { optionalMessagesDefault: 'denied' } })).status,
    ).toBe(403);
    const set = await api.request('PUT', '/v1/company/consent-defaults', { key: a.admin, body: { optionalMessagesDefault: 'denied' } });
    expect(set.body).toEqual({ optionalMessagesDefault: 'denied' });
    expect(cell((await consents(a.agent, dirA.customer.id)).body, 'email', 'optional').decision).toBe('opted_out');
    expect((await api.request('GET', '/v1/company/consent-defaults', { key: b.agent })).body).toEqual({
      optionalMessagesDefault: 'allowed',
    });
  });

  it('the unsubscribe link of a real email: GET asks, POST opts out; replayed, tampered and expired links change nothing', async () => {
    const { a, dirA } = await seedTwoCompanies(api);
    const email = (
      await api.pool.query(`UPDATE customers SET email = 'lucia@example.test' WHERE id = $1 RETURNING email`, [dirA.customer.id])
    ).rows[0].email;
    const sent = await api.request('POST', '/v1/notifications', {
      key: a.agent,
      body: { eventType: 'payment_received', notifiable: { type: 'customer', id: dirA.customer.id }, data: {} },
    });
    expect(sent.status).toBe(202);
    const mail = await until('the email', async () => servers.smtp.messages.find((m) => m.to.includes(email)));
    const link = mailHeader(mail.raw, 'List-Unsubscribe')!.replace(/^<|>$/g, '');
    expect(link.startsWith(`${api.url}/unsubscribe/`)).toBe(true);
    const path = link.slice(api.url.length);

    // A GET (a mail scanner, a preview) never unsubscribes.
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('<form method="post">');
    expect((await consents(a.agent, dirA.customer.id)).body.history).toHaveLength(0);

    // Tampered (payload or signature): refused, nothing written.
    const [payload, signature] = path.split('/').pop()!.split('.');
    const forged = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('"transactional"', '"optional"')).toString('base64url');
    for (const bad of [`${forged}.${signature}`, `${payload}.${signature.slice(0, -2)}AA`]) {
      const res = await fetch(`${api.url}/unsubscribe/${bad}`, {
        method: 'POST',
        body: 'List-Unsubscribe=One-Click',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.status).toBe(403);
    }
    // Expired: signed with the right secret, past its expiry.
    const expired = signUnsubscribeToken(TEST_UNSUBSCRIBE_SECRET, {
      companyId: a.id,
      customerId: dirA.customer.id,
      channel: 'email',
      kind: 'transactional',
      exp: Math.floor(Date.now() / 1000) - 60,
    });
    expect((await fetch(`${api.url}/unsubscribe/${expired}`, { method: 'POST' })).status).toBe(410);
    expect((await consents(a.agent, dirA.customer.id)).body.history).toHaveLength(0);

    // The one-click POST, as a mail client sends it (RFC 8058).
    const oneClick = () =>
      fetch(link, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await oneClick()).status).toBe(200);
    const view = (await consents(a.agent, dirA.customer.id)).body;
    expect(cell(view, 'email', 'transactional')).toMatchObject({ granted: false, decision: 'opted_out', source: 'unsubscribe_link' });
    expect(cell(view, 'email', 'optional').decision).toBe('opted_out');
    expect(view.history).toHaveLength(1);
    // Replayed: still 200, nothing new.
    expect((await oneClick()).status).toBe(200);
    expect((await consents(a.agent, dirA.customer.id)).body.history).toHaveLength(1);

    // The next email-first notification goes by the fallback (payment_failed: email, then sms).
    const next = await api.request('POST', '/v1/notifications', {
      key: a.agent,
      body: { eventType: 'payment_failed', notifiable: { type: 'customer', id: dirA.customer.id }, data: {} },
    });
    const final = await until('the next notification', async () => {
      const n = (await api.request('GET', `/v1/notifications/${next.body.notification.id}`, { key: a.agent })).body;
      return ['delivered', 'failed', 'suppressed'].includes(n.status) && n;
    });
    expect(final).toMatchObject({
      status: 'delivered',
      statusReason: 'delivered by the fallback channel sms (the customer opted out of email)',
    });
    expect(servers.smtp.messages.filter((m) => m.to.includes(email))).toHaveLength(1);
  });

  it("SMS STOP and START through Twilio's webhook, signed as Twilio signs; bad or missing signatures change nothing", async () => {
    const { a, b, dirA, dirB } = await seedTwoCompanies(api);
    // The same person in two companies, the number typed two ways (both stored in E.164).
    for (const [key, id, phone] of [
      [a.admin, dirA.customer.id, '+34 611 22 33 44'],
      [b.admin, dirB.customer.id, '+34611223344'],
    ]) {
      expect((await api.request('PATCH', `/v1/customers/${id}`, { key, body: { phone } })).status).toBe(200);
    }
    const url = `${api.url}/webhooks/twilio/sms`;
    const inbound = (params: Record<string, string>, signature?: string) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(signature === undefined ? {} : { 'x-twilio-signature': signature }),
        },
        body: new URLSearchParams(params).toString(),
      });
    const message = (body: string) => ({ MessageSid: 'SM0123456789', From: '+34611223344', To: '+15005550006', Body: body });
    const signed = (params: Record<string, string>) => getExpectedTwilioSignature(TEST_TWILIO_AUTH_TOKEN, url, params);
    const sms = async (key: string, customerId: string) => cell((await consents(key, customerId)).body, 'sms', 'transactional');

    const stop = message('Stop ');
    expect((await inbound(stop)).status).toBe(403);
    expect((await inbound(stop, 'bm90IGEgc2lnbmF0dXJl')).status).toBe(403);
    // A signature made for another body.
    expect((await inbound(stop, signed(message('START')))).status).toBe(403);
    expect((await sms(a.agent, dirA.customer.id)).decision).toBe('allowed');

    const ok = await inbound(stop, signed(stop));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/text\/xml/);
    expect(await ok.text()).toContain('<Response></Response>');
    for (const [key, id] of [
      [a.agent, dirA.customer.id],
      [b.agent, dirB.customer.id],
    ]) {
      expect(await sms(key, id)).toMatchObject({ decision: 'opted_out', source: 'sms_keyword', actor: 'sms STOP from +********344' });
    }
    // Email is not SMS.
    expect(cell((await consents(a.agent, dirA.customer.id)).body, 'email', 'transactional').decision).toBe('allowed');

    // Anything else is not a keyword; START opts back in.
    const hello = message('hello, is this the salon?');
    expect((await inbound(hello, signed(hello))).status).toBe(200);
    expect((await sms(a.agent, dirA.customer.id)).decision).toBe('opted_out');
    const start = message('START');
    expect((await inbound(start, signed(start))).status).toBe(200);
    expect((await sms(a.agent, dirA.customer.id)).decision).toBe('allowed');
    expect((await sms(b.agent, dirB.customer.id)).decision).toBe('allowed');
    expect((await consents(a.agent, dirA.customer.id)).body.history.map((h: any) => h.granted)).toEqual([true, false]);
  });
});
