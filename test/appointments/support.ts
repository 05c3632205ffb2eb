import type { Client } from '@temporalio/client';
import type { Pool } from '../../src/db/pool';
import { createBookingServices, type BookingServices } from '../../src/appointments/wiring';
import type { Durability } from '../../src/temporal/durability';
import type { Organisation } from '../support/fixtures';
import { logger } from '../support/workers';

export const MIN = 60_000;
export const H = 3_600_000;

/**
 * The services that write appointments (directory, policy engine, appointment workflows), wired as
 * the API wires them, on a test worker's task queue. `clock` is the policy engine's (a
 * time-skipping server's time, set by the test before each decision).
 */
export function bookingStack(options: {
  pool: Pool;
  client: Client;
  taskQueue: string;
  durability?: Durability;
  historyLimit?: number;
}): BookingServices & { clock: { ms: number } } {
  const clock = { ms: Date.now() };
  const services = createBookingServices({ ...options, logger, now: () => new Date(clock.ms) });
  return { ...services, clock };
}

/** Books an appointment of the organisation's customer, service and staff member at `startsAt` (45 minutes). */
export async function book(
  services: BookingServices,
  org: Organisation,
  startsAt: number,
  over: { status?: 'scheduled' | 'confirmed'; customerId?: string; minutes?: number } = {},
) {
  return services.directory.createAppointment(org.companyId, {
    customerId: over.customerId ?? org.customerId,
    branchId: org.branchId,
    serviceId: org.serviceId,
    staffId: org.staffId,
    startsAt: new Date(startsAt).toISOString(),
    endsAt: new Date(startsAt + (over.minutes ?? 45) * MIN).toISOString(),
    status: over.status ?? 'scheduled',
  });
}

/** The appointment's message rows, oldest decision first. */
export async function messagesOf(pool: Pool, appointmentId: string) {
  const { rows } = await pool.query(
    `SELECT kind, message_key, status, reason, for_starts_at, due_at, decided_at, notification_id
       FROM appointment_messages WHERE appointment_id = $1 ORDER BY decided_at, message_key`,
    [appointmentId],
  );
  return rows as Array<{
    kind: string;
    message_key: string;
    status: 'sent' | 'skipped';
    reason: string | null;
    for_starts_at: Date;
    due_at: Date;
    decided_at: Date;
    notification_id: string | null;
  }>;
}

export { until } from '../support/until';
