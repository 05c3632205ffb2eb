import { TimeZone, Uuid } from './common';
import { z } from '../zod';

export const CreateBranch = z
  .object({
    name: z.string().trim().min(1).max(200),
    timeZone: TimeZone.default('UTC'),
    phone: z.string().trim().min(3).max(40).nullish(),
    email: z.email().nullish(),
  })
  .strict()
  .openapi('CreateBranch');

export const UpdateBranch = CreateBranch.partial().strict().openapi('UpdateBranch');

export const Branch = z
  .object({
    id: Uuid,
    name: z.string(),
    timeZone: z.string(),
    phone: z.string().nullable(),
    email: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Branch');
