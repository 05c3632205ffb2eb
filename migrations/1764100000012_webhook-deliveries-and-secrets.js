/**
 * Webhooks that accept what their senders really send, one URL per integration, secrets encrypted
 * at rest (issue 14).
 *
 * - integrations.hook_id: the unguessable id in the integration's own webhook URL
 *   (`/webhooks/calcom/<hook id>`, `/webhooks/retell/<hook id>`): a delivery names its integration,
 *   so exactly one secret is checked, and no secret has to be unique any more (the old
 *   UNIQUE (provider, webhook_secret) let one tenant learn that another used a given secret).
 * - integrations.secret_ciphertext / secret_key_id: the secret sealed with AES-256-GCM under a key
 *   of SECRET_KEYS (src/integrations/secret-box.ts). A migration cannot read the deployment's keys,
 *   so existing rows keep their plaintext in webhook_secret (now nullable) until the application
 *   seals them: `npm run migrate` does it right after migrating when SECRET_KEYS is set, and every
 *   API process does it at start-up (src/integrations/secrets.ts). Exactly one of the two is
 *   set on every row. Down: refuses while any secret is sealed (`npm run secrets -- decrypt` first).
 * - calcom_deliveries.payload: nullable. The body is kept only where an operator needs it
 *   (rejected and unmapped deliveries) and only for CALCOM_DELIVERY_BODY_TTL_HOURS; the hourly
 *   purge schedule empties it then (and empties the bodies older rows kept of applied deliveries).
 * - appointments.calcom_seat_uid: a seated Cal.com event gives every seat the booking's uid and a
 *   seat reference of its own; each seat is its own appointment, unique per (company, uid, seat).
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE integrations
      DROP CONSTRAINT integrations_provider_webhook_secret_key,
      ALTER COLUMN webhook_secret DROP NOT NULL,
      ADD COLUMN hook_id text,
      ADD COLUMN secret_ciphertext bytea,
      ADD COLUMN secret_key_id text;
    -- 122 random bits per existing row; the application generates 192 (src/integrations/service.ts).
    UPDATE integrations SET hook_id = replace(gen_random_uuid()::text, '-', '');
    ALTER TABLE integrations
      ALTER COLUMN hook_id SET NOT NULL,
      ALTER COLUMN hook_id SET DEFAULT replace(gen_random_uuid()::text, '-', ''),
      ADD CONSTRAINT integrations_hook_id_key UNIQUE (hook_id),
      ADD CONSTRAINT integrations_hook_id_check CHECK (hook_id ~ '^[A-Za-z0-9_-]{16,64}$'),
      ADD CONSTRAINT integrations_secret_stored_check CHECK ((webhook_secret IS NULL) <> (secret_ciphertext IS NULL)),
      ADD CONSTRAINT integrations_secret_key_id_check CHECK ((secret_ciphertext IS NULL) = (secret_key_id IS NULL));
    -- The start-up sweep: rows still in clear, or sealed under a key that is no longer the newest.
    CREATE INDEX integrations_secret_key_idx ON integrations (secret_key_id);

    ALTER TABLE calcom_deliveries ALTER COLUMN payload DROP NOT NULL;
    CREATE INDEX calcom_deliveries_body_kept_idx ON calcom_deliveries (first_received_at) WHERE payload IS NOT NULL;

    ALTER TABLE appointments ADD COLUMN calcom_seat_uid text;
    DROP INDEX appointments_calcom_booking_uid_key;
    CREATE UNIQUE INDEX appointments_calcom_booking_uid_key
      ON appointments (company_id, calcom_booking_uid, coalesce(calcom_seat_uid, ''))
      WHERE calcom_booking_uid IS NOT NULL;
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DO $$
    BEGIN
      IF EXISTS (SELECT 1 FROM integrations WHERE secret_ciphertext IS NOT NULL) THEN
        RAISE EXCEPTION 'integrations hold encrypted secrets: run "npm run secrets -- decrypt" (with SECRET_KEYS) before migrating down';
      END IF;
    END $$;

    -- One appointment per booking uid again: the first seat keeps it, the others let go of it.
    UPDATE appointments a SET calcom_booking_uid = NULL
      FROM (SELECT id, row_number() OVER (PARTITION BY company_id, calcom_booking_uid ORDER BY created_at, id) AS n
              FROM appointments WHERE calcom_booking_uid IS NOT NULL) s
     WHERE a.id = s.id AND s.n > 1;
    DROP INDEX appointments_calcom_booking_uid_key;
    CREATE UNIQUE INDEX appointments_calcom_booking_uid_key ON appointments (company_id, calcom_booking_uid)
      WHERE calcom_booking_uid IS NOT NULL;
    ALTER TABLE appointments DROP COLUMN calcom_seat_uid;

    DROP INDEX calcom_deliveries_body_kept_idx;
    UPDATE calcom_deliveries SET payload = '{}' WHERE payload IS NULL;
    ALTER TABLE calcom_deliveries ALTER COLUMN payload SET NOT NULL;

    DROP INDEX integrations_secret_key_idx;
    ALTER TABLE integrations
      DROP CONSTRAINT integrations_secret_key_id_check,
      DROP CONSTRAINT integrations_secret_stored_check,
      DROP CONSTRAINT integrations_hook_id_check,
      DROP CONSTRAINT integrations_hook_id_key,
      DROP COLUMN secret_key_id,
      DROP COLUMN secret_ciphertext,
      DROP COLUMN hook_id,
      ALTER COLUMN webhook_secret SET NOT NULL,
      ADD CONSTRAINT integrations_provider_webhook_secret_key UNIQUE (provider, webhook_secret);
  `);
};
