/**
 * Callback requests (one durable workflow each), their contact attempts and escalations,
 * and the per-company / per-branch callback settings (SLA, cooldown, attempts, in seconds).
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    CREATE TABLE callback_settings (
      id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id                  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
      branch_id                   uuid,
      sla_urgent_seconds          integer CHECK (sla_urgent_seconds > 0),
      sla_high_seconds            integer CHECK (sla_high_seconds > 0),
      sla_normal_seconds          integer CHECK (sla_normal_seconds > 0),
      escalation_cooldown_seconds integer CHECK (escalation_cooldown_seconds > 0),
      attempts_before_escalation  integer CHECK (attempts_before_escalation > 0),
      created_at                  timestamptz NOT NULL DEFAULT now(),
      updated_at                  timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, branch_id) REFERENCES branches (company_id, id) ON DELETE CASCADE
    );
    -- One row for the company (branch_id NULL) and one per branch.
    CREATE UNIQUE INDEX callback_settings_scope_key ON callback_settings (company_id, branch_id) NULLS NOT DISTINCT;

    CREATE TABLE callback_requests (
      id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id       uuid NOT NULL,
      branch_id        uuid NOT NULL,
      customer_id      uuid,
      service_id       uuid,
      staff_id         uuid,
      phone_number     text NOT NULL,
      customer_name    text NOT NULL,
      priority         text NOT NULL DEFAULT 'normal' CHECK (priority IN ('urgent', 'high', 'normal')),
      status           text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'assigned', 'contacted', 'completed', 'cancelled', 'expired')),
      assigned_to      uuid,
      assigned_at      timestamptz,
      contacted_at     timestamptz,
      completed_at     timestamptz,
      cancelled_at     timestamptz,
      expires_at       timestamptz NOT NULL,
      attempt_count    integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
      notes            text,
      metadata         jsonb NOT NULL DEFAULT '{}',
      workflow_id      text NOT NULL UNIQUE,
      created_at       timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now(),
      UNIQUE (company_id, id),
      FOREIGN KEY (company_id, branch_id) REFERENCES branches (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, customer_id) REFERENCES customers (company_id, id) ON DELETE SET NULL (customer_id),
      FOREIGN KEY (company_id, service_id) REFERENCES services (company_id, id) ON DELETE SET NULL (service_id),
      FOREIGN KEY (company_id, staff_id) REFERENCES staff (company_id, id) ON DELETE SET NULL (staff_id),
      FOREIGN KEY (company_id, assigned_to) REFERENCES staff (company_id, id) ON DELETE SET NULL (assigned_to)
    );
    CREATE INDEX callback_requests_status_expires_idx ON callback_requests (status, expires_at);
    CREATE INDEX callback_requests_assigned_to_idx ON callback_requests (assigned_to);
    CREATE INDEX callback_requests_priority_status_idx ON callback_requests (priority, status);
    CREATE INDEX callback_requests_branch_status_idx ON callback_requests (branch_id, status, created_at);

    CREATE TABLE callback_attempts (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id   uuid NOT NULL,
      callback_id  uuid NOT NULL,
      staff_id     uuid,
      outcome      text NOT NULL CHECK (outcome IN ('reached', 'no_answer', 'busy', 'voicemail', 'wrong_number')),
      notes        text,
      attempted_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (company_id, callback_id) REFERENCES callback_requests (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, staff_id) REFERENCES staff (company_id, id) ON DELETE SET NULL (staff_id)
    );
    CREATE INDEX callback_attempts_callback_idx ON callback_attempts (callback_id, attempted_at);

    CREATE TABLE callback_escalations (
      id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id     uuid NOT NULL,
      callback_id    uuid NOT NULL,
      reason         text NOT NULL CHECK (reason IN ('sla_breach', 'multiple_attempts_failed', 'manual')),
      escalated_from uuid,
      escalated_to   uuid,
      escalated_at   timestamptz NOT NULL DEFAULT now(),
      resolved_at    timestamptz,
      notes          text,
      FOREIGN KEY (company_id, callback_id) REFERENCES callback_requests (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, escalated_from) REFERENCES staff (company_id, id) ON DELETE SET NULL (escalated_from),
      FOREIGN KEY (company_id, escalated_to) REFERENCES staff (company_id, id) ON DELETE SET NULL (escalated_to)
    );
    CREATE INDEX callback_escalations_callback_idx ON callback_escalations (callback_id, escalated_at DESC);
    CREATE INDEX callback_escalations_open_idx ON callback_escalations (escalated_to) WHERE resolved_at IS NULL;
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP TABLE callback_escalations;
    DROP TABLE callback_attempts;
    DROP TABLE callback_requests;
    DROP TABLE callback_settings;
  `);
};
