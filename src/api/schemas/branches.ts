import { TimeZone, Uuid } from './common';
import { z } from '../zod';

const branchFields = {
  name: z.string().trim().min(1).max(200),
  timeZone: TimeZone,
  phone: z.string().trim().min(3).max(40).nullish(),
  email: z.email().nullish(),
};

export const CreateBranch = z
  .object({ ...branchFields, timeZone: branchFields.timeZone.default('UTC') })
  .strict()
  .openapi('CreateBranch');

// Built from the fields without defaults: `.partial()` keeps a `.default()`, so a PATCH that
// omitted timeZone would have reset it to UTC.
export const UpdateBranch = z.object(branchFields).partial().strict().openapi('UpdateBranch');

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
