/**
 * Tenancy in the schema, everywhere: the four foreign keys between company-owned tables that did
 * not include company_id now do, so the database refuses an attempt, a config reference, a policy
 * override or a modification's policy that points into another company. test/db/schema.test.ts
 * checks the catalog for every such key.
 *
 * Delivery bookkeeping: the key a provider sees (provider_key) is kept apart from the attempt
 * row's own key, so an attempt retried after an ambiguous failure (a timeout after the request
 * left) sends the same key again; an error kind for provider answers that mean our credentials
 * are wrong; an index for the outbox reconciler's scan of notifications whose workflow never ran;
 * an index for the Idempotency-Key purge.
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE notifications ADD CONSTRAINT notifications_company_id_id_key UNIQUE (company_id, id);
    ALTER TABLE notification_configurations ADD CONSTRAINT notification_configurations_company_id_id_key UNIQUE (company_id, id);
    ALTER TABLE policy_configurations ADD CONSTRAINT policy_configurations_company_id_id_key UNIQUE (company_id, id);

    ALTER TABLE notification_deliveries
      DROP CONSTRAINT notification_deliveries_notification_id_fkey,
      ADD CONSTRAINT notification_deliveries_notification_fkey
        FOREIGN KEY (company_id, notification_id) REFERENCES notifications (company_id, id) ON DELETE CASCADE,
      DROP CONSTRAINT notification_deliveries_config_id_fkey,
      ADD CONSTRAINT notification_deliveries_config_fkey
        FOREIGN KEY (company_id, config_id) REFERENCES notification_configurations (company_id, id) ON DELETE SET NULL (config_id);

    ALTER TABLE policy_configurations
      DROP CONSTRAINT policy_configurations_overrides_id_fkey,
      ADD CONSTRAINT policy_configurations_overrides_fkey
        FOREIGN KEY (company_id, overrides_id) REFERENCES policy_configurations (company_id, id) ON DELETE SET NULL (overrides_id);

    ALTER TABLE appointment_modifications
      DROP CONSTRAINT appointment_modifications_policy_id_fkey,
      ADD CONSTRAINT appointment_modifications_policy_fkey
        FOREIGN KEY (company_id, policy_id) REFERENCES policy_configurations (company_id, id) ON DELETE SET NULL (policy_id);

    -- The key sent to the provider; an attempt after an ambiguous failure on the same provider reuses it.
    ALTER TABLE notification_deliveries ADD COLUMN provider_key text;
    UPDATE notification_deliveries SET provider_key = idempotency_key;
    ALTER TABLE notification_deliveries ALTER COLUMN provider_key SET NOT NULL;

    -- 'configuration': the provider refused our credentials (401/403), not the recipient.
    ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_error_kind_check;
    ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_error_kind_check
      CHECK (error_kind IN ('transient', 'permanent', 'template', 'configuration', 'unknown'));

    -- The reconciler looks for rows whose workflow has not run its first step after a grace period.
    CREATE INDEX notifications_not_started_idx ON notifications (created_at) WHERE status = 'pending' AND resolved_config IS NULL;
    -- The hourly purge deletes keys by age.
    CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP INDEX idempotency_keys_created_at_idx;
    DROP INDEX notifications_not_started_idx;

    UPDATE notification_deliveries SET error_kind = 'permanent' WHERE error_kind = 'configuration';
    ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_error_kind_check;
    ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_error_kind_check
      CHECK (error_kind IN ('transient', 'permanent', 'template', 'unknown'));
    ALTER TABLE notification_deliveries DROP COLUMN provider_key;

    ALTER TABLE appointment_modifications
      DROP CONSTRAINT appointment_modifications_policy_fkey,
      ADD CONSTRAINT appointment_modifications_policy_id_fkey
        FOREIGN KEY (policy_id) REFERENCES policy_configurations (id) ON DELETE SET NULL;
    ALTER TABLE policy_configurations
      DROP CONSTRAINT policy_configurations_overrides_fkey,
      ADD CONSTRAINT policy_configurations_overrides_id_fkey
        FOREIGN KEY (overrides_id) REFERENCES policy_configurations (id) ON DELETE SET NULL;
    ALTER TABLE notification_deliveries
      DROP CONSTRAINT notification_deliveries_config_fkey,
      ADD CONSTRAINT notification_deliveries_config_id_fkey
        FOREIGN KEY (config_id) REFERENCES notification_configurations (id) ON DELETE SET NULL,
      DROP CONSTRAINT notification_deliveries_notification_fkey,
      ADD CONSTRAINT notification_deliveries_notification_id_fkey
        FOREIGN KEY (notification_id) REFERENCES notifications (id) ON DELETE CASCADE;

    ALTER TABLE policy_configurations DROP CONSTRAINT policy_configurations_company_id_id_key;
    ALTER TABLE notification_configurations DROP CONSTRAINT notification_configurations_company_id_id_key;
    ALTER TABLE notifications DROP CONSTRAINT notifications_company_id_id_key;
  `);
};
