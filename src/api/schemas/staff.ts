import { Pagination, TimeZone, Uuid } from './common';
import { BooleanQuery, Email, Name, Phone } from './fields';
import { z } from '../zod';

export const STAFF_ROLES = ['agent', 'manager'] as const;

const ServiceIds = z
  .array(Uuid)
  .max(200)
  .openapi({ description: 'The services this person is qualified for (any branch of the company); replaces the whole set on PATCH' });

const staffFields = {
  branchId: Uuid,
  name: Name,
  email: Email.nullable(),
  phone: Phone.nullable(),
  role: z.enum(STAFF_ROLES),
  available: z.boolean(),
  timeZone: TimeZone,
  serviceIds: ServiceIds,
};

export const CreateStaff = z
  .object({
    ...staffFields,
    email: staffFields.email.optional(),
    phone: staffFields.phone.optional(),
    role: staffFields.role.default('agent'),
    available: staffFields.available.default(true),
    timeZone: staffFields.timeZone.default('UTC'),
    serviceIds: staffFields.serviceIds.default([]),
  })
  .strict()
  .openapi('CreateStaff');

export const UpdateStaff = z.object(staffFields).partial().strict().openapi('UpdateStaff');

export const StaffQuery = Pagination.extend({
  branchId: Uuid.optional(),
  role: z.enum(STAFF_ROLES).optional(),
  available: BooleanQuery.optional(),
}).strict();

export const Staff = z
  .object({
    id: Uuid,
    branchId: Uuid,
    name: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    role: z.enum(STAFF_ROLES),
    available: z.boolean(),
    timeZone: z.string(),
    serviceIds: z.array(Uuid),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Staff');
