/**
 * The organisation hierarchy and the API's own tables.
 *
 * Every row belongs to exactly one company. Child tables reference their parent through the
 * composite key (company_id, id), so the database itself refuses a row that points into another
 * company, whatever ids a request sends. Every key is uuid and every FK column is uuid.
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    CREATE TABLE companies (
      id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name        text NOT NULL CHECK (length(trim(name)) > 0),
      time_zone   text NOT NULL DEFAULT 'UTC',
      created_at  timestamptz NOT NULL DEFAULT now(),
      updated_at  timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE api_keys (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      name         text NOT NULL,
      role         text NOT NULL CHECK (role IN ('agent', 'manager', 'admin')),
      key_prefix   text NOT NULL,
      key_hash     text NOT NULL UNIQUE,
      created_at   timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at   timestamptz
    );
    CREATE INDEX api_keys_company_idx ON api_keys (company_id);

    -- Replies remembered per Idempotency-Key, so a retried POST returns the first outcome.
    CREATE TABLE idempotency_keys (
      company_id      uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      scope           text NOT NULL,
      key             text NOT NULL,
      request_hash    text NOT NULL,
      response_status integer,
      response_body   jsonb,
      created_at      timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (company_id, scope, key)
    );

    CREATE TABLE branches (
      id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      name        text NOT NULL CHECK (length(trim(name)) > 0),
      time_zone   text NOT NULL DEFAULT 'UTC',
      phone       text,
      email       text,
      created_at  timestamptz NOT NULL DEFAULT now(),
      updated_at  timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, id)
    );

    CREATE TABLE services (
      id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id       uuid NOT NULL,
      branch_id        uuid NOT NULL,
      name             text NOT NULL CHECK (length(trim(name)) > 0),
      duration_minutes integer NOT NULL DEFAULT 30 CHECK (duration_minutes > 0),
      price_cents      integer NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
      created_at       timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, id),
      FOREIGN KEY (company_id, branch_id) REFERENCES branches (company_id, id) ON DELETE CASCADE
    );
    CREATE INDEX services_branch_idx ON services (branch_id);

    CREATE TABLE staff (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id   uuid NOT NULL,
      branch_id    uuid NOT NULL,
      name         text NOT NULL CHECK (length(trim(name)) > 0),
      email        text,
      phone        text,
      role         text NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'manager')),
      is_available boolean NOT NULL DEFAULT true,
      time_zone    text NOT NULL DEFAULT 'UTC',
      created_at   timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, id),
      FOREIGN KEY (company_id, branch_id) REFERENCES branches (company_id, id) ON DELETE CASCADE
    );
    CREATE INDEX staff_branch_idx ON staff (branch_id, role);

    CREATE TABLE staff_services (
      company_id uuid NOT NULL,
      staff_id   uuid NOT NULL,
      service_id uuid NOT NULL,
      PRIMARY KEY (staff_id, service_id),
      FOREIGN KEY (company_id, staff_id) REFERENCES staff (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, service_id) REFERENCES services (company_id, id) ON DELETE CASCADE
    );
    CREATE INDEX staff_services_service_idx ON staff_services (service_id);

    CREATE TABLE customers (
      id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id         uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      home_branch_id     uuid,
      preferred_staff_id uuid,
      name               text NOT NULL CHECK (length(trim(name)) > 0),
      email              text,
      phone              text,
      time_zone          text NOT NULL DEFAULT 'UTC',
      push_subscription  jsonb,
      created_at         timestamptz NOT NULL DEFAULT now(),
      updated_at         timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, id),
      FOREIGN KEY (company_id, home_branch_id) REFERENCES branches (company_id, id),
      FOREIGN KEY (company_id, preferred_staff_id) REFERENCES staff (company_id, id)
    );

    CREATE TABLE appointments (
      id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id  uuid NOT NULL,
      customer_id uuid NOT NULL,
      branch_id   uuid NOT NULL,
      service_id  uuid NOT NULL,
      staff_id    uuid,
      starts_at   timestamptz NOT NULL,
      ends_at     timestamptz NOT NULL,
      status      text NOT NULL DEFAULT 'scheduled'
                  CHECK (status IN ('scheduled', 'confirmed', 'cancelled', 'completed', 'no_show')),
      notes       text,
      created_at  timestamptz NOT NULL DEFAULT now(),
      updated_at  timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, id),
      CHECK (ends_at > starts_at),
      FOREIGN KEY (company_id, customer_id) REFERENCES customers (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, branch_id) REFERENCES branches (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, service_id) REFERENCES services (company_id, id),
      FOREIGN KEY (company_id, staff_id) REFERENCES staff (company_id, id)
    );
    CREATE INDEX appointments_customer_idx ON appointments (customer_id, starts_at);
    CREATE INDEX appointments_branch_start_idx ON appointments (branch_id, starts_at);
    CREATE INDEX appointments_staff_start_idx ON appointments (staff_id, starts_at);
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP TABLE appointments;
    DROP TABLE customers;
    DROP TABLE staff_services;
    DROP TABLE staff;
    DROP TABLE services;
    DROP TABLE branches;
    DROP TABLE idempotency_keys;
    DROP TABLE api_keys;
    DROP TABLE companies;
  `);
};
