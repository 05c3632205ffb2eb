import { text, Uuid } from '../api/fields';
import { z } from '../api/zod';
import { CHANNELS, CONSENT_SOURCES, MESSAGE_KINDS } from './definitions';

/** Request and response schemas of the consent routes (validation and OpenAPI from one place). */

const Decision = z.enum(['allowed', 'opted_out']);
const Default = z.enum(['allowed', 'denied']);

export const ConsentUpdate = z
  .object({
    consents: z
      .array(
        z
          .object({
            channel: z.enum([...CHANNELS, 'all']),
            kind: z.enum([...MESSAGE_KINDS, 'all']).openapi({ description: 'transactional, optional, or all (both)' }),
            granted: z.boolean(),
            note: text(0, 500).nullish().openapi({ description: 'Why, e.g. "asked by phone on 3 March"' }),
          })
          .strict(),
      )
      .min(1)
      .max(16),
  })
  .strict()
  .openapi('ConsentUpdate', {
    example: { consents: [{ channel: 'sms', kind: 'all', granted: false, note: 'asked at the front desk' }] },
  });
export type ConsentUpdate = z.output<typeof ConsentUpdate>;

export const ConsentView = z
  .object({
    customerId: Uuid,
    optionalMessagesDefault: Default,
    consents: z.array(
      z.object({
        channel: z.enum(CHANNELS),
        kind: z.enum(MESSAGE_KINDS),
        decision: Decision.openapi({ description: 'What a message of this kind on this channel would do now' }),
        granted: z.boolean().nullable().openapi({ description: "The customer's own answer; null: the default applies" }),
        source: z.enum([...CONSENT_SOURCES, 'default']),
        actor: z.string().nullable(),
        note: z.string().nullable(),
        changedAt: z.iso.datetime().nullable(),
      }),
    ),
    history: z.array(
      z.object({
        id: Uuid,
        channel: z.enum(CHANNELS),
        kind: z.enum(MESSAGE_KINDS),
        granted: z.boolean(),
        source: z.enum(CONSENT_SOURCES),
        actor: z.string(),
        note: z.string().nullable(),
        at: z.iso.datetime(),
      }),
    ),
  })
  .openapi('CustomerConsent');

export const ConsentUpdated = z.object({ changed: z.number().int(), consent: ConsentView }).openapi('ConsentUpdated');

export const ConsentDefaults = z
  .object({
    optionalMessagesDefault: Default.openapi({
      description: 'Optional messages to a customer who said nothing: allowed (until they opt out) or denied (until they opt in)',
    }),
  })
  .strict()
  .openapi('ConsentDefaults');

export const TokenParams = z.object({
  token: z
    .string()
    .max(1000)
    .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, { message: 'must be an unsubscribe token' }),
});

/** Twilio's inbound message webhook (form-encoded; the fields this service reads, any others allowed). */
export const TwilioInbound = z
  .object({
    From: z.string().max(64),
    Body: z.string().max(2000).default(''),
    To: z.string().max(64).optional(),
    MessageSid: z.string().max(64).optional(),
  })
  .loose();
