/**
 * Messages about a moment, and appointment workflows that end honestly (issue 15).
 *
 * - notifications.deliver_before: the instant from which a notification has lost its point (a
 *   reminder at the start of its appointment). Its workflow and each send attempt compare it with
 *   their own clock; at or after it the notification ends `suppressed` with the reason instead of
 *   being sent. NULL: no such moment (every notification before this migration).
 * - appointment_messages.status 'failed': a message step that gave up (its retry budget spent on
 *   infrastructure errors) is recorded as such, so `/schedule` shows it; 'skipped' stays a decision.
 * - Indexes for the appointment metrics read at every scrape (endings and decisions of the last
 *   24 hours, failed workflows still to be looked at).
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE notifications ADD COLUMN deliver_before timestamptz;

    ALTER TABLE appointment_messages DROP CONSTRAINT appointment_messages_status_check;
    ALTER TABLE appointment_messages ADD CONSTRAINT appointment_messages_status_check CHECK (status IN ('sent', 'skipped', 'failed'));

    CREATE INDEX appointment_messages_decided_idx ON appointment_messages (decided_at);
    CREATE INDEX appointments_workflow_finished_idx ON appointments (workflow_finished_at) WHERE workflow_finished_at IS NOT NULL;
    CREATE INDEX appointments_workflow_failed_idx ON appointments (company_id) WHERE workflow_outcome LIKE 'failed:%';
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP INDEX appointments_workflow_failed_idx;
    DROP INDEX appointments_workflow_finished_idx;
    DROP INDEX appointment_messages_decided_idx;
    -- A failed message becomes what older code recorded for it: skipped, with its reason.
    UPDATE appointment_messages SET status = 'skipped' WHERE status = 'failed';
    ALTER TABLE appointment_messages DROP CONSTRAINT appointment_messages_status_check;
    ALTER TABLE appointment_messages ADD CONSTRAINT appointment_messages_status_check CHECK (status IN ('sent', 'skipped'));
    ALTER TABLE notifications DROP COLUMN deliver_before;
  `);
};
