import { z } from '../api/zod';

const Rows = z.array(z.record(z.string(), z.unknown()));

export const CustomerExport = z
  .object({
    exportedAt: z.iso.datetime(),
    companyId: z.uuid(),
    customerId: z.uuid(),
    customer: z.record(z.string(), z.unknown()).openapi({ description: 'The customer row, as stored' }),
    appointments: Rows,
    appointmentModifications: Rows,
    modificationStats: Rows.openapi({ description: 'Monthly counters the quotas read' }),
    callbacks: Rows.openapi({ description: 'Callback requests, each with its attempts and escalations' }),
    notifications: Rows.openapi({ description: 'Notifications to or about the customer, each with every delivery attempt' }),
    consents: Rows,
    consentEvents: Rows,
    calls: Rows,
  })
  .openapi('CustomerExport', {
    description: 'Everything held about one customer, read in one snapshot; each row as stored (column names in snake_case).',
  });

export const ErasureResult = z
  .object({
    customerId: z.uuid(),
    erasedAt: z.iso.datetime(),
    erasedBy: z.string(),
    alreadyErased: z.boolean().openapi({ description: 'An earlier call erased the customer (this one changed nothing new)' }),
    workflowsCancelled: z.object({
      callbacks: z.number().int(),
      notifications: z.number().int(),
      appointments: z.number().int().openapi({ description: 'Appointment workflows (reminders, feedback request) stopped' }),
      stillRunning: z.number().int().openapi({ description: 'Cancelled but not closed within the wait (an attempt in flight)' }),
    }),
    rowsChanged: z.record(z.string(), z.number().int()).openapi({ description: 'Rows changed per table' }),
  })
  .openapi('ErasureResult');
