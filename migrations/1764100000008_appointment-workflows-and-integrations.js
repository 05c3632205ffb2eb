/**
 * Appointments as durable workflows (`appointment-<id>`), and the calendar (Cal.com) and phone
 * agent (Retell) integrations.
 *
 * - appointments: the workflow that owns the row (NULL: none; rows written by hand or before this
 *   migration and already over stay without one), when it ran its first step and when it ended,
 *   and two counters that keep the row and the workflow in agreement: `revision` is bumped by a
 *   trigger on every change the workflow cares about (times, status, staff), however it is made
 *   (API, webhook, SQL by hand); `workflow_revision` is the newest revision Temporal has been told
 *   of (a start or a signal it accepted) or the workflow has read. The outbox reconciler tells the
 *   workflow of every row whose `workflow_revision` lags behind.
 *   `source` says where the booking came from ('import': it predates the workflows, so no
 *   "booked" message is sent for it).
 * - appointment_settings: which messages the appointment workflows send, per company (no row:
 *   all of them), and how long after the end the feedback request goes out.
 * - appointment_messages: every message an appointment workflow decided on (sent or skipped, and
 *   why), one row per (appointment, key); the key names the message and the start time it is
 *   for, so a retried step finds its row instead of sending twice.
 * - integrations: one row per company and provider with the secret that signs its webhooks
 *   (Cal.com: the webhook's secret; Retell: the API key with the webhook badge), and for Retell
 *   the branch that takes callbacks of callers without a home branch.
 * - calcom_deliveries: every Cal.com delivery, one row per (company, trigger, booking uid), with
 *   what became of it (applied, unmapped, ignored, rejected) and how often it was delivered.
 * - calls.callback_id: the callback a phone call asked for (one per call).
 * - customers: an index on the last nine digits of the phone number (callers are matched by it).
 *
 * Existing live appointments that have not ended get a workflow (the reconciler starts it);
 * their source is 'import', so they get their reminders but no second "booked" message.
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE appointments
      ADD COLUMN source text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'calcom', 'import')),
      ADD COLUMN workflow_id text UNIQUE,
      ADD COLUMN workflow_started_at timestamptz,
      ADD COLUMN workflow_finished_at timestamptz,
      ADD COLUMN workflow_outcome text,
      ADD COLUMN revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1),
      ADD COLUMN workflow_revision integer CHECK (workflow_revision >= 1);

    UPDATE appointments SET source = 'import';
    UPDATE appointments SET workflow_id = 'appointment-' || id
     WHERE status NOT IN ('cancelled', 'completed', 'no_show') AND ends_at > now();

    CREATE FUNCTION appointments_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (OLD.starts_at, OLD.ends_at, OLD.status, OLD.staff_id) IS DISTINCT FROM (NEW.starts_at, NEW.ends_at, NEW.status, NEW.staff_id) THEN
        NEW.revision := OLD.revision + 1;
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER appointments_bump_revision BEFORE UPDATE ON appointments
      FOR EACH ROW EXECUTE FUNCTION appointments_bump_revision();

    -- The reconciler: rows whose workflow never ran its first step; rows whose workflow was not told of a change.
    CREATE INDEX appointments_workflow_unstarted_idx ON appointments (created_at)
      WHERE workflow_id IS NOT NULL AND workflow_started_at IS NULL;
    CREATE INDEX appointments_workflow_behind_idx ON appointments (updated_at)
      WHERE workflow_id IS NOT NULL AND workflow_revision < revision;
    -- A caller's appointments (the phone agent), a branch's day.
    CREATE INDEX appointments_company_customer_start_idx ON appointments (company_id, customer_id, starts_at);

    CREATE TABLE appointment_settings (
      company_id             uuid PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
      send_created           boolean NOT NULL DEFAULT true,
      send_confirmed         boolean NOT NULL DEFAULT true,
      reminder_24h           boolean NOT NULL DEFAULT true,
      reminder_2h            boolean NOT NULL DEFAULT true,
      feedback_request       boolean NOT NULL DEFAULT true,
      feedback_delay_minutes integer NOT NULL DEFAULT 60 CHECK (feedback_delay_minutes BETWEEN 0 AND 10080),
      created_at             timestamptz NOT NULL DEFAULT now(),
      updated_at             timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE appointment_messages (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id      uuid NOT NULL,
      appointment_id  uuid NOT NULL,
      kind            text NOT NULL CHECK (kind IN ('created', 'confirmed', 'reminder_24h', 'reminder_2h', 'feedback')),
      message_key     text NOT NULL,
      status          text NOT NULL CHECK (status IN ('sent', 'skipped')),
      reason          text,
      for_starts_at   timestamptz NOT NULL,
      due_at          timestamptz NOT NULL,
      -- The workflow's clock when it decided (a timer firing late shows here, not in created_at).
      decided_at      timestamptz NOT NULL,
      notification_id uuid,
      created_at      timestamptz NOT NULL DEFAULT now(),
      UNIQUE (appointment_id, message_key),
      CHECK ((status = 'sent') = (notification_id IS NOT NULL)),
      FOREIGN KEY (company_id, appointment_id) REFERENCES appointments (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, notification_id) REFERENCES notifications (company_id, id) ON DELETE SET NULL (notification_id)
    );

    CREATE TABLE integrations (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      provider          text NOT NULL CHECK (provider IN ('calcom', 'retell')),
      webhook_secret    text NOT NULL CHECK (length(webhook_secret) >= 16),
      enabled           boolean NOT NULL DEFAULT true,
      default_branch_id uuid,
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, provider),
      UNIQUE (company_id, id),
      -- The secret that verifies a delivery names its company: no two integrations share one.
      UNIQUE (provider, webhook_secret),
      FOREIGN KEY (company_id, default_branch_id) REFERENCES branches (company_id, id) ON DELETE SET NULL (default_branch_id)
    );

    CREATE TABLE calcom_deliveries (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      trigger_event     text NOT NULL,
      booking_uid       text NOT NULL,
      reschedule_uid    text,
      event_type_id     text,
      outcome           text NOT NULL CHECK (outcome IN ('applied', 'unmapped', 'ignored', 'rejected')),
      detail            text,
      appointment_id    uuid,
      payload           jsonb NOT NULL,
      deliveries        integer NOT NULL DEFAULT 1 CHECK (deliveries >= 1),
      first_received_at timestamptz NOT NULL DEFAULT now(),
      last_received_at  timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, trigger_event, booking_uid),
      FOREIGN KEY (company_id, appointment_id) REFERENCES appointments (company_id, id) ON DELETE SET NULL (appointment_id)
    );
    CREATE INDEX calcom_deliveries_company_outcome_idx ON calcom_deliveries (company_id, outcome, last_received_at DESC);

    ALTER TABLE calls ADD COLUMN callback_id uuid;
    ALTER TABLE calls ADD CONSTRAINT calls_callback_fkey
      FOREIGN KEY (company_id, callback_id) REFERENCES callback_requests (company_id, id) ON DELETE SET NULL (callback_id);

    CREATE INDEX customers_phone_tail_idx ON customers (company_id, right(regexp_replace(phone, '\\D', '', 'g'), 9))
      WHERE phone IS NOT NULL;
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP INDEX customers_phone_tail_idx;
    ALTER TABLE calls DROP CONSTRAINT calls_callback_fkey, DROP COLUMN callback_id;
    DROP TABLE calcom_deliveries;
    DROP TABLE integrations;
    DROP TABLE appointment_messages;
    DROP TABLE appointment_settings;
    DROP INDEX appointments_company_customer_start_idx;
    DROP INDEX appointments_workflow_behind_idx;
    DROP INDEX appointments_workflow_unstarted_idx;
    DROP TRIGGER appointments_bump_revision ON appointments;
    DROP FUNCTION appointments_bump_revision();
    ALTER TABLE appointments
      DROP COLUMN workflow_revision, DROP COLUMN revision, DROP COLUMN workflow_outcome, DROP COLUMN workflow_finished_at,
      DROP COLUMN workflow_started_at, DROP COLUMN workflow_id, DROP COLUMN source;
  `);
};
