import { ValidationError } from '../../src/errors';
import { countryOfTimeZone, e164OrThrow, e164OrUndefined, phoneCountry, PhoneInput, Country, toE164 } from '../../src/directory/phone';

/** The phone rules (src/directory/phone.ts), without servers: what a person types, in which country, becomes which E.164 number. */
describe('phone numbers in E.164', () => {
  const ok = (raw: string, country: Parameters<typeof toE164>[1]) => {
    const r = toE164(raw, country);
    if (!r.ok) throw new Error(`${raw} in ${country}: ${r.message}`);
    return r.e164;
  };
  const refused = (raw: string, country: Parameters<typeof toE164>[1]) => {
    const r = toE164(raw, country);
    if (r.ok) throw new Error(`${raw} in ${country} was read as ${r.e164}`);
    return r.message;
  };

  it('reads national formats in their country', () => {
    expect(ok('(415) 555-0142', 'US')).toBe('+14155550142');
    expect(ok('415.555.0142', 'US')).toBe('+14155550142');
    expect(ok('600 123 456', 'ES')).toBe('+34600123456');
    expect(ok('06 00 12 34 56', 'FR')).toBe('+33600123456');
    expect(ok('030 1234567', 'DE')).toBe('+49301234567');
    expect(ok('07400 123456', 'GB')).toBe('+447400123456');
    expect(ok('0412 345 678', 'AU')).toBe('+61412345678');
    expect(ok('600 111 222', 'PL')).toBe('+48600111222');
    // Full-width digits (a phone keyboard in some locales) are digits.
    expect(ok('６００ １２３ ４５６', 'ES')).toBe('+34600123456');
  });

  it('a number with its country code is read as written, whatever the country', () => {
    for (const country of ['ES', 'US', null] as const) {
      expect(ok('+33 6 00 12 34 56', country)).toBe('+33600123456');
      expect(ok('+1 (415) 555-0142', country)).toBe('+14155550142');
      expect(ok('  +34600123456 ', country)).toBe('+34600123456');
    }
    // The international prefix of the country it is read in.
    expect(ok('0033 6 00 12 34 56', 'ES')).toBe('+33600123456');
    expect(ok('011 33 6 00 12 34 56', 'US')).toBe('+33600123456');
  });

  it('the same digits are different numbers in different countries', () => {
    expect(ok('600 123 456', 'ES')).toBe('+34600123456');
    expect(ok('600 123 456', 'FR')).toBe('+33600123456');
    // Nine digits are no US number.
    expect(refused('600 123 456', 'US')).toMatch(/not a valid phone number in US/);
  });

  it('refuses junk, numbers invalid in their country, extensions, and national numbers with no country', () => {
    expect(refused('call me', 'ES')).toMatch(/must be a phone number/);
    expect(refused('', 'ES')).toMatch(/must be a phone number/);
    expect(refused('12', 'US')).toMatch(/not a valid phone number/);
    expect(refused('+34 000 000 000', 'ES')).toBe('is not a valid phone number for +34');
    expect(refused('+34 600 000 000 000 000 000', null)).toMatch(/too long/);
    expect(refused('(415) 555-0142', 'ES')).toMatch(/not a valid phone number in ES .*country code/);
    expect(refused('(415) 555-0142 x 12', 'US')).toMatch(/without an extension/);
    expect(refused('600 123 456', null)).toMatch(/has no country code and there is no country/);
    expect(refused('call me on 600 123 456', 'ES')).toMatch(/must be a phone number/);
    expect(refused('+999 123 456', null)).toMatch(/country code/);
  });

  it('the branch’s country overrides the company’s; none falls back; unknown codes are ignored', () => {
    expect(phoneCountry({ branch: 'FR', company: 'ES' })).toBe('FR');
    expect(phoneCountry({ branch: null, company: 'ES' })).toBe('ES');
    expect(phoneCountry({ company: null })).toBeNull();
    expect(phoneCountry({ branch: 'XX', company: 'US' })).toBe('US');
    // So the same typed number is stored differently by branch.
    expect(ok('06 00 12 34 56', phoneCountry({ branch: 'FR', company: 'ES' }))).toBe('+33600123456');
    expect(refused('06 00 12 34 56', phoneCountry({ branch: null, company: 'ES' }))).toMatch(/not a valid phone number in ES/);
  });

  it('a time zone names its country (links included); UTC and Etc zones name none', () => {
    expect(countryOfTimeZone('Europe/Madrid')).toBe('ES');
    expect(countryOfTimeZone('Atlantic/Canary')).toBe('ES');
    expect(countryOfTimeZone('America/Los_Angeles')).toBe('US');
    expect(countryOfTimeZone('America/Toronto')).toBe('CA');
    expect(countryOfTimeZone('Europe/Paris')).toBe('FR');
    expect(countryOfTimeZone('Europe/Zurich')).toBe('CH');
    expect(countryOfTimeZone('Asia/Calcutta')).toBe('IN');
    expect(countryOfTimeZone('US/Pacific')).toBe('US');
    expect(countryOfTimeZone('UTC')).toBeNull();
    expect(countryOfTimeZone('Etc/GMT+3')).toBeNull();
    expect(countryOfTimeZone('Mars/Olympus')).toBeNull();
  });

  it('e164OrThrow names the field; e164OrUndefined drops what does not read', () => {
    expect(e164OrThrow('(415) 555-0142', 'US', 'body.phone')).toBe('+14155550142');
    let error: unknown;
    try {
      e164OrThrow('600 123 456', 'US', 'body.phoneNumber');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([{ field: 'body.phoneNumber', message: expect.stringMatching(/not a valid/) }]);
    expect(e164OrUndefined('anonymous', 'US')).toBeUndefined();
    expect(e164OrUndefined(null, 'US')).toBeUndefined();
    expect(e164OrUndefined('+14155550199', null)).toBe('+14155550199');
  });

  it('the request schemas: a phone field takes what people type; a country is ISO 3166-1 alpha-2 with a numbering plan', () => {
    expect(PhoneInput.parse(' (415) 555-0142 ')).toBe('(415) 555-0142');
    expect(PhoneInput.parse('６００ １２３ ４５６')).toBe('６００ １２３ ４５６');
    expect(PhoneInput.safeParse('call me').success).toBe(false);
    expect(PhoneInput.safeParse('1'.repeat(41)).success).toBe(false);
    expect(Country.parse('es')).toBe('ES');
    expect(Country.safeParse('XX').success).toBe(false);
    expect(Country.safeParse('ESP').success).toBe(false);
  });
});
