/**
 * External integrations: the calendar's event-type map and the voice agent's inbound calls.
 *
 * calcom_event_map -> branches ON DELETE CASCADE is the constraint whose mismatched column type
 * broke the original deployment; here both sides are uuid, and test/schema proves it for every FK.
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    CREATE TABLE calcom_event_map (
      id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id           uuid NOT NULL,
      calcom_event_type_id text NOT NULL,
      branch_id            uuid NOT NULL,
      service_id           uuid,
      staff_id             uuid,
      created_at           timestamptz NOT NULL DEFAULT now(),
      updated_at           timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, calcom_event_type_id),
      FOREIGN KEY (company_id, branch_id) REFERENCES branches (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, service_id) REFERENCES services (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, staff_id) REFERENCES staff (company_id, id) ON DELETE CASCADE
    );
    CREATE INDEX calcom_event_map_branch_idx ON calcom_event_map (branch_id);

    -- Booking webhooks we have applied, so a redelivered webhook changes nothing twice.
    ALTER TABLE appointments ADD COLUMN calcom_booking_uid text;
    CREATE UNIQUE INDEX appointments_calcom_booking_uid_key ON appointments (company_id, calcom_booking_uid)
      WHERE calcom_booking_uid IS NOT NULL;

    CREATE TABLE calls (
      id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id       uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      branch_id        uuid,
      customer_id      uuid,
      external_call_id text NOT NULL,
      direction        text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
      from_number      text,
      to_number        text,
      status           text NOT NULL DEFAULT 'in_progress'
                       CHECK (status IN ('in_progress', 'completed', 'failed', 'missed')),
      started_at       timestamptz NOT NULL DEFAULT now(),
      ended_at         timestamptz,
      duration_seconds integer CHECK (duration_seconds >= 0),
      summary          text,
      metadata         jsonb NOT NULL DEFAULT '{}',
      created_at       timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, external_call_id),
      FOREIGN KEY (company_id, branch_id) REFERENCES branches (company_id, id) ON DELETE SET NULL (branch_id),
      FOREIGN KEY (company_id, customer_id) REFERENCES customers (company_id, id) ON DELETE SET NULL (customer_id)
    );
    -- The dashboards' queries: recent calls of a company or branch, a caller's history, open calls.
    CREATE INDEX calls_company_started_idx ON calls (company_id, started_at DESC);
    CREATE INDEX calls_branch_started_idx ON calls (branch_id, started_at DESC);
    CREATE INDEX calls_customer_idx ON calls (customer_id, started_at DESC);
    CREATE INDEX calls_from_number_idx ON calls (company_id, from_number);
    CREATE INDEX calls_open_idx ON calls (company_id) WHERE status = 'in_progress';
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP TABLE calls;
    DROP INDEX appointments_calcom_booking_uid_key;
    ALTER TABLE appointments DROP COLUMN calcom_booking_uid;
    DROP TABLE calcom_event_map;
  `);
};
