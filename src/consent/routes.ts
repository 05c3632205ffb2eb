import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import type { Response } from 'express';
import { IdParams } from '../api/fields';
import type { ApiRoutes } from '../api/route';
import { ConsentDefaults, ConsentUpdate, ConsentUpdated, ConsentView, TokenParams, TwilioInbound } from './schemas';
import type { ConsentService } from './service';

export interface ConsentRouteOptions {
  /** The API's public base URL: Twilio signs the URL it called, as it called it. */
  publicBaseUrl: string;
  /** Twilio's auth token (TWILIO_AUTH_TOKEN): the key of X-Twilio-Signature. */
  twilioAuthToken: string;
}

/**
 * Consent routes: the customer's answers through the API (agents, with who and when recorded),
 * the company's default for optional messages, the one-click unsubscribe link of every email
 * (public, RFC 8058), and Twilio's inbound-message webhook for SMS STOP/START (public, signed).
 */
export function consentRoutes(routes: ApiRoutes, consent: ConsentService, options: ConsentRouteOptions): void {
  routes
    .add({
      method: 'get',
      path: '/v1/customers/:id/consents',
      summary: "A customer's consent per channel and kind of message, what each decides now, and its history",
      tags: ['consent'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'Consent', schema: ConsentView } },
      handler: async ({ auth, params }) => ({ status: 200, body: await consent.getConsents(auth.companyId, params.id) }),
    })
    .add({
      method: 'put',
      path: '/v1/customers/:id/consents',
      summary: "Record a customer's answers (all or none); the caller's key and the time are kept in the history",
      tags: ['consent'],
      access: 'agent',
      params: IdParams,
      body: ConsentUpdate,
      responses: { 200: { description: 'Recorded (changed: answers that differed from the current ones)', schema: ConsentUpdated } },
      handler: async ({ auth, params, body }) => ({
        status: 200,
        body: await consent.updateConsents(auth.companyId, params.id, body.consents, {
          apiKeyId: auth.keyId,
          label: `api-key:${auth.keyId} (${auth.role})`,
        }),
      }),
    })
    .add({
      method: 'get',
      path: '/v1/company/consent-defaults',
      summary: 'Whether optional messages go to customers who said nothing',
      tags: ['consent'],
      access: 'agent',
      responses: { 200: { description: 'The default', schema: ConsentDefaults } },
      handler: async ({ auth }) => ({ status: 200, body: await consent.getOptionalDefault(auth.companyId) }),
    })
    .add({
      method: 'put',
      path: '/v1/company/consent-defaults',
      summary: 'Set whether optional messages go to customers who said nothing (allowed until they opt out, or denied until they opt in)',
      tags: ['consent'],
      access: 'admin',
      body: ConsentDefaults,
      responses: { 200: { description: 'The default', schema: ConsentDefaults } },
      handler: async ({ auth, body }) => ({
        status: 200,
        body: await consent.setOptionalDefault(auth.companyId, body.optionalMessagesDefault === 'allowed'),
      }),
    })
    .add({
      method: 'get',
      path: '/unsubscribe/:token',
      summary: 'The page behind an unsubscribe link: asks to confirm (a GET never unsubscribes: mail scanners follow links)',
      tags: ['consent'],
      access: 'public',
      params: TokenParams,
      responses: {
        200: { description: 'An HTML page with a confirmation button' },
        403: { description: 'The link does not verify: tampered or not ours (HTML)' },
        410: { description: 'The link has expired (HTML)' },
      },
      handler: async ({ params, res }) => {
        const check = consent.checkUnsubscribe(params.token);
        if (!check.ok) return page(res, ...refusal(check.reason));
        const what = check.claims.kind === 'optional' ? 'optional messages (such as feedback requests)' : 'all messages';
        return page(
          res,
          200,
          'Unsubscribe',
          `<p>Stop receiving ${what} by ${escape(check.claims.channel)}?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
        );
      },
    })
    .add({
      method: 'post',
      path: '/unsubscribe/:token',
      summary: 'One-click unsubscribe (RFC 8058): records the opt-out the link names; a replayed link changes nothing again',
      tags: ['consent'],
      access: 'public',
      params: TokenParams,
      responses: {
        200: { description: 'Unsubscribed (HTML)' },
        403: { description: 'The link does not verify: tampered or not ours; nothing changed (HTML)' },
        410: { description: 'The link has expired; nothing changed (HTML)' },
      },
      handler: async ({ params, res }) => {
        const result = await consent.unsubscribe(params.token);
        if (!result.ok) return page(res, ...refusal(result.reason));
        const what = result.claims.kind === 'optional' ? 'optional messages' : 'messages';
        return page(res, 200, 'Unsubscribed', `<p>You will no longer receive ${what} by ${escape(result.claims.channel)}.</p>`);
      },
    })
    .add({
      method: 'post',
      path: '/webhooks/twilio/sms',
      summary: "Twilio's inbound-message webhook: STOP opts the number out of SMS, START opts it back in (X-Twilio-Signature checked)",
      tags: ['consent', 'webhooks'],
      access: 'public',
      responses: {
        200: { description: 'TwiML (an empty response: Twilio answers the keyword itself)' },
        403: { description: 'Missing or invalid X-Twilio-Signature; nothing changed' },
      },
      handler: async ({ req, res }) => {
        // Signed over the full URL Twilio called and every form parameter, as Twilio documents it.
        const signature = req.get('x-twilio-signature');
        const params = (req.is('application/x-www-form-urlencoded') ? req.body : {}) as Record<string, string>;
        const url = options.publicBaseUrl.replace(/\/+$/, '') + req.originalUrl;
        if (!signature || !validateRequest(options.twilioAuthToken, signature, url, params)) {
          return { status: 403, body: { error: { code: 'invalid_signature', message: 'missing or invalid X-Twilio-Signature' } } };
        }
        const parsed = TwilioInbound.safeParse(params);
        if (parsed.success) {
          const outcome = await consent.inboundSms(parsed.data.From, parsed.data.Body);
          req.log?.info({ action: outcome.action, customers: outcome.customers, changed: outcome.changed }, 'inbound sms');
        }
        res.status(200).type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
        return { status: 200 };
      },
    });
}

function refusal(reason: 'invalid' | 'expired'): [number, string, string] {
  return reason === 'expired'
    ? [410, 'Link expired', '<p>This unsubscribe link has expired. Use the link in a more recent email, or contact us.</p>']
    : [403, 'Invalid link', '<p>This unsubscribe link is not valid. Use the link exactly as it is in the email.</p>'];
}

/** A small HTML page (no scripts, nothing from the request but escaped text). */
function page(res: Response, status: number, title: string, body: string): { status: number } {
  res
    .status(status)
    .type('html')
    .set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`,
    );
  return { status };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
