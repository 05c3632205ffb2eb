/**
 * Callback requests as durable workflows (one per request, `callback-<id>`).
 *
 * - callback_settings: the pre-breach warning share, the maximum open life and how often a request
 *   nobody could take retries its assignment (all seconds or percent, NULL = inherit).
 * - branches.opening_hours: per ISO weekday, the local intervals the branch is open; when set, the
 *   SLA clock runs only while the branch is open (src/callbacks/business-hours.ts).
 * - callback_requests: the settings snapshot taken at creation (later edits do not move a running
 *   callback's deadline), the warning instant, the end of its open life, how it was assigned, the
 *   escalation state, and when its workflow ran its first step (the outbox reconciler starts rows
 *   whose workflow never did).
 * - callback_attempts and callback_escalations carry keys the workflow chooses, so a retried
 *   activity finds its row instead of adding one; an escalation remembers its notification.
 * - api_keys.staff_id: an agent's key belongs to a staff member, so "the assignee" can be checked.
 * - Two notification events: the assignee's pre-breach warning and the manager's expiry notice.
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
const EVENTS = [
  ['callback_sla_warning', 'A callback is close to breaching its SLA (sent to its assignee)', 'push', 'email', true],
  ['callback_expired', 'A callback stayed open for its whole open life and expired (sent to a manager)', 'email', null, false],
];

exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE callback_settings
      ADD COLUMN warning_percent integer CHECK (warning_percent BETWEEN 1 AND 99),
      ADD COLUMN max_open_seconds integer CHECK (max_open_seconds > 0),
      ADD COLUMN assignment_retry_seconds integer CHECK (assignment_retry_seconds > 0);

    ALTER TABLE branches ADD COLUMN opening_hours jsonb CHECK (opening_hours IS NULL OR jsonb_typeof(opening_hours) = 'object');

    ALTER TABLE callback_requests
      ADD COLUMN settings jsonb NOT NULL DEFAULT '{}',
      ADD COLUMN warn_at timestamptz,
      ADD COLUMN open_until timestamptz,
      ADD COLUMN assignment_reason text CHECK (assignment_reason IN ('preferred', 'expertise', 'least_loaded', 'manual')),
      ADD COLUMN breached_at timestamptz,
      ADD COLUMN warned_at timestamptz,
      ADD COLUMN escalated boolean NOT NULL DEFAULT false,
      ADD COLUMN escalation_count integer NOT NULL DEFAULT 0 CHECK (escalation_count >= 0),
      ADD COLUMN last_escalated_at timestamptz,
      ADD COLUMN expired_at timestamptz,
      ADD COLUMN status_reason text,
      ADD COLUMN workflow_started_at timestamptz;
    -- Lists by branch, status, due time; overdue per branch; analytics by creation time.
    CREATE INDEX callback_requests_company_branch_due_idx ON callback_requests (company_id, branch_id, status, expires_at);
    CREATE INDEX callback_requests_company_created_idx ON callback_requests (company_id, created_at, id);
    CREATE INDEX callback_requests_assignee_open_idx ON callback_requests (company_id, assigned_to)
      WHERE status IN ('assigned', 'contacted');
    CREATE INDEX callback_requests_not_started_idx ON callback_requests (created_at) WHERE workflow_started_at IS NULL;

    ALTER TABLE callback_attempts ADD COLUMN attempt_key text;
    CREATE UNIQUE INDEX callback_attempts_key ON callback_attempts (callback_id, attempt_key);

    ALTER TABLE callback_escalations
      ADD COLUMN escalation_key text,
      ADD COLUMN notification_id uuid;
    CREATE UNIQUE INDEX callback_escalations_key ON callback_escalations (callback_id, escalation_key);
    ALTER TABLE callback_escalations ADD CONSTRAINT callback_escalations_notification_fkey
      FOREIGN KEY (company_id, notification_id) REFERENCES notifications (company_id, id) ON DELETE SET NULL (notification_id);

    ALTER TABLE api_keys ADD COLUMN staff_id uuid;
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_staff_fkey
      FOREIGN KEY (company_id, staff_id) REFERENCES staff (company_id, id) ON DELETE SET NULL (staff_id);
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
    DELETE FROM notification_deliveries WHERE event_type IN ('callback_sla_warning', 'callback_expired');
    DELETE FROM notifications WHERE event_type IN ('callback_sla_warning', 'callback_expired');
    DELETE FROM notification_configurations WHERE event_type IN ('callback_sla_warning', 'callback_expired');
    DELETE FROM notification_event_mappings WHERE event_type IN ('callback_sla_warning', 'callback_expired');

    ALTER TABLE api_keys DROP CONSTRAINT api_keys_staff_fkey, DROP COLUMN staff_id;
    ALTER TABLE callback_escalations DROP CONSTRAINT callback_escalations_notification_fkey;
    DROP INDEX callback_escalations_key;
    ALTER TABLE callback_escalations DROP COLUMN escalation_key, DROP COLUMN notification_id;
    DROP INDEX callback_attempts_key;
    ALTER TABLE callback_attempts DROP COLUMN attempt_key;

    DROP INDEX callback_requests_not_started_idx;
    DROP INDEX callback_requests_assignee_open_idx;
    DROP INDEX callback_requests_company_created_idx;
    DROP INDEX callback_requests_company_branch_due_idx;
    ALTER TABLE callback_requests
      DROP COLUMN settings, DROP COLUMN warn_at, DROP COLUMN open_until, DROP COLUMN assignment_reason,
      DROP COLUMN breached_at, DROP COLUMN warned_at, DROP COLUMN escalated, DROP COLUMN escalation_count,
      DROP COLUMN last_escalated_at, DROP COLUMN expired_at, DROP COLUMN status_reason, DROP COLUMN workflow_started_at;

    ALTER TABLE branches DROP COLUMN opening_hours;
    ALTER TABLE callback_settings
      DROP COLUMN warning_percent, DROP COLUMN max_open_seconds, DROP COLUMN assignment_retry_seconds;
  `);
};
