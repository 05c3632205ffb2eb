import { HttpError, unauthorized } from '../api/errors';
import { ErrorResponse } from '../api/fields';
import type { ApiRoutes } from '../api/route';
import { NotFoundError, ValidationError } from '../errors';
import type { CalcomAnswer, CalcomWebhook } from './calcom';
import type { RetellAnswer, RetellWebhook } from './retell';
import {
  CalcomDeliveryView,
  DeliveryQuery,
  EventMapInput,
  EventMapView,
  EventTypeParams,
  HookParams,
  IntegrationInput,
  IntegrationView,
  ProviderParams,
  WebhookAnswer,
} from './schemas';
import type { IntegrationService } from './service';

/** The raw body of a webhook (the app parses /webhooks/* with express.raw, never as JSON). */
const rawBody = (body: unknown): Buffer => (Buffer.isBuffer(body) ? body : Buffer.alloc(0));
const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

function reply(answer: CalcomAnswer | RetellAnswer) {
  if (answer.kind === 'not_found') throw new NotFoundError('webhook');
  if (answer.kind === 'unauthorized') throw unauthorized(answer.message);
  if (answer.kind === 'invalid') throw new ValidationError(answer.message, answer.fields);
  return { status: 200, body: answer.body };
}

/**
 * The shared webhook addresses of earlier releases: a delivery there named no company, so every
 * company's secret was tried. Each integration has its own URL now; these answer 410 saying where.
 */
const retired = (provider: string) => () => {
  throw new HttpError(
    410,
    'webhook_url_retired',
    `this shared ${provider} webhook address is retired: each integration has its own URL (webhookUrl in GET /v1/integrations, ` +
      `/webhooks/${provider.toLowerCase()}/<hook id>); paste it into ${provider}`,
  );
};

/** The calendar's and the phone agent's webhooks (public, signed), and the operator's routes that set them up. */
export function integrationRoutes(
  routes: ApiRoutes,
  deps: { integrations: IntegrationService; calcom: CalcomWebhook; retell: RetellWebhook },
): void {
  routes
    .add({
      method: 'post',
      path: '/webhooks/calcom/:hookId',
      summary:
        'Cal.com webhook of one integration (every trigger Cal.com sends), signed with X-Cal-Signature-256 (hex HMAC-SHA256 of the raw body)',
      tags: ['webhooks'],
      access: 'public',
      params: HookParams,
      responses: {
        200: {
          description: 'Verified and recorded: applied, unmapped, ignored, rejected (never retried), or duplicate',
          schema: WebhookAnswer,
        },
        401: { description: 'Missing or wrong signature, or the integration is disabled: nothing was written', schema: ErrorResponse },
        404: { description: 'No integration has this webhook address', schema: ErrorResponse },
        413: { description: 'The body is larger than CALCOM_WEBHOOK_BODY_LIMIT', schema: ErrorResponse },
      },
      handler: async ({ req, params }) =>
        reply(await deps.calcom.receive(params.hookId, rawBody(req.body), header(req.headers['x-cal-signature-256']))),
    })
    .add({
      method: 'post',
      path: '/webhooks/retell/:hookId',
      summary:
        'Retell webhook of one integration: custom function calls (check_cancellation_policy, cancel_appointment, reschedule_appointment, request_callback) and call events (call_started, call_ended, call_analyzed), signed with x-retell-signature',
      tags: ['webhooks'],
      access: 'public',
      params: HookParams,
      responses: {
        200: {
          description: 'A function’s answer (a sentence for the agent, `message`, and the facts), or a call event recorded or ignored',
          schema: WebhookAnswer,
        },
        401: {
          description: 'Missing, wrong or expired signature, or the integration is disabled: nothing was written',
          schema: ErrorResponse,
        },
        404: { description: 'No integration has this webhook address', schema: ErrorResponse },
        413: { description: 'The body is larger than RETELL_WEBHOOK_BODY_LIMIT', schema: ErrorResponse },
      },
      handler: async ({ req, params }) =>
        reply(await deps.retell.receive(params.hookId, rawBody(req.body), header(req.headers['x-retell-signature']))),
    })
    .add({
      method: 'post',
      path: '/webhooks/calcom',
      summary: 'Retired shared Cal.com address: 410, naming the integration’s own URL (webhookUrl in GET /v1/integrations)',
      tags: ['webhooks'],
      access: 'public',
      responses: { 410: { description: 'Retired: use the integration’s own webhook URL', schema: ErrorResponse } },
      handler: retired('Cal.com'),
    })
    .add({
      method: 'post',
      path: '/webhooks/retell',
      summary: 'Retired shared Retell address: 410, naming the integration’s own URL (webhookUrl in GET /v1/integrations)',
      tags: ['webhooks'],
      access: 'public',
      responses: { 410: { description: 'Retired: use the integration’s own webhook URL', schema: ErrorResponse } },
      handler: retired('Retell'),
    })
    .add({
      method: 'put',
      path: '/v1/integrations/:provider',
      summary: 'Set (or generate) the secret Cal.com or Retell signs with, and enable or disable the integration',
      tags: ['integrations'],
      access: 'admin',
      params: ProviderParams,
      body: IntegrationInput,
      responses: {
        201: { description: 'Created; the secret is shown in full this once', schema: IntegrationView },
        200: { description: 'Replaced; the secret is shown in full this once', schema: IntegrationView },
      },
      handler: async ({ auth, params, body }) => {
        const { created, integration } = await deps.integrations.putIntegration(auth.companyId, params.provider, body);
        return { status: created ? 201 : 200, body: integration };
      },
    })
    .add({
      method: 'get',
      path: '/v1/integrations',
      summary: 'The company’s integrations with their webhook URLs (secrets shown by their last four characters)',
      tags: ['integrations'],
      access: 'admin',
      responses: { 200: { description: 'The integrations', schema: IntegrationView.array() } },
      handler: async ({ auth }) => ({ status: 200, body: await deps.integrations.listIntegrations(auth.companyId) }),
    })
    .add({
      method: 'put',
      path: '/v1/calcom/event-types/:eventTypeId',
      summary: 'Map a Cal.com event type to a branch, service and (optionally) staff member',
      tags: ['integrations'],
      access: 'manager',
      params: EventTypeParams,
      body: EventMapInput,
      responses: {
        201: { description: 'Created', schema: EventMapView },
        200: { description: 'Replaced', schema: EventMapView },
      },
      handler: async ({ auth, params, body }) => {
        const { created, map } = await deps.integrations.putEventMap(auth.companyId, params.eventTypeId, body);
        return { status: created ? 201 : 200, body: map };
      },
    })
    .add({
      method: 'get',
      path: '/v1/calcom/deliveries',
      summary:
        'Cal.com deliveries, newest first, with the body of rejected and unmapped ones while it is kept (outcome=unmapped: event types to map; rejected: what could not be applied)',
      tags: ['integrations'],
      access: 'manager',
      query: DeliveryQuery,
      responses: { 200: { description: 'The deliveries', schema: CalcomDeliveryView.array() } },
      handler: async ({ auth, query }) => ({ status: 200, body: await deps.integrations.listDeliveries(auth.companyId, query) }),
    });
}
