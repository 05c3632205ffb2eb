/** Field schemas shared by every feature's request and response schemas (validation and OpenAPI from one place). */
import { outgoingUrlProblem } from '../net/outgoing';
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

/** A client's key for safely repeating a create: 1-255 visible ASCII characters (no spaces, no control characters). */
export const IdempotencyKey = z
  .string()
  .min(1, { message: 'must not be empty' })
  .max(255, { message: 'must be at most 255 characters' })
  .regex(/^[\x21-\x7e]+$/, { message: 'must be visible ASCII characters (e.g. a UUID), without spaces' })
  .openapi({
    description: 'Repeating a request with the same key returns the first outcome',
    example: '8e03978e-40d5-43e8-bc93-6894a57f9326',
  });

export const IdempotencyKeyHeader = z.object({ 'idempotency-key': IdempotencyKey.optional() });

export const Email = z.email({ message: 'must be an email address' }).max(320);

/**
 * No NUL character (\u0000): PostgreSQL cannot store it in text or jsonb. Every route refuses it in
 * any field (src/api/route.ts); string schemas carry it as a pattern so generated clients and
 * fuzzers know.
 */
export const NO_NUL = /^[^\u0000]*$/;
const noNul = { message: 'must not contain the NUL character (\\u0000)' };

/** Free text between `min` and `max` characters after trimming. */
export const text = (min: number, max: number) => z.string().trim().min(min).max(max).regex(NO_NUL, noNul);

/**
 * A timestamp with its offset (`Z` or `+01:00`); a local time without offset is refused. Years
 * 1000-9999 and offsets up to ±14:59 (real time zones span -12:00..+14:00; PostgreSQL refuses
 * beyond ±15:59), and the instant itself within year 9999 in UTC.
 */
const OFFSET_DATE_TIME = /^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-](0\d|1[0-4]):[0-5]\d)$/;
const LAST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const DateTimeWithOffset = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time with an offset, e.g. 2026-03-01T10:00:00+01:00' })
  .regex(OFFSET_DATE_TIME, { message: 'must have a year 1000-9999 and an offset between -14:59 and +14:59' })
  .refine((v) => Date.parse(v) <= LAST_INSTANT, { message: 'must be before the year 10000 in UTC' })
  .openapi({ example: '2026-03-01T10:00:00+01:00' });

/** `?flag=true|false` in a query string. */
export const BooleanQuery = z.stringbool({ truthy: ['true'], falsy: ['false'], error: 'must be true or false' });

export const Name = text(1, 200);

/**
 * A URL the service will call on a tenant's behalf (a Web Push endpoint): https, no credentials, and
 * not an IP literal (or localhost) outside the public internet. What a host name resolves to is
 * checked again at every send (src/net/outgoing.ts).
 */
export const OutgoingUrl = z
  .string()
  .max(2000)
  .superRefine((url, ctx) => {
    const problem = outgoingUrlProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .openapi({
    format: 'uri',
    pattern: '^https://',
    description: 'https only; never a loopback, private, link-local or otherwise non-public address',
    example: 'https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91b',
  });
