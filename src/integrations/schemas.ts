import { Pagination, Uuid } from '../api/fields';
import { z } from '../api/zod';
import { PROVIDERS } from './store';

/** Request and response schemas of the integration routes (validation and OpenAPI from one place). */

export const ProviderParams = z.object({ provider: z.enum(PROVIDERS) });

export const IntegrationInput = z
  .object({
    secret: z
      .string()
      .min(16)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, { message: 'must be visible ASCII characters without spaces' })
      .optional()
      .openapi({
        description:
          'Cal.com: the webhook’s secret as entered in Cal.com; Retell: the API key with the webhook badge. Left out: one is generated (use it in Cal.com)',
      }),
    enabled: z.boolean().default(true),
    defaultBranchId: Uuid.nullable()
      .optional()
      .openapi({ description: 'Retell: the branch that takes callbacks of callers without a home branch or appointment' }),
  })
  .strict()
  .openapi('IntegrationInput');
export type IntegrationInput = z.output<typeof IntegrationInput>;

export const IntegrationView = z
  .object({
    id: Uuid,
    provider: z.enum(PROVIDERS),
    enabled: z.boolean(),
    defaultBranchId: Uuid.nullable(),
    secretHint: z.string().openapi({ description: 'The last four characters of the secret' }),
    secret: z.string().optional().openapi({ description: 'The secret in full: only in the answer that set it' }),
    webhookPath: z.string().openapi({ description: 'The integration’s own webhook path: `/webhooks/<provider>/<hook id>`' }),
    webhookUrl: z
      .string()
      .openapi({ description: 'The URL to paste into Cal.com (Subscriber URL) or Retell (custom functions and the agent’s webhook URL)' }),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Integration');
export type IntegrationView = z.infer<typeof IntegrationView>;

export const EventTypeParams = z.object({
  eventTypeId: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, { message: 'must be a Cal.com event type id' }),
});

export const EventMapInput = z
  .object({
    branchId: Uuid,
    serviceId: Uuid.openapi({ description: 'A service of the branch: what the booking is for' }),
    staffId: Uuid.nullable().optional().openapi({ description: 'A staff member of the branch (optional)' }),
  })
  .strict()
  .openapi('CalcomEventMapInput');
export type EventMapInput = z.output<typeof EventMapInput>;

export const EventMapView = z
  .object({
    id: Uuid,
    eventTypeId: z.string(),
    branchId: Uuid,
    serviceId: Uuid.nullable(),
    staffId: Uuid.nullable(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('CalcomEventMap');
export type EventMapView = z.infer<typeof EventMapView>;

export const DELIVERY_OUTCOMES = ['applied', 'unmapped', 'ignored', 'rejected'] as const;

export const DeliveryQuery = Pagination.extend({
  outcome: z
    .enum([...DELIVERY_OUTCOMES, 'duplicate'])
    .optional()
    .openapi({ description: '`duplicate`: the deliveries Cal.com sent more than once (each counted on its row)' }),
}).strict();

export const CalcomDeliveryView = z
  .object({
    id: Uuid,
    trigger: z.string(),
    key: z.string().openapi({
      description:
        'What the delivery is recorded under (unique per trigger): the booking uid (with `/seat:` or `/attendees:` for a seat, `/no-show/` for a no-show update), or `body:<SHA-256>` of the body',
    }),
    bookingUid: z.string().nullable(),
    rescheduleUid: z.string().nullable(),
    eventTypeId: z.string().nullable(),
    outcome: z.enum(DELIVERY_OUTCOMES),
    detail: z.string().nullable(),
    appointmentId: Uuid.nullable(),
    deliveries: z.number().int().openapi({ description: 'How many times Cal.com delivered it' }),
    firstReceivedAt: z.iso.datetime(),
    lastReceivedAt: z.iso.datetime(),
    body: z.unknown().nullable().openapi({
      description:
        'The body as received (a string when it was not JSON): kept for rejected and unmapped deliveries for CALCOM_DELIVERY_BODY_TTL_HOURS, null otherwise',
    }),
  })
  .openapi('CalcomDelivery');
export type CalcomDeliveryView = z.infer<typeof CalcomDeliveryView>;

export const WebhookAnswer = z.object({}).passthrough().openapi('WebhookAnswer');

/** The id in an integration's own webhook URL (unknown ids are a 404). */
export const HookParams = z.object({ hookId: z.string().min(1).max(200) });
