import { loadConfig } from '../config';
import { migrate, type MigrationDirection } from '../db/migrate';
import { logger } from '../logger';

/** `npm run migrate [up|down] [count]` against DATABASE_URL. */
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
  return 0;
}
