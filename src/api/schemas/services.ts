import { Pagination, Uuid } from './common';
import { Name } from './fields';
import { z } from '../zod';

const serviceFields = {
  branchId: Uuid,
  name: Name,
  durationMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60),
  priceCents: z.number().int().min(0).max(100_000_000),
};

export const CreateService = z
  .object({
    ...serviceFields,
    durationMinutes: serviceFields.durationMinutes.default(30),
    priceCents: serviceFields.priceCents.default(0),
  })
  .strict()
  .openapi('CreateService');

// From the fields without defaults (as for branches): `.partial()` keeps a `.default()`.
export const UpdateService = z.object(serviceFields).partial().strict().openapi('UpdateService');

export const ServiceQuery = Pagination.extend({ branchId: Uuid.optional() }).strict();

export const Service = z
  .object({
    id: Uuid,
    branchId: Uuid,
    name: z.string(),
    durationMinutes: z.number().int(),
    priceCents: z.number().int(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Service');
