/**
 * Erasure (issue 10): a customer whose personal data was erased keeps their row, so that their
 * appointments, modifications and the monthly counters that quotas and analytics read stay whole;
 * the row records when and by whom, and holds no name, address or number any more.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE customers
      ADD COLUMN erased_at timestamptz,
      ADD COLUMN erased_by text;
    ALTER TABLE customers ADD CONSTRAINT customers_erased_by_check CHECK ((erased_at IS NULL) = (erased_by IS NULL));

    -- An export or an erasure finds one customer's rows by index, however large the company.
    CREATE INDEX callback_requests_customer_idx ON callback_requests (company_id, customer_id) WHERE customer_id IS NOT NULL;
    CREATE INDEX notifications_notifiable_idx ON notifications (company_id, notifiable_type, notifiable_id);
    CREATE INDEX notifications_callback_idx ON notifications (company_id, (data ->> 'callbackId')) WHERE data ? 'callbackId';
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP INDEX notifications_callback_idx;
    DROP INDEX notifications_notifiable_idx;
    DROP INDEX callback_requests_customer_idx;
    ALTER TABLE customers DROP CONSTRAINT customers_erased_by_check, DROP COLUMN erased_by, DROP COLUMN erased_at;
  `);
};
