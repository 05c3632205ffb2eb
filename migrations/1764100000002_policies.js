/**
 * Cancellation / reschedule / recurring policies and the record of every modification.
 *
 * At most one live policy per (company, entity type, entity id, policy type): a partial unique
 * index over the rows whose deleted_at IS NULL. (A plain unique key that includes deleted_at does
 * not enforce this, because NULLs are distinct: the original deployment's mistake.)
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    CREATE TABLE policy_configurations (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      configurable_type text NOT NULL CHECK (configurable_type IN ('company', 'branch', 'service', 'staff')),
      configurable_id   uuid NOT NULL,
      policy_type       text NOT NULL CHECK (policy_type IN ('cancellation', 'reschedule', 'recurring')),
      config            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
      is_override       boolean NOT NULL DEFAULT false,
      overrides_id      uuid REFERENCES policy_configurations (id) ON DELETE SET NULL,
      version           integer NOT NULL DEFAULT 1,
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      deleted_at        timestamptz,
      CHECK (overrides_id IS NULL OR overrides_id <> id)
    );
    CREATE UNIQUE INDEX policy_configurations_live_key
      ON policy_configurations (company_id, configurable_type, configurable_id, policy_type)
      WHERE deleted_at IS NULL;
    CREATE INDEX policy_configurations_overrides_idx ON policy_configurations (overrides_id);

    CREATE TABLE appointment_modifications (
      id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id         uuid NOT NULL,
      appointment_id     uuid NOT NULL,
      customer_id        uuid NOT NULL,
      modification_type  text NOT NULL CHECK (modification_type IN ('cancel', 'reschedule')),
      within_policy      boolean NOT NULL,
      fee_charged_cents  integer NOT NULL DEFAULT 0 CHECK (fee_charged_cents >= 0),
      currency           char(3) NOT NULL DEFAULT 'EUR',
      reason             text,
      policy_id          uuid REFERENCES policy_configurations (id) ON DELETE SET NULL,
      modified_by        text NOT NULL,
      previous_starts_at timestamptz,
      new_starts_at      timestamptz,
      created_at         timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, appointment_id) REFERENCES appointments (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, customer_id) REFERENCES customers (company_id, id) ON DELETE CASCADE
    );
    CREATE INDEX appointment_modifications_appointment_idx ON appointment_modifications (appointment_id, created_at);
    CREATE INDEX appointment_modifications_customer_idx ON appointment_modifications (customer_id, created_at);

    -- One counter row per (customer, type, month), written in the same transaction as the
    -- modification: a quota check is one primary-key read however long the history is.
    CREATE TABLE appointment_modification_stats (
      company_id        uuid NOT NULL,
      customer_id       uuid NOT NULL,
      modification_type text NOT NULL CHECK (modification_type IN ('cancel', 'reschedule')),
      period_month      date NOT NULL CHECK (date_trunc('month', period_month) = period_month),
      count             integer NOT NULL DEFAULT 0 CHECK (count >= 0),
      fees_cents        bigint NOT NULL DEFAULT 0 CHECK (fees_cents >= 0),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (company_id, customer_id, modification_type, period_month),
      FOREIGN KEY (company_id, customer_id) REFERENCES customers (company_id, id) ON DELETE CASCADE
    );
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP TABLE appointment_modification_stats;
    DROP TABLE appointment_modifications;
    DROP TABLE policy_configurations;
  `);
};
