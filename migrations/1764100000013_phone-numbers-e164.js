/**
 * Phone numbers in E.164 (issue 14), read against a country.
 *
 * - companies.country, branches.country: ISO 3166-1 alpha-2, where numbers written without a
 *   country code are read (a branch's own, else its company's; NULL: none). Existing rows get
 *   their time zone's country (Europe/Madrid: ES; none for UTC), as new ones do by default.
 * - Every stored phone number is rewritten in E.164: customers.phone (country of the home branch,
 *   else the company), staff.phone, branches.phone, callback_requests.phone_number, calls.from_number
 *   and calls.to_number (country of the row's branch, else the company). A number that cannot be
 *   read is left exactly as it was and listed in phone_number_review (table, column, row, company,
 *   why; not the number itself, which stays in its row), and the migration prints how many there
 *   are. It never fails on a number. Erased callbacks ('[erased]') are skipped.
 *   notification_deliveries.recipient is a record of what was sent, and is not rewritten.
 * - customers: the indexes on the digits / last nine digits of the number (matching by digits)
 *   give way to one on the number itself (matching is E.164 equality).
 *
 * The parsing rules are copied from src/directory/phone.ts as they are today: a migration must do
 * tomorrow what it did today, whatever the application code becomes.
 *
 * Down: the columns, the review table and the old indexes; numbers stay in E.164, which the
 * earlier code reads as well (the formatting people typed is not kept anywhere).
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
const { getTimeZones } = require('@vvo/tzdb');
const { isSupportedCountry, parsePhoneNumberWithError } = require('libphonenumber-js');

/** The tz database's country of a zone (links take their zone's), or null (UTC, Etc/…). */
function countryOfTimeZone(tz) {
  const zones = getTimeZones();
  const zone = zones.find((z) => z.name === tz) ?? zones.find((z) => z.group.includes(tz));
  const country = zone?.countryCode;
  return country && isSupportedCountry(country) ? country : null;
}

/** E.164, or `{ reason }` (the same rules as src/directory/phone.ts toE164 at the time of this migration). */
function toE164(raw, country) {
  const text = raw.trim();
  if (!/\p{Nd}/u.test(text)) return { reason: 'not a phone number' };
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(text, { defaultCountry: country ?? undefined, extract: false });
  } catch (error) {
    if (error.message === 'INVALID_COUNTRY')
      return { reason: country ? 'no valid country code' : 'no country code, and neither the branch nor the company has a country' };
    if (['TOO_SHORT', 'TOO_LONG', 'INVALID_LENGTH'].includes(error.message)) return { reason: `wrong length (${error.message})` };
    return { reason: 'not a phone number' };
  }
  if (parsed.ext) return { reason: 'has an extension' };
  if (!parsed.isValid()) return { reason: `not a valid number for +${parsed.countryCallingCode}${country ? ` (read in ${country})` : ''}` };
  return { e164: parsed.number };
}

/** The phone columns, and the column naming the branch whose country applies (else the company's). */
const PHONE_COLUMNS = [
  { table: 'customers', column: 'phone', branch: 'home_branch_id' },
  { table: 'staff', column: 'phone', branch: 'branch_id' },
  { table: 'branches', column: 'phone', branch: 'id' },
  { table: 'callback_requests', column: 'phone_number', branch: 'branch_id', skip: '[erased]' },
  { table: 'calls', column: 'from_number', branch: 'branch_id' },
  { table: 'calls', column: 'to_number', branch: 'branch_id' },
];

const BATCH = 1000;

