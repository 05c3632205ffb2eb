/**
 * Customers' consent per channel and kind of message.
 *
 * - notification_event_mappings.message_kind: `transactional` (confirmations, reminders,
 *   cancellations, callbacks, payments) or `optional` (feedback requests and anything
 *   marketing-like). Consent is asked per kind.
 * - companies.optional_messages_default: whether optional messages may be sent to a customer who
 *   has said nothing (true: allowed until they opt out; false: only after they opt in).
 * - customer_consents: the customer's current answer per (channel, kind), with where it came from
 *   (the API, the unsubscribe link, an SMS STOP/START), who (an API key) and when. No row: the
 *   default (transactional allowed; optional per the company setting).
 * - customer_consent_events: every change, append-only (proof of consent and of its withdrawal).
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE notification_event_mappings
      ADD COLUMN message_kind text NOT NULL DEFAULT 'transactional' CHECK (message_kind IN ('transactional', 'optional'));
    UPDATE notification_event_mappings SET message_kind = 'optional' WHERE event_type IN ('customer_feedback_request');

    ALTER TABLE companies ADD COLUMN optional_messages_default boolean NOT NULL DEFAULT true;
    -- Who changed a consent is a key of the same company (tenancy in the schema).
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_company_id_id_key UNIQUE (company_id, id);

    CREATE TABLE customer_consents (
      company_id   uuid NOT NULL,
      customer_id  uuid NOT NULL,
      channel      text NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp', 'push')),
      kind         text NOT NULL CHECK (kind IN ('transactional', 'optional')),
      granted      boolean NOT NULL,
      source       text NOT NULL CHECK (source IN ('api', 'unsubscribe_link', 'sms_keyword')),
      api_key_id   uuid,
      actor        text NOT NULL,
      note         text CHECK (note IS NULL OR length(note) <= 500),
      changed_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (company_id, customer_id, channel, kind),
      FOREIGN KEY (company_id, customer_id) REFERENCES customers (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, api_key_id) REFERENCES api_keys (company_id, id) ON DELETE SET NULL (api_key_id)
    );

    CREATE TABLE customer_consent_events (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id   uuid NOT NULL,
      customer_id  uuid NOT NULL,
      channel      text NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp', 'push')),
      kind         text NOT NULL CHECK (kind IN ('transactional', 'optional')),
      granted      boolean NOT NULL,
      source       text NOT NULL CHECK (source IN ('api', 'unsubscribe_link', 'sms_keyword')),
      api_key_id   uuid,
      actor        text NOT NULL,
      note         text CHECK (note IS NULL OR length(note) <= 500),
      at           timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, customer_id) REFERENCES customers (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, api_key_id) REFERENCES api_keys (company_id, id) ON DELETE SET NULL (api_key_id)
    );
    CREATE INDEX customer_consent_events_customer_idx ON customer_consent_events (company_id, customer_id, at);

    -- An SMS keyword names a phone number, not a customer: find its customers by digits.
    CREATE INDEX customers_phone_digits_idx ON customers ((regexp_replace(phone, '[^0-9]', '', 'g'))) WHERE phone IS NOT NULL;
  `);
};

exports.down = (pgm) => {
  pgm.sql(`
    DROP INDEX customers_phone_digits_idx;
    DROP TABLE customer_consent_events;
    DROP TABLE customer_consents;
    ALTER TABLE api_keys DROP CONSTRAINT api_keys_company_id_id_key;
    ALTER TABLE companies DROP COLUMN optional_messages_default;
    ALTER TABLE notification_event_mappings DROP COLUMN message_kind;
  `);
};
