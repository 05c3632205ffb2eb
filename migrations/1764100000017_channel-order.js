/**
 * A message reaches the recipient on a channel they have (issue 19).
 *
 * notification_configurations.channel_order: the channels a notification moves on to, in order,
 * when the recipient has no address (or no consent) on the configured channel or its fallback;
 * email is always the last resort. Inherited key by key like every other column: NULL inherits
 * (staff > service > branch > company > the system default: sms, whatsapp, push, email).
 *
 * @param {import('node-pg-migrate').MigrationBuilder} pgm
 */
exports.up = (pgm) => {
  pgm.sql(`
    ALTER TABLE notification_configurations ADD COLUMN channel_order text[]
      CHECK (channel_order <@ ARRAY['email', 'sms', 'whatsapp', 'push']::text[] AND cardinality(channel_order) BETWEEN 1 AND 4);
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`ALTER TABLE notification_configurations DROP COLUMN channel_order;`);
};
