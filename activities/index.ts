import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { ChannelRegistry } from '../src/channels/registry';
import type { UnsubscribeLinks } from '../src/consent/tokens';
import type { FeatureSwitches } from '../src/companies/features';
import type { Durability } from '../src/temporal/durability';
import { createAppointmentService } from '../src/appointments/service';
import { createCallbackService } from '../src/callbacks/service';
import { createNotificationService } from '../src/notifications/service';
import { createAppointmentActivities } from './appointments';
import { createCallbackActivities } from './callbacks';
import { createMaintenanceActivities } from './maintenance';
import { createNotificationActivities } from './notifications';

/** What activities are given: their I/O dependencies, injected (see createActivities). */
export interface ActivityDeps {
  pool: Pool;
  logger: Logger;
  /** The notification channel providers (built once from the configuration at start-up). */
  channels: ChannelRegistry;
  /** Starts and signals workflows on behalf of other workflows (e.g. a notification from a callback). */
  client: Client;
  /** The product's task queue, where workflows started by activities run. */
  taskQueue: string;
  /** How patiently workflows started by activities retry infrastructure errors. */
  durability?: Durability;
  /** Signs the one-click unsubscribe link of every email to a customer (absent: no link). */
  unsubscribe?: UnsubscribeLinks;
  /** The feature switches (with the deployment's defaults); default: the companies' own settings, every feature on otherwise. */
  features?: FeatureSwitches;
}

/** Every activity of the product, bound to its dependencies. Workflows import only the type. */
export function createActivities(deps: ActivityDeps) {
  const { pool, logger, client, taskQueue, channels, features } = deps;
  const notifications = createNotificationService({ pool, client, taskQueue, logger, durability: deps.durability, features });
  const callbacks = createCallbackService({ pool, client, taskQueue, logger, durability: deps.durability, features });
  const appointments = createAppointmentService({ pool, client, taskQueue, logger, durability: deps.durability });
  return {
    ...createNotificationActivities({ pool, logger, channels, notifications, unsubscribe: deps.unsubscribe }),
    ...createCallbackActivities({ pool, logger, notifications }),
    ...createAppointmentActivities({ pool, logger, notifications }),
    ...createMaintenanceActivities({
      pool,
      logger,
      client,
      taskQueue,
      outboxes: [notifications.outbox, callbacks.outbox, appointments.outbox],
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
