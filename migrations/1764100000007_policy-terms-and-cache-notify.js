/**
 * The policy engine's additions to the schema.
 *
 * - companies.currency: the currency fees are charged in unless a policy names its own (ISO 4217,
 *   default EUR). Money is always integer cents plus a currency code.
 * - appointments.policy_terms: the cancellation and reschedule policies that applied when the
 *   appointment was booked (or, for one booked before this column existed, first quoted), so a
 *   later policy edit does not change the terms of an existing booking.
 * - appointments.reschedule_count: the per-appointment reschedule quota is a read of the row the
 *   modification locks anyway.
 * - appointment_modifications: who did it (role), the engine's decision, and a manager's override
 *   of a denial with its reason (a modification outside the policy exists only as an override).
 * - policy_cache_notify(): every change to a policy, and every change of a staff member's or
 *   service's branch (the hierarchy a resolution walks), announces itself on the channel
 *   `policy_cache` when its transaction commits (NOTIFY is transactional), so every process drops
 *   what it cached for that entity and everything that inherits from it, whoever made the change.
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE companies ADD COLUMN currency text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$');

    ALTER TABLE appointments
      ADD COLUMN policy_terms jsonb CHECK (policy_terms IS NULL OR jsonb_typeof(policy_terms) = 'object'),
      ADD COLUMN reschedule_count integer NOT NULL DEFAULT 0 CHECK (reschedule_count >= 0);

    ALTER TABLE appointment_modifications
      ADD COLUMN actor_role text CHECK (actor_role IN ('agent', 'manager', 'admin')),
      ADD COLUMN policy_level text CHECK (policy_level IN ('company', 'branch', 'service', 'staff')),
      ADD COLUMN decision_code text,
      ADD COLUMN decision jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(decision) = 'object'),
      ADD COLUMN overridden boolean NOT NULL DEFAULT false,
      ADD COLUMN override_reason text,
      ADD COLUMN notification_ids uuid[] NOT NULL DEFAULT '{}',
      ADD CONSTRAINT appointment_modifications_override_check
        CHECK (within_policy <> overridden AND (NOT overridden OR override_reason IS NOT NULL));

    CREATE FUNCTION policy_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      r record;
    BEGIN
      IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
      IF TG_TABLE_NAME = 'policy_configurations' THEN
        PERFORM pg_notify('policy_cache', json_build_object(
          'c', r.company_id, 't', r.configurable_type, 'i', r.configurable_id, 'p', r.policy_type)::text);
        IF TG_OP = 'UPDATE' AND (OLD.configurable_type, OLD.configurable_id, OLD.policy_type)
                               IS DISTINCT FROM (NEW.configurable_type, NEW.configurable_id, NEW.policy_type) THEN
          PERFORM pg_notify('policy_cache', json_build_object(
            'c', OLD.company_id, 't', OLD.configurable_type, 'i', OLD.configurable_id, 'p', OLD.policy_type)::text);
        END IF;
      ELSE
        -- A staff member, service or branch moved or went away: every policy type of it and below.
        PERFORM pg_notify('policy_cache', json_build_object('c', r.company_id, 't', TG_ARGV[0], 'i', r.id, 'p', NULL)::text);
      END IF;
      RETURN NULL;
    END $$;

    CREATE TRIGGER policy_configurations_cache_notify
      AFTER INSERT OR UPDATE OR DELETE ON policy_configurations
      FOR EACH ROW EXECUTE FUNCTION policy_cache_notify();
    CREATE TRIGGER staff_branch_cache_notify
      AFTER UPDATE OF branch_id ON staff
      FOR EACH ROW WHEN (OLD.branch_id IS DISTINCT FROM NEW.branch_id) EXECUTE FUNCTION policy_cache_notify('staff');
    CREATE TRIGGER staff_delete_cache_notify
      AFTER DELETE ON staff FOR EACH ROW EXECUTE FUNCTION policy_cache_notify('staff');
    CREATE TRIGGER services_branch_cache_notify
      AFTER UPDATE OF branch_id ON services
      FOR EACH ROW WHEN (OLD.branch_id IS DISTINCT FROM NEW.branch_id) EXECUTE FUNCTION policy_cache_notify('service');
    CREATE TRIGGER services_delete_cache_notify
      AFTER DELETE ON services FOR EACH ROW EXECUTE FUNCTION policy_cache_notify('service');
    CREATE TRIGGER branches_delete_cache_notify
      AFTER DELETE ON branches FOR EACH ROW EXECUTE FUNCTION policy_cache_notify('branch');
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    DROP TRIGGER branches_delete_cache_notify ON branches;
    DROP TRIGGER services_delete_cache_notify ON services;
    DROP TRIGGER services_branch_cache_notify ON services;
    DROP TRIGGER staff_delete_cache_notify ON staff;
    DROP TRIGGER staff_branch_cache_notify ON staff;
    DROP TRIGGER policy_configurations_cache_notify ON policy_configurations;
    DROP FUNCTION policy_cache_notify();

    ALTER TABLE appointment_modifications
      DROP CONSTRAINT appointment_modifications_override_check,
      DROP COLUMN notification_ids,
      DROP COLUMN override_reason,
      DROP COLUMN overridden,
      DROP COLUMN decision,
      DROP COLUMN decision_code,
      DROP COLUMN policy_level,
      DROP COLUMN actor_role;

    ALTER TABLE appointments DROP COLUMN reschedule_count, DROP COLUMN policy_terms;
    ALTER TABLE companies DROP COLUMN currency;
  `);
};
