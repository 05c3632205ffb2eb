import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { loadChannelConfig } from '../src/channels/config';
import { createChannelRegistry, type ChannelRegistry } from '../src/channels/registry';
import { createMaintenanceActivities } from './maintenance';
import { createNotificationActivities } from './notifications';

/** What activities are given: their I/O dependencies, injected (see createActivities). */
export interface ActivityDeps {
  pool: Pool;
  logger: Logger;
  /** The notification channel providers; built from the environment (src/channels/config.ts) when omitted. */
  channels?: ChannelRegistry;
}

/** Every activity of the product, bound to its dependencies. Workflows import only the type. */
export function createActivities(deps: ActivityDeps) {
  const channels = deps.channels ?? createChannelRegistry(loadChannelConfig(), deps.logger);
  return {
    ...createNotificationActivities({ pool: deps.pool, logger: deps.logger, channels }),
    ...createMaintenanceActivities({ pool: deps.pool, logger: deps.logger }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
