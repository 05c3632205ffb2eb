import { z } from '../zod';

/** Field types shared by the directory schemas (services, staff, customers, appointments). */

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
