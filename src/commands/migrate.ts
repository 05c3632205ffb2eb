import { loadConfig } from '../config';
import { createPool } from '../db/pool';
import { migrate, type MigrationDirection } from '../db/migrate';
import { sealSecrets } from '../integrations/secrets';
import { logger } from '../logger';
import { secretBoxFor } from '../runtime/secret-keys';

/**
 * `npm run migrate [up|down] [count]` against DATABASE_URL. After migrating up with SECRET_KEYS (or
 * SECRET_KEYS_FILE) set, the integrations' secrets still in clear are sealed right away (a
 * migration cannot read the keys; without them, the API's next start seals them).
 */
export async function migrateCommand(args: string[]): Promise<number> {
  const config = loadConfig();
  if (!config.DATABASE_URL) {
    process.stderr.write('migrate needs DATABASE_URL\n');
    return 2;
  }
  const direction = (args[0] ?? 'up') as MigrationDirection;
  if (direction !== 'up' && direction !== 'down') {
    process.stderr.write(`unknown direction "${args[0]}": use up or down\n`);
    return 2;
  }
  const count = args[1] ? Number(args[1]) : direction === 'down' ? 1 : Infinity;
  const ran = await migrate({ databaseUrl: config.DATABASE_URL, direction, count, log: (m) => logger.info(m) });
  logger.info({ direction, migrations: ran.map((m) => m.name) }, 'migrations done');
  const box = direction === 'up' ? secretBoxFor(config, logger, { required: false }) : undefined;
  if (box) {
    const pool = createPool(config.DATABASE_URL, { max: 2 });
    try {
      logger.info(await sealSecrets(pool, box), 'integration secrets sealed at rest');
    } finally {
      await pool.end();
    }
  } else if (direction === 'up') logger.info('SECRET_KEYS not set: the API seals the integration secrets still in clear at its start');
  return 0;
}
