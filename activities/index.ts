import type { Pool } from 'pg';
import type { Logger } from 'pino';

/** What activities are given: their I/O dependencies, injected (see createActivities). */
export interface ActivityDeps {
  pool: Pool;
  logger: Logger;
}

/** Every activity of the product, bound to its dependencies. Workflows import only the type. */
export function createActivities(deps: ActivityDeps) {
  void deps;
  return {};
}

export type Activities = ReturnType<typeof createActivities>;
