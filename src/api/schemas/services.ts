import { Pagination, Uuid } from './common';
import { Name } from './fields';
import { z } from '../zod';

export const CreateService = z
  .object({
    branchId: Uuid,
    name: Name,
    durationMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .default(30),
    priceCents: z.number().int().min(0).max(100_000_000).default(0),
  })
  .strict()
  .openapi('CreateService');

export const UpdateService = z
  .object({
    branchId: Uuid,
    name: Name,
    durationMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60),
    priceCents: z.number().int().min(0).max(100_000_000),
  })
  .partial()
  .strict()
  .openapi('UpdateService');

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