exports.up = async (pgm) => {
  const q = (sql, params) => pgm.db.query(sql, params);
  await q(`
    ALTER TABLE companies ADD COLUMN country text CONSTRAINT companies_country_check CHECK (country ~ '^[A-Z]{2}$');
    ALTER TABLE branches ADD COLUMN country text CONSTRAINT branches_country_check CHECK (country ~ '^[A-Z]{2}$');

    -- The stored numbers this migration could not read (left as they were): for the operator to fix.
    CREATE TABLE phone_number_review (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      table_name  text NOT NULL,
      column_name text NOT NULL,
      row_id      uuid NOT NULL,
      reason      text NOT NULL,
      found_at    timestamptz NOT NULL DEFAULT now(),
      UNIQUE (table_name, column_name, row_id)
    );
    CREATE INDEX phone_number_review_company_idx ON phone_number_review (company_id);
  `);

  for (const table of ['companies', 'branches']) {
    const { rows } = await q(`SELECT DISTINCT time_zone FROM ${table}`);
    for (const { time_zone: tz } of rows) {
      const country = countryOfTimeZone(tz);
      if (country) await q(`UPDATE ${table} SET country = $2 WHERE time_zone = $1 AND country IS NULL`, [tz, country]);
    }
  }

  let changed = 0;
  let unreadable = 0;
  for (const { table, column, branch, skip } of PHONE_COLUMNS) {
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const { rows } = await q(
        `SELECT t.id, t.company_id, t.${column} AS value, coalesce(b.country, co.country) AS country
           FROM ${table} t
           JOIN companies co ON co.id = t.company_id
           LEFT JOIN branches b ON b.company_id = t.company_id AND b.id = t.${branch}
          WHERE t.id > $1 AND t.${column} IS NOT NULL AND ($2::text IS NULL OR t.${column} <> $2)
          ORDER BY t.id LIMIT ${BATCH}`,
        [after, skip ?? null],
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1].id;
      const ids = [];
      const values = [];
      const review = { ids: [], companies: [], reasons: [] };
      for (const r of rows) {
        const read = toE164(r.value, r.country);
        if (read.e164 === undefined) {
          review.ids.push(r.id);
          review.companies.push(r.company_id);
          review.reasons.push(read.reason);
        } else if (read.e164 !== r.value) {
          ids.push(r.id);
          values.push(read.e164);
        }
      }
      if (ids.length > 0) {
        await q(`UPDATE ${table} t SET ${column} = v.value FROM unnest($1::uuid[], $2::text[]) AS v(id, value) WHERE t.id = v.id`, [
          ids,
          values,
        ]);
        changed += ids.length;
      }
      if (review.ids.length > 0) {
        await q(
          `INSERT INTO phone_number_review (company_id, table_name, column_name, row_id, reason)
           SELECT v.company_id, $1, $2, v.row_id, v.reason FROM unnest($3::uuid[], $4::uuid[], $5::text[]) AS v(row_id, company_id, reason)`,
          [table, column, review.ids, review.companies, review.reasons],
        );
        unreadable += review.ids.length;
      }
    }
  }

  await q(`
    DROP INDEX customers_phone_tail_idx;
    DROP INDEX customers_phone_digits_idx;
    -- Callers and SMS keywords are matched by the number itself: by company (the phone agent) or across companies (STOP).
    CREATE INDEX customers_phone_idx ON customers (phone, company_id) WHERE phone IS NOT NULL;
  `);

  if (changed > 0 || unreadable > 0) {
    // The migrate command's output (the operator who runs it reads it there).
    console.warn(
      `[migration phone-numbers-e164] ${changed} phone number(s) rewritten in E.164; ` +
        (unreadable > 0
          ? `${unreadable} could not be read and were left as they were: SELECT * FROM phone_number_review`
          : 'none left unread'),
    );
  }
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP INDEX customers_phone_idx;
    CREATE INDEX customers_phone_digits_idx ON customers ((regexp_replace(phone, '[^0-9]', '', 'g'))) WHERE phone IS NOT NULL;
    CREATE INDEX customers_phone_tail_idx ON customers (company_id, right(regexp_replace(phone, '\\D', '', 'g'), 9))
      WHERE phone IS NOT NULL;
    DROP TABLE phone_number_review;
    ALTER TABLE branches DROP COLUMN country;
    ALTER TABLE companies DROP COLUMN country;
  `);
};
