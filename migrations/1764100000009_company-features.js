/**
 * Feature switches per company: the policy, callback and notification systems can each be switched
 * off for one company (PUT /v1/company/features). NULL means "the deployment's default"
 * (FEATURE_POLICIES, FEATURE_CALLBACKS, FEATURE_NOTIFICATIONS), and so does a company without a
 * row. `updated_by` is the API key that made the last change (`api_key:<id>`), as in
 * appointment_modifications.modified_by.
 *
 * Numbered 000009: 000008 belongs to the appointments work, and nothing here depends on it.
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    CREATE TABLE company_features (
      company_id    uuid PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
      policies      boolean,
      callbacks     boolean,
      notifications boolean,
      updated_at    timestamptz NOT NULL DEFAULT now(),
      updated_by    text
    );
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`DROP TABLE company_features;`);
};
