import type { Logger } from 'pino';
import type { ActivityDeps } from '../../activities';
import type { Config } from '../config';
import type { Pool } from '../db/pool';

/** The I/O dependencies handed to every activity (pool, channel providers, logger). */
export function buildActivityDeps(_config: Config, pool: Pool, logger: Logger): ActivityDeps {
  return { pool, logger };
}
