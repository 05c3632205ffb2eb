/**
 * Notifications: the seeded event types, hierarchical per-event configuration, one row per
 * notification (one durable workflow each) and one row per delivery attempt (the outbox).
 *
 * Configuration columns are nullable on purpose: NULL means "inherit from the next level"
 * (staff > service > branch > company > system defaults), so each resolved setting can say
 * which level it came from.
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
const EVENTS = [
  ['appointment_created', 'An appointment was booked', 'email', 'sms', false],
  ['appointment_confirmed', 'An appointment was confirmed', 'email', 'sms', false],
  ['appointment_cancelled', 'An appointment was cancelled', 'email', 'sms', false],
  ['appointment_rescheduled', 'An appointment was moved to another time', 'email', 'sms', false],
  ['appointment_reminder_24h', 'Reminder 24 hours before an appointment', 'email', 'sms', false],
  ['appointment_reminder_2h', 'Reminder 2 hours before an appointment', 'sms', 'whatsapp', false],
  ['callback_requested', 'A customer asked to be called back', 'email', 'push', false],
  ['callback_escalated', 'A callback breached its SLA or failed repeatedly and went to a manager', 'email', 'sms', true],
  ['payment_received', 'A payment was received', 'email', null, false],
  ['payment_failed', 'A payment failed', 'email', 'sms', false],
  ['policy_violation', 'A cancellation or reschedule fell outside the policy', 'email', null, false],
  ['staff_assigned', 'A staff member was assigned to an appointment or callback', 'push', 'email', false],
  ['customer_feedback_request', 'Ask the customer for feedback after a visit', 'email', null, false],
];

exports.up = (pgm) => {
  pgm.sql(`
    CREATE TABLE notification_event_mappings (
      event_type               text PRIMARY KEY,
      description              text NOT NULL,
      default_channel          text NOT NULL CHECK (default_channel IN ('email', 'sms', 'whatsapp', 'push')),
      default_fallback_channel text CHECK (default_fallback_channel IN ('email', 'sms', 'whatsapp', 'push')),
      is_urgent                boolean NOT NULL DEFAULT false,
      created_at               timestamptz NOT NULL DEFAULT now(),
      CHECK (default_fallback_channel IS NULL OR default_fallback_channel <> default_channel)
    );

    CREATE TABLE notification_configurations (
      id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id                uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      configurable_type         text NOT NULL CHECK (configurable_type IN ('company', 'branch', 'service', 'staff')),
      configurable_id           uuid NOT NULL,
      event_type                text NOT NULL REFERENCES notification_event_mappings (event_type),
      channel                   text CHECK (channel IN ('email', 'sms', 'whatsapp', 'push')),
      -- 'none' switches the fallback off at this level (NULL would inherit the parent's).
      fallback_channel          text CHECK (fallback_channel IN ('email', 'sms', 'whatsapp', 'push', 'none')),
      enabled                   boolean,
      retry_count               integer CHECK (retry_count BETWEEN 0 AND 20),
      retry_delay_minutes       integer CHECK (retry_delay_minutes >= 0),
      retry_strategy            text CHECK (retry_strategy IN ('exponential', 'linear', 'fibonacci', 'constant')),
      max_retry_delay_minutes   integer CHECK (max_retry_delay_minutes >= 0),
      providers                 text[],
      template_subject          text,
      template_body             text,
      quiet_hours_start         time,
      quiet_hours_end           time,
      rate_limit_count          integer CHECK (rate_limit_count > 0),
      rate_limit_window_seconds integer CHECK (rate_limit_window_seconds > 0),
      metadata                  jsonb NOT NULL DEFAULT '{}',
      created_at                timestamptz NOT NULL DEFAULT now(),
      updated_at                timestamptz NOT NULL DEFAULT now(),
      CHECK (fallback_channel IS NULL OR channel IS NULL OR fallback_channel <> channel),
      CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL)),
      CHECK ((rate_limit_count IS NULL) = (rate_limit_window_seconds IS NULL))
    );
    CREATE UNIQUE INDEX notification_configurations_scope_key
      ON notification_configurations (company_id, configurable_type, configurable_id, event_type);

    CREATE TABLE notifications (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id      uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      event_type      text NOT NULL REFERENCES notification_event_mappings (event_type),
      notifiable_type text NOT NULL CHECK (notifiable_type IN ('customer', 'staff', 'appointment')),
      notifiable_id   uuid NOT NULL,
      data            jsonb NOT NULL DEFAULT '{}',
      status          text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'waiting', 'sending', 'delivered', 'failed', 'suppressed', 'cancelled')),
      status_reason   text,
      resolved_config jsonb,
      workflow_id     text NOT NULL UNIQUE,
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now(),
      completed_at    timestamptz
    );
    CREATE INDEX notifications_company_created_idx ON notifications (company_id, created_at DESC);
    CREATE INDEX notifications_company_event_idx ON notifications (company_id, event_type, created_at);

    -- The outbox: one row per attempt on one channel (and provider), never updated into another attempt.
    CREATE TABLE notification_deliveries (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id          uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      notification_id     uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
      config_id           uuid REFERENCES notification_configurations (id) ON DELETE SET NULL,
      event_type          text NOT NULL REFERENCES notification_event_mappings (event_type),
      channel             text NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp', 'push')),
      provider            text NOT NULL,
      recipient           text NOT NULL,
      attempt_number      integer NOT NULL CHECK (attempt_number >= 1),
      is_fallback         boolean NOT NULL DEFAULT false,
      status              text NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'failed')),
      error               text,
      error_kind          text CHECK (error_kind IN ('transient', 'permanent', 'template', 'unknown')),
      provider_message_id text,
      -- <notification id>:<attempt number>:<provider>: a retried activity finds its row instead of adding one.
      idempotency_key     text NOT NULL UNIQUE,
      -- The provider may have taken this message although the row does not record one clean send:
      -- a request that timed out, or a re-execution after a crash on a provider that cannot deduplicate.
      may_have_sent       boolean NOT NULL DEFAULT false,
      started_at          timestamptz NOT NULL DEFAULT now(),
      completed_at        timestamptz,
      latency_ms          integer CHECK (latency_ms >= 0),
      UNIQUE (notification_id, attempt_number, provider)
    );
    CREATE INDEX notification_deliveries_notification_idx ON notification_deliveries (notification_id, attempt_number);
    -- Rate limits count a recipient's recent sends on a channel.
    CREATE INDEX notification_deliveries_rate_idx ON notification_deliveries (company_id, channel, recipient, started_at)
      WHERE status <> 'failed';
    -- Analytics per event and channel over a time range.
    CREATE INDEX notification_deliveries_analytics_idx ON notification_deliveries (company_id, started_at, event_type, channel);
  `);
  pgm.sql(
    `INSERT INTO notification_event_mappings (event_type, description, default_channel, default_fallback_channel, is_urgent) VALUES ` +
      EVENTS.map(
        ([type, description, channel, fallback, urgent]) =>
          `('${type}', '${description.replace(/'/g, "''")}', '${channel}', ${fallback ? `'${fallback}'` : 'NULL'}, ${urgent})`,
      ).join(',\n'),
  );
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP TABLE notification_deliveries;
    DROP TABLE notifications;
    DROP TABLE notification_configurations;
    DROP TABLE notification_event_mappings;
  `);
};

