import { unauthorized } from '../api/errors';
import type { ApiRoutes } from '../api/route';
import { ValidationError } from '../errors';
import type { CalcomAnswer, CalcomWebhook } from './calcom';
import type { RetellAnswer, RetellWebhook } from './retell';
import {
  CalcomDeliveryView,
  DeliveryQuery,
  EventMapInput,
  EventMapView,
  EventTypeParams,
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
  if (answer.kind === 'unauthorized') throw unauthorized(answer.message);
  if (answer.kind === 'invalid') throw new ValidationError(answer.message, answer.fields);
  return { status: 200, body: answer.kind === 'recorded' ? answer.body : answer.body };
}

/** The calendar's and the phone agent's webhooks (public, signed), and the operator's routes that set them up. */
export function integrationRoutes(
  routes: ApiRoutes,
  deps: { integrations: IntegrationService; calcom: CalcomWebhook; retell: RetellWebhook },
): void {
  routes
    .add({
      method: 'post',
      path: '/webhooks/calcom',
      summary:
        'Cal.com booking webhook (BOOKING_CREATED, BOOKING_RESCHEDULED, BOOKING_CANCELLED), signed with X-Cal-Signature-256 (hex HMAC-SHA256 of the raw body)',
      tags: ['webhooks'],
      access: 'public',
      responses: {
        200: { description: 'Recorded: applied, unmapped, ignored or rejected (never retried), or a duplicate', schema: WebhookAnswer },
        401: { description: 'Missing or wrong signature: nothing was written' },
      },
      handler: async ({ req }) => reply(await deps.calcom.receive(rawBody(req.body), header(req.headers['x-cal-signature-256']))),
    })
    .add({
      method: 'post',
      path: '/webhooks/retell',
      summary:
        'Retell custom function call (check_cancellation_policy, cancel_appointment, reschedule_appointment, request_callback), signed with x-retell-signature',
      tags: ['webhooks'],
      access: 'public',
      responses: {
        200: { description: 'The function’s answer: a sentence for the agent (`message`) and the facts', schema: WebhookAnswer },
        401: { description: 'Missing, wrong or expired signature: nothing was written' },
      },
      handler: async ({ req }) => reply(await deps.retell.receive(rawBody(req.body), header(req.headers['x-retell-signature']))),
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
      summary: 'The company’s integrations (secrets shown by their last four characters)',
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
      summary: 'Cal.com deliveries, newest first (outcome=unmapped: event types an operator has to map)',
      tags: ['integrations'],
      access: 'manager',
      query: DeliveryQuery,
      responses: { 200: { description: 'The deliveries', schema: CalcomDeliveryView.array() } },
      handler: async ({ auth, query }) => ({ status: 200, body: await deps.integrations.listDeliveries(auth.companyId, query) }),
    });
}
