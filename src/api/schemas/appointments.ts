import { Pagination, Uuid } from './common';
import { DateTimeWithOffset } from './fields';
import { z } from '../zod';

export const APPOINTMENT_STATUSES = ['scheduled', 'confirmed', 'cancelled', 'completed', 'no_show'] as const;
/** Cancelling goes through the policy engine (POST /v1/appointments/:id/cancel), never through POST or PATCH. */
export const WRITABLE_STATUSES = ['scheduled', 'confirmed', 'completed', 'no_show'] as const;

const WritableStatus = z.enum(WRITABLE_STATUSES, {
  error: `must be one of ${WRITABLE_STATUSES.join(', ')}; cancel through POST /v1/appointments/:id/cancel`,
});

const Notes = z.string().max(2000);

export const CreateAppointment = z
  .object({
    customerId: Uuid,
    branchId: Uuid,
    serviceId: Uuid.openapi({ description: 'A service of the same branch' }),
    staffId: Uuid.nullable().optional().openapi({ description: 'A staff member of the same branch' }),
    startsAt: DateTimeWithOffset,
    endsAt: DateTimeWithOffset.openapi({ description: 'After startsAt' }),
    status: WritableStatus.default('scheduled'),
    notes: Notes.nullable().optional(),
  })
  .strict()
  .refine((a) => Date.parse(a.endsAt) > Date.parse(a.startsAt), { path: ['endsAt'], message: 'must be after startsAt' })
  .openapi('CreateAppointment');

/** Times, staff, status and notes; customer, branch and service are fixed once booked. */
export const UpdateAppointment = z
  .object({
    startsAt: DateTimeWithOffset,
    endsAt: DateTimeWithOffset,
    staffId: Uuid.nullable(),
    status: WritableStatus,
    notes: Notes.nullable(),
  })
  .partial()
  .strict()
  .openapi('UpdateAppointment');

export const AppointmentQuery = Pagination.extend({
  customerId: Uuid.optional(),
  branchId: Uuid.optional(),
  staffId: Uuid.optional(),
  from: DateTimeWithOffset.optional().openapi({ description: 'Appointments starting at or after this instant' }),
  to: DateTimeWithOffset.optional().openapi({ description: 'Appointments starting before this instant' }),
})
  .strict()
  .refine((q) => !q.from || !q.to || Date.parse(q.to) > Date.parse(q.from), { path: ['to'], message: 'must be after from' });

export const Appointment = z
  .object({
    id: Uuid,
    customerId: Uuid,
    branchId: Uuid,
    serviceId: Uuid,
    staffId: Uuid.nullable(),
    startsAt: z.iso.datetime(),
    endsAt: z.iso.datetime(),
    status: z.enum(APPOINTMENT_STATUSES),
    notes: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Appointment');
