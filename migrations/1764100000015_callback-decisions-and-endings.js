/**
 * Callbacks, second durability pass (issue 15, with issue 14's product points):
 *
 * - callback_assignments: every assignment decision, keyed by the workflow's step
 *   (`assignment:<n>`), so a retried assignment step returns the decision it already committed
 *   instead of choosing again (its own first commit changed everyone's load). The assignee's
 *   `staff_assigned` notification is remembered with it.
 * - callback_requests.status `failed` (+ failed_at): a run that could not go on (a step that
 *   exhausted its retries, a bug, a run terminated from outside) ends as what it is, with the
 *   reason, instead of `cancelled`.
 * - callback_requests.assign_to: the staff member a manager named at creation, so every start of
 *   the workflow (the API's, an Idempotency-Key replay's, the reconciler's) takes it from the row.
 * - callback_requests.outcome_notes: the notes given when completing, kept beside the request's own.
 * - An index for the reconciler's "oldest open callback whose workflow started" (orphans older
 *   than its look-back window are still found).
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE callback_requests DROP CONSTRAINT callback_requests_status_check;
    ALTER TABLE callback_requests ADD CONSTRAINT callback_requests_status_check
      CHECK (status IN ('pending', 'assigned', 'contacted', 'completed', 'cancelled', 'expired', 'failed'));
    ALTER TABLE callback_requests
      ADD COLUMN failed_at timestamptz,
      ADD COLUMN assign_to uuid,
      ADD COLUMN outcome_notes text;
    ALTER TABLE callback_requests ADD CONSTRAINT callback_requests_assign_to_fkey
      FOREIGN KEY (company_id, assign_to) REFERENCES staff (company_id, id) ON DELETE SET NULL (assign_to);
    CREATE INDEX callback_requests_open_started_idx ON callback_requests (workflow_started_at)
      WHERE status IN ('pending', 'assigned', 'contacted') AND workflow_started_at IS NOT NULL;
    CREATE INDEX callback_requests_failed_idx ON callback_requests (company_id, branch_id) WHERE status = 'failed';

    CREATE TABLE callback_assignments (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      company_id      uuid NOT NULL,
      callback_id     uuid NOT NULL,
      assignment_key  text NOT NULL,
      staff_id        uuid,
      reason          text NOT NULL CHECK (reason IN ('preferred', 'expertise', 'least_loaded', 'manual')),
      decided_at      timestamptz NOT NULL DEFAULT now(),
      notification_id uuid,
      UNIQUE (callback_id, assignment_key),
      FOREIGN KEY (company_id, callback_id) REFERENCES callback_requests (company_id, id) ON DELETE CASCADE,
      FOREIGN KEY (company_id, staff_id) REFERENCES staff (company_id, id) ON DELETE SET NULL (staff_id),
      FOREIGN KEY (company_id, notification_id) REFERENCES notifications (company_id, id) ON DELETE SET NULL (notification_id)
    );
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP TABLE callback_assignments;
    DROP INDEX callback_requests_failed_idx;
    DROP INDEX callback_requests_open_started_idx;
    ALTER TABLE callback_requests DROP CONSTRAINT callback_requests_assign_to_fkey;
    -- A failed callback becomes cancelled (the status the reconciler wrote before), saying so in its reason.
    UPDATE callback_requests
       SET status = 'cancelled', cancelled_at = coalesce(failed_at, now()),
           status_reason = 'failed: ' || coalesce(status_reason, 'no reason recorded')
     WHERE status = 'failed';
    ALTER TABLE callback_requests DROP COLUMN failed_at, DROP COLUMN assign_to, DROP COLUMN outcome_notes;
    ALTER TABLE callback_requests DROP CONSTRAINT callback_requests_status_check;
    ALTER TABLE callback_requests ADD CONSTRAINT callback_requests_status_check
      CHECK (status IN ('pending', 'assigned', 'contacted', 'completed', 'cancelled', 'expired'));
  `);
};
