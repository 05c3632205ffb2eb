/** Field schemas shared by every feature's request and response schemas (validation and OpenAPI from one place). */
import { z } from './zod';

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_error' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

export const Uuid = z.uuid({ message: 'must be a UUID' });
export const IdParams = z.object({ id: Uuid });
export type IdParams = z.infer<typeof IdParams>;

/** IANA time zone, checked against the runtime's tz database. */
export const TimeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as Europe/Berlin' },
);

export const Pagination = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

export const IdempotencyKeyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: 'Repeating a request with the same key returns the first outcome' }),
});

/** E.164-ish: digits with optional leading `+`, spaces, parentheses and dashes. */
export const Phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9 ()-]{6,20}$/, { message: 'must be a phone number such as +34 600 123 456' })
  .openapi({ example: '+34 600 123 456' });

export const Email = z.email({ message: 'must be an email address' }).max(320);

/** A timestamp with its offset (`Z` or `+01:00`); a local time without offset is refused. */
export const DateTimeWithOffset = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time with an offset, e.g. 2026-03-01T10:00:00+01:00' })
  .openapi({ example: '2026-03-01T10:00:00+01:00' });

/** `?flag=true|false` in a query string. */
export const BooleanQuery = z.stringbool({ truthy: ['true'], falsy: ['false'], error: 'must be true or false' });

export const Name = z.string().trim().min(1).max(200);
