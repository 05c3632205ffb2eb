import { getTimeZones } from '@vvo/tzdb';
import { isSupportedCountry, parsePhoneNumberWithError, ParseError, type CountryCode } from 'libphonenumber-js';
import { z } from '../api/zod';
import { ValidationError } from '../errors';

/**
 * Phone numbers, in one place: every number that enters the service (customers, staff, branches,
 * callback requests, Cal.com attendees, Retell callers, Twilio's `From`) goes through `toE164`
 * and is stored in E.164 (`+14155550142`); numbers are then compared by plain equality.
 *
 * - A number written with its country code (`+33 6 00 12 34 56`, or the international prefix of
 *   the country it is read in, `0033 …` in Spain, `011 33 …` in the US) is read as written.
 * - A national number (`(415) 555-0142`, `600 123 456`) is read against a country: the branch's
 *   when the record has a branch and the branch has a country, else the company's. Without a
 *   country, only numbers with their country code are accepted.
 * - A number must be valid for its country's numbering plan (libphonenumber's metadata: prefix and
 *   length), not just look like digits; an extension is refused (E.164 has none).
 *
 * Pure (no I/O): the services look the countries up and call these functions.
 */

export type { CountryCode };

/** E.164: `+`, a country code, at most 15 digits in all. What the database holds and the API returns. */
export const E164_PATTERN = /^\+[1-9]\d{6,14}$/;

/** An ISO 3166-1 alpha-2 code of a country with a phone numbering plan (libphonenumber knows it). */
export function isPhoneCountry(code: string): code is CountryCode {
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code);
}

let zoneCountries: Map<string, string> | undefined;

/**
 * The country of an IANA time zone, as the tz database lists it (`Europe/Berlin` → DE,
 * `America/Toronto` → CA, `Asia/Calcutta` → IN, `Europe/Monaco` → MC); null for zones of no
 * country (`UTC`, `Etc/GMT+3`) or unknown ones. The default country of a new company or branch.
 */
export function countryOfTimeZone(timeZone: string): CountryCode | null {
  if (!zoneCountries) {
    const zones = getTimeZones();
    zoneCountries = new Map(zones.map((z) => [z.name, z.countryCode]));
    // Links and older names (`Asia/Calcutta`, `US/Pacific`) take their zone's country.
    for (const z of zones) for (const name of z.group) if (!zoneCountries.has(name)) zoneCountries.set(name, z.countryCode);
  }
  const country = zoneCountries.get(timeZone);
  return country && isPhoneCountry(country) ? country : null;
}

/** The country a record's numbers are read against: its branch's, else its company's (either may be none). */
export function phoneCountry(countries: { branch?: string | null; company?: string | null }): CountryCode | null {
  for (const c of [countries.branch, countries.company]) if (c && isPhoneCountry(c)) return c;
  return null;
}

export type PhoneResult = { ok: true; e164: string } | { ok: false; message: string };

const EXAMPLE = 'e.g. +34 600 123 456';
/**
 * What a typed number may contain: digits (ASCII or full-width, as phone keyboards type them),
 * spaces, ( ) . / - and a leading +. Written without Unicode classes: the OpenAPI document carries
 * it as a pattern, and clients and fuzzers in other languages must compile it.
 */
const TYPED = /^\+?[0-9\uFF10-\uFF19 ().\/-]+$/;

/** `raw` (as a person typed it, or as a sender sent it) in E.164, or why it cannot be read. */
export function toE164(raw: string, country: CountryCode | null): PhoneResult {
  const text = raw.trim();
  if (!/\p{Nd}/u.test(text)) return { ok: false, message: `must be a phone number, ${EXAMPLE}` };
  let parsed;
  try {
    // extract: false: the whole text must be the number ("call me on 600 123 456" is not one).
    parsed = parsePhoneNumberWithError(text, { defaultCountry: country ?? undefined, extract: false });
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    switch (error.message) {
      case 'INVALID_COUNTRY':
        return {
          ok: false,
          message: country
            ? `must start with a valid country code (+…), ${EXAMPLE}`
            : `has no country code and there is no country to read it with: write it as +<country code> <number> (${EXAMPLE}), or set the company's (or branch's) country`,
        };
      case 'TOO_SHORT':
      case 'TOO_LONG':
      case 'INVALID_LENGTH':
        return { ok: false, message: `is not a valid phone number: too ${error.message === 'TOO_LONG' ? 'long' : 'short'}` };
      default:
        return { ok: false, message: `must be a phone number, ${EXAMPLE}` };
    }
  }
  if (parsed.ext) return { ok: false, message: 'must be a phone number without an extension (E.164 cannot hold one)' };
  if (!parsed.isValid()) {
    const international = text.startsWith('+') || !country;
    return {
      ok: false,
      message: international
        ? `is not a valid phone number for +${parsed.countryCallingCode}`
        : `is not a valid phone number in ${country} (write a number of another country with its country code, +…)`,
    };
  }
  return { ok: true, e164: parsed.number };
}

/** `toE164`, or a 400 naming the field (`body.phone`). */
export function e164OrThrow(raw: string, country: CountryCode | null, field: string): string {
  const result = toE164(raw, country);
  if (!result.ok) throw new ValidationError(`invalid request: ${field}`, [{ field, message: result.message }]);
  return result.e164;
}

/** `toE164` for a number a sender sent (a webhook): the number, or undefined when it cannot be read. */
export function e164OrUndefined(raw: string | null | undefined, country: CountryCode | null): string | undefined {
  if (!raw) return undefined;
  const result = toE164(raw, country);
  return result.ok ? result.e164 : undefined;
}

/**
 * A phone number in a request, as a person types it (`(415) 555-0142`, `+34 600 123 456`). One
 * with its country code is checked here in full (no country needed), so a bad one is named with
 * the request's other bad fields; a national one is read by the service against the record's
 * country (the branch the request names, else the company), which only the service knows. Either
 * way the service stores E.164, or answers 400 naming the field.
 */
export const PhoneInput = z
  .string()
  .trim()
  .min(1, { message: `must be a phone number, ${EXAMPLE}` })
  .max(40)
  .regex(TYPED, { message: `must be a phone number: digits, spaces, ( ) . / - and a leading +, ${EXAMPLE}` })
  .superRefine((value, ctx) => {
    if (!value.startsWith('+') || !TYPED.test(value)) return;
    const read = toE164(value, null);
    if (!read.ok) ctx.addIssue({ code: 'custom', message: read.message });
  })
  .openapi({
    description:
      "As typed: a number without its country code is read in the branch's country (else the company's); stored and returned in E.164",
    example: '+34 600 123 456',
  });

/** A stored number (E.164). */
export const PhoneE164 = z.string().openapi({ description: 'E.164', example: '+34600123456' });

/** A country with a phone numbering plan, ISO 3166-1 alpha-2 (`es` is read as `ES`). */
const COUNTRY_MESSAGE = 'must be an ISO 3166-1 alpha-2 country code with a phone numbering plan, e.g. ES, US, FR';
export const Country = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{2}$/, { message: COUNTRY_MESSAGE })
  .toUpperCase()
  .refine((c) => !/^[A-Z]{2}$/.test(c) || isPhoneCountry(c), { message: COUNTRY_MESSAGE })
  .openapi({ example: 'ES' });
