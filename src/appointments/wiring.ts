import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createDirectoryService } from '../directory/service';
import type { PolicyCache } from '../policies/cache';
import { createPolicyService } from '../policies/service';
import type { FeatureSwitches } from '../companies/features';
import type { Durability } from '../temporal/durability';
import { createAppointmentService, registerAppointmentMetrics } from './service';

export interface BookingServicesDeps {
  pool: Pool;
  client: Client;
  taskQueue: string;
  logger?: Logger;
  durability?: Durability;
  startTimeoutMs?: number;
  /** The process's policy cache; default: one of the policy service's own. */
  policyCache?: PolicyCache;
  /** Where the policy cache's statistics are published. */
  registry?: Registry;
  /** The policy engine's clock (tests on a time-skipping server pass its clock). */
  now?: () => Date;
  /** Continue-as-new threshold of the appointment workflows started (tests). */
  historyLimit?: number;
  onStaffAvailable?: (companyId: string, branchId: string) => Promise<unknown>;
  /** The feature switches the policy engine obeys (default: the companies' own settings). */
  features?: FeatureSwitches;
}

/**
 * The three services that write appointments, wired so that the row and its workflow never
 * disagree, whichever writes: a booking (the directory) keeps the policies that apply as its terms
 * and belongs to its workflow from its transaction on; a PATCH (the directory) and a cancellation
 * or reschedule (the policy engine) tell the workflow after COMMIT. The API and the tests build
 * them here, so both run the same wiring.
 */
export function createBookingServices(deps: BookingServicesDeps) {
  const { pool, client, taskQueue, logger, durability, startTimeoutMs } = deps;
  const appointments = createAppointmentService({
    pool,
    client,
    taskQueue,
    logger,
    durability,
    startTimeoutMs,
    historyLimit: deps.historyLimit,
  });
  if (deps.registry) registerAppointmentMetrics(deps.registry, pool);
  const policies = createPolicyService({
    pool,
    client,
    taskQueue,
    logger,
    durability,
    startTimeoutMs,
    cache: deps.policyCache,
    registry: deps.registry,
    now: deps.now,
    onAppointmentChanged: appointments.changed,
    features: deps.features,
  });
  const directory = createDirectoryService({
    pool,
    onStaffAvailable: deps.onStaffAvailable,
    onAppointmentBooked: async (tx, companyId, appointment, booking) => {
      await policies.termsAtBooking(tx, companyId, appointment);
      return appointments.booked(tx, companyId, appointment, booking);
    },
    onAppointmentChanged: appointments.changed,
  });
  return { appointments, policies, directory };
}

export type BookingServices = ReturnType<typeof createBookingServices>;
